"""Multi-label metrics on (N images, K labels) arrays, numpy only.

Which definition each name is, and which paper reports it: ARNN (Li et al., "Attentive
Recurrent Neural Network for Weak-supervised Multi-label Image Classification", ACM MM 2018),
S-CNN-RNN (Liu et al., "Semantic Regularisation for Recurrent Image Annotation", CVPR 2017),
Orderless (Yazici et al., "Orderless Recurrent Models for Multi-label Classification", CVPR 2020)
and Order-Free RNN (Chen et al., "Order-Free RNN with Visual Attention for Multi-Label
Classification", AAAI 2018):

* ``C-P``/``C-R``/``C-F1`` (group ``f1``): per-class (macro) precision and recall,
  averaged over the classes with at least one ground-truth positive in the evaluated
  set; C-F1 is the harmonic mean of the two averages. This is ARNN's P_L/R_L/F_L
  (following TagProp), S-CNN-RNN's C-P/C-R/C-F1 and Orderless' per-class scores.
* ``O-P``/``O-R``/``O-F1`` (group ``f1``): micro average, TP/FP/FN pooled over all
  images and classes. This is Orderless' "overall" (its code: scikit-learn
  ``average='micro'``), Order-Free RNN's O- ("Micro"), and the usual reading of ARNN's
  P_I/R_I/F_I ("over all testing images", undefined beyond that; its CNN-RNN rows are
  the same O- figures Orderless copies). It is *not* S-CNN-RNN's "overall": ``PI-*``.
* ``PI-P``/``PI-R``/``PI-F1`` (group ``per-image``): per-image precision and recall
  averaged over images, PI-F1 the harmonic mean of the two averages: S-CNN-RNN's
  "overall" O-P/O-R/O-F1 (its Sec. 4.2, "Evaluation metrics").
* ``I-P``/``I-R``/``I-F1`` (group ``image``): as PI-P/PI-R, but I-F1 averages each
  image's own F1 (scikit-learn ``average='samples'``); no paper of the four uses it.
* ``Acc``/``Prec``/``Rec``/``F1`` (group ``instance``): example-based metrics of the
  pedestrian-attribute benchmarks, Orderless Table 7 (PA-100K). Prec/Rec/F1 equal
  PI-P/PI-R/PI-F1 by definition.
* ``N+`` (group ``nplus``): labels with non-zero recall (ARNN Table 3, from TagProp).

Shared conventions: a class never predicted has precision 0; an image with no
predicted label has precision 0 and an image with no ground-truth label recall 0,
both still counted in the image average (the denominator is always N).
"""

from __future__ import annotations

import numpy as np


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, 0 where den is 0."""
    num, den = num.astype(float), den.astype(float)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _image_counts(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: |y ∩ ŷ|, |ŷ| and |y|."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    return (y_true & y_pred).sum(1), y_pred.sum(1), y_true.sum(1)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Per-class ``C-P``, ``C-R``, ``C-F1`` and micro ``O-P``, ``O-R``, ``O-F1``.

    C-P = mean_k TP_k/(TP_k+FP_k), C-R = mean_k TP_k/(TP_k+FN_k), the mean over the classes
    with at least one ground-truth positive (a class absent from the evaluated set has no
    defined recall and is left out, as TagProp's per-keyword averages run over the test
    vocabulary); a class never predicted has precision 0. C-F1 = 2·C-P·C-R/(C-P+C-R), from
    the averages, not the mean of per-class F1s (ARNN's F_L, Orderless' per-class F1).
    O-P = ΣTP/(ΣTP+ΣFP), O-R = ΣTP/(ΣTP+ΣFN) over all images and classes, O-F1 their
    harmonic mean (Orderless' "overall"; not S-CNN-RNN's, see ``per_image_average_metrics``).
    """
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    tp = (y_true & y_pred).sum(0).astype(float)
    n_pred = y_pred.sum(0).astype(float)
    n_true = y_true.sum(0).astype(float)
    present = n_true > 0
    precision, recall = _ratio(tp, n_pred), _ratio(tp, n_true)
    cp = float(precision[present].mean()) if present.any() else 0.0
    cr = float(recall[present].mean()) if present.any() else 0.0
    op = float(tp.sum() / n_pred.sum()) if n_pred.sum() else 0.0
    orc = float(tp.sum() / n_true.sum()) if n_true.sum() else 0.0
    return {"C-P": cp, "C-R": cr, "C-F1": _f1(cp, cr), "O-P": op, "O-R": orc, "O-F1": _f1(op, orc)}


