"""A split of the feature cache as batches: ``--features FILE.h5`` in training and predict. The
batches are those of ``mlcap.data.loader.make_loader`` with cached ``features`` instead of images;
rows are held or streamed within a memory budget (``mlcap.features.store``)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from mlcap.data.loader import labels_item, make_collate
from mlcap.data.prepared import PreparedDataset
from mlcap.data.sample_keys import restrict, split_key
from mlcap.errors import MlcapError
from mlcap.features.cache_file import attr_json, check_split_group, open_h5, require_cache_header, rows_done
from mlcap.features.store import split_store


class CachedFeatures(Dataset):
    """A split of a feature cache as a dataset of feature items. ``memory``, ``dtype``: how rows are
    held or streamed (``mlcap.features.store``); ``spatial=False``: the spatial maps are never read
    (items carry ``None``), for a method that declares it needs none (``Method.stage_inputs``)."""

    def __init__(self, path: Path, data: PreparedDataset, split: str, backbone: str, memory: float | None = None,
                 dtype: str = "float32", spatial: bool = True, batch_size: int = 32):
        self.path, self.split = Path(path), split
        with open_h5(self.path, "r") as f:
            require_cache_header(f, path)
            if f.attrs.get("backbone") != backbone:
                raise MlcapError(f"{path}: features of backbone {f.attrs.get('backbone')!r}, the run uses {backbone!r}")
            if attr_json(f, "labels", path) != data.labels:
                raise MlcapError(f"{path}: features of another label vocabulary")
            if split not in f or "pooled" not in f[split]:
                raise MlcapError(f"{path}: split {split!r} is missing or unfinished (re-run extract-features)")
            n = check_split_group(f[split], path, split)
            if rows_done(f[split], path, split, n) < n:
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
    ``(pooled, None)``); ``memory`` (GB) and ``dtype``: see ``mlcap.features.store``."""
    dataset = CachedFeatures(path, data, split, backbone, memory=memory, dtype=dtype, spatial=spatial,
                             batch_size=batch_size)
    dataset = restrict(dataset, indices)
    if batches is not None:
        return DataLoader(dataset, batch_sampler=batches, generator=generator,
                          collate_fn=make_collate(data, order, words))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                      generator=generator, collate_fn=make_collate(data, order, words))
