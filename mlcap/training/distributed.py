"""Training in several processes, one per device, on PyTorch's own engine: launched by
``torchrun`` (or ``mlcap <stage> --nproc N``), synchronised by ``DistributedDataParallel``.

What a stage does differently when ``WORLD_SIZE`` > 1 (the protocol, and so every method, stays
the same):

* **Batches.** ``--batch-size`` is the global batch. Each epoch's permutation is drawn from the
  same seeded generator as in one process and cut into global batches; rank r of W takes the
  images r, r + W, ... of each (``GlobalBatchSampler``), so a step sees the images one process
  would. Each rank's loss is weighted by its share of the step's images (``Replicas.share``):
  DDP's average of the gradients is then the gradient of the global batch's mean loss.
* **Randomness.** Every draw for a sample (order, caption, augmentation, REINFORCE, dropout)
  comes from that sample's seed for the epoch (mlcap/seeding.py), so it is the same whichever
  rank, worker or batch the sample lands in.
* **BatchNorm.** Statistics per process, unless ``--sync-bn``: those of the global batch
  (torch's ``SyncBatchNorm`` on CUDA; ``GlobalBatchNorm`` on CPU, where torch's has no kernel).
* **Parameters that start training mid-stage** (``Recipe.group_start``): the DDP wrapper is
  rebuilt when the set of trainable parameters changes (``Replicas.follow_trainable``).
* **Validation.** Each rank decodes its share of the validation images; the predictions are
  gathered and every rank computes the same metrics, so that best-checkpoint selection, plateau
  schedules and early stopping agree. The thresholds chosen at a stage's end are computed on the
  whole validation split by every rank.
* **Writes.** Only rank 0 writes (``is_main``): the run lock, the run's files, checkpoints,
  history, plots, the progress bar, notes and stdout.

Backend: NCCL on CUDA (one GPU per rank, ``LOCAL_RANK``), gloo on CPU.
"""

from __future__ import annotations

from mlcap.ranks import is_main, local_rank, rank, world_size

__all__ = ["world_size", "rank", "local_rank", "is_main", "active", "join", "leave", "barrier", "sum_numbers",
           "gather_objects", "shard"]


def active() -> bool:
    """Several processes, joined in a process group."""
    if world_size() == 1:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def join(device_name: str) -> None:
    """Join torchrun's process group (no-op in one process): NCCL when the stage runs on CUDA,
    else gloo."""
    if world_size() == 1 or active():
        return
    import torch
    import torch.distributed as dist

    cuda = device_name in ("cuda", "auto") and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank())
    dist.init_process_group("nccl" if cuda else "gloo")


def leave() -> None:
    if active():
        import torch.distributed as dist

        dist.destroy_process_group()


def barrier() -> None:
    if active():
        import torch.distributed as dist

        dist.barrier()


def sum_numbers(values: list[float]) -> list[float]:
    """``values`` summed over the ranks (as float64); themselves in one process."""
    if not active():
        return list(values)
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t)
    return t.tolist()


def gather_objects(obj) -> list:
    """Every rank's ``obj`` (picklable, made by mlcap itself), in rank order; ``[obj]`` in one process."""
    if not active():
        return [obj]
    import torch.distributed as dist

    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def _collective_device():
    import torch
    import torch.distributed as dist

    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def shard(indices: list[int]) -> list[int]:
    """This rank's share of ``indices`` (positions r, r + W, ...); all of them in one process."""
    return indices[rank()::world_size()] if active() else indices
