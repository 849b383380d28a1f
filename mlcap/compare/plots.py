"""The comparison's figures (matplotlib, Agg): main metrics per variant, per-class F1 of the best
rows, and the training curves of every run's stages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, ax, path: Path) -> Path:
    import matplotlib.pyplot as plt

    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def metric_bars(summary: list[dict], columns: list[str], path: Path) -> Path:
    """Grouped bars: one group per metric, one bar per variant (mean, std as error bar)."""
    plt = _pyplot()
    x = np.arange(len(columns))
    width = 0.8 / max(1, len(summary))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(columns) * max(1, len(summary)) / 2), 4))
    for i, entry in enumerate(summary):
        means = [entry["mean"].get(c, np.nan) for c in columns]
        stds = [entry["std"].get(c, 0.0) for c in columns]
        ax.bar(x + i * width, means, width, yerr=stds, label=entry["variant"], capsize=2)
    ax.set_xticks(x + width * (len(summary) - 1) / 2, columns)
    ax.set_ylabel("mean over seeds")
    return _save(fig, ax, path)


def per_class_f1(per_class: dict[str, np.ndarray], labels: list[str], path: Path) -> Path:
    """Grouped bars of per-class F1, one bar per variant in each class's group, the classes sorted by
    the first variant's F1 (classes are categories: no line joins them)."""
    plt = _pyplot()
    first = next(iter(per_class.values()))
    order = np.argsort(-first, kind="stable")
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(per_class))
    fig, ax = plt.subplots(figsize=(max(6, 0.3 * len(labels) * max(1, len(per_class))), 4))
    for i, (name, f1) in enumerate(per_class.items()):
        ax.bar(x + i * width, f1[order], width, label=name)
    ax.set_xticks(x + width * (len(per_class) - 1) / 2, [labels[i] for i in order], rotation=90, fontsize=7)
    ax.set_ylabel("F1 per class")
    return _save(fig, ax, path)


def training_curves(runs: dict[str, Path], path: Path) -> Path:
    """Training loss per epoch of every stage of every run (first seed), stages one after another."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, run in runs.items():
        losses: list[float] = []
        for history in sorted(run.glob("*.history.jsonl"), key=lambda p: p.stat().st_mtime):
            losses += [json.loads(line).get("train/loss", np.nan) for line in history.read_text().splitlines()]
        if losses:
            ax.plot(range(1, len(losses) + 1), losses, marker=".", label=name)
    ax.set_xlabel("epoch (stages in order)")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    return _save(fig, ax, path)
