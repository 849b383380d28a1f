"""ARNN's training signals that are not plain back-propagation: the reward of eq. 6 and the
glimpse-to-label targets of eq. 10 (Li et al., ACM MM 2018)."""

from __future__ import annotations

import numpy as np
import torch

from mlcap.nn.alignment import match_to_labels

R_PLUS, R_MINUS, R_EMPTY = 1.0, 0.1, 10.0   # R+, R-, R_e (Sec. 3.3, "Reward", eq. 6)


def episode_reward(predicted: list[int], truth: set[int], count: str = "glimpses",
                   r_plus: float = R_PLUS, r_minus: float = R_MINUS, r_empty: float = R_EMPTY,
                   unknown: frozenset[int] = frozenset()) -> float:
    """Eq. 6 for one sampled sequence: -R_e if no glimpse was emitted (N_e = 0), else
    N+ R+ - N- R-. ``predicted``: the label (argmax of P_i) of each emitted glimpse, in order.

    ``count="glimpses"`` (default): every emitted glimpse is one classification, true when its
    label is a ground-truth label not already claimed by an earlier glimpse (a repeat is false);
    ``count="labels"``: the distinct predicted labels are the classifications (a repeat counts
    nothing). A label in ``unknown`` (its value is not known: VOC's difficult, WIDER's 0) counts
    neither way."""
    if not predicted:
        return -r_empty
    predicted = [label for label in predicted if label not in unknown]
    if count == "labels":
        distinct = set(predicted)
        n_true = len(distinct & truth)
        return n_true * r_plus - (len(distinct) - n_true) * r_minus
    seen: set[int] = set()
    n_true = n_false = 0
    for label in predicted:
        if label in truth and label not in seen:
            n_true += 1
            seen.add(label)
        else:
            n_false += 1
    return n_true * r_plus - n_false * r_minus


def rewards(logits: torch.Tensor, emitted: torch.Tensor, label_sets: list[set[int]], count: str,
            r_plus: float = R_PLUS, r_minus: float = R_MINUS, r_empty: float = R_EMPTY,
            unknown: list[frozenset[int]] | None = None) -> torch.Tensor:
    """(N,) eq. 6 per sequence, from step logits (N, T, D) and the emission mask (N, T)."""
    predicted = logits.detach().argmax(-1).cpu().numpy()
    mask = emitted.cpu().numpy()
    unknown = unknown or [frozenset()] * len(label_sets)
    values = [episode_reward(predicted[n][mask[n]].tolist(), label_sets[n], count, r_plus, r_minus, r_empty,
                             unknown[n]) for n in range(len(label_sets))]
    return torch.tensor(values, dtype=torch.float32, device=logits.device)


def glimpse_targets(log_probs: torch.Tensor, emitted: torch.Tensor, label_sets: list[list[int]]) -> torch.Tensor:
    """(N, T) the ground-truth label each emitted glimpse is trained on (P^_i of eq. 10), -100
    elsewhere: the emitted glimpses and the image's labels matched by minimum total -log P
    (``mlcap.nn.alignment.match_to_labels``); a glimpse left over takes its most probable
    ground-truth label. An image without labels gives no targets."""
    cost = (-log_probs.detach().float()).cpu().numpy()
    mask = emitted.cpu().numpy()
    out = np.full(mask.shape, -100, np.int64)
    for n, labels in enumerate(label_sets):
        steps = np.nonzero(mask[n])[0]
        if len(steps) and labels:
            out[n, steps] = match_to_labels(cost[n, steps], labels)
    return torch.from_numpy(out).to(log_probs.device)
