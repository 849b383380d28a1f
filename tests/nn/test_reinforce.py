"""REINFORCE with a baseline (mlcap.nn.reinforce) on a two-armed bandit: the gradient estimate
agrees with the exact gradient within sampling error; returns-to-go on hand values."""

from __future__ import annotations

import pytest
import torch

from mlcap.nn.reinforce import baseline_loss, bernoulli_log_prob, reinforce_loss, returns_to_go

REWARD = {1: 1.0, 0: 0.2}          # arm 1 pays 1, arm 0 pays 0.2


def test_returns_to_go_on_hand_values():
    r = torch.tensor([[1.0, 0.0, 2.0, -1.0]])
    assert returns_to_go(r).tolist() == [[2.0, 1.0, 1.0, -1.0]]


@pytest.mark.parametrize("baseline", [None, 0.5, 0.9])
def test_two_armed_bandit_gradient_matches_the_exact_one(baseline):
    """Policy: pull arm 1 with p = sigmoid(theta). J = p R1 + (1 - p) R0, dJ/dtheta = (R1 - R0) p (1 - p).
    minus the gradient of the surrogate, over N samples, estimates it; a baseline leaves it unbiased."""
    torch.manual_seed(0)
    theta = torch.tensor(0.3, requires_grad=True)
    N = 20000
    p = torch.sigmoid(theta).expand(N, 1)
    actions = torch.bernoulli(p.detach())
    rewards = torch.where(actions.bool(), REWARD[1], REWARD[0])
    b = None if baseline is None else torch.full_like(rewards, baseline)
    reinforce_loss(bernoulli_log_prob(p, actions), returns_to_go(rewards), b).backward()
    estimate = -theta.grad.item()
    q = torch.sigmoid(torch.tensor(0.3)).item()
    exact = (REWARD[1] - REWARD[0]) * q * (1 - q)
    # sampling error: the per-sample terms d log pi / dtheta * (R - b) = (a - q)(R - b)
    adv = rewards - (0.0 if baseline is None else baseline)
    terms = (actions - q) * adv
    stderr = terms.std().item() / N ** 0.5
    assert abs(estimate - exact) < 4 * stderr
    if baseline == 0.5:            # a baseline near E[R] reduces the variance
        assert terms.std() < ((actions - q) * rewards).std()


def test_baseline_regresses_the_return():
    b = torch.zeros(3, requires_grad=True)
    R = torch.tensor([1.0, 2.0, 3.0])
    opt = torch.optim.SGD([b], lr=0.4)
    for _ in range(50):
        opt.zero_grad()
        baseline_loss(b, R).backward()
        opt.step()
    assert b.detach().tolist() == pytest.approx(R.tolist(), abs=1e-3)


def test_no_gradient_reaches_the_baseline_through_the_advantage():
    log_pi = torch.tensor([[-0.5, -1.0]], requires_grad=True)
    b = torch.tensor([[0.3, 0.2]], requires_grad=True)
    R = torch.tensor([[1.0, 1.0]])
    reinforce_loss(log_pi, R, b).backward()
    assert b.grad is None or b.grad.abs().sum() == 0                 # the advantage is a constant
    assert log_pi.grad.tolist()[0] == pytest.approx([-(1.0 - 0.3), -(1.0 - 0.2)])   # minus (R - b), mean over N
