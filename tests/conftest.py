"""Shared fixtures: a tiny synthetic dataset and an in-process `mlcap` runner."""

from __future__ import annotations

import io
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlcap.cli import main
from mlcap.data.synthetic import generate

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


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


def run_cli(*args) -> Result:
    """The CLI in-process without pytest's capture fixtures (usable from module-scoped fixtures)."""
    import contextlib

    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["mlcap", *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = saved
    return Result(code, out.getvalue(), err.getvalue())


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


TINY_TRAIN = ["--epochs", "1", "--batch-size", "16", "--device", "cpu"]


def train_tiny(data: Path, run: Path, method: str, stages: tuple[str, ...] | list[str], *extra) -> Path:
    """``run`` trained through ``stages`` of ``method`` for one tiny epoch each (in-process)."""
    for stage in stages:
        res = run_cli(stage, "--method", method, "--data", data, "--run", run, *TINY_TRAIN, *extra)
        assert res.code == 0, f"{method} {stage}: {res.err}"
    return run


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """``(data, {"bce": run, "scnnrnn": run, "caption": run})``: a 60-image synthetic set with a bce
    run, an scnnrnn run through finetune (LSTM decoding) and an scnnrnn captioner; read-only."""
    root = tmp_path_factory.mktemp("tiny_runs")
    data = root / "data"
    generate(data, images=60, seed=3)
    runs = {"bce": train_tiny(data, root / "bce", "bce", ["pretrain-cnn"]),
            "scnnrnn": train_tiny(data, root / "s", "scnnrnn", ["pretrain-cnn", "pretrain-rnn", "finetune"]),
            "caption": train_tiny(data, root / "c", "scnnrnn", ["pretrain-cnn", "pretrain-rnn"], "--task",
                                  "caption", "--vocab-size", 15)}
    return data, runs


@pytest.fixture
def shared_data():
    """``shared_data("nuswide", "file")``: a path under ../shared/data, or a clean skip when absent."""

    def get(*parts) -> Path:
        path = SHARED_DATA.joinpath(*parts)
        if not path.exists():
            pytest.skip(f"{path} not present")
        return path

    return get
