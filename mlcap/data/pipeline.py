"""How many DataLoader workers, and the DataLoader settings that go with a device.

Defaults (``--num-workers`` unset): on CUDA, the cores this process may use divided among the
ranks of this node (``LOCAL_WORLD_SIZE`` under torchrun), at most 16, with pinned memory (the
batches are then copied with ``non_blocking=True``) and 4 batches prefetched per worker; the
training loader's workers persist from epoch to epoch. On the CPU, 0 workers: the model's own
threads use the cores, and the decoded-image cache (``--image-cache-mb``, main process only)
serves every epoch after the first.
"""

from __future__ import annotations

import os

MAX_AUTO_WORKERS = 16


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resolve_workers(requested: int | None, device) -> int:
    """``requested`` when given, else the default above for ``device`` (a torch.device)."""
    if requested is not None:
        return requested
    if getattr(device, "type", str(device)) != "cuda":
        return 0
    ranks_here = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(MAX_AUTO_WORKERS, available_cores() // ranks_here))


def loader_settings(workers: int, device=None, persistent: bool = False) -> dict:
    """DataLoader keyword arguments: workers, pinned memory on CUDA, prefetching and (``persistent``,
    for a loader iterated once per epoch) workers kept alive between its iterations."""
    settings = {"num_workers": workers, "pin_memory": getattr(device, "type", None) == "cuda"}
    if workers > 0:
        settings.update(prefetch_factor=4, persistent_workers=persistent)
    return settings
