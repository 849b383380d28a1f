"""Ctrl-C during a stage: exit 130 and one line naming --resume; `predict` on the partial run names
--resume, and `predict --stage` of the partial stage warns that it is partial."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from helpers import run_cli
from mlcap.testing.cli import subprocess_env

EPOCHS = 200


def test_ctrl_c_exits_130_naming_resume_and_predict_says_the_stage_is_partial(tiny_data, tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "mlcap", "pretrain-cnn", "-m", "bce", "--data", str(tiny_data), "--run", str(run),
            "--epochs", str(EPOCHS), "--batch-size", "16", "--device", "cpu", "--image-size", "32"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    meta_path = run / "pretrain-cnn.json"
    deadline = time.time() + 120
    while not meta_path.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "the stage ended before its first checkpoint"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and out == ""
    kept = json.loads(meta_path.read_text())["epoch"]
    assert 1 <= kept < EPOCHS
    lines = err.strip().splitlines()
    assert lines[-1] == f"mlcap: interrupted: {run}'s pretrain-cnn stopped after epoch {kept} of {EPOCHS}; " \
                        "continue with --resume"

    res = run_cli("predict", "--run", run, "--data", tiny_data, "--split", "test")
    assert res.one_line_error()
    line = res.err.strip().splitlines()[-1]
    assert "no completed stage to predict with" in line and "--resume" in line
    assert f"pretrain-cnn stopped after epoch {kept} of {EPOCHS}" in line and "--stage pretrain-cnn" in line

    partial = run_cli("predict", "--run", run, "--data", tiny_data, "--split", "test", "--stage", "pretrain-cnn")
    assert partial.code == 0, partial.err
    assert len(partial.json_lines()) == 12
    assert f"predict: warning: pretrain-cnn is partial: its training stopped after epoch {kept} of {EPOCHS}" \
        in partial.err and "--resume" in partial.err
