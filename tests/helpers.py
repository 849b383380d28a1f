"""What tests share: the in-process CLI, the tiny training sizes, and the data folder beside the
project. Tests import from here (fixtures live in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlcap.testing import TINY, Result, run_cli  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT / ".." / "shared" / "data"
#: The tiny training sizes: one epoch, 16 images a batch, on the CPU.
TINY_TRAIN = list(TINY)
#: Small networks per method, as ``--option`` flags (tests of plumbing, not of accuracy).
SMALL = {
    "arnn": ["--option", "dim=16", "--option", "context_width=4", "--option", "glimpses=4"],
    "orderfree": ["--option", "hidden=16", "--option", "pred_hidden=8", "--option", "attention_dim=8"],
    "scnnrnn": ["--option", "hidden=16", "--option", "embed_dim=8"],
    "orderless": [],
}
#: `mlcap compare` at a tenth of each recipe's epochs (bce: 10 -> 1), on the CPU.
COMPARE_FAST = ["--epochs-scale", "0.1", "--device", "cpu"]
#: Set by CI: a missing ``../shared/data`` file fails the test instead of skipping it.
REQUIRE_DATA = "MLCAP_REQUIRE_DATA"


def train_tiny(data: Path, run: Path, method: str, stages, *extra) -> Path:
    """``run`` trained through ``stages`` of ``method`` for one tiny epoch each (in-process)."""
    for stage in stages:
        res = run_cli(stage, "--method", method, "--data", data, "--run", run, *TINY_TRAIN, *extra)
        assert res.code == 0, f"{method} {stage}: {res.err}"
    return run


def shared_path(*parts) -> Path:
    """A path under ../shared/data; a skip with the reason when it is absent, or a failure under
    ``MLCAP_REQUIRE_DATA=1`` (CI), so that a run without the data cannot pass quietly."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        if os.environ.get(REQUIRE_DATA) == "1":
            pytest.fail(f"{path} not present, and {REQUIRE_DATA}=1 requires it")
        pytest.skip(f"{path} not present")
    return path


#: ``mlcap ARGS`` in a process that dies (``os._exit``, as SIGKILL: no cleanup runs) just before its
#: ``KILL_AT``-th write boundary: a rename (``os.replace``, or the exchange of two folders), the
#: steps that make each file of mlcap visible, or the flush of an HDF5 file; with ``COUNT_TO``, the
#: number of boundaries of the whole command is written there at its end.
_KILL_AT_RENAME = """
import atexit, os, sys
import h5py
import mlcap.atomic
kill_at, count_to, renames = int(os.environ.get("KILL_AT", "0")), os.environ.get("COUNT_TO"), [0]
def counted(real):
    def call(*args, **kwargs):
        renames[0] += 1
        if renames[0] == kill_at:
            os._exit(137)
        return real(*args, **kwargs)
    return call
os.replace = counted(os.replace)
mlcap.atomic.exchange_dirs = counted(mlcap.atomic.exchange_dirs)
h5py.File.flush = counted(h5py.File.flush)
if count_to:
    atexit.register(lambda: open(count_to, "w").write(str(renames[0])))
sys.argv = ["mlcap", *sys.argv[1:]]
from mlcap.cli import main
main()
"""


def renames_of(tmp_path: Path, *args) -> int:
    """Run ``mlcap ARGS`` whole in a process; the number of its write boundaries (each a kill point)."""
    import subprocess
    import sys

    from mlcap.testing.cli import subprocess_env

    count = tmp_path / "renames"
    proc = subprocess.run([sys.executable, "-c", _KILL_AT_RENAME, *map(str, args)], capture_output=True, text=True,
                          env=subprocess_env(COUNT_TO=str(count)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(count.read_text())


def killed_at_rename(n: int, *args) -> None:
    """``mlcap ARGS`` in a process killed just before its ``n``-th write boundary."""
    import subprocess
    import sys

    from mlcap.testing.cli import subprocess_env

    proc = subprocess.run([sys.executable, "-c", _KILL_AT_RENAME, *map(str, args)], capture_output=True, text=True,
                          env=subprocess_env(KILL_AT=str(n)))
    assert proc.returncode == 137, f"no kill at rename {n}: {proc.returncode} {proc.stderr[-2000:]}"
