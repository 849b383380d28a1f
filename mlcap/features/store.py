"""A feature cache's rows read within a memory budget (``--features-memory``, ``--features-dtype``).

The rows of a split that fit the budget are read once, block by block, and held in memory (as
float32, or as float16 with ``--features-dtype float16``: half the memory); every other row is
read from the HDF5 file when its batch is formed. A row's values never depend on where it comes
from: a streamed row is rounded to the held dtype too, so the budget changes the speed and the
memory, never the batches. Batches are float32 either way.

Held rows stay in this process between loaders (one per epoch's validation, the SWA pass, ...):
a split is read into memory once per run, and what one split holds counts against the budget
of the others.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcap.errors import MlcapError

GIB = 1 << 30
DTYPES = {"float32": np.float32, "float16": np.float16}
#: The default budget: this share of the memory available when the cache is opened.
DEFAULT_SHARE = 0.5
#: Float32 copies of one batch alive while it is formed (read buffer, the items, the stacked batch,
#: the model's input): reserved from the budget before any row is held.
BATCH_COPIES = 4


def available_memory() -> int | None:
    """``MemAvailable`` of /proc/meminfo in bytes; None where the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def budget_bytes(gb: float | None) -> int:
    """``--features-memory GB`` in bytes (GB = 2**30 bytes); by default ``DEFAULT_SHARE`` of the
    available memory."""
    if gb is not None:
        return int(gb * GIB)
    available = available_memory()
    if available is None:
        raise MlcapError("--features-memory: this system does not report its available memory "
                         "(/proc/meminfo); give --features-memory GB")
    return int(DEFAULT_SHARE * available)


def check_feature_options(features, memory: float | None, dtype: str) -> None:
    """``--features-memory`` and ``--features-dtype`` say how a cache is read: without
    ``--features`` they would be silently ignored, so they are refused."""
    if features is None and (memory is not None or dtype != "float32"):
        flag = "--features-memory" if memory is not None else "--features-dtype"
        raise MlcapError(f"{flag} applies to a feature cache: give --features FILE.h5 too")


@dataclass(frozen=True)
class ReadPlan:
    """What a store holds and how: stores are shared between loaders of the same plan."""

    path: str
    stamp: tuple          # (size, mtime_ns) of the file: a rewritten cache is read again
    split: str
    dtype: str
    spatial: bool
    budget: int


_STORES: dict[ReadPlan, "SplitStore"] = {}


def split_store(path: Path, split: str, valid: np.ndarray, dtype: str, spatial: bool, memory: float | None,
                batch_size: int) -> "SplitStore":
    """The store of ``split`` read as planned; made (and its rows held) on first use. Stores of
    another file, dtype, spatial choice or budget are dropped first, so that what is held in this
    process stays within the latest budget."""
    stat = Path(path).stat()
    plan = ReadPlan(str(Path(path).resolve()), (stat.st_size, stat.st_mtime_ns), split, dtype, spatial,
                    budget_bytes(memory))
    store = _STORES.get(plan)
    if store is None:
        for other in [k for k in _STORES if (k.path, k.stamp, k.dtype, k.spatial, k.budget)
                      != (plan.path, plan.stamp, plan.dtype, plan.spatial, plan.budget)]:
            del _STORES[other]
        held_elsewhere = sum(s.held_bytes for s in _STORES.values())
        store = _STORES[plan] = SplitStore(Path(path), plan, valid, batch_size, held_elsewhere)
    return store


def open_for_rows(path: Path, chunk_bytes: int):
    """The file opened with an h5py chunk cache of two decompressed chunks per dataset: rows are read
    whole, at random and once per epoch, so a larger cache would get no hits and only take memory
    from the budget (``rdcc_w0=1``: a chunk read whole is evicted first)."""
    import h5py

    return h5py.File(path, "r", rdcc_nbytes=max(2 * chunk_bytes, 1 << 20), rdcc_nslots=1031, rdcc_w0=1.0)


