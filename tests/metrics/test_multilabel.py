"""Metrics against scikit-learn on random cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from mlcap.metrics import (average_precision, classification_metrics, duplicate_ratio, mean_average_precision,
                           n_plus, per_image_metrics, top_k_mask)


def random_case(seed: int, n: int = 40, k: int = 9):
    rng = np.random.default_rng(seed)
    y_true = rng.random((n, k)) < rng.uniform(0.05, 0.5)
    y_true[np.arange(n), rng.integers(0, k, n)] = True      # every image has a label
    y_true[:, rng.integers(0, k)] = False                    # one class absent from the ground truth
    y_pred = rng.random((n, k)) < rng.uniform(0.05, 0.6)
    y_pred[:, rng.integers(0, k)] = False                    # one class never predicted
    return y_true, y_pred


@pytest.mark.parametrize("seed", range(25))
def test_classification_metrics_match_sklearn(seed):
    y_true, y_pred = random_case(seed)
    got = classification_metrics(y_true, y_pred)
    present = np.nonzero(y_true.sum(0))[0]
    cp = precision_score(y_true, y_pred, average="macro", labels=present, zero_division=0)
    cr = recall_score(y_true, y_pred, average="macro", labels=present, zero_division=0)
    assert got["C-P"] == pytest.approx(cp)
    assert got["C-R"] == pytest.approx(cr)
    assert got["C-F1"] == pytest.approx(2 * cp * cr / (cp + cr))
    assert got["O-P"] == pytest.approx(precision_score(y_true, y_pred, average="micro", zero_division=0))
    assert got["O-R"] == pytest.approx(recall_score(y_true, y_pred, average="micro", zero_division=0))
    assert got["O-F1"] == pytest.approx(f1_score(y_true, y_pred, average="micro", zero_division=0))


@pytest.mark.parametrize("seed", range(25))
def test_per_image_metrics_match_sklearn(seed):
    y_true, y_pred = random_case(seed)
    got = per_image_metrics(y_true, y_pred)
    assert got["I-P"] == pytest.approx(precision_score(y_true, y_pred, average="samples", zero_division=0))
    assert got["I-R"] == pytest.approx(recall_score(y_true, y_pred, average="samples", zero_division=0))
    assert got["I-F1"] == pytest.approx(f1_score(y_true, y_pred, average="samples", zero_division=0))


@pytest.mark.parametrize("seed", range(25))
def test_average_precision_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y_true, _ = random_case(seed)
    scores = rng.random(y_true.shape)
    if seed % 2:
        scores = np.round(scores, 1)   # many ties
    present = np.nonzero(y_true.sum(0))[0]
    expected = np.mean([average_precision_score(y_true[:, k], scores[:, k]) for k in present])
    assert mean_average_precision(y_true, scores) == pytest.approx(expected)
    assert np.isnan(average_precision(np.zeros(5, bool), np.ones(5)))


def test_never_predicted_class_has_precision_zero():
    y_true = np.array([[1, 0], [0, 1], [1, 1]], bool)
    y_pred = np.array([[1, 0], [1, 0], [1, 0]], bool)
    m = classification_metrics(y_true, y_pred)
    assert m["C-P"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["C-R"] == pytest.approx((1 + 0) / 2)
    assert n_plus(y_true, y_pred) == 1


def test_top_k_and_duplicate_ratio():
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [0.8, 0.1, 0.2, 0.7]])
    assert top_k_mask(scores, 2).tolist() == [[False, True, True, False], [True, False, False, True]]
    assert top_k_mask(scores, 10).all()
    assert duplicate_ratio([0, 2, 0, 1]) == 0.5
    assert duplicate_ratio([]) == 0.0


@pytest.mark.parametrize("seed", range(15))
def test_pedestrian_attribute_metrics_match_sklearn(seed):
    from sklearn.metrics import balanced_accuracy_score, jaccard_score

    from mlcap.metrics import instance_metrics, mean_accuracy

    y_true, y_pred = random_case(seed)
    y_true[:, 0] = False                       # an attribute never present: only its TNR counts
    y_true[0] = False                          # an image with no positive attribute
    y_pred[1] = False                          # an image with nothing predicted
    per_label = [balanced_accuracy_score(y_true[:, k], y_pred[:, k]) if 0 < y_true[:, k].sum() < len(y_true)
                 else (y_pred[:, k] == y_true[:, k]).mean() for k in range(y_true.shape[1])]
    assert mean_accuracy(y_true, y_pred) == pytest.approx(np.mean(per_label))
    got = instance_metrics(y_true, y_pred)
    assert got["Acc"] == pytest.approx(jaccard_score(y_true, y_pred, average="samples", zero_division=0))
    p = precision_score(y_true, y_pred, average="samples", zero_division=0)
    r = recall_score(y_true, y_pred, average="samples", zero_division=0)
    assert got["Prec"] == pytest.approx(p) and got["Rec"] == pytest.approx(r)
    assert got["F1"] == pytest.approx(2 * p * r / (p + r))
