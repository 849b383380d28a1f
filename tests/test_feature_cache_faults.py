"""A feature cache survives what stops its extraction (mlcap/features/cache_part.py): a file-size
limit or a full disk stops it with one line, never inside h5py; a kill before any flush or rename
leaves no cache under the name training reads, and the same command then continues (or starts
again, said in one line) to exactly the cache an uninterrupted extraction writes."""

from __future__ import annotations

import os
import resource
import subprocess

import h5py
import numpy as np
import pytest

from helpers import TINY_TRAIN, killed_at_rename, renames_of, run_cli
from mlcap.testing.cli import mlcap_command, subprocess_env

pytestmark = pytest.mark.slow


def _extract(data, out, *extra):
    return ("extract-features", "--data", data, "--backbone", "smallcnn", "--out", out, "--image-size", "32",
            "--batch-size", "8", "--device", "cpu", *extra)


def _same_cache(a, b) -> bool:
    with h5py.File(a, "r") as x, h5py.File(b, "r") as y:
        return sorted(x) == sorted(y) and all(
            np.array_equal(x[s][k][:], y[s][k][:]) for s in x for k in ("ids", "valid", "pooled", "spatial")) \
            and all(x[s].attrs["done"] == y[s].attrs["done"] for s in x)


@pytest.fixture
def reference(tiny_data, tmp_path):
    path = tmp_path / "reference.h5"
    assert run_cli(*_extract(tiny_data, path)).code == 0
    return path


def test_a_file_size_limit_stops_the_extraction_in_one_line_and_the_next_run_continues(tiny_data, tmp_path,
                                                                                       reference):
    out = tmp_path / "f.h5"
    limit = 1_250_000           # room for about half of it (each checked for its uncompressed size)
    proc = subprocess.run(mlcap_command(*_extract(tiny_data, out)), capture_output=True, text=True,
                          env=subprocess_env(),
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "Exception" not in proc.stderr
    assert last.startswith(f"mlcap: error: {out}: the file-size limit ({limit} bytes) would be passed; stopped "
                           "after ") and "kept in .f.h5.part" in last and not out.exists()
    assert "stopped after 0 " not in last
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "run", "--features", out,
                  *TINY_TRAIN)
    assert res.one_line_error() and "an extraction into it stopped before it was complete" in res.err
    res = run_cli(*_extract(tiny_data, out))
    assert res.code == 0 and ".f.h5.part: continuing the extraction that stopped there" in res.err, res.err
    assert _same_cache(out, reference) and not (tmp_path / ".f.h5.part").exists()


def test_a_full_disk_stops_the_extraction_in_one_line(tiny_data, tmp_path, monkeypatch):
    real = os.statvfs

    class Full:
        def __init__(self, path):
            self.f_frsize, self.f_bavail = real(path).f_frsize, 10

    monkeypatch.setattr(os, "statvfs", Full)
    res = run_cli(*_extract(tiny_data, tmp_path / "f.h5"))
    assert res.one_line_error() and "f.h5: the disk has" in res.err and "bytes free; stopped after 0 of" in res.err


def test_an_unreadable_part_is_removed_and_the_extraction_starts_again(tiny_data, tmp_path, reference):
    out = tmp_path / "f.h5"
    (tmp_path / ".f.h5.part").write_bytes(os.urandom(5000))
    res = run_cli(*_extract(tiny_data, out))
    assert res.code == 0 and f"{tmp_path / '.f.h5.part'}: removed (not a readable HDF5 feature file" in res.err
    assert "the extraction starts again" in res.err and _same_cache(out, reference)


def test_a_kill_before_any_flush_or_rename_of_an_extraction_is_continued_to_the_same_cache(tiny_data, tmp_path,
                                                                                           reference):
    boundaries = renames_of(tmp_path, *_extract(tiny_data, tmp_path / "counted.h5"))
    assert boundaries >= 6
    for n in range(1, boundaries + 1):
        out = tmp_path / f"killed-{n}.h5"
        killed_at_rename(n, *_extract(tiny_data, out))
        assert not out.exists(), f"boundary {n}: an incomplete cache under the name training reads"
        res = run_cli(*_extract(tiny_data, out))
        assert res.code == 0, f"boundary {n}: {res.err}"
        assert _same_cache(out, reference), f"boundary {n}"
        assert not out.with_name(f".{out.name}.part").exists()
