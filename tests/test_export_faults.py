"""`mlcap export` writes its model file, then its sidecar, each whole (a temporary file renamed); the
sidecar names the model file it describes (size, SHA-256), so a pair a kill split is seen for what it
is. Killed before either rename, the next export removes what the kill left, in one line, and writes
the same export as an uninterrupted one."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from helpers import TINY_TRAIN, killed_at_rename, renames_of, run_cli
from mlcap.testing.checks_export import run_exported

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")]


def _export(run, out):
    return ("export", "--run", run, "--format", "torchscript", "--out", out)


def _sidecar(out) -> dict:
    return json.loads(out.with_name(out.name + ".json").read_text())


def test_a_kill_before_either_rename_of_an_export_is_made_good_by_the_next(tiny_data, tmp_path):
    run = tmp_path / "run"
    assert run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN,
                   "--image-size", "16").code == 0
    reference = tmp_path / "reference.pt"
    assert renames_of(tmp_path, *_export(run, reference)) == 2
    described = _sidecar(reference)["file"]
    assert described == {"name": "reference.pt", "size": reference.stat().st_size,
                         "sha256": hashlib.sha256(reference.read_bytes()).hexdigest()}
    images = np.random.default_rng(0).random((2, 3, 16, 16), dtype=np.float32)
    want = run_exported(reference, "torchscript", images)
    for n in (1, 2):
        out = tmp_path / f"killed-{n}.pt"
        killed_at_rename(n, *_export(run, out))
        left = sorted(p for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}"))
        assert left and out.exists() == (n == 2) and not out.with_name(out.name + ".json").exists()
        res = run_cli(*_export(run, out))
        assert res.code == 0, res.err
        for path in left:
            assert f"{path}: removed (" in res.err
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}")]
        sidecar = _sidecar(out)
        assert {k: v for k, v in sidecar.items() if k != "file"} == \
               {k: v for k, v in _sidecar(reference).items() if k != "file"}
        assert sidecar["file"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
        got = run_exported(out, "torchscript", images)
        assert all(np.array_equal(a, b) for a, b in zip(got, want))
