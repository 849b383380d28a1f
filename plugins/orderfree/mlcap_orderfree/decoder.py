"""M_att and M_pred of Order-Free RNN (Chen et al., AAAI 2018): soft attention conditioned on
h_{t-1} and the confidence-ranked LSTM, its losses and its beam search.

One step t, for an image with annotation vectors v_1..v_m (the backbone's spatial map) and
the CNN's preliminary prediction v_prob = sigma(theta_R(.)) (eqs. 1-3)::

    z_t   = sum_i alpha_{i,t} v_i,  alpha_t = softmax_i f_att(v_i, h_{t-1})   (eqs. 4-5)
    h_t   = LSTM([v_pred, z_t, y~_{t-1}], h_{t-1})                          (eq. 6)
    p_t   = f_pred([v_pred, z_t, y~_{t-1}, h_t])                            (eq. 7)

with v_pred = v_prob at t = 1 and sigma(p_{t-1}) after (probabilities, v_prob's scale), y~_{t-1}
the multi-hot vector of the labels predicted so far, and f_pred two fully connected layers
(FC, tanh, FC; dropout on the input of each). p_t has C + 1 outputs: the C labels, and an END
unit used only by the fixed-order ablation (the order-free model never trains or reads it).

Order-free training (Algorithm 1): at every step the loss is the BCE between sigma(p_t) and the
*whole* label vector (eq. 8); l_t = argmax of p_t over the candidate pool, the labels not yet
predicted (eqs. 9-10), is added to y~_t. Fixed-order ablation (``--order frequent|rare``):
softmax cross-entropy on the ordered labels then END, teacher-forced (y~_{t-1} = the ground-truth
labels before t), v_pred = the softmax's label part.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlcap_orderfree.pool_search import PoolSearch, pool_beam_search
from mlcap.nn.attention import SoftAttention, annotation_vectors
from mlcap.nn.lstm import LSTMCell
from mlcap.nn import SampleDropout
from mlcap.protocol import PAD, EncoderOutput


class OrderFreeDecoder(nn.Module):
    def __init__(self, num_labels: int, feature_dim: int, hidden: int = 1800, attention_dim: int | None = None,
                 pred_hidden: int = 512, dropout: float = 0.2, attention: bool = True):
        super().__init__()
        C, D = num_labels, feature_dim
        self.num_labels = C
        self.attend = SoftAttention(D, hidden, attention_dim) if attention else None      # M_att
        self.init_h = nn.Linear(D, hidden)
        self.init_c = nn.Linear(D, hidden)
        self.cell = LSTMCell(2 * C + D, hidden, activation="tanh", forget_bias=0.0)      # f_LSTM, eq. 6
        self.pred = nn.Sequential(SampleDropout(dropout), nn.Linear(2 * C + D + hidden, pred_hidden), nn.Tanh(),
                                  SampleDropout(dropout), nn.Linear(pred_hidden, C + 1))   # f_pred, eq. 7
        # 1 once finetuned with a fixed label order (softmax + END), 0 order-free: predict reads it
        self.register_buffer("fixed_order", torch.zeros(()))

    @property
    def fixed(self) -> bool:
        return bool(self.fixed_order.item())

    def start(self, enc: EncoderOutput, v_prob: torch.Tensor) -> tuple:
        """The recurrent state before step 1 (every tensor with the batch on dimension 0):
        h_0, c_0 from the mean annotation vector (Show-Attend-Tell's initialisation)."""
        v = annotation_vectors(enc.spatial)
        mean = v.mean(1)
        h, c = torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))
        if self.attend is None:           # w/o attention: z_t is the mean annotation vector (uniform alpha)
            return mean, h, c, v_prob
        return v, self.attend.keys(v), h, c, v_prob

    def step(self, state: tuple, chosen: torch.Tensor, fixed: bool) -> tuple[torch.Tensor, tuple]:
        """Logits p_t (B, C + 1) and the next state; ``chosen`` is y~_{t-1} (B, C)."""
        *feats, h, c, v_pred = state
        if self.attend is None:
            z = feats[0]
        else:
            z, _ = self.attend(feats[0], feats[1], h)                   # eqs. 4-5, on h_{t-1}
        x = torch.cat([v_pred.to(z.dtype), z, chosen.to(z.dtype)], dim=1)
        h, c = self.cell(x, (h, c))                                     # eq. 6
        logits = self.pred(torch.cat([x, h], dim=1))                    # eq. 7
        C = self.num_labels
        v_next = torch.softmax(logits, -1)[:, :C] if fixed else torch.sigmoid(logits[:, :C])
        return logits, (*feats, h, c, v_next)

    def order_free_loss(self, enc: EncoderOutput, v_prob: torch.Tensor, targets: torch.Tensor,
                        mask: torch.Tensor | None, steps: int, reduction: str = "sum") -> torch.Tensor:
        """Eq. 8 at each of ``steps`` steps, l_t from the candidate pool (eqs. 9-10); summed over
        labels and steps, averaged over images (``reduction="mean"``: per label and step)."""
        B, C = targets.shape
        state, chosen = self.start(enc, v_prob), torch.zeros(B, C, dtype=torch.bool, device=targets.device)
        total = targets.new_zeros(B)
        for _ in range(steps):
            logits, state = self.step(state, chosen, fixed=False)
            p = logits[:, :C].float()
            bce = F.binary_cross_entropy_with_logits(p, targets, reduction="none")      # eq. 8
            total = total + (bce if mask is None else bce * mask).sum(1)
            l_t = p.detach().masked_fill(chosen, float("-inf")).argmax(1)              # eq. 9
            chosen = chosen | F.one_hot(l_t, C).bool()                                 # eq. 10
        if reduction == "sum":
            return total.mean()
        known = mask.sum() if mask is not None else torch.tensor(float(B * C))
        return total.sum() / (steps * known.clamp(min=1.0))

    def fixed_order_loss(self, enc: EncoderOutput, v_prob: torch.Tensor, sequences: torch.Tensor,
                         reduction: str = "sum") -> torch.Tensor:
        """Softmax cross-entropy on ``sequences`` (labels in the batch's order, END, PAD), teacher-forced."""
        B, L = sequences.shape
        C = self.num_labels
        state, chosen = self.start(enc, v_prob), torch.zeros(B, C, dtype=torch.bool, device=sequences.device)
        total = torch.zeros(B, device=sequences.device)
        for t in range(L):
            logits, state = self.step(state, chosen, fixed=True)
            target = sequences[:, t]
            total = total + F.cross_entropy(logits.float(), target, ignore_index=PAD, reduction="none")
            is_label = (target >= 0) & (target < C)
            chosen = chosen | (F.one_hot(target.clamp(0, C - 1), C).bool() & is_label[:, None])
        if reduction == "sum":
            return total.mean()
        return total.sum() / (sequences != PAD).sum().clamp(min=1)

    @torch.no_grad()
    def search(self, enc: EncoderOutput, v_prob: torch.Tensor, beam: int, max_len: int,
               threshold: float | torch.Tensor, stop: str, record: bool = False) -> PoolSearch:
        """Beam search with a candidate pool per path and the stop threshold (``mlcap.nn.decoding``)."""
        fixed, C = self.fixed, self.num_labels

        def step(chosen, state):
            logits, state = self.step(state, chosen, fixed)
            logits = logits.float()
            return (torch.softmax(logits, -1) if fixed else torch.sigmoid(logits[:, :C])), state

        return pool_beam_search(step, self.start(enc, v_prob), v_prob.shape[0], C, beam=beam, max_len=max_len,
                                threshold=threshold, stop=stop, end=C if fixed else None, record=record)

    @torch.no_grad()
    def attention(self, enc: EncoderOutput, v_prob: torch.Tensor, sequences: list[list[int]]) -> list[torch.Tensor]:
        """Per image (L, h, w): alpha_t (eq. 4) at each step of its final path, replayed: the
        state of a path depends only on the labels chosen before, so feeding the path's labels
        back gives the steps the beam search took."""
        C, (h, w) = self.num_labels, enc.spatial.shape[2:]
        state = self.start(enc, v_prob)
        chosen = torch.zeros(len(sequences), C, dtype=torch.bool, device=v_prob.device)
        steps, alphas = max((len(s) for s in sequences), default=0), []
        for t in range(steps):
            v, keys, hidden = state[0], state[1], state[2]
            alphas.append(self.attend(v, keys, hidden)[1])
            _, state = self.step(state, chosen, self.fixed)
            label = torch.tensor([s[t] if t < len(s) else 0 for s in sequences], device=chosen.device)
            taken = torch.tensor([t < len(s) for s in sequences], device=chosen.device)
            chosen = chosen | (F.one_hot(label, C).bool() & taken[:, None])
        maps = torch.stack(alphas, 1).view(len(sequences), steps, h, w) if steps else None
        return [maps[b, : len(s)] if steps else torch.zeros(0, h, w) for b, s in enumerate(sequences)]


@torch.no_grad()
def concept_search(v_prob: torch.Tensor, threshold: float | torch.Tensor, record: bool = False) -> PoolSearch:
    """M_map alone (a ``pretrain-cnn`` checkpoint): every label with v_prob >= threshold, most
    confident first: the same search with v_prob at every step, width 1, the label rule."""
    return pool_beam_search(lambda chosen, state: (state[0], state), (v_prob.float(),), v_prob.shape[0],
                            v_prob.shape[1], beam=1, max_len=v_prob.shape[1], threshold=threshold,
                            stop="label", record=record)


def path_scores(found: PoolSearch, num_labels: int) -> torch.Tensor:
    """(B, C): per label, the highest probability the final path's steps gave it (the step
    that decided to stop included)."""
    return torch.stack([steps[:, :num_labels].amax(0) for steps in found.step_probs])
