"""CNN-RNN's decoder (Wang et al., CVPR 2016): one label-embedding matrix U_l, output fusion.

As the seeds describe it, it "projects both features into a joint embedding space" and merges
"CNN output features and RNN outputs" by "output fusion" (S-CNN-RNN Sec. 3.1 and
Sec. 4.3 "Competitors", Fig. 1(c)):

    w(t)   = U_l[k(t-1)]                          the embedding of the previous label (START first)
    o(t)   = LSTM(w(t), o(t-1))                   the recurrent layer over the labels emitted so far
    x(t)   = ReLU(U_o o(t) + U_I I)               recurrent output and image feature I projected together
                                                  into the label-embedding space (output fusion)
    s(t)_k = U_l[k] . x(t)                        a label's score: its dot product with x(t)
    p(t)   = softmax(s(t)) over the K labels and END

U_l holds K + 2 rows (labels, END, START); END is scored like a label, START is input only. The
activation of the projection is a choice (the seeds do not say): ReLU, ``fusion="linear"`` for none.
The recurrent unit is the one S-CNN-RNN uses for every compared model (Sec. 4.3 "Competitors": "the
same CNN and RNN modules"): ``mlcap.nn.LSTMCell``, ReLU activation (``cell="tanh"`` the usual LSTM).
"""

from __future__ import annotations

import torch
from torch import nn

from mlcap.nn.decoding import beam_search, decoder_scores
from mlcap.nn.losses import sequence_nll
from mlcap.nn import LSTMCell, run_lstm
from mlcap.protocol import cut_at_end


class OutputFusionDecoder(nn.Module):
    def __init__(self, num_labels: int, feature_dim: int, embed_dim: int = 256, hidden: int = 512,
                 cell: str = "relu", fusion: str = "relu"):
        super().__init__()
        if fusion not in ("relu", "linear"):
            raise ValueError(f"fusion must be 'relu' or 'linear', not {fusion!r}")
        self.num_labels, self.fusion = num_labels, fusion
        self.end, self.start = num_labels, num_labels + 1
        self.label_embedding = nn.Embedding(num_labels + 2, embed_dim)     # U_l
        self.lstm = LSTMCell(embed_dim, hidden, activation=cell)
        self.project_output = nn.Linear(hidden, embed_dim)                 # U_o
        self.project_image = nn.Linear(feature_dim, embed_dim, bias=False)  # U_I

    def scores(self, o: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """s(t): (..., K + 1) dot products of x(t) with the label and END embeddings."""
        x = self.project_output(o) + self.project_image(image)
        if self.fusion == "relu":
            x = torch.relu(x)
        return x @ self.label_embedding.weight[: self.num_labels + 1].t()

    def teacher_forced(self, image: torch.Tensor, sequences: torch.Tensor) -> torch.Tensor:
        """Step scores (B, T, K + 1) for ``sequences`` (B, T) of labels, END, PAD, fed the truth."""
        B = sequences.shape[0]
        start = torch.full((B, 1), self.start, dtype=torch.long, device=sequences.device)
        inputs = torch.cat([start, sequences[:, :-1].clamp(min=0)], dim=1)
        hidden, _ = run_lstm(self.lstm, self.label_embedding(inputs))
        return self.scores(hidden, image[:, None]).float()

    def loss(self, image: torch.Tensor, sequences: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        return sequence_nll(self.teacher_forced(image, sequences), sequences, reduction)

    def _step(self, image: torch.Tensor):
        def step(tokens, state):
            h, c, feats = state
            h, c = self.lstm(self.label_embedding(tokens), (h, c))
            return torch.log_softmax(self.scores(h, feats).float(), dim=-1), (h, c, feats)
        return step

    def _start_state(self, image: torch.Tensor):
        zeros = image.new_zeros(image.shape[0], self.lstm.hidden_size)
        return zeros, zeros, image

    @torch.no_grad()
    def beam(self, image: torch.Tensor, beam: int, max_len: int) -> list[list[int]]:
        """Label sequences by beam search (``beam=1``: greedy), cut before END, duplicates kept."""
        sequences, _ = beam_search(self._step(image), self._start_state(image), image.shape[0], self.start,
                                   self.end, beam, max_len, batch_dim=0)
        return sequences

    def free_run(self, image: torch.Tensor, steps: int) -> torch.Tensor:
        """Step log-probabilities (B, steps, K + 1), each step fed the previous step's argmax."""
        step, state = self._step(image), self._start_state(image)
        token = torch.full((image.shape[0],), self.start, dtype=torch.long, device=image.device)
        logits = []
        for _ in range(steps):
            log_probs, state = step(token, state)
            logits.append(log_probs)
            token = log_probs.argmax(-1)
        return torch.stack(logits, 1)

    @torch.no_grad()
    def greedy_scores(self, image: torch.Tensor, max_len: int) -> tuple[list[list[int]], torch.Tensor]:
        """The greedy path and, per label, its highest probability over that path's steps (B, K)."""
        logits = self.free_run(image, max_len)
        return cut_at_end(logits.argmax(-1).tolist(), self.end), decoder_scores(logits, self.end)
