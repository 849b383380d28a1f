"""The ``mlcap`` command run in-process or as a subprocess, for checks and tests."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def one_line_error(self) -> bool:
        """Exit 2 with one ``mlcap: error:`` line on stderr, nothing on stdout, no traceback."""
        lines = self.err.strip().splitlines()
        return (self.code == 2 and bool(lines) and lines[-1].startswith("mlcap: error: ")
                and "Traceback" not in self.err)


def run_cli(*args, stdin: str | None = None) -> Result:
    """``mlcap ARGS`` in this process: exit code, stdout, stderr."""
    from mlcap.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_stdin = sys.argv, sys.stdin
    sys.argv = ["mlcap", *map(str, args)]
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv, sys.stdin = saved_argv, saved_stdin
    return Result(code, out.getvalue(), err.getvalue())


def subprocess_env(**extra: str) -> dict:
    """The environment of an ``mlcap`` subprocess: this one's, with its interpreter's folder first
    on PATH (``torchrun``), unbuffered output, and no inherited torchrun variables."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONUNBUFFERED": "1",
           **extra}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def mlcap_command(*args) -> list[str]:
    return [sys.executable, "-m", "mlcap", *map(str, args)]
