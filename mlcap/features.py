"""The HDF5 feature cache: `mlcap extract-features`, and batches read back from it.

Layout of FILE.h5 (h5py, chunked per image, lzf-compressed):

    attrs: backbone, weights, image_size, dataset, labels (JSON)
    /<split>/ids       (N,) image ids, in manifest order
    /<split>/pooled    (N, D) float32
    /<split>/spatial   (N, C, H, W) float32
    /<split>/valid     (N,) bool; False for unreadable images (skipped, counted)
    /<split>  attrs["done"]: rows written so far -- an interrupted run continues there

Methods whose backbone is frozen train from it with ``--features FILE.h5``: the
backbone is not run, everything after it trains exactly as on the fly. Rows are read within
``--features-memory`` (held if they fit, else streamed per batch; ``mlcap.feature_store``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mlcap.data.loader import ImageLabelDataset, batch_to_device, labels_item, make_collate
from mlcap.data.sample_keys import restrict, split_key
from mlcap.data.prepared import PreparedDataset
from mlcap.errors import MlcapError
from mlcap.feature_store import split_store
from mlcap.models import backbone_input, create_backbone
from mlcap.progress import note, progress_bar
from mlcap.textfile import require_regular_file


def open_h5(path: Path, mode: str):
    """``h5py.File(path, mode)``; a file that is not HDF5 (or a directory, a FIFO, a missing one when
    reading, one under a file) is a one-line error instead of h5py's OSError."""
    import h5py

    path = Path(path)
    if path.exists() or mode == "r":
        require_regular_file(path, "HDF5 feature file")
    try:
        return h5py.File(path, mode)
    except OSError as e:
        reason = str(e).split("(", 1)[-1].rstrip(")") if "(" in str(e) else str(e)
        raise MlcapError(f"{path}: not a readable HDF5 feature file ({reason})") from None


def extract(data: PreparedDataset, backbone: str, out: Path, splits: list[str], weights: str | None = None,
            image_size: int | None = None, batch_size: int = 64, device: str = "cpu") -> dict:
    import h5py

    info = backbone_input(backbone)
    size = image_size or info.default_size
    torch.manual_seed(0)
    net = create_backbone(backbone, weights=weights).to(device).eval()
    out = Path(out)
    if out.parent.exists() and not out.parent.is_dir():
        raise MlcapError(f"{out}: {out.parent} is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    stats = {}
    with open_h5(out, "a") as f:
        header = {"backbone": backbone, "weights": str(weights or ""), "image_size": size, "dataset": data.name,
                  "labels": json.dumps(data.labels)}
        if "backbone" in f.attrs:
            old = {k: (f.attrs[k].decode() if isinstance(f.attrs[k], bytes) else f.attrs[k]) for k in header}
            if {k: str(v) for k, v in old.items()} != {k: str(v) for k, v in header.items()}:
                raise MlcapError(f"{out}: holds features of another backbone, weights, size or dataset; "
                                 "choose a new file")
        f.attrs.update(header)
        for split in splits:
            samples = data.samples(split)
            n = len(samples)
            group = f.require_group(split)
            done = _done(group, out, split, n) if "ids" in group else 0
            if "pooled" in group:
                _check_split_group(group, out, split)
            if "pooled" not in group:
                group.create_dataset("ids", data=np.array([s.id for s in samples], dtype=h5py.string_dtype()))
                group.create_dataset("valid", shape=(n,), dtype=bool)
                done = 0
            elif group["ids"].shape[0] != n:
                raise MlcapError(f"{out}: split {split!r} has {group['ids'].shape[0]} rows, the dataset {n}")
            if done:
                note(f"extract-features: {split}: resuming after {done} of {n} images")
            loader = DataLoader(ImageLabelDataset(data, samples, size), batch_size=batch_size, sampler=range(done, n),
                                collate_fn=_KeepOrder(make_collate(data, mean=info.mean, std=info.std)))
            start, written, skipped = time.time(), 0, 0
            with progress_bar(f"features {split}", total=n) as advance:
                advance(done)
                row = done
                for batch, positions in loader:
                    pooled = spatial = None
                    if batch is not None:
                        with torch.no_grad():
                            pooled, spatial = net(batch_to_device(batch, device).images)
                        pooled, spatial = pooled.float().cpu().numpy(), spatial.float().cpu().numpy()
                        if "pooled" not in group:
                            group.create_dataset("pooled", shape=(n, pooled.shape[1]), dtype="f4",
                                                 chunks=(1, pooled.shape[1]), compression="lzf")
                            group.create_dataset("spatial", shape=(n, *spatial.shape[1:]), dtype="f4",
                                                 chunks=(1, *spatial.shape[1:]), compression="lzf")
                    for k, ok in enumerate(positions):
                        if ok is not None:
                            group["pooled"][row + k] = pooled[ok]
                            group["spatial"][row + k] = spatial[ok]
                            group["valid"][row + k] = True
                        else:
                            skipped += 1
                    row += len(positions)
                    written += len(positions)
                    group.attrs["done"] = row
                    f.flush()
                    advance(len(positions))
            seconds = time.time() - start
            if n and not group["valid"][:].any():
                del f[split]                     # nothing to resume: a re-run starts the split again
                raise MlcapError(f"extract-features: none of the {n} images of split {split!r} could be read "
                                 f"(the first: {data.image_path(samples[0])}); nothing cached for it")
            stats[split] = {"images": n, "extracted": written, "skipped": skipped,
                            "images_per_s": round(written / seconds, 1) if seconds > 0 else None}
            if skipped:
                note(f"extract-features: {split}: skipped {skipped} unreadable image(s)")
    return stats


class _KeepOrder:
    """Collate that also says, per input position, its row in the batch (None if skipped)."""

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, items):
        batch, _ = self.collate(items)
        positions, k = [], 0
        for it in items:
            if "skip" in it:
                positions.append(None)
            else:
                positions.append(k)
                k += 1
        return batch, positions


