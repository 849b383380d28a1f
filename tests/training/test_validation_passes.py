"""Data flows one way through a stage: one validation pass per validated epoch and no more. The
best epoch's weights and validation predictions are kept in memory, its threshold is chosen from
them, and nothing is predicted again at the stage's end (a label threshold; a method without one)."""

from __future__ import annotations

import json

import pytest

from helpers import TINY_TRAIN, run_cli
from mlcap.training.checkpoint import load_checkpoint
from mlcap.training.stage import Stage


@pytest.fixture
def val_passes(monkeypatch):
    """The number of validation loaders a stage makes (each is one pass over the validation images)."""
    count = {"n": 0}
    original = Stage.val_loader

    def counting(self, shard: bool = False):
        count["n"] += 1
        return original(self, shard)

    monkeypatch.setattr(Stage, "val_loader", counting)
    return count


@pytest.mark.parametrize("method,stage,extra", [
    ("bce", "pretrain-cnn", ["--select-by", "loss"]),                       # a label threshold
    ("scnnrnn", "pretrain-cnn", ["--select-by", "O-F1", "-o", "hidden=8", "-o", "embed_dim=8"]),   # none
])
def test_one_validation_pass_per_validated_epoch(method, stage, extra, tiny_data, tmp_path, val_passes):
    run = tmp_path / "run"
    res = run_cli(stage, "-m", method, "--data", tiny_data, "--run", run, *TINY_TRAIN, "--epochs", "3",
                  "--val-every", "1", "--lr", "0.05", *extra)
    assert res.code == 0, res.err
    rows = [json.loads(line) for line in (run / f"{stage}.history.jsonl").read_text().splitlines()]
    validated = [r for r in rows if "best" in r]
    assert len(validated) == 3 and val_passes["n"] == 3
    _, _, best = load_checkpoint(run / f"{stage}.best.pt")
    _, _, last = load_checkpoint(run / f"{stage}.pt")
    assert best["complete"] and last["complete"] and best["epoch"] == last["best_epoch"]
    if method == "bce":         # thresholds chosen from the kept predictions of each model
        assert best["threshold_source"] == last["threshold_source"] == "val"
