"""A stage's model as the training loop drives it: in one process, the method's ``stage_loss``
itself; under torchrun, the same call through ``DistributedDataParallel`` with each rank's
share of the global batch (see mlcap/training/distributed.py)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.data import Sampler

from mlcap import seeding
from mlcap.data.loader import batch_to_device
from mlcap.training import distributed
from mlcap.training.precision import autocast


class GlobalBatchSampler(Sampler):
    """One rank's training batches of one epoch (``set_epoch``): the permutation a DataLoader's
    own shuffle draws from ``Generator().manual_seed(epoch_seed)`` (its base-seed draw, then
    ``randperm(n)``, so that the orders are those of a plain ``DataLoader(shuffle=True)`` given the
    same generator, as in ``benchmarks/handwritten_loop.py``), cut into global batches of ``batch_size``;
    rank r of W takes the positions r, r + W, ... of each. A rank whose share of a short last
    batch is empty gets an empty batch, so that every rank takes every step. Keys are
    ``(index, epoch_seed)``: each item's random draws follow from its own seed (mlcap/seeding.py)."""

    def __init__(self, n: int, batch_size: int, rank: int = 0, world: int = 1, shuffle: bool = True):
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.rank, self.world = rank, world
        self.epoch_seed = 0

    def set_epoch(self, epoch_seed: int) -> None:
        self.epoch_seed = epoch_seed

    def __iter__(self):
        order = list(range(self.n))
        if self.shuffle:
            g = torch.Generator().manual_seed(self.epoch_seed)
            torch.empty((), dtype=torch.int64).random_(generator=g)
            order = torch.randperm(self.n, generator=g).tolist()
        for start in range(0, self.n, self.batch_size):
            yield [(i, self.epoch_seed) for i in order[start: start + self.batch_size][self.rank:: self.world]]

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)


class _StageLoss(nn.Module):
    """``method.stage_loss`` as a module, so that DDP sees the forward pass it synchronises.
    ``batch=None`` (a rank with no readable image in a step) gives a zero loss that still
    touches every trained parameter, so that the rank joins the step's gradient reduction."""

    def __init__(self, model: nn.Module, method, stage: str, spec):
        super().__init__()
        self.model, self.method, self.stage, self.spec = model, method, stage, spec

    def forward(self, batch):
        if batch is None:
            return {"loss": sum(p.sum() * 0.0 for p in self.model.parameters() if p.requires_grad)}
        with seeding.seeded_batch(batch.seeds):      # per-sample model-side draws (mlcap/sample_noise.py)
            return self.method.stage_loss(self.model, batch, self.stage, self.spec)


class Replicas:
    """One training step's forward pass for the loop: ``losses(batch)`` (the batch moved to the
    device, under ``--amp``'s autocast) and ``share(loss, n)``; a DDP wrapper under torchrun."""

    def __init__(self, model: nn.Module, method, stage: str, spec, device: torch.device, amp=False):
        self.model, self.device, self.stage, self.amp = model, device, stage, amp
        self.module = _StageLoss(model, method, stage, spec)
        self.distributed = distributed.active()
        self._ddp, self._trainable = None, None

    def follow_trainable(self) -> None:
        """(Re)build the DDP wrapper when the set of trainable parameters has changed (a group that
        starts training this epoch): DDP only reduces the gradients of what was trainable when it
        was built."""
        if not self.distributed:
            return
        trainable = tuple(id(p) for p in self.model.parameters() if p.requires_grad)
        if trainable == self._trainable:
            return
        self._trainable = trainable
        if not trainable:
            self._ddp = None
            return
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        self._ddp = DistributedDataParallel(self.module, device_ids=ids, find_unused_parameters=True)

    def losses(self, batch) -> dict:
        """The stage's loss terms of ``batch`` (None: this rank could read no image of the step)."""
        if batch is not None:
            batch = batch_to_device(batch, self.device)
        with autocast(self.device, self.amp):
            if self._ddp is not None:
                return self._ddp(batch)
            if batch is None:
                return {"loss": torch.zeros((), device=self.device)}
            return self.module(batch)

    def share(self, loss: torch.Tensor, n: int) -> tuple[torch.Tensor, float, int]:
        """``(loss to back-propagate, the step's mean loss over all ranks, images of the step)``.
        Under DDP each rank's loss is weighted by ``n * W / N``: DDP's mean of the gradients is
        then the gradient of the mean loss over the step's N images."""
        value = float(loss.detach())
        if not self.distributed:
            return loss, value, n
        total_n, total_loss = distributed.sum_numbers([n, value * n])
        if total_n == 0:
            return loss, math.nan, 0
        return loss * (n * distributed.world_size() / total_n), total_loss / total_n, int(total_n)
