"""Losses shared by methods."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlcap.protocol import Batch


def concept_bce(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Binary cross-entropy of concept logits, ignoring labels whose value is unknown (``batch.mask``)."""
    loss = F.binary_cross_entropy_with_logits(logits.float(), batch.targets, reduction="none")
    if batch.mask is None:
        return loss.mean()
    return (loss * batch.mask).sum() / batch.mask.sum().clamp(min=1.0)
