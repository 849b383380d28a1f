"""Losses shared by methods."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlcap.protocol import PAD, Batch

REDUCTIONS = ("sum", "mean")


def concept_bce(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Binary cross-entropy of concept logits, ignoring labels whose value is unknown (``batch.mask``)."""
    loss = F.binary_cross_entropy_with_logits(logits.float(), batch.targets, reduction="none")
    if batch.mask is None:
        return loss.mean()
    return (loss * batch.mask).sum() / batch.mask.sum().clamp(min=1.0)


def sequence_nll(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "sum",
                 ignore_index: int = PAD) -> torch.Tensor:
    """-log p of the target token at each step, step logits (B, T, V), targets (B, T).

    ``"sum"``: summed over the steps of each sequence (``ignore_index`` steps excluded), then
    averaged over the B sequences (S-CNN-RNN's L_r, "simply the sum of the negative log
    likelihood over all time steps"); ``"mean"``: averaged over all non-ignored steps.
    """
    flat = logits.float().reshape(-1, logits.shape[-1])
    if reduction == "mean":
        return F.cross_entropy(flat, targets.reshape(-1), ignore_index=ignore_index)
    if reduction != "sum":
        raise ValueError(f"reduction must be one of {REDUCTIONS}, not {reduction!r}")
    nll = F.cross_entropy(flat, targets.reshape(-1), ignore_index=ignore_index, reduction="sum")
    return nll / max(logits.shape[0], 1)