def per_image_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``I-P``, ``I-R``, ``I-F1``: each image's precision |y∩ŷ|/|ŷ|, recall |y∩ŷ|/|y| and
    F1 2|y∩ŷ|/(|ŷ|+|y|), each averaged over the N images (scikit-learn ``average='samples'``).
    An image with no prediction has P = 0 (and F1 = 0); one with no ground truth has R = 0.
    I-F1 is the mean of per-image F1s, *not* S-CNN-RNN's overall F1 (that is ``PI-F1``)."""
    inter, n_pred, n_true = _image_counts(y_true, y_pred)
    p, r = _ratio(inter, n_pred), _ratio(inter, n_true)
    f1 = _ratio(2 * inter, n_pred + n_true)
    return {"I-P": float(p.mean()), "I-R": float(r.mean()), "I-F1": float(f1.mean())}


def per_image_average_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """S-CNN-RNN's "overall" scores (its Sec. 4.2: "The overall precision (O-P)/recall (O-R)
    is computed by taking the average precision/recall over all samples ... F1 score is also
    computed by computing the harmonic mean of precision and recall"), as ``PI-P``, ``PI-R``,
    ``PI-F1``:

        PI-P = (1/N) Σ_i |y_i ∩ ŷ_i| / |ŷ_i|,   PI-R = (1/N) Σ_i |y_i ∩ ŷ_i| / |y_i|,
        PI-F1 = 2·PI-P·PI-R / (PI-P + PI-R).

    An image with no predicted label counts with precision 0 (it stays in the average over
    all N images, so predicting nothing is penalised); an image with no ground-truth label
    counts with recall 0 (S-CNN-RNN removes such images from NUS-WIDE, so it never meets one).
    """
    inter, n_pred, n_true = _image_counts(y_true, y_pred)
    p, r = float(_ratio(inter, n_pred).mean()), float(_ratio(inter, n_true).mean())
    return {"PI-P": p, "PI-R": r, "PI-F1": _f1(p, r)}


def n_plus(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    """N+: the number of labels with non-zero recall, i.e. with at least one true positive
    (ARNN Table 3, after TagProp). A label with no ground-truth positive in the evaluated set
    has no recall and is never counted, so N+ is at most the number of labels present."""
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
    """Example-based (instance) metrics of the pedestrian-attribute benchmarks, Orderless
    Table 7 on PA-100K ("accuracy of image-wise class predictions"), with G the true and P the
    predicted set of image i:

        Acc = (1/N) Σ_i |P∩G|/|P∪G|,  Prec = (1/N) Σ_i |P∩G|/|P|,  Rec = (1/N) Σ_i |P∩G|/|G|,
        F1 = 2·Prec·Rec/(Prec + Rec)   (from the averages; Orderless' PA-100K F1s check out so).

    An empty denominator gives 0 for that image (an image with nothing predicted and nothing
    true has Acc 0). Prec/Rec/F1 equal ``per_image_average_metrics``' PI-P/PI-R/PI-F1."""
    inter, n_pred, n_true = _image_counts(y_true, y_pred)
    union = (np.asarray(y_true, bool) | np.asarray(y_pred, bool)).sum(1)
    acc = float(_ratio(inter, union).mean())
    prec, rec = float(_ratio(inter, n_pred).mean()), float(_ratio(inter, n_true).mean())
    return {"Acc": acc, "Prec": prec, "Rec": rec, "F1": _f1(prec, rec)}
