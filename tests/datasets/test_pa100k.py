"""PA-100K: the real 2,000-image subset with its official .mat files."""

from __future__ import annotations

import pytest

import json

from mlcap.data.prepared import PreparedDataset


@pytest.mark.slow
def test_annotation5_split_and_training(shared_data, tmp_path, mlcap):
    root = shared_data("pa100k")
    res = mlcap("prepare", "pa100k", "--root", root, "--annotation", root / "annotation5.mat",
                "--out", tmp_path / "p", "--json")
    assert res.code == 0, res.err
    summary = json.loads(res.out)
    assert {k: v["images"] for k, v in summary["splits"].items()} == {"train": 1600, "val": 200, "test": 200}
    assert summary["labels"] == 26
    ds = PreparedDataset(tmp_path / "p")
    assert ds.labels[:3] == ["Female", "AgeOver60", "Age18-60"]
    assert ds.samples("test")[0].id == "001800" and ds.image_path(ds.samples("test")[0]).is_file()
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", tmp_path / "p", "--run", tmp_path / "r", "--epochs", 1,
                "--batch-size", 64, "--device", "cpu")
    assert res.code == 0, res.err


def test_empty_test_name_is_reported(shared_data, tmp_path, mlcap):
    root = shared_data("pa100k")
    res = mlcap("prepare", "pa100k", "--root", root, "--out", tmp_path / "p", "--json")
    summary = json.loads(res.out)
    assert summary["splits"]["test"]["images"] == 199 and summary["splits"]["train"]["images"] == 1599
    assert summary["dropped"] == {"empty image name": 1}
    assert "annotation.mat[test_images_name]:1" in summary["problem_examples"][0]
    res = mlcap("prepare", "pa100k", "--root", root, "--out", tmp_path / "q", "--strict")
    assert res.code == 2 and "empty image name" in res.err
