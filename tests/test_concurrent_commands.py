"""Commands at the same time: a second `mlcap compare` on one --out stops at once naming the first
(mlcap/compare/__init__.py); `predict` while a later stage of the same run trains reads the last
complete stage, and every answer is that stage's or, once it is committed, the new one's
(mlcap/training/commit.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import COMPARE_FAST, run_cli
from mlcap.testing.cli import mlcap_command, subprocess_env

pytestmark = pytest.mark.slow


def test_a_second_compare_on_one_out_stops_naming_the_first(tiny_data, tmp_path):
    out = tmp_path / "cmp"
    out.mkdir()
    hold = ("import sys; from mlcap.training.lock import FileLock; "
            f"lock = FileLock({str(out / '.lock')!r}, str); print('held', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=subprocess_env())
    try:
        assert holder.stdout.readline() == "held\n"
        res = run_cli("compare", "--data", tiny_data, "--out", out, *COMPARE_FAST, "--methods", "bce")
    finally:
        holder.communicate("")
    assert res.one_line_error(), res.err
    assert f"--out {out}: another mlcap compare (pid {holder.pid}) is using it" in res.err
    assert sorted(p.name for p in out.iterdir()) == [".lock"]          # nothing trained


def test_predict_while_a_later_stage_trains_reads_the_last_complete_stage(tiny_data, tmp_path):
    run = tmp_path / "run"
    common = ("-m", "orderless", "--data", tiny_data, "--run", run, "--batch-size", "16", "--device", "cpu")
    assert run_cli("pretrain-cnn", *common, "--epochs", "1", "--image-size", "16").code == 0
    before = run_cli("predict", "--run", run, "--data", tiny_data)
    assert before.code == 0
    training = subprocess.Popen(mlcap_command("finetune", *common, "--epochs", "6"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=subprocess_env())
    answers = []
    while training.poll() is None:
        res = run_cli("predict", "--run", run, "--data", tiny_data)
        answers.append((res.code, res.out, res.err))
    assert training.wait() == 0, training.stderr.read()
    after = run_cli("predict", "--run", run, "--data", tiny_data)
    assert after.code == 0 and after.out != before.out
    assert len(answers) >= 2
    for code, out, err in answers:
        assert code == 0 and out in (before.out, after.out), err
