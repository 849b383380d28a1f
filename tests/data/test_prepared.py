"""The prepared-dataset format: round trip, orderings, batches."""

from __future__ import annotations

import json

import pytest
import torch

from mlcap.data.loader import batch_to_device, make_loader
from mlcap.data.prepared import PreparedDataset, Sample, write_prepared
from mlcap.errors import MlcapError
from mlcap.protocol import PAD


def small(tmp_path):
    from PIL import Image

    (tmp_path / "images").mkdir()
    for name in "abcd":
        Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "images" / f"{name}.png")
    train = [Sample("a", "images/a.png", ["cat", "dog"], tags=["pet"]), Sample("b", "images/b.png", ["dog"]),
             Sample("c", "images/c.png", ["dog", "emu", "cat"])]
    write_prepared(tmp_path, "small", ["cat", "dog", "emu"], {"train": train,
                   "test": [Sample("d", "images/d.png", ["emu"], captions=["an emu"])]}, tags=["pet"])
    return PreparedDataset(tmp_path)


def test_round_trip_and_orderings(tmp_path):
    ds = small(tmp_path)
    assert ds.frequencies == {"cat": 2, "dog": 3, "emu": 1}
    assert ds.ordering("rare") == ["emu", "cat", "dog"]
    assert ds.ordering("frequent") == ["dog", "cat", "emu"]
    assert ds.ordering("dictionary") == ["cat", "dog", "emu"]
    assert ds.samples("test")[0].captions == ["an emu"]
    assert ds.samples("train")[0].tags == ["pet"]
    with pytest.raises(MlcapError, match="unknown order"):
        ds.ordering("sideways")
    with pytest.raises(MlcapError, match="no split 'val'"):
        ds.samples("val")


@pytest.mark.parametrize("order,expected", [("rare", [2, 0, 1]), ("frequent", [1, 0, 2]),
                                            ("dictionary", [0, 1, 2])])
def test_batches_follow_the_order(tmp_path, order, expected):
    ds = small(tmp_path)
    batch, skipped = next(iter(make_loader(ds, "train", 8, (0, 0, 0), (1, 1, 1), batch_size=3, order=order)))
    assert skipped == [] and batch.ids == ["a", "b", "c"]
    end = 3
    assert batch.sequences[2].tolist() == expected + [end]
    assert batch.sequences[1].tolist() == [1, end, PAD, PAD]
    assert batch.targets.tolist()[0] == [1, 1, 0]
    assert batch.tags[:, 0].tolist() == [1, 0, 0]
    assert batch_to_device(batch, torch.device("cpu")).images.shape == (3, 3, 8, 8)


def test_random_order_is_a_permutation(tmp_path):
    ds = small(tmp_path)
    torch.manual_seed(0)
    seen = set()
    for _ in range(20):
        batch, _ = next(iter(make_loader(ds, "train", 8, (0, 0, 0), (1, 1, 1), batch_size=3, order="random")))
        seq = batch.sequences[2].tolist()
        assert sorted(seq[:3]) == [0, 1, 2] and seq[3] == 3
        seen.add(tuple(seq))
    assert len(seen) > 1


def test_wrong_format_version(tmp_path):
    ds = small(tmp_path)
    meta = json.loads((ds.root / "dataset.json").read_text())
    meta["format_version"] = 99
    (ds.root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(MlcapError, match="format_version 99"):
        PreparedDataset(tmp_path)
