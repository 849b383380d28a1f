"""One writer per run: a second stage on a run in use stops with exit 2 naming the holder's pid;
a first stage that fails before its first checkpoint leaves no run.json to trap the directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from helpers import TINY_TRAIN, run_cli


def test_a_second_writer_is_refused_naming_the_holder(tiny_data, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "mlcap", "pretrain-cnn", "-m", "bce", "--data", str(tiny_data), "--run", str(run),
           "--epochs", "50", "--batch-size", "8", "--device", "cpu"]
    holder = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        lock = run / ".lock"
        deadline = time.time() + 120
        while time.time() < deadline and not (lock.is_file() and lock.read_text().strip()):
            time.sleep(0.05)
        res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN)
        assert res.code == 2 and f"in use by another mlcap process (pid {holder.pid})" in res.err
    finally:
        holder.kill()
        holder.wait()
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN)   # the lock died
    assert res.code == 0, res.err


def test_a_failed_first_stage_does_not_pin_its_options(tiny_data, tmp_path):
    run = tmp_path / "run"
    res = run_cli("pretrain-cnn", "-m", "scnnrnn", "--data", tiny_data, "--run", run, "-o", "hidden=16",
                  "--select-by", "bogus", *TINY_TRAIN)
    assert res.code == 2 and "--select-by 'bogus'" in res.err
    assert not (run / "run.json").exists()
    res = run_cli("pretrain-cnn", "-m", "scnnrnn", "--data", tiny_data, "--run", run, "-o", "hidden=8", *TINY_TRAIN)
    assert res.code == 0, res.err


def test_a_run_that_is_a_file_is_one_line(tiny_data, tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", path, *TINY_TRAIN)
    assert res.code == 2 and "--run is a file" in res.err and "Traceback" not in res.err
