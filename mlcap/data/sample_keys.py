"""The keys a training sampler hands the datasets: an index, or ``(index, epoch_seed)`` from which
an item derives its own seed (mlcap/seeding.py), through ``Positions`` when a loader reads a
subset of a split."""

from __future__ import annotations

from torch.utils.data import Dataset

from mlcap import seeding
from mlcap.data.prepared import Sample


def split_key(key, samples: list[Sample]) -> tuple[int, int | None]:
    """``(index, the sample's seed or None)`` of a dataset key: an index or ``(index, epoch_seed)``."""
    if isinstance(key, tuple):
        i, epoch_seed = key
        return int(i), seeding.sample_seed(epoch_seed, samples[int(i)].id)
    return int(key), None


class Positions(Dataset):
    """``dataset`` seen through ``indices`` (torch's ``Subset``, which also maps the keys
    ``(j, epoch_seed)`` of the training sampler to ``(indices[j], epoch_seed)``)."""

    def __init__(self, dataset: Dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def _map(self, key):
        return (self.indices[key[0]], key[1]) if isinstance(key, tuple) else self.indices[key]

    def __getitem__(self, key):
        return self.dataset[self._map(key)]

    def __getitems__(self, keys: list) -> list:
        mapped = [self._map(k) for k in keys]
        many = getattr(self.dataset, "__getitems__", None)
        return many(mapped) if many is not None else [self.dataset[k] for k in mapped]


def restrict(dataset: Dataset, indices) -> Dataset:
    return dataset if indices is None else Positions(dataset, indices)


class Seeded(Dataset):
    """``dataset`` whose every item is read with ``epoch_seed`` (key ``(i, epoch_seed)``): a loader
    without a training sampler (validation) whose draws still follow each sample's own seed."""

    def __init__(self, dataset: Dataset, epoch_seed: int):
        self.dataset, self.epoch_seed = dataset, epoch_seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[(int(i), self.epoch_seed)]

    def __getitems__(self, keys: list) -> list:
        many = getattr(self.dataset, "__getitems__", None)
        keyed = [(int(k), self.epoch_seed) for k in keys]
        return many(keyed) if many is not None else [self.dataset[k] for k in keyed]
