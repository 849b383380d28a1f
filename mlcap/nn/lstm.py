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
        # rows: i, j, f, o (hidden_size each); columns: input, then hidden (TF's kernel, transposed)
        self.weight = nn.Parameter(torch.empty(4 * hidden_size, input_size + hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)   # TF's default (glorot_uniform) for the kernel
        nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, activation={self.activation!r}, "
                f"forget_bias={self.forget_bias}")

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        """``W_x @ x + b`` for inputs (..., input_size): precomputable for every step of a sequence."""
        return F.linear(x, self.weight[:, : self.input_size], self.bias)

    def step(self, projected: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """One step from an input already through ``input_projection``: returns the new ``(h, c)``."""
        h, c = state
        gates = projected + F.linear(h, self.weight[:, self.input_size:])
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
