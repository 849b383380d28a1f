"""The feature cache read within a memory budget (``--features-memory``, ``--features-dtype``,
mlcap/features/store.py): the budget changes what is held, never the batches; float16 halves what
is held; a method without attention never reads the spatial maps; bad values are one line."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from helpers import TINY_TRAIN
from mlcap.data.prepared import PreparedDataset
from mlcap.features import store as feature_store
from mlcap.features.feature_loader import make_feature_loader
from mlcap.training.checkpoint import load_checkpoint


@pytest.fixture
def cache(tiny_data_master, tiny_features):
    return tiny_data_master, tiny_features


def row_bytes(path, dtype=np.float32) -> int:
    with h5py.File(path, "r") as f:
        return (f["train/pooled"].shape[1] + int(np.prod(f["train/spatial"].shape[1:]))) * np.dtype(dtype).itemsize


def batches(data, path, memory, dtype="float32", batch_size=8):
    """Every shuffled training batch (ids, pooled, spatial), and how many rows the store holds."""
    feature_store._STORES.clear()
    loader = make_feature_loader(path, PreparedDataset(data), "train", "smallcnn", batch_size, shuffle=True,
                                 generator=torch.Generator().manual_seed(5), memory=memory, dtype=dtype)
    got = [(b.ids, *b.features) for b, _ in loader]
    return got, loader.dataset.store


def gb(nbytes: int) -> float:
    return nbytes / feature_store.GIB


def test_a_budget_smaller_than_the_cache_gives_the_same_batches(cache):
    data, path = cache
    work = 8 * row_bytes(path) * feature_store.BATCH_COPIES
    whole, store = batches(data, path, memory=1.0)
    assert store.held_rows == 42
    part, store = batches(data, path, memory=gb(work + 10.5 * row_bytes(path)))
    assert store.held_rows == 10 and store.held_bytes == 10 * row_bytes(path)
    none, store = batches(data, path, memory=gb(1))
    assert store.held_rows == 0
    for a, b, c in zip(whole, part, none, strict=True):
        assert a[0] == b[0] == c[0]
        for k in (1, 2):
            assert a[k].dtype == torch.float32 and torch.equal(a[k], b[k]) and torch.equal(a[k], c[k])
    with h5py.File(path, "r") as f:     # and they are the file's rows
        ids = [i.decode() for i in f["train/ids"][:]]
        k = ids.index(whole[0][0][0])
        assert np.array_equal(whole[0][2][0].numpy(), f["train/spatial"][k])


def test_float16_halves_what_is_held_and_is_close(cache):
    data, path = cache
    full32, store32 = batches(data, path, memory=1.0)
    full16, store16 = batches(data, path, memory=1.0, dtype="float16")
    assert store16.held_rows == store32.held_rows == 42 and store16.held_bytes * 2 == store32.held_bytes
    streamed16, store = batches(data, path, memory=gb(1), dtype="float16")
    assert store.held_rows == 0
    for a, b, c in zip(full32, full16, streamed16, strict=True):
        for k in (1, 2):
            assert b[k].dtype == torch.float32
            assert torch.equal(b[k], c[k])          # held or streamed: the same rounding
            assert torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-6)
    assert any(not torch.equal(a[2], b[2]) for a, b in zip(full32, full16))


def test_what_one_split_holds_counts_against_the_others(cache):
    data, path = cache
    feature_store._STORES.clear()
    budget = gb(8 * row_bytes(path) * feature_store.BATCH_COPIES + 50.5 * row_bytes(path))
    ds = PreparedDataset(data)
    train = make_feature_loader(path, ds, "train", "smallcnn", 8, memory=budget).dataset.store
    test = make_feature_loader(path, ds, "test", "smallcnn", 8, memory=budget).dataset.store
    assert (train.held_rows, test.held_rows) == (42, 8)
    again = make_feature_loader(path, ds, "train", "smallcnn", 8, memory=budget).dataset.store
    assert again is train                   # read into memory once per process, not per loader


@pytest.fixture
def reads(monkeypatch):
    """The names of the HDF5 datasets whose values are read."""
    seen = []
    read_direct, getitem = h5py.Dataset.read_direct, h5py.Dataset.__getitem__

    def counting_read_direct(self, *args, **kwargs):
        seen.append(self.name)
        return read_direct(self, *args, **kwargs)

    def counting_getitem(self, *args, **kwargs):
        seen.append(self.name)
        return getitem(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "read_direct", counting_read_direct)
    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting_getitem)
    return seen


@pytest.mark.parametrize("memory", [None, "0.00001"])
def test_a_method_without_attention_never_reads_the_spatial_maps(mlcap, cache, tmp_path, reads, memory):
    data, path = cache
    feature_store._STORES.clear()
    extra = [] if memory is None else ["--features-memory", memory]
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", data, "--run", tmp_path / "r", "--features", path,
                *extra, *TINY_TRAIN)
    assert res.code == 0, res.err
    res = mlcap("predict", "--run", tmp_path / "r", "--data", data, "--features", path, *extra)
    assert res.code == 0 and len(res.json_lines()) == 12, res.err
    assert "/train/pooled" in reads and "/test/pooled" in reads
    assert not any(name.endswith("/spatial") for name in reads), sorted(set(reads))


def test_a_method_with_attention_reads_them(mlcap, cache, tmp_path, reads):
    data, path = cache
    feature_store._STORES.clear()
    res = mlcap("pretrain-cnn", "-m", "orderless", "--data", data, "--run", tmp_path / "r", "--features", path,
                "--features-memory", "0.00001", *TINY_TRAIN)
    assert res.code == 0, res.err
    assert "/train/spatial" in reads


def test_streamed_training_ends_with_the_same_weights(mlcap, cache, tmp_path):
    data, path = cache
    for name, extra in (("held", []), ("streamed", ["--features-memory", "0.00001"])):
        feature_store._STORES.clear()
        res = mlcap("pretrain-cnn", "-m", "scnnrnn", "--data", data, "--run", tmp_path / name, "--features", path,
                    *extra, *TINY_TRAIN)
        assert res.code == 0, res.err
    a, _, _ = load_checkpoint(tmp_path / "held" / "pretrain-cnn.pt")
    b, _, _ = load_checkpoint(tmp_path / "streamed" / "pretrain-cnn.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("args, words", [
    (["--features-memory", "0"], "greater than 0"),
    (["--features-memory", "-1"], "greater than 0"),
    (["--features-memory", "inf"], "finite"),
    (["--features-memory", "nan"], "finite"),
    (["--features-memory", "lots"], "Invalid value for '--features-memory'"),   # click's usage error, as any flag
    (["--features-dtype", "float64"], "float16"),
])
def test_bad_values_are_one_line(mlcap, cache, tmp_path, args, words):
    data, path = cache
    for command in (["pretrain-cnn", "-m", "bce", "--run", tmp_path / "r", *TINY_TRAIN],
                    ["predict", "--run", tmp_path / "r"]):
        res = mlcap(*command, "--data", data, "--features", path, *args)
        lines = res.err.strip().splitlines()
        assert res.code == 2 and "Traceback" not in res.err, res.err
        assert lines[-1].startswith(("mlcap: error: ", "Error: ")) and words in lines[-1], res.err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args", [["--features-memory", "1"], ["--features-dtype", "float16"]])
def test_options_without_a_cache_are_refused(mlcap, cache, tmp_path, args):
    data, _ = cache
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", data, "--run", tmp_path / "r", *args, *TINY_TRAIN)
    assert res.code == 2 and "give --features FILE.h5" in res.err.strip().splitlines()[-1], res.err
    assert not (tmp_path / "r" / "pretrain-cnn.pt").exists()


def test_the_default_budget_is_a_share_of_the_available_memory(monkeypatch):
    monkeypatch.setattr(feature_store, "available_memory", lambda: 8 * feature_store.GIB)
    assert feature_store.budget_bytes(None) == int(feature_store.DEFAULT_SHARE * 8 * feature_store.GIB)
    assert feature_store.budget_bytes(1.5) == int(1.5 * feature_store.GIB)
    monkeypatch.setattr(feature_store, "available_memory", lambda: None)
    with pytest.raises(feature_store.MlcapError, match="give --features-memory GB"):
        feature_store.budget_bytes(None)
