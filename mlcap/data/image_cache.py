"""Decoded, resized images kept in memory from one epoch to the next, up to a byte budget.

A small dataset is decoded once per stage instead of once per epoch (on the 2-core machine
the PNG decode and resize are a tenth of a smallcnn epoch). The cache lives in the process
that owns it: a loader worker would fill a copy of its own and drop it at the epoch's end, so
a stage uses it only with ``--num-workers 0`` (``Stage.loader``). Images that cannot be read
are not cached: they are tried, and counted, again.
"""

from __future__ import annotations

import numpy as np


class DecodedImages:
    """``key -> (H, W, 3) uint8`` until ``budget`` bytes are used; later images are decoded each time."""

    def __init__(self, budget_bytes: int):
        self.budget = int(budget_bytes)
        self.used = 0
        self._arrays: dict = {}

    def get(self, key) -> np.ndarray | None:
        return self._arrays.get(key)

    def put(self, key, array: np.ndarray) -> None:
        if key not in self._arrays and self.used + array.nbytes <= self.budget:
            self._arrays[key] = array
            self.used += array.nbytes

    def __len__(self) -> int:
        return len(self._arrays)
