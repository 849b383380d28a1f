"""The HDF5 feature cache: extraction, resume, and training from it equal to on the fly."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from helpers import TINY_TRAIN
from mlcap.training.checkpoint import load_checkpoint


def test_extract_layout_and_resume(mlcap, tiny_data, tmp_path):
    out = tmp_path / "f.h5"
    res = mlcap("extract-features", "--data", tiny_data, "--backbone", "smallcnn", "--out", out, "--device", "cpu")
    assert res.code == 0, res.err
    stats = json.loads(res.out)["splits"]
    assert stats["train"]["extracted"] == 42 and stats["train"]["images_per_s"] > 0
    with h5py.File(out, "r") as f:
        assert f["train/pooled"].shape == (42, 128) and f["train/spatial"].shape == (42, 128, 8, 8)
        assert f["train"].attrs["done"] == 42 and f["train/valid"][:].all()
        full = f["test/spatial"][:]
    # an interrupted extraction: rows after 5 never written, the last batch flushed began at row 5
    with h5py.File(out, "a") as f:
        f["test"].attrs["done"] = 5
        f["test"].attrs["done_before"] = 5
        f["test/spatial"][5:] = 0
    res = mlcap("extract-features", "--data", tiny_data, "--backbone", "smallcnn", "--out", out, "--device", "cpu",
                "--splits", "test")
    assert res.code == 0 and "resuming after 5 of 12" in res.err
    with h5py.File(out, "r") as f:
        assert np.allclose(f["test/spatial"][:], full, atol=1e-6)
    res = mlcap("extract-features", "--data", tiny_data, "--backbone", "resnet18", "--out", out)
    assert res.code == 2 and "another backbone" in res.err


def test_training_from_cache_equals_frozen_backbone_on_the_fly(mlcap, tiny_data, tmp_path):
    out = tmp_path / "f.h5"
    assert mlcap("extract-features", "--data", tiny_data, "--backbone", "smallcnn", "--out", out).code == 0
    for method in ("bce", "scnnrnn"):
        cached, fly = tmp_path / f"{method}-cached", tmp_path / f"{method}-fly"
        for stage in (("pretrain-cnn", "finetune") if method == "scnnrnn" else ("pretrain-cnn",)):
            res = mlcap(stage, "-m", method, "--data", tiny_data, "--run", cached, "--features", out, *TINY_TRAIN)
            assert res.code == 0, res.err
            res = mlcap(stage, "-m", method, "--data", tiny_data, "--run", fly, "--freeze-backbone", *TINY_TRAIN)
            assert res.code == 0, res.err
        stage = "finetune" if method == "scnnrnn" else "pretrain-cnn"
        a, _, _ = load_checkpoint(cached / f"{stage}.pt")
        b, _, _ = load_checkpoint(fly / f"{stage}.pt")
        for k in a:
            assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
        p1 = mlcap("predict", "--run", cached, "--data", tiny_data, "--features", out).json_lines()
        p2 = mlcap("predict", "--run", cached, "--data", tiny_data).json_lines()
        assert [r["labels"] for r in p1] == [r["labels"] for r in p2]
        for r1, r2 in zip(p1, p2):
            assert r1["scores"] == pytest.approx(r2["scores"], abs=1e-4)


def test_cache_of_other_weights_is_refused(mlcap, tiny_data, tmp_path):
    out = tmp_path / "f.h5"
    assert mlcap("extract-features", "--data", tiny_data, "--backbone", "smallcnn", "--out", out).code == 0
    state = {k: v for k, v in __import__("mlcap.models", fromlist=["x"]).create_backbone("smallcnn").state_dict().items()}
    torch.save(state, tmp_path / "w.pth")
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", "--weights",
                tmp_path / "w.pth", "--features", out, *TINY_TRAIN)
    assert res.code == 2 and "random init" in res.err


def test_cache_of_another_image_size_is_refused_for_training_and_predict(mlcap, tiny_data_master, tiny_features,
                                                                         tiny_run, tmp_path):
    """The cache holds 64-pixel features: a 32-pixel run would train on them and predict otherwise on images."""
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data_master, "--run", tmp_path / "r", "--image-size", "32",
                "--features", tiny_features, *TINY_TRAIN)
    assert res.code == 2 and "features of 64-pixel images, the run uses 32 (give --image-size 64" in res.err
    assert res.err.count("\n") == 1 and not (tmp_path / "r" / "pretrain-cnn.pt").exists()
    small = tiny_run("bce", ["pretrain-cnn"], "--image-size", "32")
    res = mlcap("predict", "--run", small, "--data", tiny_data_master, "--features", tiny_features)
    assert res.code == 2 and "features of 64-pixel images, the run uses 32" in res.err and res.out == ""


def test_unknown_split_is_an_error(mlcap, tiny_data, tmp_path):
    res = mlcap("extract-features", "--data", tiny_data, "--backbone", "smallcnn", "--out", tmp_path / "f.h5",
                "--splits", "train,tset")
    assert res.code == 2 and "no split 'tset'" in res.err
