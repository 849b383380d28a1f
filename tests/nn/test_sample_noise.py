"""mlcap/sample_noise.py: model-side draws per sample (REINFORCE actions, dropout masks) are
the same for a sample whatever batch it is in, and torch's own draws without batch seeds."""

from __future__ import annotations

import pytest
import torch

from mlcap import seeding
from mlcap.sample_noise import SampleDropout, sample_bernoulli, sample_uniform


def test_uniform_rows_follow_their_sample():
    with seeding.seeded_batch([5, 6, 7]):
        a = sample_uniform(3, (4,), seeding.REINFORCE)
        a2 = sample_uniform(3, (4,), seeding.REINFORCE)          # a second draw: fresh numbers
    with seeding.seeded_batch([7, 5]):
        b = sample_uniform(2, (4,), seeding.REINFORCE)
    assert torch.equal(a[0], b[1]) and torch.equal(a[2], b[0])
    assert not torch.equal(a, a2)
    expected = torch.rand((4,), generator=seeding.generator(5, seeding.REINFORCE, 1))
    assert torch.equal(a[0], expected)


def test_uniform_without_seeds_is_torchs_stream():
    torch.manual_seed(3)
    got = sample_uniform(2, (3,), seeding.REINFORCE)
    torch.manual_seed(3)
    assert torch.equal(got, torch.rand(2, 3))


def test_bernoulli_rows_have_the_layout_of_repeat():
    """Row k * B + b is sample b's k-th draw: u < p with the sample's own uniform noise."""
    p = torch.tensor([[0.2, 0.9, 0.5], [0.6, 0.1, 0.4]])
    with seeding.seeded_batch([11, 12]):
        got = sample_bernoulli(p, repeats=2)
    u = [torch.rand((2, 3), generator=seeding.generator(s, seeding.REINFORCE, 1)) for s in (11, 12)]
    expected = torch.stack([u[0][0] < p[0], u[1][0] < p[1], u[0][1] < p[0], u[1][1] < p[1]])
    assert got.dtype == torch.bool and torch.equal(got, expected)


def test_sample_dropout_masks_follow_their_sample():
    drop = SampleDropout(0.5).train()
    x = torch.ones(3, 6)
    with seeding.seeded_batch([1, 2, 3]):
        a = drop(x)
        a_next = drop(x)                                  # the next call (next decoding step): new masks
    with seeding.seeded_batch([3, 1]):
        b = drop(x[:2])
    assert torch.equal(a[0], b[1]) and torch.equal(a[2], b[0])
    assert not torch.equal(a, a_next)
    assert set(a.unique().tolist()) <= {0.0, 2.0}         # kept values scaled by 1 / (1 - p)
    keep = torch.rand((6,), generator=seeding.generator(1, seeding.DROPOUT, 1)) >= 0.5
    assert torch.equal(a[0], keep.float() * 2.0)


@pytest.mark.parametrize("mode", ["eval", "no seeds"])
def test_sample_dropout_falls_back_to_nn_dropout(mode):
    drop = SampleDropout(0.5)
    x = torch.ones(4, 5)
    if mode == "eval":
        assert torch.equal(drop.eval()(x), x)
        return
    torch.manual_seed(0)
    got = drop.train()(x)
    torch.manual_seed(0)
    assert torch.equal(got, torch.nn.Dropout(0.5).train()(x))
    assert SampleDropout(0.3).state_dict() == {}


def test_vgg16_fc_dropout_is_per_sample():
    from mlcap.models import create_backbone

    net = create_backbone("vgg16")
    drops = [m for m in net.fc67 if isinstance(m, torch.nn.Dropout)]
    assert len(drops) == 2 and all(isinstance(m, SampleDropout) and m.p == 0.5 for m in drops)
