"""A killed stage resumes with --resume and ends with the same weights as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from helpers import SMALL, run_cli
from mlcap.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

EPOCHS = 4


def mlcap_args(data, run, *extra):
    # finetune from scratch exercises encoder, decoder, both losses, and the random label order
    return [sys.executable, "-m", "mlcap", "finetune", "-m", "scnnrnn", "--data", str(data), "--run", str(run),
            "--epochs", str(EPOCHS), "--batch-size", "8", "--device", "cpu", "--seed", "7", "--order", "random",
            "--image-size", "32", *SMALL["scnnrnn"],
            *extra]


def test_killed_training_resumes_to_identical_weights(tiny_data, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert run_cli(*mlcap_args(tiny_data, straight)[3:]).code == 0      # in-process: only the kill needs a process

    proc = subprocess.Popen(mlcap_args(tiny_data, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    meta_path = killed / "finetune.json"
    deadline = time.time() + 120
    while not meta_path.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epoch_at_kill = json.loads(meta_path.read_text())["epoch"]
    assert 1 <= epoch_at_kill < EPOCHS, "the kill must land mid-training"

    res = run_cli(*mlcap_args(tiny_data, killed, "--resume")[3:])
    assert res.code == 0, res.err
    assert f"resuming from {killed / 'finetune.pt'} after epoch {epoch_at_kill}" in res.err

    a, a_opt, a_meta = load_checkpoint(straight / "finetune.pt")
    b, b_opt, b_meta = load_checkpoint(killed / "finetune.pt")
    assert a_meta["epoch"] == b_meta["epoch"] == EPOCHS and b_meta["complete"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert a_meta["losses"] == b_meta["losses"]


RECIPES = {
    # validation every epoch, plateau schedule, patience, augmentation and a loader worker, all on
    "plateau": ["--schedule", "plateau", "--plateau-patience", "1", "--patience", "4", "--select-by", "mAP"],
    "swa": ["--swa", "--swa-cycle", "2"],
}


def _same_history(a_run, b_run, stage):
    read = lambda run: [{k: v for k, v in json.loads(line).items() if k not in ("seconds", "images_per_s")}
                        for line in (run / f"{stage}.history.jsonl").read_text().splitlines()]
    assert read(a_run) == read(b_run)


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_resume_with_validation_schedule_augmentation_and_workers(tiny_data, tmp_path, recipe):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = lambda run, *extra: [sys.executable, "-m", "mlcap", "pretrain-cnn", "-m", "bce", "--data", str(tiny_data),
                                "--run", str(run), "--epochs", str(EPOCHS), "--batch-size", "8", "--device", "cpu",
                                "--seed", "3", "--augment", "--num-workers", "1", "--image-size", "32",
                                *RECIPES[recipe], *extra]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert run_cli(*args(straight)[3:]).code == 0      # in-process: only the kill needs a process
    proc = subprocess.Popen(args(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    meta_path = killed / "pretrain-cnn.json"
    deadline = time.time() + 120
    while not meta_path.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.3)                      # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not json.loads(meta_path.read_text())["complete"], "the kill must land mid-training"
    res = run_cli(*args(killed, "--resume")[3:])
    assert res.code == 0, res.err
    for name in ("pretrain-cnn.pt", "pretrain-cnn.best.pt"):
        a, _, a_meta = load_checkpoint(straight / name)
        b, _, b_meta = load_checkpoint(killed / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
        assert (a_meta["epoch"], a_meta.get("threshold")) == (b_meta["epoch"], b_meta.get("threshold"))
        assert a_meta.get("threshold") is not None
    _same_history(straight, killed, "pretrain-cnn")
