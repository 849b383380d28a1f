"""A stage's epoch is one commit (mlcap/training/commit.py): killed just before any rename a stage
makes, the run holds either the state before that epoch or the state after it, never a mix;
`predict` and `--resume` agree on which, and `--resume` then `predict` give exactly what an
uninterrupted run gives, leaving the same files."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import killed_at_rename, renames_of, run_cli
from mlcap.training.checkpoint import load_checkpoint

STAGE = ("pretrain-cnn", "-m", "bce", "--epochs", "2", "--batch-size", "16", "--device", "cpu", "--image-size", "16")


def _files(run) -> list[str]:
    return sorted(p.name for p in run.iterdir())


def _history(run) -> list[dict]:
    rows = [json.loads(line) for line in (run / "pretrain-cnn.history.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in rows]


@pytest.mark.slow
def test_a_kill_before_any_rename_of_a_stage_resumes_to_the_uninterrupted_run(tiny_data, tmp_path):
    straight = tmp_path / "straight"
    renames = renames_of(tmp_path, *STAGE, "--data", tiny_data, "--run", straight)
    expected = run_cli("predict", "--run", straight, "--data", tiny_data)
    assert expected.code == 0 and renames >= 10
    for n in range(1, renames + 1):
        run = tmp_path / f"killed-{n}"
        killed_at_rename(n, *STAGE, "--data", tiny_data, "--run", run)
        left = _files(run)
        before = run_cli("predict", "--run", run, "--data", tiny_data)
        assert _files(run) == left, f"rename {n}: predict wrote in the run"
        res = run_cli(*STAGE, "--data", tiny_data, "--run", run, "--resume")
        assert res.code == 0, f"rename {n}: {res.err}"
        # one truth: predict found the stage complete exactly when --resume finds nothing to train
        assert (before.code == 0) == ("already complete" in res.err), f"rename {n}: {before.err} | {res.err}"
        if before.code == 0:
            assert before.out == expected.out, f"rename {n}"
        after = run_cli("predict", "--run", run, "--data", tiny_data)
        assert after.code == 0 and after.out == expected.out, f"rename {n}: {after.err}"
        assert _files(run) == _files(straight), f"rename {n}"
        assert _history(run) == _history(straight), f"rename {n}"
        for name in ("pretrain-cnn.pt", "pretrain-cnn.best.pt"):
            a, b = load_checkpoint(straight / name)[0], load_checkpoint(run / name)[0]
            assert all(torch.equal(a[k], b[k]) for k in a), f"rename {n}: {name}"
