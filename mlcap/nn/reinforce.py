"""REINFORCE with a learned baseline (Williams, 1992), for binary actions.

A policy emits T Bernoulli actions a_t ~ Bernoulli(pi_t) per sequence; K sequences are sampled
per example. With rewards r_t, the return is R_t = sum_{t' >= t} r_{t'} (the cumulative future
reward) and the gradient estimate of the expected reward is (ARNN, Li et al. 2018, eqs. 4-5;
RAM, Mnih et al. 2014)::

    grad J ~ 1/K sum_k sum_t grad log pi(a_t^k) (R_t^k - b_t^k)

``reinforce_loss`` is a surrogate whose gradient is minus that estimate (so minimising it
ascends J): the advantage R - b is a constant (no gradient reaches the baseline through it);
the baseline b_t is trained separately, by ``baseline_loss``, to regress R_t.
No method-specific logic lives here.
"""

from __future__ import annotations

import torch


def returns_to_go(rewards: torch.Tensor) -> torch.Tensor:
    """(..., T) rewards r_t -> (..., T) returns R_t = sum_{t' >= t} r_{t'}."""
    return rewards.flip(-1).cumsum(-1).flip(-1)


def bernoulli_log_prob(p: torch.Tensor, actions: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """log pi(a) of binary actions under Bernoulli(p), elementwise (p clamped away from 0 and 1)."""
    p = p.clamp(eps, 1 - eps)
    return actions * torch.log(p) + (1 - actions) * torch.log1p(-p)


def reinforce_loss(log_probs: torch.Tensor, returns: torch.Tensor, baseline: torch.Tensor | None = None) -> torch.Tensor:
    """Surrogate -mean_k sum_t log pi(a_t^k) (R_t^k - b_t^k), over (N sequences, T) tensors (eq. 5;
    eq. 4 without ``baseline``); N = K samples x examples, so the mean is eq. 5's 1/K per example,
    averaged over the examples."""
    advantage = returns if baseline is None else returns - baseline
    return -(log_probs * advantage.detach()).sum(-1).mean()


def baseline_loss(baseline: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """Squared error of the baseline b_t against the return R_t (b_t regresses E[R_t])."""
    return ((baseline - returns.detach()) ** 2).mean()
