"""The stop threshold chosen on validation over every value at which the decoding can change.

Per validation image, ``mlcap_orderfree.pool_search.threshold_pieces`` finds the predicted label set on each
interval (lo, hi] of thresholds (exactly: it follows the stop quantities the search compared).
Across images the union of the interval ends cuts (-inf, +inf) into pieces on which every
image's prediction, hence the validation O-F1, is constant; each piece is represented by its
midpoint (not an end: an end equals some probability, where the smallest numerical difference
between two forward passes would flip a decision), the lowest piece by half its upper end.
The piece above every end (nothing emitted, F1 = 0) is left out. O-F1 is computed exactly as
``mlcap.metrics.classification_metrics`` does.
"""

from __future__ import annotations

import numpy as np
import torch

from mlcap_orderfree.pool_search import threshold_pieces


def representatives(bounds: list[float]) -> list[float]:
    """One threshold inside each piece (-inf, b_0], (b_0, b_1], ..., (b_{m-1}, b_m] of sorted ends."""
    if not bounds:
        return [0.5]           # no decision depends on the threshold: any value will do
    first = bounds[0] / 2 if bounds[0] > 0 else bounds[0]
    return [first] + [(a + b) / 2 for a, b in zip(bounds, bounds[1:])]


def f1_curve(pieces: list[list[tuple[float, float, list[int]]]], y_true: np.ndarray) -> dict[float, float]:
    """``{threshold: validation O-F1}``, one threshold per piece of constant predictions."""
    y_true = np.asarray(y_true, bool)
    bounds = sorted({lo for image in pieces for lo, _, _ in image if lo != float("-inf")})
    reps = np.asarray(representatives(bounds))
    tp, n_pred = np.zeros(len(reps) + 1), np.zeros(len(reps) + 1)
    for image, truth in zip(pieces, y_true):
        for lo, hi, sequence in image:
            first = np.searchsorted(reps, lo, side="right")      # reps[first:last] lie in (lo, hi]
            last = np.searchsorted(reps, hi, side="right")
            labels = set(sequence)
            hits = sum(bool(truth[k]) for k in labels)
            tp[first] += hits
            tp[last] -= hits
            n_pred[first] += len(labels)
            n_pred[last] -= len(labels)
    tp, n_pred = np.cumsum(tp)[:-1], np.cumsum(n_pred)[:-1]
    n_true = float(y_true.sum())
    curve = {}
    for t, hits, emitted in zip(reps.tolist(), tp.tolist(), n_pred.tolist()):
        op = hits / emitted if emitted else 0.0
        orc = hits / n_true if n_true else 0.0
        curve[t] = 2 * op * orc / (op + orc) if op + orc > 0 else 0.0
    return curve


@torch.no_grad()
def validation_curve(method, model, batches, spec, decode) -> dict[float, float] | None:
    """The curve of ``f1_curve`` on the validation batches (None when the sweep does not end: the
    core then chooses the threshold on its grid)."""
    pieces, truth = [], []
    for batch in batches:
        enc, v_prob = model.encode(batch)

        def search_at(tau):
            return method.search(model, enc, v_prob, spec, decode, tau.to(v_prob.device), record=True)

        try:
            pieces.extend(threshold_pieces(search_at, len(batch.ids)))
        except RuntimeError:
            return None
        truth.extend(batch.targets.bool().cpu().numpy())
    if not pieces:
        return None
    return f1_curve(pieces, np.asarray(truth))
