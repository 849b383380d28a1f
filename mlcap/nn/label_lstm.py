"""The label LSTM conditioned on one vector per image through its initial state.

Three CNN-RNN methods share it (S-CNN-RNN, Liu et al. CVPR 2017, Sec. 3.1, Fig. 1):

* S-CNN-RNN: the concept vector s^ sets the state through FC layers (``state_init="hc"``:
  h0 = FC_h(s), c0 = FC_c(s));
* RIA (Jin & Nakayama 2016) as S-CNN-RNN describes it (Sec. 3.1, Fig. 1(b)): "h0 = W_i I_e + b_i",
  the image embedding sets the hidden state only (``state_init="h"``: c0 = 0);
* the NIC / Vinyals reading, "feed I_e as step zero input to the LSTM, (h0, c0) = LSTM(I_e, 0, 0)"
  (Sec. 3.1, Fig. 1(a); the reading of RIA in ARNN, Sec. 4.2 "Evaluation Measures and Compared
  Methods"): ``state_init="input"``, I_e first through a linear map to the embedding size (the paper
  notes the dimensions must be aligned).

It emits label ids then END (= ``num_labels``); START (= ``num_labels + 1``) is input only.
The recurrent unit is ``mlcap.nn.LSTMCell`` (TensorFlow's BasicLSTMCell, forget bias 1.0) with
``cell="relu"`` (S-CNN-RNN Sec. 4.2) or ``"tanh"``. State ``(h, c)``, batch on dimension 0.
"""

from __future__ import annotations

import torch
from torch import nn

from mlcap.nn.decoding import beam_search, decoder_scores
from mlcap.nn.losses import sequence_nll
from mlcap.nn.lstm import LSTMCell, run_lstm
from mlcap.protocol import cut_at_end

STATE_INITS = ("hc", "h", "input")


class LabelLSTMDecoder(nn.Module):
    """``init="tanh"`` squashes FC outputs that set the state (``state_init`` "hc" or "h")."""

    def __init__(self, num_labels: int, embed_dim: int = 256, hidden: int = 512, num_inputs: int | None = None,
                 cell: str = "relu", init: str = "linear", state_init: str = "hc"):
        super().__init__()
        if init not in ("linear", "tanh"):
            raise ValueError(f"init must be 'linear' or 'tanh', not {init!r}")
        if state_init not in STATE_INITS:
            raise ValueError(f"state_init must be one of {', '.join(STATE_INITS)}, not {state_init!r}")
        self.num_labels = num_labels          # tokens it emits: labels, or caption words
        self.end, self.start = num_labels, num_labels + 1
        self.init, self.state_init = init, state_init
        num_inputs = num_inputs or num_labels  # size of the vector that conditions the sequence
        if state_init == "input":
            self.init_input = nn.Linear(num_inputs, embed_dim)
        else:
            self.init_h = nn.Linear(num_inputs, hidden)
            if state_init == "hc":
                self.init_c = nn.Linear(num_inputs, hidden)
        self.embed = nn.Embedding(num_labels + 2, embed_dim)
        self.lstm = LSTMCell(embed_dim, hidden, activation=cell)
        self.out = nn.Linear(hidden, num_labels + 1)

    def initial_state(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The state before START is fed, from the conditioning vectors ``s`` (B, num_inputs)."""
        if self.state_init == "input":
            return self.lstm(self.init_input(s))            # (h0, c0) = LSTM(W s + b, 0, 0)
        h = self.init_h(s)
        c = self.init_c(s) if self.state_init == "hc" else torch.zeros_like(h)
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
        """Teacher-forced negative log-likelihood of ``sequences`` (``mlcap.nn.losses.sequence_nll``):
        ``"sum"`` over the steps of each sequence, averaged over sequences; ``"mean"`` over all
        non-PAD steps of the batch."""
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
    def greedy_scores(self, s: torch.Tensor, max_len: int) -> tuple[list[list[int]], torch.Tensor]:
        """The greedy path (cut before END) and, per label, its highest probability over that
        path's steps (B, K) (``mlcap.nn.decoding.decoder_scores``)."""
        logits = self.free_run(s, max_len)
        return cut_at_end(logits.argmax(-1).tolist(), self.end), decoder_scores(logits, self.end)

    @torch.no_grad()
    def greedy(self, s: torch.Tensor, max_len: int) -> list[list[int]]:
        """Most likely label at each step until END or ``max_len`` labels (duplicates kept)."""
        return cut_at_end(self.free_run(s, max_len).argmax(dim=-1).tolist(), self.end)
