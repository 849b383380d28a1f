"""Validation during training: history, best and last checkpoints, held-out val, patience,
thresholds chosen on val, epoch-aware freezing, SWA with a frozen backbone."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import TINY_TRAIN
from mlcap.plugins import load_method
from mlcap.training.checkpoint import load_checkpoint
from mlcap.training.run import RunDir

BCE = ["pretrain-cnn", "-m", "bce", "--batch-size", "16", "--device", "cpu"]


def history(run, stage="pretrain-cnn"):
    return [json.loads(line) for line in (run / f"{stage}.history.jsonl").read_text().splitlines()]


def test_history_best_last_and_thresholds(mlcap, tiny_data, tmp_path):
    run = tmp_path / "r"
    res = mlcap(*BCE, "--data", tiny_data, "--run", run, "--epochs", "3", "--select-by", "mAP")
    assert res.code == 0, res.err
    rows = history(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert {"train/loss", "val/loss", "val/O-F1", "val/C-F1", "val/mAP", "lr", "images_per_s"} <= set(rows[0])
    assert (run / "pretrain-cnn.history.png").stat().st_size > 1000
    best = max(rows, key=lambda r: r["val/mAP"])
    _, _, meta = load_checkpoint(run / "pretrain-cnn.best.pt")
    assert meta["epoch"] == best["epoch"] and meta["complete"]
    assert 0 < meta["threshold"] < 1 and meta["threshold_source"] == "val"
    default = mlcap("predict", "--run", run, "--data", tiny_data).json_lines()
    strict = mlcap("predict", "--run", run, "--data", tiny_data, "--threshold", "0.99").json_lines()
    assert sum(map(len, (r["labels"] for r in strict))) < sum(map(len, (r["labels"] for r in default)))
    # emitted labels are exactly those at or above the stored threshold
    assert all(set(r["labels"]) == {k for k, p in r["scores"].items() if p >= meta["threshold"] - 1e-5}
               for r in default)
    last = mlcap("predict", "--run", run, "--data", tiny_data, "--checkpoint", "last")
    assert last.code == 0 and len(last.json_lines()) == 12


def test_per_class_and_fixed_thresholds(mlcap, tiny_data, tmp_path):
    res = mlcap(*BCE, "--data", tiny_data, "--run", tmp_path / "c", "--epochs", "1", "--threshold", "auto-class")
    assert res.code == 0, res.err
    _, _, meta = load_checkpoint(tmp_path / "c" / "pretrain-cnn.best.pt")
    assert len(meta["threshold"]) == 20
    res = mlcap(*BCE, "--data", tiny_data, "--run", tmp_path / "f", "--epochs", "1", "--threshold", "0.3")
    assert load_checkpoint(tmp_path / "f" / "pretrain-cnn.pt")[2]["threshold"] == 0.3
    res = mlcap(*BCE, "--data", tiny_data, "--run", tmp_path / "x", "--epochs", "1", "--threshold", "high")
    assert res.code == 2 and "--threshold 'high'" in res.err


def drop_val_split(data):
    meta = json.loads((data / "dataset.json").read_text())
    del meta["splits"]["val"]
    (data / "dataset.json").write_text(json.dumps(meta))


def test_held_out_fraction_is_recorded_and_reused(mlcap, tiny_data, tmp_path):
    drop_val_split(tiny_data)
    run = tmp_path / "r"
    res = mlcap("pretrain-cnn", "-m", "scnnrnn", "--data", tiny_data, "--run", run, "--val-fraction", "0.25",
                *TINY_TRAIN)
    assert res.code == 0, res.err
    held = json.loads((run / "val_ids.json").read_text())["ids"]
    assert len(held) == round(0.25 * 42) and "validating on 10 held-out training images" in res.err
    assert "training on 32" in res.err
    res = mlcap("pretrain-rnn", "-m", "scnnrnn", "--data", tiny_data, "--run", run, *TINY_TRAIN)
    assert res.code == 0 and json.loads((run / "val_ids.json").read_text())["ids"] == held
    res = mlcap(*BCE, "--data", tiny_data, "--run", tmp_path / "n", "--epochs", "1", "--val-fraction", "0",
                "--patience", "2")
    assert res.code == 2 and "need validation" in res.err


def test_patience_stops_early(mlcap, tiny_data, tmp_path):
    run = tmp_path / "r"     # nothing trains before epoch 50: the val loss never improves after epoch 1
    res = mlcap(*BCE, "--data", tiny_data, "--run", run, "--epochs", "6", "--patience", "2",
                "--group-start", "backbone=50", "--group-start", "heads=50")
    assert res.code == 0, res.err
    assert "stopping after epoch 3" in res.err and [r["epoch"] for r in history(run)] == [1, 2, 3]
    meta = json.loads((run / "pretrain-cnn.json").read_text())
    assert meta["complete"] and meta["stopped_early"] and meta["epoch"] == 3
    res = mlcap(*BCE, "--data", tiny_data, "--run", run, "--epochs", "6", "--resume")
    assert res.code == 0 and "already complete" in res.err


def test_group_frozen_until_its_epoch(mlcap, tiny_data, tmp_path):
    run = tmp_path / "r"
    res = mlcap(*BCE, "--data", tiny_data, "--run", run, "--epochs", "1", "--group-start", "backbone=1")
    assert res.code == 0, res.err
    state, _, _ = load_checkpoint(run / "pretrain-cnn.pt")
    torch.manual_seed(0)
    fresh = load_method("bce").build(RunDir(run).spec()).state_dict()
    backbone = [k for k in state if k.startswith("encoder.backbone.")]
    assert backbone and all(torch.equal(state[k], fresh[k]) for k in backbone)   # BN statistics included
    assert not torch.equal(state["encoder.concept_head.weight"], fresh["encoder.concept_head.weight"])
    res = mlcap(*BCE, "--data", tiny_data, "--run", tmp_path / "bad", "--epochs", "1", "--group-lr", "decoder=1")
    assert res.code == 2 and "no such parameter group" in res.err


def test_swa_on_cached_features_leaves_the_backbone_alone(mlcap, tiny_data, tmp_path):
    feats = tmp_path / "f.h5"
    assert mlcap("extract-features", "--data", tiny_data, "--backbone", "smallcnn", "--out", feats).code == 0
    run = tmp_path / "r"
    res = mlcap(*BCE, "--data", tiny_data, "--run", run, "--features", feats, "--swa", "--swa-cycle", "1",
                "--epochs", "2")
    assert res.code == 0, res.err
    meta = json.loads((run / "pretrain-cnn.json").read_text())
    assert meta["backbone_frozen"] and meta["swa_averaged"] == 2
    p1 = mlcap("predict", "--run", run, "--data", tiny_data, "--features", feats).json_lines()
    p2 = mlcap("predict", "--run", run, "--data", tiny_data).json_lines()
    for r1, r2 in zip(p1, p2):
        assert r1["scores"] == pytest.approx(r2["scores"], abs=1e-4)
