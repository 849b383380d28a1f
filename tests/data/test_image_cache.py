"""The decoded-image cache (mlcap/data/image_cache.py) and channels-last batches: the same
pixels as decoding each time, within the budget, unreadable images never cached."""

from __future__ import annotations

import json

import numpy as np
import torch

from helpers import TINY_TRAIN, run_cli
from mlcap.data.image_cache import DecodedImages
from mlcap.data.loader import batch_to_device, make_loader
from mlcap.data.prepared import PreparedDataset

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _images(loader) -> torch.Tensor:
    return torch.cat([batch_to_device(b, torch.device("cpu")).images for b, _ in loader if b is not None])


def test_cached_epochs_equal_decoded_ones(tiny_data):
    data = PreparedDataset(tiny_data)
    plain = _images(make_loader(data, "train", 32, MEAN, STD, 8))
    cache = DecodedImages(2**30)
    first = _images(make_loader(data, "train", 32, MEAN, STD, 8, cache=cache))
    assert len(cache) == len(data.samples("train")) and cache.used == len(cache) * 32 * 32 * 3
    again = _images(make_loader(data, "train", 32, MEAN, STD, 8, cache=cache))
    assert torch.equal(plain, first) and torch.equal(plain, again)


def test_budget_and_workers(tiny_data):
    data = PreparedDataset(tiny_data)
    cache = DecodedImages(3 * 32 * 32 * 3)          # room for three 32x32 images
    _images(make_loader(data, "train", 32, MEAN, STD, 8, cache=cache))
    assert len(cache) == 3 and cache.used <= cache.budget
    unused = DecodedImages(2**30)
    _images(make_loader(data, "train", 32, MEAN, STD, 8, num_workers=1, cache=unused))
    assert len(unused) == 0      # a worker's copy would be dropped: not used with workers


def test_unreadable_image_is_not_cached(tiny_data):
    data = PreparedDataset(tiny_data)
    first = json.loads((tiny_data / "train.jsonl").read_text().splitlines()[0])
    (tiny_data / first["image"]).write_bytes(b"not an image")
    cache = DecodedImages(2**30)
    skipped = [s for _, skips in make_loader(data, "train", 32, MEAN, STD, 8, cache=cache) for s in skips]
    assert len(skipped) == 1 and len(cache) == len(data.samples("train")) - 1


def test_channels_last_batches_and_training(tiny_data, tmp_path):
    data = PreparedDataset(tiny_data)
    cpu = torch.device("cpu")
    batch = batch_to_device(next(iter(make_loader(data, "train", 32, MEAN, STD, 8, channels_last=True)))[0], cpu)
    plain = batch_to_device(next(iter(make_loader(data, "train", 32, MEAN, STD, 8)))[0], cpu)
    assert batch.images.is_contiguous(memory_format=torch.channels_last)
    assert not plain.images.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(batch.images, plain.images)
    losses = {}
    for flag in ("--channels-last", "--no-channels-last"):
        res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / flag, *TINY_TRAIN, flag)
        assert res.code == 0, res.err
        losses[flag] = res.json_lines()[-1]["loss"]
    assert np.isclose(losses["--channels-last"], losses["--no-channels-last"], rtol=1e-4)
