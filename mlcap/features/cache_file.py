"""The HDF5 feature cache's file: its layout, opening it, and checking it is one that fits.

Layout of FILE.h5 (h5py, chunked per image, lzf-compressed):

    attrs: backbone, weights, image_size, dataset, labels (JSON)
    /<split>/ids       (N,) image ids, in manifest order
    /<split>/pooled    (N, D) float32
    /<split>/spatial   (N, C, H, W) float32
    /<split>/valid     (N,) bool; False for unreadable images (skipped, counted)
    /<split>  attrs["done"]: rows written so far; attrs["done_before"]: the first row of the last
              batch written -- an interrupted run continues there (that batch written again)

Methods whose backbone is frozen train from it with ``--features FILE.h5``: the
backbone is not run, everything after it trains exactly as on the fly. Rows are read within
``--features-memory`` (held if they fit, else streamed per batch; ``mlcap.features.store``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlcap.errors import MlcapError
from mlcap.textfile import require_regular_file


def open_h5(path: Path, mode: str):
    """``h5py.File(path, mode)``; a file that is not HDF5 (or a directory, a FIFO, a missing one when
    reading, one under a file) is a one-line error instead of h5py's OSError."""
    import h5py

    path = Path(path)
    part = path.with_name(f".{path.name}.part")        # mlcap/features/cache_part.py
    if mode == "r" and not path.exists() and part.is_file():
        raise MlcapError(f"{path}: not found; an extraction into it stopped before it was complete ({part.name}): "
                         "run the same extract-features command again to continue it")
    if path.exists() or mode == "r":
        require_regular_file(path, "HDF5 feature file")
    try:
        return h5py.File(path, mode)
    except OSError as e:
        reason = str(e).split("(", 1)[-1].rstrip(")") if "(" in str(e) else str(e)
        raise MlcapError(f"{path}: not a readable HDF5 feature file ({reason})") from None


def check_cache_fits(path: Path, weights: str | None, image_size: int) -> None:
    """The cache must come from the run's own backbone weights and image size, or predictions on
    images would differ."""
    with open_h5(path, "r") as f:
        require_cache_header(f, path)
        cached = f.attrs.get("weights", "")
        size = f.attrs.get("image_size")
    if str(cached) != str(weights or ""):
        raise MlcapError(f"{path}: features of backbone weights {cached or 'random init'!r}, the run uses "
                         f"{weights or 'random init'!r}")
    if size is not None and int(size) != int(image_size):
        raise MlcapError(f"{path}: features of {int(size)}-pixel images, the run uses {image_size} "
                         f"(give --image-size {int(size)} to the run's first stage, or extract at {image_size})")


def require_cache_header(f, path: Path) -> None:
    if "backbone" not in f.attrs or "labels" not in f.attrs:
        raise MlcapError(f"{path}: an HDF5 file, but not an mlcap feature cache (run `mlcap extract-features`)")


def attr_json(f, key: str, path: Path):
    try:
        return json.loads(f.attrs[key])
    except (TypeError, ValueError, RecursionError):
        raise MlcapError(f"{path}: attribute {key!r} is not JSON; not an mlcap feature cache") from None


def check_split_group(group, path: Path, split: str) -> int:
    """The datasets of one split and their shapes agree (N ids, N valid flags, N pooled and spatial
    float rows); their number N."""
    missing = [k for k in ("ids", "valid", "pooled", "spatial") if k not in group]
    if missing:
        raise MlcapError(f"{path}: split {split!r} has no {missing[0]!r} dataset; not an mlcap feature cache")
    n = group["ids"].shape[0] if group["ids"].ndim == 1 else -1
    shapes = {k: group[k].shape for k in ("valid", "pooled", "spatial")}
    if (n < 0 or shapes["valid"] != (n,) or len(shapes["pooled"]) != 2 or len(shapes["spatial"]) != 4
            or shapes["pooled"][0] != n or shapes["spatial"][0] != n
            or group["pooled"].dtype.kind != "f" or group["spatial"].dtype.kind != "f"):
        raise MlcapError(f"{path}: split {split!r}: datasets of inconsistent shapes or types "
                         f"(ids {group['ids'].shape}, {shapes}); not an mlcap feature cache")
    return n


def rows_done(group, path: Path, split: str, n: int) -> int:
    """The split's ``done`` attribute: the rows written so far, checked to be a count in [0, n]."""
    done = group.attrs.get("done", 0)
    if isinstance(done, np.generic):
        done = done.item()
    if not isinstance(done, int) or isinstance(done, bool) or not 0 <= done <= n:
        raise MlcapError(f"{path}: split {split!r}: 'done' is {done!r}, not a row count in [0, {n}]")
    return done
