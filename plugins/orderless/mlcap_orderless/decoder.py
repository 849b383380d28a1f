"""An LSTM with soft attention over the encoder's spatial feature map, and its losses and scores.

Step outputs are logits over the K labels and END (= K). The ground truth of an
image is its n labels in the batch's order followed by END (``Batch.sequences``:
n + 1 targets, then PAD).

**Free-running loss** (``fixed_order_loss``; Yazici et al., CVPR 2020, Sec. 3.2,
Eqs. 2-3): the decoder always feeds back the argmax of its own previous step
(never the ground truth) and its step outputs are compared with the ground truth
position by position: output t against target t. Its prediction is the steps up
to and including the first step whose argmax is END (k labels, then END):

* longer than the ground truth (k > n): only the first n + 1 outputs enter the
  loss; the later ones are dropped;
* shorter (k < n): the step that emitted END is still compared with the label
  at its position (so stopping early is penalised there), and the positions after
  it hold no prediction: they are padded with empty (all-zero) logit vectors,
  which cost the constant log(K + 1) each and pass no gradient.

The mean is taken over all n + 1 ground-truth positions of the batch (padded ones
included). The paper writes the loss over the n labels only; END as the
(n + 1)-th target is needed to learn to stop (and is what the authors' code does).

**Decoder scores** (``decoder_scores``): per label, the highest probability
(softmax over labels and END) that the decoder gave it over the steps of its
greedy prediction, i.e. up to and including its first END.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlcap.nn.decoding import decoder_scores, prediction_steps
from mlcap.nn.attention import SoftAttention, annotation_vectors
from mlcap.protocol import PAD, EncoderOutput, cut_at_end


def fixed_order_loss(logits: torch.Tensor, sequences: torch.Tensor, end: int) -> torch.Tensor:
    """Cross-entropy of free-running step logits (B, T, K + 1) against ``sequences`` (B, n_max + 1),
    truncating the prediction at the ground-truth length and padding it with zero vectors after its
    END (see the module docstring)."""
    logits = logits.float()
    L = sequences.shape[1]
    if logits.shape[1] < L:   # the decoder ran fewer steps than the ground truth: the rest is empty
        logits = F.pad(logits, (0, 0, 0, L - logits.shape[1]))
    logits = logits[:, :L]
    kept = prediction_steps(logits, end)
    logits = torch.where(kept[..., None], logits, torch.zeros_like(logits))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), sequences.reshape(-1), ignore_index=PAD)


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
        self.attend = SoftAttention(spatial_dim, hidden, attention)     # the core's soft attention
        self.embed = nn.Embedding(num_labels + 2, embed_dim)
        self.cell = nn.LSTMCell(spatial_dim + embed_dim, hidden)
        self.out = nn.Linear(hidden, num_labels + 1)

    def run(self, enc: EncoderOutput, steps: int, teacher: torch.Tensor | None = None,
            alphas: list | None = None) -> torch.Tensor:
        """Step logits (B, steps, K + 1). With ``teacher`` (B, T) the previous ground-truth label
        is the next input (teacher forcing); without, the previous step's argmax (free running,
        also after an END: its embedding is fed like any other). ``alphas``: a list that receives
        each step's attention weights (B, N)."""
        V = annotation_vectors(enc.spatial)                            # (B, N, C)
        keys = self.attend.keys(V)                                     # (B, N, A)
        h = torch.tanh(self.init_h(enc.pooled))
        c = torch.tanh(self.init_c(enc.pooled))
        token = torch.full((V.shape[0],), self.start, dtype=torch.long, device=V.device)
        logits = []
        for t in range(steps):
            context, alpha = self.attend(V, keys, h)                   # conditioned on h_{t-1}
            if alphas is not None:
                alphas.append(alpha)
            h, c = self.cell(torch.cat([context, self.embed(token)], dim=1), (h, c))
            step = self.out(h)
            logits.append(step)
            token = teacher[:, t].clamp(min=0) if teacher is not None else step.detach().argmax(-1)
        return torch.stack(logits, dim=1)

    def teacher_forced_loss(self, enc: EncoderOutput, sequences: torch.Tensor) -> torch.Tensor:
        logits = self.run(enc, sequences.shape[1], teacher=sequences).float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), sequences.reshape(-1), ignore_index=PAD)

    def free_running_loss(self, enc: EncoderOutput, sequences: torch.Tensor) -> torch.Tensor:
        return fixed_order_loss(self.run(enc, sequences.shape[1]), sequences, self.end)

    @torch.no_grad()
    def predict(self, enc: EncoderOutput, max_len: int) -> tuple[list[list[int]], torch.Tensor]:
        """Greedy label sequences (cut before END, duplicates kept) and the decoder scores (B, K)."""
        logits = self.run(enc, max_len)
        return cut_at_end(logits.argmax(-1).tolist(), self.end), decoder_scores(logits, self.end)

    @torch.no_grad()
    def greedy(self, enc: EncoderOutput, max_len: int) -> list[list[int]]:
        return self.predict(enc, max_len)[0]

    @torch.no_grad()
    def attention(self, enc: EncoderOutput, sequences: list[list[int]], max_len: int) -> list[torch.Tensor]:
        """Per image (L, h, w): the attention weights of the greedy steps that emitted its L labels."""
        alphas: list = []
        self.run(enc, max_len, alphas=alphas)
        h, w = enc.spatial.shape[2:]
        maps = torch.stack(alphas, 1).view(len(sequences), -1, h, w)
        return [maps[b, : len(seq)] for b, seq in enumerate(sequences)]