def check_cache_fits(path: Path, weights: str | None, image_size: int) -> None:
    """The cache must come from the run's own backbone weights and image size, or predictions on
    images would differ."""
    with open_h5(path, "r") as f:
        _require_cache_header(f, path)
        cached = f.attrs.get("weights", "")
        size = f.attrs.get("image_size")
    if str(cached) != str(weights or ""):
        raise MlcapError(f"{path}: features of backbone weights {cached or 'random init'!r}, the run uses "
                         f"{weights or 'random init'!r}")
    if size is not None and int(size) != int(image_size):
        raise MlcapError(f"{path}: features of {int(size)}-pixel images, the run uses {image_size} "
                         f"(give --image-size {int(size)} to the run's first stage, or extract at {image_size})")


def _require_cache_header(f, path: Path) -> None:
    if "backbone" not in f.attrs or "labels" not in f.attrs:
        raise MlcapError(f"{path}: an HDF5 file, but not an mlcap feature cache (run `mlcap extract-features`)")


def _attr_json(f, key: str, path: Path):
    try:
        return json.loads(f.attrs[key])
    except (TypeError, ValueError, RecursionError):
        raise MlcapError(f"{path}: attribute {key!r} is not JSON; not an mlcap feature cache") from None


def _check_split_group(group, path: Path, split: str) -> int:
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


def _done(group, path: Path, split: str, n: int) -> int:
    done = group.attrs.get("done", 0)
    if isinstance(done, np.generic):
        done = done.item()
    if not isinstance(done, int) or isinstance(done, bool) or not 0 <= done <= n:
        raise MlcapError(f"{path}: split {split!r}: 'done' is {done!r}, not a row count in [0, {n}]")
    return done


class CachedFeatures(Dataset):
    """A split of a feature cache as a dataset of feature items. ``memory``, ``dtype``: how rows are
    held or streamed (``mlcap.feature_store``); ``spatial=False``: the spatial maps are never read
    (items carry ``None``), for a method that declares it needs none (``Method.stage_inputs``)."""

    def __init__(self, path: Path, data: PreparedDataset, split: str, backbone: str, memory: float | None = None,
                 dtype: str = "float32", spatial: bool = True, batch_size: int = 32):
        self.path, self.split = Path(path), split
        with open_h5(self.path, "r") as f:
            _require_cache_header(f, path)
            if f.attrs.get("backbone") != backbone:
                raise MlcapError(f"{path}: features of backbone {f.attrs.get('backbone')!r}, the run uses {backbone!r}")
            if _attr_json(f, "labels", path) != data.labels:
                raise MlcapError(f"{path}: features of another label vocabulary")
            if split not in f or "pooled" not in f[split]:
                raise MlcapError(f"{path}: split {split!r} is missing or unfinished (re-run extract-features)")
            n = _check_split_group(f[split], path, split)
            if _done(f[split], path, split, n) < n:
                raise MlcapError(f"{path}: split {split!r} is missing or unfinished (re-run extract-features)")
            ids = [i.decode() if isinstance(i, bytes) else i for i in f[split]["ids"][:]]
            self.valid = f[split]["valid"][:]
        self.samples = data.samples(split)
        if ids != [s.id for s in self.samples]:
            raise MlcapError(f"{path}: split {split!r} ids differ from the dataset's manifest")
        self.data = data
        self.store = split_store(self.path, split, self.valid, dtype, spatial, memory, batch_size)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        return self.__getitems__([i])[0]

    def __getitems__(self, keys: list) -> list[dict]:
        """The items of one batch: its streamed rows are read from the file together. A key is an
        index or ``(index, epoch_seed)`` (see ``mlcap.data.loader.split_key``)."""
        keys = [split_key(k, self.samples) for k in keys]
        rows = [i for i, _ in keys if self.valid[i]]
        got = self.store.read(rows)
        at = {i: k for k, i in enumerate(rows)}
        return [self._item(i, seed, got, at.get(i)) for i, seed in keys]

    def _item(self, i: int, seed: int | None, got: dict, k: int | None) -> dict:
        s = self.samples[i]
        if k is None:
            return {"skip": f"{self.data.image_path(s)}: unreadable when features were extracted"}
        spatial = torch.from_numpy(got["spatial"][k]) if "spatial" in got else None
        return {**labels_item(self.data, s, seed), "features": (torch.from_numpy(got["pooled"][k]), spatial)}


def make_feature_loader(path: Path, data: PreparedDataset, split: str, backbone: str, batch_size: int,
                        order: str | None = None, shuffle: bool = False,
                        generator: torch.Generator | None = None, words: list[str] | None = None,
                        indices: list[int] | None = None, batches=None, memory: float | None = None,
                        dtype: str = "float32", spatial: bool = True) -> DataLoader:
    """Like ``make_loader`` but batches carry cached ``features`` instead of images (``spatial=False``:
    ``(pooled, None)``); ``memory`` (GB) and ``dtype``: see ``mlcap.feature_store``."""
    dataset = CachedFeatures(path, data, split, backbone, memory=memory, dtype=dtype, spatial=spatial,
                             batch_size=batch_size)
    dataset = restrict(dataset, indices)
    if batches is not None:
        return DataLoader(dataset, batch_sampler=batches, generator=generator,
                          collate_fn=make_collate(data, order, words))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                      generator=generator, collate_fn=make_collate(data, order, words))
