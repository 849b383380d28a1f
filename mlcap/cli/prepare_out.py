"""Where `mlcap prepare` writes: the dataset appears at ``--out`` whole, or not at all.

The dataset is written into ``.OUT.prepare`` beside ``--out`` and renamed into place once complete;
with ``--overwrite``, exchanged with the dataset already there in one step (Linux ``renameat2``;
elsewhere two renames), which is then removed. A failure or a kill therefore leaves ``--out`` as it
was: nobody ever reads half a dataset, a mix of two, or images left from an earlier one. An
existing ``--out`` that is not empty is refused without ``--overwrite``.

``.OUT.lock`` beside ``--out`` is held while the command runs (mlcap/training/lock.py): a second
prepare into the same ``--out`` stops at once (exit 2) naming the first one's pid. What a killed
prepare left (its ``.OUT.prepare``) is removed by the next prepare into the same ``--out``, in one
line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from mlcap.atomic import exchange_dirs, fsync_dir
from mlcap.errors import MlcapError, NothingKept
from mlcap.progress import note


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise MlcapError(f"--out {out}: is a file, not a dataset folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise MlcapError(f"--out {out}: already holds files; --overwrite replaces it whole, or give another --out")


def _busy(out: Path):
    return lambda holder: (f"--out {out}: another mlcap prepare (pid {holder}) is writing it; wait for it to "
                           f"finish or give another --out")


@contextlib.contextmanager
def prepared_into(out: Path, overwrite: bool, report=None):
    """Yields the folder to write the dataset into; on success it becomes ``out`` (see the module's
    docstring). An error names ``out``, and which rows were dropped on the way when that explains it."""
    from mlcap.training.lock import FileLock

    out = Path(os.path.realpath(out)) if Path(out).is_symlink() else Path(out)
    _check_out(out, overwrite)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MlcapError(f"--out {out}: cannot make the folder {out.parent} ({e.strerror or e})") from None
    lock = FileLock(out.parent / f".{out.name}.lock", _busy(out), remove=True)
    try:
        _check_out(out, overwrite)      # again, now that no other prepare can change it
        staging = out.parent / f".{out.name}.prepare"
        _clear_leftovers(staging, out)
        staging.mkdir()
        try:
            yield staging
        except BaseException as e:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(e, MlcapError):
                raise _named(e, staging, out, report) from None
            raise
        _put_in_place(staging, out)
    finally:
        lock.release()


def _named(e: MlcapError, staging: Path, out: Path, report) -> MlcapError:
    """``e`` naming ``out`` where it named the folder being written, with the rows dropped on the way
    when nothing was kept."""
    message = str(e).replace(str(staging), str(out))
    dropped = ", ".join(f"{n} {reason}" for reason, n in (report.dropped if report else {}).items())
    if isinstance(e, NothingKept) and dropped:
        message += f" (dropped: {dropped})"
    error = type(e)(message)
    error.exit_code = e.exit_code
    return error


def _put_in_place(staging: Path, out: Path) -> None:
    if not out.exists() or not any(out.iterdir()):
        os.replace(staging, out)                # an empty folder is replaced too
    elif exchange_dirs(staging, out):
        shutil.rmtree(staging)                  # the dataset that was there
        note(f"{out}: replaced whole (--overwrite)")
    else:
        aside = out.parent / f".{out.name}.replaced"
        os.replace(out, aside)
        os.replace(staging, out)
        shutil.rmtree(aside)
        note(f"{out}: replaced whole (--overwrite)")
    fsync_dir(out.parent)


def _clear_leftovers(staging: Path, out: Path) -> None:
    """What a prepare into ``out`` that was killed left, put right (under the lock), one line each."""
    aside = out.parent / f".{out.name}.replaced"
    if aside.is_dir() and not out.exists():     # killed between the two renames of --overwrite
        os.replace(aside, out)
        note(f"{out}: restored from {aside.name} (a prepare with --overwrite was killed while replacing it)")
    for left in (staging, aside):
        if left.is_dir():
            shutil.rmtree(left)
            note(f"{left}: removed (left by a prepare into {out} that was killed)")
