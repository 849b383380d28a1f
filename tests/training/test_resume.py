"""A killed stage resumes with --resume and ends with the same weights as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import torch

from mlcap.training.checkpoint import load_checkpoint

EPOCHS = 8


def mlcap_args(data, run, *extra):
    # finetune from scratch exercises encoder, decoder, both losses, and the random label order
    return [sys.executable, "-m", "mlcap", "finetune", "-m", "scnnrnn", "--data", str(data), "--run", str(run),
            "--epochs", str(EPOCHS), "--batch-size", "8", "--device", "cpu", "--seed", "7", "--order", "random",
            *extra]


def test_killed_training_resumes_to_identical_weights(tiny_data, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(mlcap_args(tiny_data, straight), check=True, capture_output=True, env=env)

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

    res = subprocess.run(mlcap_args(tiny_data, killed, "--resume"), capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert f"resuming from {killed / 'finetune.pt'} after epoch {epoch_at_kill}" in res.stderr

    a, a_opt, a_meta = load_checkpoint(straight / "finetune.pt")
    b, b_opt, b_meta = load_checkpoint(killed / "finetune.pt")
    assert a_meta["epoch"] == b_meta["epoch"] == EPOCHS and b_meta["complete"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert a_meta["losses"] == b_meta["losses"]
