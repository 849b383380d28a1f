"""Small CLI behaviours a new user meets first: --version, no method installed, a missing option."""

from __future__ import annotations

import pytest
import torch

import mlcap.plugins as plugins
from mlcap import __version__


def test_version_names_mlcap_its_methods_torch_and_cuda(mlcap):
    res = mlcap("--version")
    lines = res.out.splitlines()
    assert res.code == 0 and lines[0] == f"mlcap {__version__}"
    assert any(line.startswith(f"method bce mlcap {__version__}") for line in lines)
    assert lines[-1].startswith(f"torch {torch.__version__}, CUDA ")


def test_methods_with_nothing_installed_says_so(mlcap, monkeypatch):
    monkeypatch.setattr(plugins, "describe_methods", lambda: [])
    res = mlcap("methods")
    assert res.code == 2 and res.out == ""
    assert "no method is installed" in res.err and "pip install" in res.err


@pytest.mark.parametrize("args, flag", [(["predict", "--data", "d"], "--run"),
                                        (["pretrain-cnn", "--method", "bce", "--run", "r"], "--data"),
                                        (["extract-features", "--data", "d", "--out", "f.h5"], "--backbone")])
def test_a_missing_option_is_named_as_its_flag(mlcap, args, flag):
    res = mlcap(*args)
    assert res.code == 2 and f"mlcap: error: missing option {flag} " in res.err, res.err
