"""Thresholds chosen on validation: the best over every distinct candidate, by brute force."""

from __future__ import annotations

import numpy as np

from mlcap.metrics import classification_metrics
from mlcap.metrics.thresholds import class_thresholds, global_threshold, stop_threshold


def test_global_threshold_by_hand():
    y = np.array([[1, 0], [0, 1], [1, 1]], bool)
    s = np.array([[0.9, 0.8], [0.3, 0.4], [0.4, 0.2]])
    # 4 positives; F1 = 2 tp / (predicted + 4) at each cut: >=0.9: 2/5; >=0.8: 2/6;
    # >=0.4 (two of them): 6/8; >=0.3: 6/9; >=0.2: 8/10 (everything predicted) is the best
    t, f1 = global_threshold(y, s)
    assert t == 0.2 and f1 == 0.8
    t, f1 = global_threshold(y[:2], s[:2])   # 2 positives: >=0.9: 2/3; >=0.8: 2/4; >=0.4: 4/5; >=0.3: 4/6
    assert t == 0.4 and f1 == 0.8


def test_global_threshold_beats_every_candidate_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.random((12, 4)) < 0.4
        s = np.round(rng.random((12, 4)), 2)
        t, f1 = global_threshold(y, s)
        brute = max(classification_metrics(y, s >= c)["O-F1"] for c in np.unique(s))
        assert abs(f1 - brute) < 1e-12
        assert abs(classification_metrics(y, s >= t)["O-F1"] - brute) < 1e-12


def test_class_thresholds_maximise_each_class():
    rng = np.random.default_rng(1)
    y = rng.random((15, 3)) < 0.5
    s = rng.random((15, 3))
    ts = class_thresholds(y, s)
    for k, t in enumerate(ts):
        f1 = lambda c: 2 * (y[:, k] & (s[:, k] >= c)).sum() / ((s[:, k] >= c).sum() + y[:, k].sum())
        assert abs(f1(t) - max(f1(c) for c in s[:, k])) < 1e-12


def test_stop_threshold_brute_force():
    t, f1 = stop_threshold(lambda t: -(t - 0.3) ** 2, [0.1, 0.3, 0.5, 0.3])
    assert t == 0.3 and f1 == 0.0
