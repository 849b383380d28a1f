"""Aligning an unordered ground-truth label set to a recurrent model's predictions.

Orderless recurrent models (Yazici et al., CVPR 2020) do not fix a label order;
at every training step the ground truth is re-ordered to fit what the model
predicted. Given per-step costs ``cost[b, t, k] = -log p_t(k)`` of image ``b``:

* **MLA** (minimal-loss alignment): the permutation of the image's n labels over
  the first n steps that minimises the summed cost (Hungarian algorithm).
* **PLA** (predicted-label alignment): a step whose predicted label (its argmax)
  is a not-yet-claimed ground-truth label keeps it; the remaining labels go to the
  remaining steps among the first n by the Hungarian algorithm on their costs.

Only the first n steps are aligned; step n gets END; if the model runs fewer
than n + 1 steps, the labels that do not fit are dropped (padding), as in the paper.

Implementation: PLA is MLA on costs where each kept (step, label) pair is made
overwhelmingly cheap, which forces exactly those pairs. Images are grouped by
label count; for n <= ``BRUTE_FORCE_MAX`` every permutation is scored at once in
numpy (no Python loop per image or label); larger sets call
``scipy.optimize.linear_sum_assignment`` once per image.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import permutations

import numpy as np

BRUTE_FORCE_MAX = 5
_FORCED = -1e9  # cost of a pair PLA keeps; far below any real -log p


@lru_cache(maxsize=None)
def _permutations(n: int) -> np.ndarray:
    return np.array(list(permutations(range(n))), dtype=np.int64).reshape(-1, n)


def _assign(costs: np.ndarray) -> np.ndarray:
    """Optimal assignments of many (n x n) problems: ``costs`` (M, n, n) -> column per row (M, n)."""
    M, n, _ = costs.shape
    if n == 0:
        return np.zeros((M, 0), np.int64)
    if n <= BRUTE_FORCE_MAX:
        perms = _permutations(n)                                   # (P, n)
        totals = costs[:, np.arange(n)[None, :], perms].sum(-1)    # (M, P)
        return perms[np.argmin(totals, axis=1)]
    from scipy.optimize import linear_sum_assignment

    out = np.empty((M, n), np.int64)
    for m in range(M):
        rows, cols = linear_sum_assignment(costs[m])
        out[m, rows] = cols
    return out


def align(cost: np.ndarray, label_sets: list[list[int]], end: int, mode: str = "pla",
          predicted: np.ndarray | None = None) -> np.ndarray:
    """Target label per step, (B, T): aligned labels, then ``end``, then -100 (padding).

    ``cost``: (B, T, K) per-step costs over the K labels (e.g. -log softmax).
    ``predicted``: (B, T) the label each step emitted (PLA only; default ``cost.argmin``).
    """
    if mode not in ("pla", "mla"):
        raise ValueError(f"alignment mode must be 'pla' or 'mla', not {mode!r}")
    B, T, K = cost.shape
    targets = np.full((B, T), -100, np.int64)
    if mode == "pla" and predicted is None:
        predicted = cost.argmin(-1)
    counts = np.array([len(s) for s in label_sets])
    for L in np.unique(counts):
        members = np.nonzero(counts == L)[0]
        n = min(int(L), T)
        if n < T:
            targets[members, n] = end
        if n == 0:
            continue
        labels = np.array([list(label_sets[b]) for b in members], np.int64).reshape(len(members), L)
        if L > n:  # more labels than steps: the n labels that fit the first n steps best
            labels = _cheapest_labels(cost[members, :n], labels, n)
        sub = np.take_along_axis(cost[members, :n, :], np.repeat(labels[:, None, :], n, 1), axis=2)  # (M, n, n)
        if mode == "pla":
            hit = predicted[members, :n, None] == labels[:, None, :]          # (M, step, label)
            # a label predicted at several steps is kept only at its first one
            sub = np.where(hit & (np.cumsum(hit, axis=1) == 1), _FORCED, sub)
        assignment = _assign(sub)                                              # (M, n): label slot per step
        targets[members, :n] = np.take_along_axis(labels, assignment, axis=1)
    return targets


def _cheapest_labels(cost: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """When fewer steps than labels: the n labels with the lowest best-step cost."""
    best = np.take_along_axis(cost, np.repeat(labels[:, None, :], cost.shape[1], 1), axis=2).min(1)
    keep = np.argsort(best, axis=1, kind="mergesort")[:, :n]
    return np.take_along_axis(labels, np.sort(keep, axis=1), axis=1)


def assignment_cost(cost: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Summed cost of aligned label targets per image (END and padding excluded)."""
    B, T, K = cost.shape
    valid = (targets >= 0) & (targets < K)
    picked = np.take_along_axis(cost, np.where(valid, targets, 0)[..., None], axis=2)[..., 0]
    return (picked * valid).sum(1)


def align_to_predictions(logits, label_sets: list[list[int]], mode: str):
    """Torch front end: step logits (B, T, K + 1) over labels and END -> aligned targets (B, T).

    Costs are -log softmax over the K labels and END, restricted to the labels;
    PLA's predicted label is the argmax over all K + 1 outputs.
    """
    import torch

    K = logits.shape[-1] - 1
    logp = torch.log_softmax(logits.detach().float(), dim=-1)
    cost = (-logp[..., :K]).cpu().numpy()
    predicted = logp.argmax(-1).cpu().numpy()
    targets = align(cost, label_sets, end=K, mode=mode, predicted=predicted)
    return torch.from_numpy(targets).to(logits.device)


def label_sets_of(targets) -> list[list[int]]:
    """Multi-hot (B, K) tensor -> each image's label ids."""
    return [row.nonzero().flatten().tolist() for row in targets.detach().cpu()]


def aligned_cross_entropy(logits, targets, mode: str):
    """Cross-entropy of free-running step logits (B, T, K + 1) against the ground truth
    (multi-hot (B, K)) re-ordered to the predictions by PLA or MLA."""
    import torch.nn.functional as F

    aligned = align_to_predictions(logits, label_sets_of(targets), mode)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), aligned.reshape(-1), ignore_index=-100)


def match_to_labels(cost: np.ndarray, labels: list[int]) -> np.ndarray:
    """Ground-truth label per prediction for an unordered label set, without an END step.

    ``cost`` (N, K): e.g. -log p of each of N predictions (glimpses, steps) over the K labels;
    ``labels``: the image's n ground-truth label ids. The map of minimum total cost among those
    that use every label at most once (N <= n) or every label at least once (N > n, so a
    prediction left over takes some label): the Hungarian algorithm, for N > n on the cost
    matrix widened by N - n columns in which each prediction costs its cheapest label (a
    prediction placed there takes that label). Returns (N,) label ids, all -1 when ``labels``
    is empty.
    """
    N = cost.shape[0]
    out = np.full(N, -1, np.int64)
    if len(labels) == 0 or N == 0:
        return out
    from scipy.optimize import linear_sum_assignment

    labels = np.asarray(labels, np.int64)
    sub = cost[:, labels]                                  # (N, n)
    n = len(labels)
    if N > n:
        sub = np.concatenate([sub, np.repeat(sub.min(1, keepdims=True), N - n, axis=1)], axis=1)
    rows, cols = linear_sum_assignment(sub)
    cheapest = cost[:, labels].argmin(1)
    out[rows] = np.where(cols < n, labels[np.minimum(cols, n - 1)], labels[cheapest[rows]])
    return out
