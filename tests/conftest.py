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


@pytest.fixture
def shared_data():
    """``shared_data("nuswide", "file")``: a path under ../shared/data, or a clean skip when absent."""

    def get(*parts) -> Path:
        path = SHARED_DATA.joinpath(*parts)
        if not path.exists():
            pytest.skip(f"{path} not present")
        return path

    return get
