"""PLA and MLA are optimal under their constraints: checked against brute force over all permutations."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest
import torch

from mlcap.nn import alignment
from mlcap.nn.alignment import align, align_to_predictions, assignment_cost

END = 99


def random_problem(rng, B=60, T=8, K=10, max_labels=7):
    cost = rng.exponential(1.0, (B, T, K))
    sets = [sorted(rng.choice(K, size=int(rng.integers(0, max_labels + 1)), replace=False).tolist())
            for _ in range(B)]
    predicted = rng.integers(0, K, (B, T))
    for b, s in enumerate(sets):            # make many predictions hit the ground truth
        for t in range(T):
            if s and rng.random() < 0.5:
                predicted[b, t] = s[int(rng.integers(len(s)))]
    return cost, sets, predicted


def brute_force(cost_b, labels, T, predicted_b=None):
    """Minimal summed cost over all placements of the labels on the first n steps (PLA-constrained if asked)."""
    n = min(len(labels), T)
    best = np.inf
    for chosen in permutations(labels, n):
        if predicted_b is not None:
            kept = {}
            for t in range(n):
                p = predicted_b[t]
                if p in labels and p not in kept:
                    kept[p] = t
            if any(chosen[t] != p for p, t in kept.items()):
                continue
        best = min(best, sum(cost_b[t, l] for t, l in enumerate(chosen)))
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mode", ["mla", "pla"])
def test_optimal_against_brute_force(seed, mode, monkeypatch):
    rng = np.random.default_rng(seed)
    cost, sets, predicted = random_problem(rng)
    if seed % 2:  # also exercise the scipy path for sets the brute-force kernel would take
        monkeypatch.setattr(alignment, "BRUTE_FORCE_MAX", 2)
    targets = align(cost, sets, END, mode, predicted=predicted if mode == "pla" else None)
    got = assignment_cost(cost, targets)
    T = cost.shape[1]
    for b, labels in enumerate(sets):
        n = min(len(labels), T)
        assert sorted(targets[b, :n].tolist()) == sorted(labels)[:n] or len(labels) > T
        assert set(targets[b, :n].tolist()) <= set(labels)
        if n < T:
            assert targets[b, n] == END and (targets[b, n + 1:] == -100).all()
        expected = brute_force(cost[b], labels, T, predicted[b] if mode == "pla" else None)
        assert got[b] == pytest.approx(expected), (b, labels)


def test_pla_keeps_predicted_labels_in_place():
    cost = np.ones((1, 4, 5))
    predicted = np.array([[3, 0, 3, 4]])
    targets = align(cost, [[0, 1, 3]], END, "pla", predicted=predicted)
    assert targets[0, 0] == 3 and targets[0, 1] == 0 and targets[0, 2] == 1 and targets[0, 3] == END


def test_fewer_steps_than_labels_are_padded():
    rng = np.random.default_rng(0)
    cost = rng.random((1, 2, 6))
    targets = align(cost, [[0, 1, 2, 3]], END, "mla")
    assert targets.shape == (1, 2) and set(targets[0].tolist()) <= {0, 1, 2, 3}
    assert len(set(targets[0].tolist())) == 2


def test_torch_front_end():
    logits = torch.full((2, 4, 6), -5.0)
    logits[0, 0, 2] = 5.0   # image 0 predicts label 2 first
    logits[0, 1, 4] = 5.0
    targets = align_to_predictions(logits, [[4, 2], [1]], "pla")
    assert targets.tolist() == [[2, 4, 5, -100], [1, 5, -100, -100]]
