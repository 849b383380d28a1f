"""mlcap.nn.LSTMCell: one BasicLSTMCell step by hand (ReLU and tanh), and nn.LSTMCell equality."""

from __future__ import annotations

import math

import pytest
import torch

from mlcap.nn import LSTMCell, run_lstm


def hand_cell(activation: str) -> LSTMCell:
    """Input 1, hidden 1. Rows i, j, f, o; columns (x, h)."""
    cell = LSTMCell(1, 1, activation=activation)   # forget_bias 1.0
    with torch.no_grad():
        cell.weight.copy_(torch.tensor([[1.0, 0.0],     # i = x              = 1
                                        [2.0, -2.0],    # j = 2x - 2h        = 1
                                        [0.0, 0.0],     # f = 0
                                        [0.0, 2.0]]))   # o = 2h - 1         = 0
        cell.bias.copy_(torch.tensor([0.0, 0.0, 0.0, -1.0]))
    return cell


def sig(z):
    return 1 / (1 + math.exp(-z))


# x = 1, h = 0.5: c' = c * sig(0 + 1) + sig(1) * act(1); h' = act(c') * sig(0)
#   relu, c = 2:  c' = 2 * 0.7310586 + 0.7310586 * 1         = 2.1931757;  h' = 2.1931757 / 2  = 1.0965879
#   relu, c = -3: c' = -3 * 0.7310586 + 0.7310586            = -1.4621172; h' = relu(c') / 2   = 0
#   tanh, c = 2:  c' = 2 * 0.7310586 + 0.7310586 * 0.7615942 = 2.0188871;  h' = tanh(c') / 2   = 0.4826690
#   tanh, c = -3: c' = -3 * 0.7310586 + 0.7310586 * 0.7615942 = -1.6364058; h' = tanh(c') / 2  = -0.4634842
@pytest.mark.parametrize("activation, c, c_new, h_new", [
    ("relu", 2.0, 2.1931757, 1.0965879),
    ("relu", -3.0, -1.4621172, 0.0),
    ("tanh", 2.0, 2.0188871, 0.4826690),
    ("tanh", -3.0, -1.6364058, -0.4634842),
])
def test_one_step_by_hand(activation, c, c_new, h_new):
    cell = hand_cell(activation)
    h, c2 = cell(torch.tensor([[1.0]]), (torch.tensor([[0.5]]), torch.tensor([[c]])))
    assert c2.item() == pytest.approx(c_new, abs=1e-6)
    assert h.item() == pytest.approx(h_new, abs=1e-6)
    # the same from the formulas, spelled out
    act = (lambda v: max(v, 0.0)) if activation == "relu" else math.tanh
    expect_c = c * sig(0 + 1.0) + sig(1) * act(1.0)
    assert c2.item() == pytest.approx(expect_c, abs=1e-6) and h.item() == pytest.approx(act(expect_c) * sig(0), abs=1e-6)


def test_forget_bias_is_added_to_the_forget_gate_only():
    cell = hand_cell("relu")
    cell.forget_bias = 0.0
    h, c = cell(torch.tensor([[1.0]]), (torch.tensor([[0.5]]), torch.tensor([[2.0]])))
    assert c.item() == pytest.approx(2 * 0.5 + sig(1) * 1.0, abs=1e-6)   # sig(f + 0) = 0.5
    assert list(dict(cell.named_parameters())) == ["weight", "bias"]      # forget_bias is no parameter


def test_zero_state_and_init():
    cell = LSTMCell(3, 4)
    assert cell.activation == "relu" and cell.forget_bias == 1.0
    assert torch.all(cell.bias == 0) and cell.weight.shape == (16, 7)
    h, c = cell(torch.randn(2, 3))
    assert h.shape == c.shape == (2, 4) and torch.all(h >= 0)    # ReLU output
    with pytest.raises(ValueError, match="activation"):
        LSTMCell(3, 4, activation="sigmoid")


def to_torch_layout(cell: LSTMCell, ref: torch.nn.LSTMCell) -> None:
    """Copy nn.LSTMCell's weights (gate rows i, f, g, o) into ``cell`` (rows i, j=g, f, o)."""
    H = cell.hidden_size
    rows = lambda t: torch.cat([t[0:H], t[2 * H:3 * H], t[H:2 * H], t[3 * H:4 * H]])  # noqa: E731
    with torch.no_grad():
        cell.weight.copy_(torch.cat([rows(ref.weight_ih), rows(ref.weight_hh)], dim=1))
        cell.bias.copy_(rows(ref.bias_ih + ref.bias_hh))


def test_tanh_cell_without_forget_bias_is_torch_lstm_cell():
    torch.manual_seed(0)
    ref = torch.nn.LSTMCell(5, 7)
    cell = LSTMCell(5, 7, activation="tanh", forget_bias=0.0)
    to_torch_layout(cell, ref)
    x = torch.randn(4, 6, 5)
    state = (torch.randn(4, 7), torch.randn(4, 7))
    outputs, (h, c) = run_lstm(cell, x, state)
    ref_state = state
    for t in range(6):
        ref_state = ref(x[:, t], ref_state)
        torch.testing.assert_close(outputs[:, t], ref_state[0])
    torch.testing.assert_close(h, ref_state[0])
    torch.testing.assert_close(c, ref_state[1])


def test_run_lstm_is_repeated_steps_and_differentiable():
    torch.manual_seed(1)
    cell = LSTMCell(3, 4, activation="relu")
    x = torch.randn(2, 5, 3, requires_grad=True)
    outputs, (h, c) = run_lstm(cell, x)
    state = None
    for t in range(5):
        state = cell(x[:, t], state)
        torch.testing.assert_close(outputs[:, t], state[0])
    outputs.sum().backward()
    assert x.grad is not None and cell.weight.grad.abs().sum() > 0
