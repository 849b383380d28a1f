"""Shared fixtures: a tiny synthetic dataset, trained tiny runs, and an in-process `mlcap` runner
(helpers.py has the functions tests import)."""

from __future__ import annotations

import io
import os
import shutil
import sys
from pathlib import Path

import pytest

from helpers import SMALL, Result, shared_path, train_tiny
from mlcap.cli import main
from mlcap.data.synthetic import generate

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one torch thread per pytest-xdist worker (and per mlcap subprocess it starts): with `-n 2` on
    # 2 cores, two workers of 2 threads each would slow each other far more than they gain
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def mlcap(capsys, monkeypatch):
    """Run the CLI in-process, as the shell would: exit code, stdout, stderr."""

    def run(*args, stdin: str | None = None) -> Result:
        monkeypatch.setattr(sys, "argv", ["mlcap", *map(str, args)])
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture(scope="session")
def tiny_data_master(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "data"
    generate(root, images=60, seed=3)
    return root


@pytest.fixture
def tiny_data(tiny_data_master, tmp_path) -> Path:
    """A private copy of a 60-image synthetic dataset (42 train / 6 val / 12 test)."""
    root = tmp_path / "data"
    shutil.copytree(tiny_data_master, root)
    return root


@pytest.fixture(scope="session")
def tiny_run(tiny_data_master, tmp_path_factory):
    """``tiny_run(method, stages, *extra) -> run``: ``method`` trained through ``stages`` on the
    60-image set (``tiny_data_master``), one tiny epoch a stage, ``extra`` given to every stage.
    Made once per session for the same arguments and shared: read-only (copy it to change it)."""
    made: dict = {}

    def get(method: str, stages, *extra) -> Path:
        key = (method, tuple(stages), tuple(map(str, extra)))
        if key not in made:
            made[key] = train_tiny(tiny_data_master, tmp_path_factory.mktemp(method) / "run", method, stages, *extra)
        return made[key]

    return get


@pytest.fixture(scope="session")
def tiny_features(tiny_data_master, tmp_path_factory) -> Path:
    """The smallcnn feature cache of the 60-image set (every split; read-only)."""
    from helpers import run_cli

    out = tmp_path_factory.mktemp("features") / "f.h5"
    res = run_cli("extract-features", "--data", tiny_data_master, "--backbone", "smallcnn", "--out", out)
    assert res.code == 0, res.err
    return out


@pytest.fixture(scope="session")
def coco_mini_features(tmp_path_factory) -> tuple[Path, Path]:
    """``(data, features)``: the real COCO-mini images prepared (80 categories) and their
    EfficientNet-Lite0 ImageNet features at 128 pixels (offline weights); read-only."""
    from helpers import run_cli

    root, out = shared_path("coco", "coco_mini"), tmp_path_factory.mktemp("coco_mini")
    data, features = out / "data", out / "f.h5"
    res = run_cli("prepare", "coco", "--root", root, "--out", data, "--json")
    assert res.code == 0, res.err
    res = run_cli("extract-features", "--data", data, "--backbone", "efficientnet_lite0", "--weights", "imagenet",
                  "--out", features, "--image-size", "128", "--device", "cpu")
    assert res.code == 0, res.err
    return data, features


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """``(data, {"bce": run, "scnnrnn": run, "caption": run})``: a 60-image synthetic set with a bce
    run, an scnnrnn run through finetune (LSTM decoding) and an scnnrnn captioner; read-only."""
    root = tmp_path_factory.mktemp("tiny_runs")
    data = root / "data"
    generate(data, images=60, seed=3)
    small = SMALL["scnnrnn"]
    runs = {"bce": train_tiny(data, root / "bce", "bce", ["pretrain-cnn"]),
            "scnnrnn": train_tiny(data, root / "s", "scnnrnn", ["pretrain-cnn", "pretrain-rnn", "finetune"], *small),
            "caption": train_tiny(data, root / "c", "scnnrnn", ["pretrain-cnn", "pretrain-rnn"], *small, "--task",
                                  "caption", "--vocab-size", 15)}
    return data, runs


@pytest.fixture
def shared_data():
    """``shared_data("nuswide", "file")``: ``helpers.shared_path`` (a skip when absent, a failure
    under MLCAP_REQUIRE_DATA=1)."""
    return shared_path
