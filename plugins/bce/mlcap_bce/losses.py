"""The CNN baselines' losses besides BCE (``--option loss=...``), all over the labels whose value
is known (``batch.mask``; unknown labels are neither positives nor negatives).

* ``softmax`` -- CNN+Softmax (Gong et al. 2013, as S-CNN-RNN Sec. 4.3 "Competitors" cites it:
  "softmax as classifier, and the cross entropy between prediction and ground truth"): the target is
  the label vector normalised to sum 1, the loss -sum_j y_j / |Y| log softmax(f)_j; unknown labels
  take no probability mass (their logits are left out of the softmax); an image with no positive
  label adds nothing.
* ``warp`` -- weighted approximate-rank pairwise loss (Gong et al. 2013, after Weston et al.
  2011): for each positive j, negatives k are drawn at random (without replacement) until one
  violates the margin, 1 - f_j + f_k > 0; after N draws the rank of j is estimated as
  r_j = floor(|negatives| / N) and the pair costs L(r_j) (1 - f_j + f_k) with L(r) = sum_{i<=r} 1/i.
  A positive with no violating negative costs nothing. Averaged over the images of the batch.
* ``weighted`` -- BCE with per-label weights from the training positive ratio p_l:
  exp(1 - p_l) on positives, exp(p_l) on negatives (DeepMAR, Li et al. 2015: the convention of
  pedestrian-attribute work for PA-100K's mA). Not from a seed paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlcap.nn import WARP, sample_uniform
from mlcap.protocol import Batch


def _known(batch: Batch) -> torch.Tensor:
    return batch.mask if batch.mask is not None else torch.ones_like(batch.targets)


def softmax_cross_entropy(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    known = _known(batch) > 0
    positives = batch.targets * known
    counts = positives.sum(1)
    log_probs = torch.log_softmax(logits.float().masked_fill(~known, float("-inf")), dim=1)
    target = positives / counts.clamp(min=1)[:, None]
    per_image = -(target * log_probs.masked_fill(~known, 0.0)).sum(1)
    return per_image[counts > 0].sum() / max(logits.shape[0], 1)


def harmonic(r: torch.Tensor) -> torch.Tensor:
    """L(r) = sum_{i=1}^{r} 1/i for integer tensors r >= 0 (0 for r = 0)."""
    return torch.special.digamma(r.float() + 1) + 0.5772156649015329


def warp(scores: torch.Tensor, batch: Batch, generator: torch.Generator | None = None) -> torch.Tensor:
    """The sampled WARP loss of ``scores`` (B, K) (see the module docstring)."""
    f = scores.float()
    known = _known(batch) > 0
    pos = (batch.targets > 0) & known
    neg = (batch.targets <= 0) & known
    margin = 1 - f[:, :, None] + f[:, None, :]                     # (B, j, k): 1 - f_j + f_k
    candidate = pos[:, :, None] & neg[:, None, :]
    violates = candidate & (margin > 0)
    # a random order of the negatives per (image, positive): the draw order, per image from its own
    # seed in training (``mlcap.sample_noise``), from ``generator`` when one is given
    if generator is not None:
        keys = torch.rand(margin.shape, generator=generator, device=f.device)
    else:
        keys = sample_uniform(margin.shape[0], tuple(margin.shape[1:]), WARP, f.device)
    keys = keys.masked_fill(~candidate, 2.0)
    first_key = keys.masked_fill(~violates, 3.0).amin(2, keepdim=True)             # (B, j, 1)
    draws = (candidate & (keys <= first_key)).sum(2)                # N: negatives drawn up to the violator
    chosen = violates & (keys == first_key)
    has = chosen.any(2)
    rank = torch.div(neg.sum(1, keepdim=True).expand_as(draws), draws.clamp(min=1), rounding_mode="floor")
    pair = (margin * chosen).sum(2)
    loss = (harmonic(rank) * pair * has).sum()
    return loss / max(f.shape[0], 1)


def weighted_bce(logits: torch.Tensor, batch: Batch, positive_ratio: torch.Tensor) -> torch.Tensor:
    p = positive_ratio.to(logits.device).float()[None, :]
    weight = torch.where(batch.targets > 0, torch.exp(1 - p), torch.exp(p)) * _known(batch)
    loss = F.binary_cross_entropy_with_logits(logits.float(), batch.targets, weight=weight, reduction="sum")
    return loss / _known(batch).sum().clamp(min=1.0)
