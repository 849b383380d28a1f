"""mlcap.nn.LSTMCell: one BasicLSTMCell step by hand (ReLU and tanh), nn.LSTMCell equality, and the
two-parameter kernel against the single-``weight`` layout it replaced: the same initial values,
bit-identical training, and old state dicts, optimizer states and SWA averages loading."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from mlcap.nn import LSTMCell, run_lstm, split_saved_kernels, upgrade_optimizer_state


def set_kernel(cell: LSTMCell, kernel: torch.Tensor) -> None:
    """W (4H, I + H) into the cell's two halves."""
    with torch.no_grad():
        cell.weight_ih.copy_(kernel[:, : cell.input_size])
        cell.weight_hh.copy_(kernel[:, cell.input_size:])


def hand_cell(activation: str) -> LSTMCell:
    """Input 1, hidden 1. Rows i, j, f, o; columns (x, h)."""
    cell = LSTMCell(1, 1, activation=activation)   # forget_bias 1.0
    set_kernel(cell, torch.tensor([[1.0, 0.0],     # i = x              = 1
                                   [2.0, -2.0],    # j = 2x - 2h        = 1
                                   [0.0, 0.0],     # f = 0
                                   [0.0, 2.0]]))   # o = 2h - 1         = 0
    with torch.no_grad():
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
    assert list(dict(cell.named_parameters())) == ["weight_ih", "weight_hh", "bias"]   # forget_bias is none


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
    set_kernel(cell, torch.cat([rows(ref.weight_ih), rows(ref.weight_hh)], dim=1))
    with torch.no_grad():
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
    assert x.grad is not None and cell.weight_hh.grad.abs().sum() > 0


class OneKernelCell(torch.nn.Module):
    """The layout LSTMCell had before: one ``weight`` (4H, I + H), sliced at every step."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight = torch.nn.Parameter(torch.empty(4 * hidden_size, input_size + hidden_size))
        self.bias = torch.nn.Parameter(torch.zeros(4 * hidden_size))
        torch.nn.init.xavier_uniform_(self.weight)

    def input_projection(self, x):
        return torch.nn.functional.linear(x, self.weight[:, : self.input_size], self.bias)

    def step(self, projected, state):
        h, c = state
        i, j, f, o = (projected + torch.nn.functional.linear(h, self.weight[:, self.input_size:])).chunk(4, dim=-1)
        c = c * torch.sigmoid(f + 1.0) + torch.sigmoid(i) * torch.relu(j)
        return torch.relu(c) * torch.sigmoid(o), c


def adam_steps(cell, optimizer, steps: int, seed: int) -> list[float]:
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        x = torch.randn(4, 5, cell.input_size, generator=gen)
        outputs, _ = run_lstm(cell, x)
        loss = (outputs ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


# S-CNN-RNN's sizes (a 256-d label embedding into 512 cells). At toy sizes (e.g. 6 into 8) the BLAS
# may sum the hidden-weight gradient in another order, and the weights then differ in the last bit.
SIZES = (256, 512)


def test_two_parameter_kernel_trains_bit_identically_to_one_kernel():
    torch.manual_seed(3)
    old = OneKernelCell(*SIZES)
    torch.manual_seed(3)
    new = LSTMCell(*SIZES)
    assert torch.equal(new.weight, old.weight) and new.weight.shape == (2048, 768)   # the same Glorot draw
    old_losses = adam_steps(old, torch.optim.Adam(old.parameters(), lr=1e-2), 6, seed=0)
    new_losses = adam_steps(new, torch.optim.Adam(new.parameters(), lr=1e-2), 6, seed=0)
    assert old_losses == new_losses
    assert torch.equal(new.weight, old.weight) and torch.equal(new.bias, old.bias)


def test_state_saved_with_one_kernel_loads_and_resumes_bit_identically():
    torch.manual_seed(4)
    old = OneKernelCell(*SIZES)
    old_opt = torch.optim.Adam(old.parameters(), lr=1e-2)
    adam_steps(old, old_opt, 3, seed=1)
    saved_model = {k: v.clone() for k, v in old.state_dict().items()}
    saved_opt = copy.deepcopy(old_opt.state_dict())        # as read back from a checkpoint
    new = LSTMCell(*SIZES)
    new.load_state_dict(saved_model)
    assert torch.equal(new.weight, old.weight)
    new_opt = torch.optim.Adam(new.parameters(), lr=1e-2)
    new_opt.load_state_dict(upgrade_optimizer_state(new, new_opt, saved_opt))
    assert adam_steps(new, new_opt, 3, seed=2) == adam_steps(old, old_opt, 3, seed=2)
    assert torch.equal(new.weight, old.weight)
    assert upgrade_optimizer_state(new, new_opt, new_opt.state_dict()) == new_opt.state_dict()   # current: as is
    average = split_saved_kernels(torch.nn.ModuleDict({"lstm": new}), {"lstm.weight": old.weight.detach()})
    assert set(average) == {"lstm.weight_ih", "lstm.weight_hh"}
    assert torch.equal(average["lstm.weight_hh"], old.weight.detach()[:, SIZES[0]:])
