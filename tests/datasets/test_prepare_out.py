"""`mlcap prepare` writes its dataset beside --out and puts it in place whole (mlcap/cli/prepare_out.py):
an existing --out needs --overwrite, which replaces it whole (no image of the earlier dataset stays);
a second prepare into the same --out stops at once naming the first one's pid; a kill before any
rename leaves --out as it was, and the next prepare removes what the kill left, in one line."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from helpers import killed_at_rename, renames_of, run_cli
from mlcap.testing.cli import mlcap_command, subprocess_env


def _tree(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _synthetic(out, images: int, *extra):
    return run_cli("prepare", "synthetic", "--out", out, "--images", images, *extra)


def test_an_existing_out_needs_overwrite_which_replaces_it_whole(tmp_path):
    out, reference = tmp_path / "data", tmp_path / "reference"
    assert _synthetic(out, 40).code == 0 and _synthetic(reference, 20).code == 0
    before = _tree(out)
    res = _synthetic(out, 20)
    assert res.one_line_error() and f"--out {out}: already holds files; --overwrite replaces it whole" in res.err
    assert _tree(out) == before
    res = _synthetic(out, 20, "--overwrite")
    assert res.code == 0 and f"{out}: replaced whole (--overwrite)" in res.err, res.err
    assert _tree(out) == _tree(reference)           # no image of the 40 stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "reference"]     # nothing left beside it


def test_an_empty_out_folder_is_used_without_overwrite(tmp_path):
    (tmp_path / "data").mkdir()
    assert _synthetic(tmp_path / "data", 20).code == 0
    assert (tmp_path / "data" / "dataset.json").is_file()


def test_a_prepare_into_an_out_another_prepare_writes_stops_naming_it(tmp_path):
    out = tmp_path / "data"
    hold = ("import sys; from mlcap.training.lock import FileLock; "
            f"lock = FileLock({str(tmp_path / '.data.lock')!r}, str, remove=True); print('held', flush=True); "
            "sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=subprocess_env())
    try:
        assert holder.stdout.readline() == "held\n"
        res = _synthetic(out, 20)
    finally:
        holder.communicate("")
    assert res.one_line_error() and f"--out {out}: another mlcap prepare (pid {holder.pid}) is writing it" in res.err
    assert not out.exists()
    assert _synthetic(out, 20).code == 0 and not (tmp_path / ".data.lock").exists()


@pytest.mark.slow
def test_two_prepares_at_once_one_wins_whole_the_other_exits_2(tmp_path):
    out, reference = tmp_path / "data", tmp_path / "reference"
    assert _synthetic(reference, 600).code == 0
    first = subprocess.Popen(mlcap_command("prepare", "synthetic", "--out", out, "--images", "600"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    deadline = time.time() + 60
    while not (tmp_path / ".data.lock").exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    second = subprocess.run(mlcap_command("prepare", "synthetic", "--out", out, "--images", "600", "--seed", "1"),
                            capture_output=True, text=True, env=subprocess_env())
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2 and f"another mlcap prepare (pid {first.pid}) is writing it" in second.stderr
    assert _tree(out) == _tree(reference)


@pytest.mark.slow
@pytest.mark.parametrize("overwrite", [False, True], ids=["new", "overwrite"])
def test_a_kill_before_any_rename_of_a_prepare_leaves_out_as_it_was(tmp_path, overwrite):
    reference, old = tmp_path / "reference", tmp_path / "old"
    assert _synthetic(reference, 20).code == 0 and _synthetic(old, 30).code == 0
    extra = ("--overwrite",) if overwrite else ()
    out = tmp_path / "out"
    if overwrite:
        assert _synthetic(out, 30).code == 0
    renames = renames_of(tmp_path, "prepare", "synthetic", "--out", out, "--images", "20", *extra)
    assert renames >= 5 and _tree(out) == _tree(reference)
    for n in range(1, renames + 1):
        out = tmp_path / f"killed-{n}"
        if overwrite:
            assert _synthetic(out, 30).code == 0
        killed_at_rename(n, "prepare", "synthetic", "--out", out, "--images", "20", *extra)
        if out.exists():                        # the earlier dataset, or the new one: never a mix
            assert _tree(out) in (_tree(old), _tree(reference)), f"rename {n}"
        left = [p for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}.")]
        res = _synthetic(out, 20, "--overwrite")
        assert res.code == 0, f"rename {n}: {res.err}"
        for path in left:
            if path.is_dir():
                assert f"{path}: removed (left by a prepare into {out} that was killed)" in res.err, f"rename {n}"
        assert _tree(out) == _tree(reference), f"rename {n}"
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}.")], f"rename {n}"
