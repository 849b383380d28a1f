"""Order-rigidness and co-occurrence difference."""

from __future__ import annotations

import numpy as np
import pytest

from mlcap.metrics.order import cooccurrence, cooccurrence_difference, order_rigidness, save_heatmap


def test_a_fixed_order_is_fully_rigid():
    rank = [3, 0, 2, 1]
    seqs = [sorted(s, key=rank.__getitem__) for s in ([0, 1, 2], [1, 3], [0, 2, 3], [2, 3], [0, 1, 2, 3])]
    assert order_rigidness(seqs, 4) == 1.0


def test_rigidness_counts_the_more_frequent_order_per_pair():
    # pair (0,1): 0 first twice, 1 first once -> 2 of 3; pair (1,2): 1 first once -> 1 of 1
    seqs = [[0, 1], [0, 1], [1, 0], [1, 2], [5]]
    assert order_rigidness(seqs, 6) == pytest.approx((2 + 1) / 4)
    # a repeated label counts at its first position
    assert order_rigidness([[0, 1, 0], [1, 0]], 2) == pytest.approx(1 / 2)
    assert np.isnan(order_rigidness([[1], [2]], 3))


def test_cooccurrence_difference():
    y_true = np.array([[1, 1, 0], [0, 1, 1]], bool)
    y_pred = np.array([[1, 1, 1], [0, 1, 0]], bool)
    assert cooccurrence(y_true).tolist() == [[0, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0]]
    diff = cooccurrence_difference(y_true, y_pred)
    assert np.allclose(np.diag(diff), 0)
    assert diff[0, 2] == pytest.approx(0.5) and diff[1, 2] == pytest.approx(0.0)


def test_heatmap_png(tmp_path):
    save_heatmap(np.array([[0, 0.2], [-0.1, 0]]), ["a", "b"], tmp_path / "h.png", "t")
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
