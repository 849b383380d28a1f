"""The metrics a training stage reports on its validation images each validated epoch."""

from __future__ import annotations

import numpy as np

from mlcap.data.words import tokenize
from mlcap.metrics.multilabel import classification_metrics, mean_average_precision

#: Captions are scored on at most this many validation images, so that an epoch stays fast.
CAPTION_CAP = 200


def label_metrics(y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    out = classification_metrics(y_true, y_pred)
    out["mAP"] = mean_average_precision(y_true, scores)
    return out


def cider(references: dict[str, list[str]], candidates: dict[str, str]) -> float:
    """pycocoevalcap's CIDEr-D scorer on mlcap's own tokenisation (no Java, so it runs every epoch)."""
    from pycocoevalcap.cider.cider import Cider

    ids = sorted(candidates)[:CAPTION_CAP]
    gts = {k: [" ".join(tokenize(c)) for c in references[k]] for k in ids if references.get(k)}
    res = {k: [" ".join(tokenize(candidates[k]))] for k in gts}
    return float(Cider().compute_score(gts, res)[0]) if gts else float("nan")
