"""Validation during training: which images validate, which metric selects the best epoch,
the history file, best-checkpoint selection with patience, and thresholds chosen on val.

    RUN/<stage>.history.jsonl   one row per epoch: lr per group, train and val loss terms,
                                val metrics, seconds, images/s
    RUN/<stage>.history.png     the curves
    RUN/val_ids.json            the held-out training images, when the dataset has no val split
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from mlcap.atomic import write_atomic, write_text_atomic
from mlcap.errors import MlcapError
from mlcap.textfile import expect, expect_list_of, read_json
from mlcap.training.distributed import is_main

#: Validation metrics per task; "loss" (the val loss, lower is better) is always there.
LABEL_METRICS = ("O-F1", "C-F1", "O-P", "O-R", "C-P", "C-R", "mAP")
CAPTION_METRICS = ("CIDEr",)


def metric_names(task: str) -> tuple[str, ...]:
    return ("loss",) + (CAPTION_METRICS if task == "caption" else LABEL_METRICS)


def check_select_by(name: str, task: str) -> None:
    if name not in metric_names(task):
        raise MlcapError(f"--select-by {name!r}: one of {', '.join(metric_names(task))}")


def higher_is_better(name: str) -> bool:
    return name != "loss"


@dataclass
class ValidationSplit:
    """Where validation images come from: ``split`` with ``indices`` (None = all of it);
    ``train_indices`` are the training images left to train on (None = all)."""

    split: str | None
    indices: list[int] | None = None
    train_indices: list[int] | None = None
    note: str = ""

    def record(self) -> dict:
        if self.split is None:
            return {"split": None}
        if self.indices is None:
            return {"split": self.split}
        return {"split": self.split, "held_out": len(self.indices), "file": "val_ids.json"}


def validation_split(data, run_root: Path, fraction: float | None, seed: int) -> ValidationSplit:
    """The dataset's ``val`` split; else a seeded ``fraction`` (default 0.1) of train, held out and
    recorded in ``RUN/val_ids.json`` so that every stage of the run holds out the same images."""
    if "val" in data.splits and data.samples("val"):
        if fraction is not None:
            raise MlcapError(f"--val-fraction: {data.root} has a val split, which is what validates")
        return ValidationSplit("val")
    train = data.samples("train")
    held = _held_out_ids(Path(run_root) / "val_ids.json", [s.id for s in train], fraction, seed)
    if not held:
        return ValidationSplit(None, note="no validation: the dataset has no val split and --val-fraction is 0")
    val = [i for i, s in enumerate(train) if s.id in held]
    rest = [i for i, s in enumerate(train) if s.id not in held]
    return ValidationSplit("train", val, rest, note=f"validating on {len(val)} held-out training images "
                                                     f"(val_ids.json); training on {len(rest)}")


def _held_out_ids(path: Path, ids: list[str], fraction: float | None, seed: int) -> set[str]:
    if path.is_file():
        recorded = read_json(path, "held-out id file")
        expect(recorded, dict, str(path), "the top level")
        expect(recorded.get("fraction"), (int, float), str(path), "fraction")
        expect_list_of(recorded.get("ids"), str, str(path), "ids")
        if fraction is not None and fraction != recorded["fraction"]:
            raise MlcapError(f"--val-fraction {fraction}: the run holds out {recorded['fraction']} of train "
                             f"({path}), fixed by its first stage")
        return set(recorded["ids"])
    given, fraction = fraction is not None, 0.1 if fraction is None else fraction
    n = round(fraction * len(ids)) if fraction > 0 else 0
    if fraction > 0 and not 1 <= n < len(ids):
        if given:
            raise MlcapError(f"--val-fraction {fraction}: holds out {n} of {len(ids)} training images")
        n = fraction = 0      # too few training images to hold any out: no validation
    held = sorted(random.Random(seed).sample(ids, n))
    if not is_main():               # under torchrun only rank 0 writes; every rank draws the same ids
        return set(held)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps({"fraction": fraction, "seed": seed, "ids": held}), "validation ids")
    return set(held)


class Selector:
    """Keeps the best value of the selection metric and counts epochs without improvement."""

    def __init__(self, metric: str, patience: int | None):
        self.metric, self.patience = metric, patience
        self.best, self.best_epoch, self.bad = None, 0, 0

    def update(self, value: float | None, epoch: int) -> bool:
        """True when ``value`` (at 1-based ``epoch``) is the best so far."""
        if value is None or not math.isfinite(value):
            self.bad += 1
            return False
        if self.best is None or (value > self.best if higher_is_better(self.metric) else value < self.best):
            self.best, self.best_epoch, self.bad = value, epoch, 0
            return True
        self.bad += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.patience is not None and self.bad >= self.patience

    def state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad": self.bad}

    def load_state(self, state: dict) -> None:
        self.best, self.best_epoch, self.bad = state.get("best"), int(state.get("best_epoch", 0)), \
            int(state.get("bad", 0))


def write_history(run_root: Path, stage: str, rows: list[dict], commit=None) -> Path:
    """``<stage>.history.jsonl``; ``commit``: the stage's commit it joins (mlcap/training/commit.py)."""
    path = Path(run_root) / f"{stage}.history.jsonl"
    if not is_main():               # under torchrun only rank 0 writes
        return path
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    if commit is None:
        write_atomic(path, lambda f: f.write(data), "history")
    else:
        commit.add(path.name, lambda f: f.write(data), "history")
    return path


def plot_history(run_root: Path, stage: str, rows: list[dict], commit=None) -> Path | None:
    """Loss terms (left) and validation metrics (right) per epoch, as a PNG; ``commit`` as
    ``write_history``'s."""
    if not rows or not is_main():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [r["epoch"] for r in rows]
    for key in sorted({k for r in rows for k in r if k.startswith(("train/", "val/"))}):
        values = [r.get(key) for r in rows]
        if any(isinstance(v, bool) for v in values):       # a flag (val/silent), not a curve
            continue
        axis = right if key[4:] in LABEL_METRICS + CAPTION_METRICS else left     # losses left
        if any(v is not None for v in values):
            axis.plot(epochs, [math.nan if v is None else v for v in values], marker="o", label=key)
    for axis, title in ((left, "loss"), (right, "validation")):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))     # epochs are whole numbers
        axis.set_xlabel("epoch")
        axis.set_title(f"{stage}: {title}")
        if axis.lines:
            axis.legend(fontsize=7)
    fig.tight_layout()
    path = Path(run_root) / f"{stage}.history.png"
    try:
        if commit is None:
            write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=80), "plot")
        else:
            commit.add(path.name, lambda f: fig.savefig(f, format="png", dpi=80), "plot")
    finally:
        plt.close(fig)
    return path
