"""Per-sample randomness: every random draw that concerns one training sample (its label order,
its caption, its augmentation, its REINFORCE actions, its dropout masks, its WARP negatives) comes from a generator
seeded by ``(run seed, epoch, sample id)`` and what the draw is for, never from a shared stream.

A shared stream hands out numbers in the order samples reach it, so results would depend on how
the batch was cut: by the number of DataLoader workers (each with its own stream), by the number
of ranks under torchrun (each rank draws for its share only), by which images were skipped. With
a seed per sample the same sample gets the same draws whatever the batching (tests:
tests/test_seeding.py, tests/training/test_workers_determinism.py).

The training sampler (``mlcap.training.replicas.GlobalBatchSampler``) yields keys
``(index, epoch_seed)``; the dataset turns each into ``sample_seed(epoch_seed, sample.id)``,
items carry it as ``"seed"``, and ``Batch.seeds`` holds the batch's. Model-side draws read the
batch's seeds through ``batch_seeds()``, which the training engine sets around ``stage_loss``.
"""

from __future__ import annotations

import contextlib
import hashlib
from contextvars import ContextVar

_MASK = (1 << 63) - 1

#: What a draw is for: one stream per purpose, so that adding a draw of one kind moves no other.
ORDER, CAPTION, AUGMENT, REINFORCE, DROPOUT, WARP = 1, 2, 3, 4, 5, 6


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch of a run (the loop's own per-epoch reseeding uses the same value)."""
    return seed * 100_003 + epoch


def sample_seed(epoch_seed_: int, sample_id: str) -> int:
    """A 63-bit seed of one sample in one epoch: a hash of the epoch's seed and the sample's id
    (stable across processes and Python runs, unlike ``hash``)."""
    digest = hashlib.blake2b(f"{epoch_seed_}\0{sample_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _MASK


def mix(seed: int, *salts: int) -> int:
    """A seed derived from ``seed`` and ``salts`` (splitmix64 steps): independent streams per purpose."""
    x = seed & 0xFFFFFFFFFFFFFFFF
    for s in salts:
        x = (x + 0x9E3779B97F4A7C15 * (s + 1)) & 0xFFFFFFFFFFFFFFFF
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return x & _MASK


def generator(seed: int, *salts: int):
    """A CPU ``torch.Generator`` seeded with ``mix(seed, *salts)``."""
    import torch

    return torch.Generator().manual_seed(mix(seed, *salts))


class _Draws:
    """The seeds of the batch in flight and a count of the draws made from them, so that the
    n-th dropout layer call of a forward pass gets its own stream."""

    def __init__(self, seeds: list[int]):
        self.seeds, self.calls = seeds, 0

    def next_call(self) -> int:
        self.calls += 1
        return self.calls


_current: ContextVar[_Draws | None] = ContextVar("mlcap_batch_seeds", default=None)


@contextlib.contextmanager
def seeded_batch(seeds):
    """Within the block, ``batch_seeds()`` is the batch's per-sample seeds (a list or a 1-d
    tensor; None: no per-sample seeds, the draws fall back to torch's global stream)."""
    token = _current.set(None if seeds is None else _Draws([int(s) for s in seeds]))
    try:
        yield
    finally:
        _current.reset(token)


def batch_seeds() -> _Draws | None:
    return _current.get()
