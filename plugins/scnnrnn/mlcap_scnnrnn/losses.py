"""The two terms of S-CNN-RNN's joint loss (Liu et al., CVPR 2017, eq. 4-5).

* L_u = sum_i l_u(s_i, s^_i) with l_u the binary cross-entropy *summed* over the k
  concepts (eq. 5, written there without its minus sign);
* L_r = sum_i l_r(pi_i, pi*_i | s^_i), "simply the sum of the negative log
  likelihood over all time steps" (Sec. 3.3): ``mlcap.nn.losses.sequence_nll``, shared with
  the other label-sequence methods.

The paper's sum over images i becomes a mean over the images of a minibatch, so
that the scale does not depend on the batch size. ``reduction="mean"`` gives the
older per-element means instead (``mlcap.nn.losses.concept_bce`` and the token-mean
cross-entropy), kept as the method option ``loss_reduction=mean``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlcap.nn.losses import concept_bce
from mlcap.protocol import Batch

REDUCTIONS = ("sum", "mean")


def concept_bce_sum(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 5: BCE summed over the concepts of each image, then averaged over the B images.

    Concepts whose value is unknown (``mask`` 0) add nothing; the mean is still over all B images.
    """
    loss = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
    if mask is not None:
        loss = loss * mask
    return loss.sum() / max(logits.shape[0], 1)


def concept_loss(logits: torch.Tensor, batch: Batch, reduction: str = "sum") -> torch.Tensor:
    """L_u of a batch's concept logits, summed as in eq. 5 or averaged (``mlcap.nn.losses.concept_bce``)."""
    if reduction == "sum":
        return concept_bce_sum(logits, batch.targets, batch.mask)
    if reduction == "mean":
        return concept_bce(logits, batch)
    raise ValueError(f"reduction must be one of {REDUCTIONS}, not {reduction!r}")
