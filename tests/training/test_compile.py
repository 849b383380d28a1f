"""``--compile``: the backbone compiled in place (``Module.compile``), checkpoints with the eager
state dict's keys and, with the aot_eager backend, the eager run's weights; an unknown backend is a
one-line error. (tests/training/test_later_stage_options.py checks bit-identity on scnnrnn.)"""

from __future__ import annotations

import pytest
import torch

from helpers import TINY_TRAIN, run_cli
from mlcap.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow


def test_compiled_backbone_trains_the_eager_weights(tiny_data, tmp_path):
    runs = {}
    for name, extra in (("eager", []), ("compiled", ["--compile", "--compile-backend", "aot_eager"])):
        res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / name, *TINY_TRAIN, *extra)
        assert res.code == 0, res.err
        runs[name] = load_checkpoint(tmp_path / name / "pretrain-cnn.pt")[0]
    assert runs["eager"].keys() == runs["compiled"].keys()
    assert not [k for k in runs["eager"] if "_orig_mod" in k]
    for k, v in runs["eager"].items():
        torch.testing.assert_close(runs["compiled"][k], v, rtol=1e-5, atol=1e-6)


def test_unknown_backend_is_one_line(tiny_data, tmp_path):
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", *TINY_TRAIN,
                  "--compile", "--compile-backend", "nosuch")
    assert res.code == 2 and "--compile-backend 'nosuch': not a torch.compile backend" in res.err
    assert "Traceback" not in res.err
