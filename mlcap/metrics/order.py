"""How a recurrent model orders its labels: rigidness and co-occurrence drift.

* **Order-rigidness**: for every pair of classes predicted together in an image,
  count how often each of the two orders occurs; the sum over pairs of the
  more frequent order's count, divided by all co-occurring pairs. 100% means
  the model always emits any two labels in the same order (a fixed order).
* **Co-occurrence difference**: predicted minus ground-truth label co-occurrence
  rates (pairs per image), diagonal ignored: where the model invents or misses
  label combinations.
"""

from __future__ import annotations

import numpy as np


def order_rigidness(sequences: list[list[int]], num_labels: int) -> float:
    before = np.zeros((num_labels, num_labels), np.int64)   # before[a, b]: a emitted before b
    for seq in sequences:
        seen: list[int] = []
        for label in seq:
            if label in seen:
                continue
            if seen:
                before[seen, label] += 1
            seen.append(label)
    pairs = before + before.T
    upper = np.triu_indices(num_labels, 1)
    total = pairs[upper].sum()
    if total == 0:
        return float("nan")
    return float(np.maximum(before, before.T)[upper].sum() / total)


def cooccurrence(y: np.ndarray) -> np.ndarray:
    """Co-occurrence rate of each label pair, (K, K), diagonal zero."""
    y = np.asarray(y, np.float64)
    m = y.T @ y / max(len(y), 1)
    np.fill_diagonal(m, 0.0)
    return m


def cooccurrence_difference(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return cooccurrence(y_pred) - cooccurrence(y_true)


def save_heatmap(matrix: np.ndarray, labels: list[str], path, title: str) -> None:
    """A diverging heatmap PNG (red: predicted more often than in the ground truth)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    side = max(4.0, 0.32 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    limit = float(np.abs(matrix).max()) or 1.0
    im = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="predicted - true (pairs per image)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
