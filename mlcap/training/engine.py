"""`train_one_epoch` and `evaluate`, as in torchvision's classification reference."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch

from mlcap.data.loader import SkipLog, batch_to_device
from mlcap.errors import TrainingDiverged
from mlcap.training.validate import cider, label_metrics


def freeze_batchnorm_of_frozen_modules(model: torch.nn.Module) -> None:
    """A frozen part stays frozen: its BatchNorm statistics must not drift either."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            if not any(p.requires_grad for p in m.parameters()):
                m.eval()


def train_one_epoch(model, method, loader, optimizer, stage: str, spec, device: torch.device, amp: bool,
                    skips: SkipLog, advance, describe) -> tuple[dict[str, float], int]:
    """One pass over ``loader``; the mean of each loss term over the images seen, and their count.
    ``describe(mean_loss)`` is the progress bar's text."""
    model.train()
    freeze_batchnorm_of_frozen_modules(model)
    sums: dict[str, float] = defaultdict(float)
    seen = 0
    for step, (batch, skipped) in enumerate(loader):
        skips.add(skipped)
        if batch is None:
            advance(len(skipped))
            continue
        batch = batch_to_device(batch, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            losses = method.stage_loss(model, batch, stage, spec)
        loss = losses["loss"]
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"{stage}: loss is {loss.item()} at step {step + 1}")
        if loss.requires_grad:      # False while every group is still frozen (Recipe.group_start)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        n = len(batch.ids)
        seen += n
        for k, v in losses.items():
            sums[k] += float(v.detach()) * n
        advance(n + len(skipped), info=describe(sums["loss"] / seen))
    return {k: v / max(seen, 1) for k, v in sums.items()}, seen


@dataclass
class Collected:
    """What a model predicted on a split: ground truth, emitted labels, scores, captions."""

    ids: list[str] = field(default_factory=list)
    y_true: list = field(default_factory=list)
    y_pred: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)
    loss_sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def arrays(self):
        return np.asarray(self.y_true, bool), np.asarray(self.y_pred, bool), np.asarray(self.scores, float)


@torch.no_grad()
def collect(model, method, loader, stage: str | None, spec, device: torch.device, amp: bool = False) -> Collected:
    """Predictions (and, with ``stage``, the stage's loss terms) over every batch of ``loader``."""
    model.eval()
    out = Collected()
    for batch, _ in loader:
        if batch is None:
            continue
        batch = batch_to_device(batch, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            if stage is not None:
                for k, v in method.stage_loss(model, batch, stage, spec).items():
                    out.loss_sums[k] += float(v) * len(batch.ids)
            decoded = method.predict(model, batch, spec)
        out.ids.extend(batch.ids)
        out.y_true.extend(batch.targets.bool().cpu().numpy())
        out.scores.extend(decoded.scores.float().cpu().numpy())
        K = batch.targets.shape[1]
        for i, seq in enumerate(decoded.sequences):
            row = np.zeros(K, bool)
            row[[t for t in seq if 0 <= t < K]] = True
            out.y_pred.append(row)
        if decoded.captions is not None:
            out.captions.update(zip(batch.ids, decoded.captions))
    return out


def evaluate(model, method, loader, stage: str, spec, device: torch.device, amp: bool = False,
             references: dict[str, list[str]] | None = None) -> tuple[dict[str, float], Collected]:
    """Validation loss terms and metrics (``{"loss", <terms>, O-F1, ..., mAP}`` or CIDEr)."""
    got = collect(model, method, loader, stage, spec, device, amp)
    n = max(len(got.ids), 1)
    metrics = {k: v / n for k, v in got.loss_sums.items()}
    if not got.ids:
        return metrics, got
    if spec.task == "caption":
        metrics["CIDEr"] = cider(references or {}, got.captions)
    else:
        y_true, y_pred, scores = got.arrays()
        metrics.update(label_metrics(y_true, y_pred, scores))
    return metrics, got
