"""Model-side random draws made per sample (see mlcap/seeding.py): uniform noise for sampled
actions (REINFORCE) and a dropout whose masks do not depend on how the batch was cut.

Both read the seeds of the batch in flight (``mlcap.seeding.seeded_batch``, set by the training
engine around ``stage_loss``); without them (prediction, export, a direct call) they draw from
torch's global stream as ``torch.rand`` and ``nn.Dropout`` do. Each sample's noise is drawn on the
CPU from its own generator and moved to the device: a few small draws per batch."""

from __future__ import annotations

import torch
from torch import nn

from mlcap import seeding


def sample_uniform(batch_size: int, shape: tuple, purpose: int, device=None) -> torch.Tensor:
    """(batch_size, *shape) uniform in [0, 1): row b from sample b's generator for ``purpose`` and
    the number of this draw in the forward pass (each call draws afresh, reproducibly)."""
    draws = seeding.batch_seeds()
    if draws is None or len(draws.seeds) != batch_size:
        return torch.rand((batch_size, *shape), device=device)
    call = draws.next_call()
    rows = [torch.rand(shape, generator=seeding.generator(s, purpose, call)) for s in draws.seeds]
    return torch.stack(rows).to(device)


def sample_bernoulli(p: torch.Tensor, repeats: int = 1, purpose: int = seeding.REINFORCE) -> torch.Tensor:
    """``torch.bernoulli(p.repeat(repeats, 1, ...))`` as a bool tensor, with sample b's k-th
    draw (row k * B + b, the layout of ``repeat``) from sample b's own stream: (repeats * B, ...)."""
    B = p.shape[0]
    u = sample_uniform(B, (repeats, *p.shape[1:]), purpose, p.device)      # (B, K, ...)
    u = u.transpose(0, 1).reshape(repeats * B, *p.shape[1:])
    return u < p.detach().repeat(repeats, *([1] * (p.dim() - 1)))


class SampleDropout(nn.Dropout):
    """``nn.Dropout`` whose mask for sample b comes from sample b's seed and the count of dropout
    calls so far in this forward pass (so a layer called once per decoding step gets a new mask
    each step). Same parameters and state dict as ``nn.Dropout``; its fallback is ``nn.Dropout``'s."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        draws = seeding.batch_seeds()
        if not self.training or self.p == 0 or draws is None or len(draws.seeds) != x.shape[0]:
            return super().forward(x)
        keep = sample_uniform(x.shape[0], tuple(x.shape[1:]), seeding.DROPOUT, x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)
