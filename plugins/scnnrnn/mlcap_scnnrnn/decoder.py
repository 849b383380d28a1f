"""The label LSTM whose initial state is FC(s), s being the concept vector."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlcap.decoding import beam_search
from mlcap.protocol import PAD, cut_at_end


class LabelLSTMDecoder(nn.Module):
    """Emits label ids then END (= ``num_labels``); START (= ``num_labels + 1``) is input only.

    The concept vector ``s`` (ground truth in pretrain-rnn, the CNN's sigmoid
    output otherwise) enters only through the initial state: this is the
    "semantic regularisation" interface between CNN and RNN.
    """

    def __init__(self, num_labels: int, embed_dim: int = 256, hidden: int = 512, num_inputs: int | None = None):
        super().__init__()
        self.num_labels = num_labels          # tokens it emits: labels, or caption words
        self.end, self.start = num_labels, num_labels + 1
        num_inputs = num_inputs or num_labels  # size of the vector that sets the initial state
        self.init_h = nn.Linear(num_inputs, hidden)
        self.init_c = nn.Linear(num_inputs, hidden)
        self.embed = nn.Embedding(num_labels + 2, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, num_labels + 1)

    def initial_state(self, s: torch.Tensor):
        h = torch.tanh(self.init_h(s)).unsqueeze(0)
        c = torch.tanh(self.init_c(s)).unsqueeze(0)
        return h, c

    def loss(self, s: torch.Tensor, sequences: torch.Tensor) -> torch.Tensor:
        """Teacher-forced cross-entropy over ``sequences`` (B, T) of labels, END, PAD."""
        B = sequences.shape[0]
        start = torch.full((B, 1), self.start, dtype=torch.long, device=sequences.device)
        inputs = torch.cat([start, sequences[:, :-1].clamp(min=0)], dim=1)
        hidden, _ = self.lstm(self.embed(inputs), self.initial_state(s))
        logits = self.out(hidden).float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), sequences.reshape(-1), ignore_index=PAD)

    def free_run(self, s: torch.Tensor, steps: int) -> torch.Tensor:
        """Step logits (B, steps, K + 1), each step fed the previous step's argmax (for PLA/MLA)."""
        B = s.shape[0]
        state = self.initial_state(s)
        token = torch.full((B, 1), self.start, dtype=torch.long, device=s.device)
        logits = []
        for _ in range(steps):
            hidden, state = self.lstm(self.embed(token), state)
            step = self.out(hidden)
            logits.append(step)
            token = step.detach().argmax(dim=-1)
        return torch.cat(logits, dim=1)

    @torch.no_grad()
    def beam(self, s: torch.Tensor, beam: int, max_len: int) -> list[list[int]]:
        """The most probable token sequence per input under beam search (``beam=1``: greedy)."""
        def step(tokens, state):
            hidden, state = self.lstm(self.embed(tokens)[:, None], state)
            return torch.log_softmax(self.out(hidden[:, 0]).float(), dim=-1), state

        sequences, _ = beam_search(step, self.initial_state(s), s.shape[0], self.start, self.end, beam, max_len)
        return sequences

    @torch.no_grad()
    def greedy(self, s: torch.Tensor, max_len: int) -> list[list[int]]:
        """Most likely label at each step until END or ``max_len`` labels (duplicates kept)."""
        return cut_at_end(self.free_run(s, max_len).argmax(dim=-1).tolist(), self.end)
