"""Multi-label metrics on (N images, K labels) arrays, numpy only.

Per-class (C-) averages run over the classes that have at least one ground-truth
positive in the evaluated set; a class never predicted has precision 0. C-F1 is
the harmonic mean of the averaged C-P and C-R (not the mean of per-class F1s).
Overall (O-) figures pool all decisions (micro average).
"""

from __future__ import annotations

import numpy as np


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    tp = (y_true & y_pred).sum(0).astype(float)
    n_pred = y_pred.sum(0).astype(float)
    n_true = y_true.sum(0).astype(float)
    present = n_true > 0
    precision = np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred > 0)
    recall = np.divide(tp, n_true, out=np.zeros_like(tp), where=n_true > 0)
    cp = float(precision[present].mean()) if present.any() else 0.0
    cr = float(recall[present].mean()) if present.any() else 0.0
    op = float(tp.sum() / n_pred.sum()) if n_pred.sum() else 0.0
    orc = float(tp.sum() / n_true.sum()) if n_true.sum() else 0.0
    return {"C-P": cp, "C-R": cr, "C-F1": _f1(cp, cr), "O-P": op, "O-R": orc, "O-F1": _f1(op, orc)}


def per_image_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of each image, averaged over images (an empty prediction has P = 0)."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    tp = (y_true & y_pred).sum(1).astype(float)
    n_pred, n_true = y_pred.sum(1).astype(float), y_true.sum(1).astype(float)
    p = np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred > 0)
    r = np.divide(tp, n_true, out=np.zeros_like(tp), where=n_true > 0)
    denom = n_pred + n_true
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"I-P": float(p.mean()), "I-R": float(r.mean()), "I-F1": float(f1.mean())}


def n_plus(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    """N+: how many labels are recalled at least once."""
    return int(((np.asarray(y_true, bool) & np.asarray(y_pred, bool)).sum(0) > 0).sum())


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """AP of one class: sum over score thresholds of (R_n - R_{n-1}) * P_n, ties as one threshold."""
    y_true = np.asarray(y_true, bool)
    scores = np.asarray(scores, float)
    if not y_true.any():
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], y_true[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(t)[last_of_tie]
    predicted = last_of_tie + 1
    precision = tps / predicted
    recall = tps / t.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean of per-class AP over the classes with at least one positive."""
    aps = [average_precision(y_true[:, k], scores[:, k]) for k in range(y_true.shape[1])]
    aps = [a for a in aps if not np.isnan(a)]
    return float(np.mean(aps)) if aps else 0.0


def top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """The k highest-scoring labels of each image (ties broken by label index)."""
    scores = np.asarray(scores, float)
    k = min(k, scores.shape[1])
    idx = np.argsort(-scores, axis=1, kind="mergesort")[:, :k]
    mask = np.zeros(scores.shape, bool)
    np.put_along_axis(mask, idx, True, axis=1)
    return mask


def duplicate_ratio(duplicate_counts) -> float:
    """Share of images whose raw emitted sequence repeats a label."""
    counts = np.asarray(list(duplicate_counts))
    return float((counts > 0).mean()) if counts.size else 0.0


def mean_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """mA, the pedestrian-attribute label-based metric: per attribute (TPR + TNR) / 2, averaged.
    An attribute with no positives (or no negatives) in the set counts its defined half only."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    pos, neg = y_true.sum(0), (~y_true).sum(0)
    tpr = np.divide((y_true & y_pred).sum(0), pos, out=np.zeros(pos.shape), where=pos > 0)
    tnr = np.divide((~y_true & ~y_pred).sum(0), neg, out=np.zeros(neg.shape), where=neg > 0)
    both = (pos > 0) & (neg > 0)
    per_label = np.where(both, (tpr + tnr) / 2, np.where(pos > 0, tpr, tnr))
    return float(per_label.mean())


def instance_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Instance-based accuracy |P∩G|/|P∪G|, precision, recall (averaged over images, an empty
    denominator giving 0) and F1 = the harmonic mean of the averaged precision and recall."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    inter = (y_true & y_pred).sum(1).astype(float)
    union = (y_true | y_pred).sum(1).astype(float)
    n_pred, n_true = y_pred.sum(1).astype(float), y_true.sum(1).astype(float)
    acc = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0).mean()
    prec = np.divide(inter, n_pred, out=np.zeros_like(inter), where=n_pred > 0).mean()
    rec = np.divide(inter, n_true, out=np.zeros_like(inter), where=n_true > 0).mean()
    return {"Acc": float(acc), "Prec": float(prec), "Rec": float(rec), "F1": _f1(float(prec), float(rec))}
