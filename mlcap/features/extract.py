"""`mlcap extract-features`: a backbone's pooled and spatial features of every image of some
splits, written to the HDF5 feature cache (layout: ``mlcap.features.cache_file``) through a
``.part`` file renamed into place when complete (``mlcap.features.cache_part``). Resumable: an
interrupted split continues after its last written batch; unreadable images are skipped and counted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from mlcap.data.loader import ImageLabelDataset, batch_to_device, make_collate
from mlcap.data.prepared import PreparedDataset
from mlcap.errors import MlcapError
from mlcap.features import cache_part
from mlcap.features.cache_file import check_split_group, open_h5, rows_done
from mlcap.models import backbone_input, create_backbone
from mlcap.progress import note, progress_bar


def extract(data: PreparedDataset, backbone: str, out: Path, splits: list[str], weights: str | None = None,
            image_size: int | None = None, batch_size: int = 64, device: str = "cpu") -> dict:
    """Write (or continue) ``out`` for ``splits`` through its ``.part`` (mlcap/features/cache_part.py);
    per split, the counts the command prints."""
    info = backbone_input(backbone)
    size = image_size or info.default_size
    out = Path(out)
    if out.parent.exists() and not out.parent.is_dir():
        raise MlcapError(f"{out}: {out.parent} is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    header = {"backbone": backbone, "weights": str(weights or ""), "image_size": size, "dataset": data.name,
              "labels": json.dumps(data.labels)}
    if out.exists():
        _check_header(out, header)
    part = cache_part.start(out, splits, {s: len(data.samples(s)) for s in splits}, header)
    if part is None:
        return {s: {"images": len(data.samples(s)), "extracted": 0, "skipped": 0, "images_per_s": None}
                for s in splits}
    torch.manual_seed(0)
    net = create_backbone(backbone, weights=weights).to(device).eval()
    stats = {}
    with open_h5(part, "a") as f:
        f.attrs.update(header)
        for split in splits:
            collate = _KeepOrder(make_collate(data, mean=info.mean, std=info.std))
            stats[split] = _extract_split(f, Written(out, part), net, data, split, size, collate, batch_size, device)
    cache_part.finish(part, out)
    return stats


class Written:
    """The cache asked for (``out``, named in messages) and the ``.part`` being written (``part``)."""

    def __init__(self, out: Path, part: Path):
        self.out, self.part = out, part


def _check_header(out: Path, header: dict) -> None:
    """A cache of another backbone, weights, size or dataset is refused."""
    with open_h5(out, "r") as f:
        if "backbone" in f.attrs and not cache_part.same_header(f, header):
            raise MlcapError(f"{out}: holds features of another backbone, weights, size or dataset; "
                             "choose a new file")


def _open_split(f, out: Path, data: PreparedDataset, split: str):
    """``(group, samples, done)``: the split's group, made if new, and the rows to write from: after
    the last batch written before (``done_before``), which a kill during its flush may have lost."""
    import h5py

    samples = data.samples(split)
    n = len(samples)
    group = f.require_group(split)
    done = rows_done(group, out, split, n) if "ids" in group else 0
    if "pooled" in group:
        check_split_group(group, out, split)
    if "pooled" not in group:
        if "ids" in group:
            del group["ids"]
        if "valid" in group:
            del group["valid"]
        group.create_dataset("ids", data=np.array([s.id for s in samples], dtype=h5py.string_dtype()))
        group.create_dataset("valid", shape=(n,), dtype=bool)
        done = 0
    elif group["ids"].shape[0] != n:
        raise MlcapError(f"{out}: split {split!r} has {group['ids'].shape[0]} rows, the dataset {n}")
    if done < n:
        before = group.attrs.get("done_before", done)
        done = int(before) if 0 <= int(before) <= done else done
    if 0 < done < n:
        note(f"extract-features: {split}: resuming after {done} of {n} images")
    return group, samples, done


def _extract_split(f, written: Written, net, data: PreparedDataset, split: str, size: int, collate,
                   batch_size: int, device: str) -> dict:
    out = written.out
    group, samples, done = _open_split(f, out, data, split)
    n = len(samples)
    loader = DataLoader(ImageLabelDataset(data, samples, size), batch_size=batch_size, sampler=range(done, n),
                        collate_fn=collate)
    start = time.time()
    with progress_bar(f"features {split}", total=n) as advance:
        advance(done)
        rows, skipped = _write_rows(f, group, net, loader, (written, split, done, n), device, advance)
    seconds = time.time() - start
    if n and not group["valid"][:].any():
        del f[split]                     # nothing to resume: a re-run starts the split again
        raise MlcapError(f"extract-features: none of the {n} images of split {split!r} could be read "
                         f"(the first: {data.image_path(samples[0])}); nothing cached for it")
    if skipped:
        note(f"extract-features: {split}: skipped {skipped} unreadable image(s)")
    return {"images": n, "extracted": rows, "skipped": skipped,
            "images_per_s": round(rows / seconds, 1) if seconds > 0 else None}


def _write_rows(f, group, net, loader, at: tuple, device: str, advance) -> tuple[int, int]:
    """The loader's rows from ``row`` on (``at``: the cache, the split, ``row``, its size), flushed with
    the ``done`` count after each batch, each batch's room checked first (cache_part.check_room); the
    number of rows written and of those skipped (unreadable images)."""
    cache, split, row, n = at
    written = skipped = 0
    for batch, positions in loader:
        pooled = spatial = None
        if batch is not None:
            with torch.no_grad():
                pooled, spatial = net(batch_to_device(batch, device).images)
            pooled, spatial = pooled.float().cpu().numpy(), spatial.float().cpu().numpy()
            cache_part.check_room(cache.part, cache.out, pooled.nbytes + spatial.nbytes + cache_part.PER_ROW
                                  * len(positions), f"{row} of the {n} images of split {split!r}")
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
        group.attrs["done_before"] = row
        row += len(positions)
        written += len(positions)
        group.attrs["done"] = row
        f.flush()
        advance(len(positions))
    return written, skipped


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
