"""`train_one_epoch` and `evaluate`, as in torchvision's classification reference."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from mlcap.data.loader import SkipLog, batch_to_device
from mlcap.errors import TrainingDiverged
from mlcap.contract_checks import check_decoded
from mlcap.training.freeze import train_mode
from mlcap.training.precision import autocast
from mlcap.metrics.validation import cider, label_metrics


@dataclass
class EpochLog:
    """What an epoch reports as it runs: unreadable images (``skips``), the progress bar
    (``advance(n, info=...)``, with ``describe(mean_loss)`` as its text) and, when a list,
    each step's mean loss (``step_losses``)."""

    skips: SkipLog
    advance: Callable
    describe: Callable[[float], str]
    step_losses: list | None = None


def train_one_epoch(step, loader, optimizer, scaler, log: EpochLog) -> tuple[dict[str, float], int]:
    """One pass over ``loader``: ``step`` is the stage's forward pass (``replicas.Replicas``),
    ``scaler`` a GradScaler (float16 autocast) or None. The mean of each loss term over the images
    seen, and their count, over all ranks."""
    train_mode(step.model)
    sums: dict[str, float] = defaultdict(float)
    seen = total = 0
    for index, (batch, skipped) in enumerate(loader):
        log.skips.add(skipped)
        if batch is None and not step.distributed:
            log.advance(len(skipped))
            continue
        losses = step.losses(batch)
        n = len(batch.ids) if batch is not None else 0
        loss, step_loss, step_n = step.share(losses["loss"], n)
        if step_n == 0:             # no rank could read an image of this step
            log.advance(len(skipped))
            continue
        if not math.isfinite(step_loss):
            raise TrainingDiverged(f"{step.stage}: loss is {step_loss} at step {index + 1}")
        if loss.requires_grad:      # False while every group is still frozen (Recipe.group_start)
            _update(loss, optimizer, scaler)
        seen += n
        total += step_n
        for k, v in losses.items() if n else ():
            sums[k] += float(v.detach()) * n
        if log.step_losses is not None:
            log.step_losses.append(step_loss)
        log.advance((step_n if step.distributed else n) + len(skipped), info=log.describe(sums["loss"] / max(seen, 1)))
    return _mean_over_ranks(sums, seen), total


def _update(loss: torch.Tensor, optimizer, scaler) -> None:
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def _mean_over_ranks(sums: dict[str, float], seen: int) -> dict[str, float]:
    """Each loss term's mean over every rank's images (one process: over its own)."""
    from mlcap.training import distributed

    if distributed.active():
        gathered = distributed.gather_objects((dict(sums), seen))
        sums, seen = defaultdict(float), 0
        for rank_sums, rank_seen in gathered:
            seen += rank_seen
            for k, v in rank_sums.items():
                sums[k] += v
    return {k: v / max(seen, 1) for k, v in sums.items()}


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

    def gathered(self) -> "Collected":
        """Every rank's share merged (ordered by image id: the same whatever the number of ranks);
        itself in one process."""
        from mlcap.training import distributed

        if not distributed.active():
            return self
        parts = distributed.gather_objects(self)
        out = Collected()
        rows = sorted((i, p, j) for p in parts for j, i in enumerate(p.ids))
        for i, p, j in rows:
            out.ids.append(i)
            out.y_true.append(p.y_true[j])
            out.y_pred.append(p.y_pred[j])
            out.scores.append(p.scores[j])
        for p in parts:
            out.captions.update(p.captions)
            for k, v in p.loss_sums.items():
                out.loss_sums[k] += v
        return out


@torch.no_grad()
def collect(model, method, loader, stage: str | None, spec, decode, device: torch.device, amp=False) -> Collected:
    """Predictions decoded with ``decode`` (and, with ``stage``, the stage's loss terms) over every
    batch of ``loader``."""
    model.eval()
    out = Collected()
    for batch, _ in loader:
        if batch is None:
            continue
        batch = batch_to_device(batch, device)
        with autocast(device, amp):
            if stage is not None:
                for k, v in method.stage_loss(model, batch, stage, spec).items():
                    out.loss_sums[k] += float(v) * len(batch.ids)
            decoded = check_decoded(method, method.predict(model, batch, spec, decode), batch, spec)
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


def evaluate(model, method, loader, stage: str, spec, decode, device: torch.device, amp=False,
             references: dict[str, list[str]] | None = None) -> tuple[dict[str, float], Collected]:
    """Validation loss terms and metrics (``{"loss", <terms>, O-F1, ..., mAP}`` or CIDEr); under
    torchrun ``loader`` is this rank's share and the metrics are those of every rank's together."""
    got = collect(model, method, loader, stage, spec, decode, device, amp).gathered()
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
