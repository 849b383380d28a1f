"""An LSTM with soft attention over the encoder's spatial feature map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlcap.protocol import PAD, EncoderOutput, cut_at_end


class AttentionLSTMDecoder(nn.Module):
    """At step t: attention over the spatial map conditioned on h_{t-1}; the attended feature
    concatenated with the previous label's embedding is the LSTM input; the initial state
    comes from the pooled feature. Emits label ids, then END (= ``num_labels``)."""

    def __init__(self, num_labels: int, pooled_dim: int, spatial_dim: int, embed_dim: int = 256,
                 hidden: int = 512, attention: int = 512):
        super().__init__()
        self.num_labels = num_labels
        self.end, self.start = num_labels, num_labels + 1
        self.init_h = nn.Linear(pooled_dim, hidden)
        self.init_c = nn.Linear(pooled_dim, hidden)
        self.att_features = nn.Linear(spatial_dim, attention)
        self.att_hidden = nn.Linear(hidden, attention)
        self.att_score = nn.Linear(attention, 1)
        self.embed = nn.Embedding(num_labels + 2, embed_dim)
        self.cell = nn.LSTMCell(spatial_dim + embed_dim, hidden)
        self.out = nn.Linear(hidden, num_labels + 1)

    def run(self, enc: EncoderOutput, steps: int, teacher: torch.Tensor | None = None) -> torch.Tensor:
        """Step logits (B, steps, K + 1). With ``teacher`` (B, T) the previous ground-truth label
        is the next input (teacher forcing); without, the previous step's argmax (free running)."""
        V = enc.spatial.flatten(2).transpose(1, 2)                    # (B, N, C)
        keys = self.att_features(V)                                    # (B, N, A)
        h = torch.tanh(self.init_h(enc.pooled))
        c = torch.tanh(self.init_c(enc.pooled))
        token = torch.full((V.shape[0],), self.start, dtype=torch.long, device=V.device)
        logits = []
        for t in range(steps):
            scores = self.att_score(torch.tanh(keys + self.att_hidden(h)[:, None, :]))   # (B, N, 1)
            context = (torch.softmax(scores, dim=1) * V).sum(1)
            h, c = self.cell(torch.cat([context, self.embed(token)], dim=1), (h, c))
            step = self.out(h)
            logits.append(step)
            token = teacher[:, t].clamp(min=0) if teacher is not None else step.detach().argmax(-1)
        return torch.stack(logits, dim=1)

    def teacher_forced_loss(self, enc: EncoderOutput, sequences: torch.Tensor) -> torch.Tensor:
        logits = self.run(enc, sequences.shape[1], teacher=sequences).float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), sequences.reshape(-1), ignore_index=PAD)

    @torch.no_grad()
    def greedy(self, enc: EncoderOutput, max_len: int) -> list[list[int]]:
        return cut_at_end(self.run(enc, max_len).argmax(-1).tolist(), self.end)
