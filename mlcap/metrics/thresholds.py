"""Decision thresholds chosen on the validation split.

A label is emitted when its score is >= the threshold. The global threshold maximises the
overall (micro) F1 over *every* distinct score value on validation; a per-class threshold
maximises that class's own F1 the same way (a class with no validation positive keeps the
global one). A decoder's stop threshold (``Method.threshold_kind(spec) == "stop"``) is found by
re-decoding validation at each candidate value and keeping the best overall F1.
"""

from __future__ import annotations

import numpy as np


def _best_cut(y_true: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """``(threshold, F1)`` of the best cut "score >= t" of one flat array of decisions."""
    y_true, scores = np.asarray(y_true, bool).ravel(), np.asarray(scores, float).ravel()
    positives = int(y_true.sum())
    if positives == 0 or scores.size == 0:
        return float("nan"), 0.0
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], y_true[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]   # cut after every distinct value
    tp = np.cumsum(t)[last_of_tie].astype(float)
    predicted = (last_of_tie + 1).astype(float)
    f1 = 2 * tp / (predicted + positives)
    best = int(np.argmax(f1))        # first maximum: the highest threshold among equals
    return float(s[last_of_tie[best]]), float(f1[best])


def global_threshold(y_true: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The threshold maximising O-F1 (micro over all images and labels), and that F1."""
    return _best_cut(y_true, scores)


def class_thresholds(y_true: np.ndarray, scores: np.ndarray) -> list[float]:
    """One threshold per class, each maximising the class's F1 on validation."""
    fallback, _ = global_threshold(y_true, scores)
    out = []
    for k in range(y_true.shape[1]):
        t, _ = _best_cut(y_true[:, k], scores[:, k])
        out.append(fallback if t != t else t)
    return out


def stop_threshold(f1_at, candidates) -> tuple[float, float]:
    """Brute force: ``f1_at(t)`` is the validation O-F1 when decoding with stop threshold ``t``."""
    best_t, best_f1 = None, -1.0
    for t in sorted(set(float(c) for c in candidates)):
        f1 = f1_at(t)
        if f1 > best_f1:
            best_t, best_f1 = t, f1
    return best_t, best_f1


#: Stop-threshold candidates when a method gives none of its own.
STOP_GRID = tuple(round(x, 2) for x in np.arange(0.05, 1.0, 0.05))
