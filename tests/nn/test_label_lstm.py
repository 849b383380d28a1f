"""The core label LSTM's three ways of conditioning on the image (S-CNN-RNN Sec. 3.1, Fig. 1)."""

from __future__ import annotations

import torch

from mlcap.nn.label_lstm import LabelLSTMDecoder


def test_state_init_h_sets_the_hidden_state_only():
    """RIA as S-CNN-RNN writes it: h0 = W_i I_e + b_i (c0 = 0)."""
    torch.manual_seed(0)
    dec = LabelLSTMDecoder(num_labels=3, embed_dim=4, hidden=2, num_inputs=2, state_init="h")
    with torch.no_grad():
        dec.init_h.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, -1.0]]))
        dec.init_h.bias.copy_(torch.tensor([0.5, 0.25]))
    h, c = dec.initial_state(torch.tensor([[1.0, 1.0]]))
    assert torch.allclose(h, torch.tensor([[3.5, -0.75]])) and torch.equal(c, torch.zeros(1, 2))
    assert not hasattr(dec, "init_c")


def test_state_init_input_feeds_the_image_as_the_first_step():
    """(h0, c0) = LSTM(W I_e + b, 0, 0): one LSTM step from the zero state."""
    torch.manual_seed(0)
    dec = LabelLSTMDecoder(num_labels=3, embed_dim=4, hidden=2, num_inputs=5, state_init="input")
    image = torch.randn(2, 5)
    h, c = dec.initial_state(image)
    zeros = torch.zeros(2, 2)
    h2, c2 = dec.lstm.step(dec.lstm.input_projection(dec.init_input(image)), (zeros, zeros))
    assert torch.allclose(h, h2) and torch.allclose(c, c2) and h.abs().sum() > 0


def test_state_init_hc_keeps_the_scnnrnn_parameter_names():
    """S-CNN-RNN's FC(s) sets both h0 and c0; its checkpoints' names (init_h, init_c) are unchanged."""
    dec = LabelLSTMDecoder(num_labels=3, embed_dim=4, hidden=2)
    assert {"init_h.weight", "init_c.weight", "embed.weight", "lstm.weight_ih", "lstm.weight_hh", "out.weight"} <= set(dec.state_dict())
