"""An LSTM cell with a choice of activation, laid out as TensorFlow's ``BasicLSTMCell``.

``torch.nn.LSTM`` fixes the cell and output activation to tanh. S-CNN-RNN (Liu et
al., CVPR 2017, Sec. 4.2 "Implementation details") uses "the BasicLSTMCell in
TensorFlow as LSTM cells and employ[s] ReLU as activation function", i.e. the
activation delta of eq. (2) is ReLU. One step, with ``[x, h]`` the concatenation
of the input and the previous hidden state::

    i, j, f, o = split(W @ [x, h] + b, 4)        # input gate, candidate, forget gate, output gate
    c' = c * sigmoid(f + forget_bias) + sigmoid(i) * act(j)
    h' = act(c') * sigmoid(o)

As in ``BasicLSTMCell``: no peephole connections (eq. (2) of the paper writes
peephole terms W_{.,c} c_{t-1}; the implementation the paper names has none),
``forget_bias`` (default 1.0) is added to the forget gate's pre-activation and is
not a parameter, the kernel is Glorot-uniform and the bias starts at zero.

``forget_bias=0`` with ``activation="tanh"`` is exactly ``torch.nn.LSTMCell``
(whose gate rows are ordered i, f, g, o instead of i, j, f, o).

State is a tuple ``(h, c)``, each ``(B, hidden)``: the batch is on dimension 0.

The kernel W is held as two parameters, ``weight_ih`` (the input columns) and ``weight_hh`` (the
hidden columns), as ``torch.nn.LSTMCell`` holds them: slicing one parameter at every step makes
autograd allocate and sum a full-size gradient per slice. ``weight`` is W itself, read-only; W is
drawn whole (Glorot over (4H, I + H)) and then split, so the initial values are unchanged, and a
state dict or optimizer state saved with the single ``weight`` loads into the two
(``upgrade_optimizer_state``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}


class LSTMCell(nn.Module):
    """One LSTM step; ``activation`` is ``"relu"`` (the paper's) or ``"tanh"`` (the usual LSTM)."""

    def __init__(self, input_size: int, hidden_size: int, activation: str = "relu", forget_bias: float = 1.0):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"LSTM activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.activation, self.forget_bias = activation, float(forget_bias)
        self.act = ACTIVATIONS[activation]
        # rows: i, j, f, o (hidden_size each); columns of W: input, then hidden (TF's kernel, transposed)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters()
        self._register_load_state_dict_pre_hook(self._split_saved_kernel)

    def reset_parameters(self) -> None:
        kernel = torch.empty(4 * self.hidden_size, self.input_size + self.hidden_size)
        nn.init.xavier_uniform_(kernel)        # TF's default (glorot_uniform) for the whole kernel
        with torch.no_grad():
            self.weight_ih.copy_(kernel[:, : self.input_size])
            self.weight_hh.copy_(kernel[:, self.input_size:])
        nn.init.zeros_(self.bias)

    @property
    def weight(self) -> torch.Tensor:
        """The kernel W (4H, I + H), TensorFlow's layout transposed: a read-only copy."""
        return torch.cat([self.weight_ih, self.weight_hh], dim=1).detach()

    def _split_saved_kernel(self, state_dict, prefix, *args) -> None:
        """A state dict with the single ``weight`` (4H, I + H) loads into ``weight_ih``/``weight_hh``."""
        kernel = state_dict.pop(prefix + "weight", None)
        if kernel is not None and prefix + "weight_ih" not in state_dict:
            state_dict[prefix + "weight_ih"] = kernel[:, : self.input_size].contiguous()
            state_dict[prefix + "weight_hh"] = kernel[:, self.input_size:].contiguous()

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, activation={self.activation!r}, "
                f"forget_bias={self.forget_bias}")

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        """``W_x @ x + b`` for inputs (..., input_size): precomputable for every step of a sequence."""
        return F.linear(x, self.weight_ih, self.bias)

    def step(self, projected: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """One step from an input already through ``input_projection``: returns the new ``(h, c)``."""
        h, c = state
        gates = projected + F.linear(h, self.weight_hh)
        i, j, f, o = gates.chunk(4, dim=-1)
        c = c * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * self.act(j)
        h = self.act(c) * torch.sigmoid(o)
        return h, c

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Input (B, input_size), state ``(h, c)`` or None (zeros) -> the new ``(h, c)``."""
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)
            state = (zeros, zeros)
        return self.step(self.input_projection(x), state)


def run_lstm(cell: LSTMCell, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
    """Run ``cell`` over a batch-first sequence ``inputs`` (B, T, input_size).

    Returns the hidden states of every step (B, T, hidden) and the final ``(h, c)``.
    """
    if state is None:
        zeros = inputs.new_zeros(inputs.shape[0], cell.hidden_size)
        state = (zeros, zeros)
    projected = cell.input_projection(inputs)   # the input half of the kernel, for all steps at once
    outputs = []
    for t in range(inputs.shape[1]):
        state = cell.step(projected[:, t], state)
        outputs.append(state[0])
    return torch.stack(outputs, dim=1), state


def split_saved_kernels(model: nn.Module, state: dict) -> dict:
    """A flat state dict (e.g. SWA's running average) saved when each ``LSTMCell`` of ``model`` held
    one ``weight``, with each such kernel split into ``weight_ih`` and ``weight_hh``."""
    state = dict(state)
    for name, cell in model.named_modules():
        if isinstance(cell, LSTMCell):
            cell._split_saved_kernel(state, f"{name}." if name else "")
    return state


def upgrade_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, saved: dict) -> dict:
    """``saved`` (an optimizer state dict) as ``optimizer`` holds it now. A state saved when each
    ``LSTMCell`` held one ``weight`` has one entry where the optimizer now has two, ``weight_ih``
    then ``weight_hh``: each such entry's per-parameter tensors are split by columns. Any other
    state is returned unchanged."""
    halves = {}
    for cell in (m for m in model.modules() if isinstance(m, LSTMCell)):
        halves[id(cell.weight_ih)] = (cell, "ih")
        halves[id(cell.weight_hh)] = (cell, "hh")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    saved_count = sum(len(g["params"]) for g in saved.get("param_groups", []))
    split = sum(1 for p in params if halves.get(id(p), (None, ""))[1] == "hh")
    if not split or saved_count != len(params) - split:
        return saved
    state, old, index = {}, 0, 0
    new_groups = [{**group, "params": []} for group in saved["param_groups"]]
    for g, group in enumerate(optimizer.param_groups):
        for p in group["params"]:
            cell, half = halves.get(id(p), (None, ""))
            entry = saved["state"].get(old)
            if entry is not None:
                state[index] = _half_of(entry, cell, half) if cell is not None else entry
            new_groups[g]["params"].append(index)
            index += 1
            old += half != "ih"        # weight_ih and weight_hh share the one saved entry
    return {"state": state, "param_groups": new_groups}


def _half_of(entry: dict, cell: LSTMCell, half: str) -> dict:
    cut = slice(None, cell.input_size) if half == "ih" else slice(cell.input_size, None)
    return {k: (v[:, cut].contiguous() if v.dim() == 2 else v.clone()) if isinstance(v, torch.Tensor) else v
            for k, v in entry.items()}            # a clone each: Adam steps its ``step`` in place