def _layout(path: Path, split: str, names) -> tuple[dict, int]:
    """Each dataset's row shape, and the largest chunk in float32 bytes (a whole dataset if it is
    not chunked: a cache written by another tool)."""
    import h5py

    with h5py.File(path, "r") as f:
        g = f[split]
        shapes = {k: g[k].shape[1:] for k in names}
        chunk = max(int(np.prod(g[k].chunks or g[k].shape)) * 4 for k in names)
    return shapes, chunk


class SplitStore:
    """The rows of one split: the first valid ones that fit the budget held, the rest streamed."""

    def __init__(self, path: Path, plan: ReadPlan, valid: np.ndarray, batch_size: int, held_elsewhere: int):
        self.path, self.plan = path, plan
        self.dtype = DTYPES[plan.dtype]
        self.names = ("pooled", "spatial") if plan.spatial else ("pooled",)
        self.shapes, self.chunk_bytes = _layout(path, plan.split, self.names)
        row = {k: int(np.prod(s)) for k, s in self.shapes.items()}
        work = batch_size * sum(row.values()) * 4 * BATCH_COPIES
        per_row = sum(row.values()) * np.dtype(self.dtype).itemsize
        rows = np.flatnonzero(valid)
        fits = max(0, plan.budget - held_elsewhere - work) // per_row if per_row else len(rows)
        held = rows[: int(min(fits, len(rows)))]
        self.slot = np.full(len(valid), -1, dtype=np.int64)
        self.slot[held] = np.arange(len(held))
        self.held = {k: np.empty((len(held), *self.shapes[k]), dtype=self.dtype) for k in self.names}
        self._load(held, max(1, batch_size))

    @property
    def held_bytes(self) -> int:
        return sum(a.nbytes for a in self.held.values())

    @property
    def held_rows(self) -> int:
        return len(self.held["pooled"])

    @contextmanager
    def _group(self):
        """The split's HDF5 group in a file opened for this read alone: a handle kept open between
        commands of one process (the Python API, the tests) would block anyone writing the file."""
        with open_for_rows(self.path, self.chunk_bytes) as f:
            yield f[self.plan.split]

    def _load(self, held: np.ndarray, block: int) -> None:
        """Read the held rows in contiguous blocks of ``block`` rows (sequential reads, one float32
        block alive at a time), keeping the valid ones."""
        if not len(held):
            return
        with self._group() as g:
            self._load_blocks(g, held, block)

    def _load_blocks(self, g, held: np.ndarray, block: int) -> None:
        end = int(held[-1]) + 1
        for start in range(0, end, block):
            stop = min(start + block, end)
            keep = self.slot[start:stop]
            for k in self.names:
                buf = np.empty((stop - start, *self.shapes[k]), dtype=np.float32)
                g[k].read_direct(buf, np.s_[start:stop])
                self.held[k][keep[keep >= 0]] = buf[keep >= 0]

    def read(self, rows: list[int]) -> dict[str, np.ndarray]:
        """Float32 ``{name: (len(rows), ...)}`` of these rows, in this order."""
        out = {k: np.empty((len(rows), *self.shapes[k]), dtype=np.float32) for k in self.names}
        slots = self.slot[np.asarray(rows, dtype=np.int64)] if rows else np.empty(0, dtype=np.int64)
        mine = slots >= 0
        streamed = [(pos, rows[pos]) for pos in np.flatnonzero(~mine)]
        for k in self.names:
            out[k][mine] = self.held[k][slots[mine]]
        if streamed:
            with self._group() as g:
                for pos, row in sorted(streamed, key=lambda p: p[1]):    # file order: fewer seeks
                    for k in self.names:
                        g[k].read_direct(out[k], np.s_[row:row + 1], np.s_[pos:pos + 1])
            if self.dtype != np.float32:       # the values a held row would have
                at = np.flatnonzero(~mine)
                for k in self.names:
                    out[k][at] = out[k][at].astype(self.dtype)
        return out
