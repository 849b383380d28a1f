"""--amp --amp-dtype float16: float16 autocast with a GradScaler (state kept across a resume),
next to bfloat16; both train to finite losses on CPU."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import TINY_TRAIN, run_cli

pytestmark = pytest.mark.slow


def test_float16_with_grad_scaler_and_resume(tiny_data, tmp_path):
    run = tmp_path / "fp16"
    args = ["pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN, "--image-size", "32",
            "--amp", "--amp-dtype", "float16"]
    res = run_cli(*args)
    assert res.code == 0, res.err
    assert math.isfinite(res.json_lines()[-1]["loss"])
    extra = torch.load(run / "pretrain-cnn.pt", weights_only=True)["extra"]
    assert extra["scaler"]["scale"] > 0                    # the GradScaler's state is in the checkpoint
    again = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, "--epochs", "2",
                    "--batch-size", "16", "--device", "cpu", "--amp", "--amp-dtype", "float16", "--resume")
    assert again.code == 0, again.err
    assert "resuming from" in again.err


def test_bfloat16_and_float16_differ_from_fp32(tiny_data, tmp_path):
    losses = {}
    for name, flags in (("fp32", []), ("bf16", ["--amp"]), ("fp16", ["--amp", "--amp-dtype", "float16"])):
        res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / name, *TINY_TRAIN,
                      "--image-size", "32", *flags)
        assert res.code == 0, res.err
        losses[name] = res.json_lines()[-1]["loss"]
    assert losses["bf16"] != losses["fp32"] and losses["fp16"] != losses["fp32"]
    assert all(math.isclose(v, losses["fp32"], rel_tol=0.05) for v in losses.values())
