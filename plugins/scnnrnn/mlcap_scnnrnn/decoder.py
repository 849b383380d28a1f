"""The label LSTM whose initial state is FC(s), s being the concept vector."""

from __future__ import annotations

import torch
from torch import nn

from mlcap.decoding import beam_search
from mlcap.nn import LSTMCell, run_lstm
from mlcap.protocol import cut_at_end

from mlcap_scnnrnn.losses import sequence_nll


class LabelLSTMDecoder(nn.Module):
    """Emits label ids then END (= ``num_labels``); START (= ``num_labels + 1``) is input only.

    The concept vector ``s`` (ground truth in pretrain-rnn, the CNN's sigmoid
    output otherwise) enters only through the initial state: this is the
    "semantic regularisation" interface between CNN and RNN. "The concept input
    is first connected to a fully connected (FC) layer before being used to set
    the initial hidden state of the LSTM" (Sec. 3.3): here two FC layers set h0
    and c0. The paper applies no squashing there (as h0 = W_i I_e + b_i of [14],
    Fig. 1(b)), so ``init="linear"`` is the default; ``init="tanh"`` squashes both.

    The recurrent unit is ``mlcap.nn.LSTMCell`` (TensorFlow's BasicLSTMCell, forget
    bias 1.0) with ``cell="relu"`` (Sec. 4.2: "employ ReLU as activation function")
    or ``cell="tanh"``. State: ``(h, c)``, each (B, hidden), batch on dimension 0.
    """

    def __init__(self, num_labels: int, embed_dim: int = 256, hidden: int = 512, num_inputs: int | None = None,
                 cell: str = "relu", init: str = "linear"):
        super().__init__()
        if init not in ("linear", "tanh"):
            raise ValueError(f"init must be 'linear' or 'tanh', not {init!r}")
        self.num_labels = num_labels          # tokens it emits: labels, or caption words
        self.end, self.start = num_labels, num_labels + 1
        self.init = init
        num_inputs = num_inputs or num_labels  # size of the vector that sets the initial state
        self.init_h = nn.Linear(num_inputs, hidden)
        self.init_c = nn.Linear(num_inputs, hidden)
        self.embed = nn.Embedding(num_labels + 2, embed_dim)
        self.lstm = LSTMCell(embed_dim, hidden, activation=cell)
        self.out = nn.Linear(hidden, num_labels + 1)

    def initial_state(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = self.init_h(s), self.init_c(s)
        if self.init == "tanh":
            h, c = torch.tanh(h), torch.tanh(c)
        return h, c

    def teacher_forced(self, s: torch.Tensor, sequences: torch.Tensor) -> torch.Tensor:
        """Step logits (B, T, K + 1) for ``sequences`` (B, T) of labels, END, PAD, each step fed the truth."""
        B = sequences.shape[0]
        start = torch.full((B, 1), self.start, dtype=torch.long, device=sequences.device)
        inputs = torch.cat([start, sequences[:, :-1].clamp(min=0)], dim=1)
        hidden, _ = run_lstm(self.lstm, self.embed(inputs), self.initial_state(s))
        return self.out(hidden).float()

    def loss(self, s: torch.Tensor, sequences: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        """Teacher-forced negative log-likelihood of ``sequences`` (see ``losses.sequence_nll``):
        ``"sum"`` over the steps of each sequence, averaged over sequences (the paper's L_r);
        ``"mean"`` over all non-PAD steps of the batch."""
        return sequence_nll(self.teacher_forced(s, sequences), sequences, reduction)

    def _step(self, tokens: torch.Tensor, state):
        state = self.lstm(self.embed(tokens), state)
        return self.out(state[0]), state

    def free_run(self, s: torch.Tensor, steps: int) -> torch.Tensor:
        """Step logits (B, steps, K + 1), each step fed the previous step's argmax (for PLA/MLA)."""
        B = s.shape[0]
        state = self.initial_state(s)
        token = torch.full((B,), self.start, dtype=torch.long, device=s.device)
        logits = []
        for _ in range(steps):
            step, state = self._step(token, state)
            logits.append(step)
            token = step.detach().argmax(dim=-1)
        return torch.stack(logits, dim=1)

    @torch.no_grad()
    def beam(self, s: torch.Tensor, beam: int, max_len: int) -> list[list[int]]:
        """The most probable token sequence per input under beam search (``beam=1``: greedy)."""
        def step(tokens, state):
            logits, state = self._step(tokens, state)
            return torch.log_softmax(logits.float(), dim=-1), state

        sequences, _ = beam_search(step, self.initial_state(s), s.shape[0], self.start, self.end, beam, max_len,
                                   batch_dim=0)
        return sequences

    @torch.no_grad()
    def greedy(self, s: torch.Tensor, max_len: int) -> list[list[int]]:
        """Most likely label at each step until END or ``max_len`` labels (duplicates kept)."""
        return cut_at_end(self.free_run(s, max_len).argmax(dim=-1).tolist(), self.end)
