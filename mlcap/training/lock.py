"""One writer per run directory (and per prepared dataset), and no run left pinned by a first stage
that failed.

``FileLock`` is the mechanism: an exclusive POSIX record lock (``lockf``) on a file, holding its
holder's PID; a second mlcap process stops at once with exit 2 naming that PID. The lock dies with
its process, so a killed command never leaves it behind, and, unlike ``flock``, it is not inherited
by forked DataLoader workers, which may outlive a killed parent by seconds. ``RunLock`` holds
``RUN/.lock`` for as long as a stage runs; ``prepare`` holds ``.OUT.lock`` beside its ``--out``
(mlcap/cli/prepare_out.py). ``run_lock`` also removes what a run's first stage wrote when it fails
before its first checkpoint: ``run.json`` would otherwise pin that attempt's options (structural
ones cannot change) and trap the directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from mlcap.errors import MlcapError


class FileLock:
    """An exclusive ``lockf`` on file ``path`` while held, the holder's pid written in it; another
    process that holds it is ``busy(pid)``, one line (exit 2). With ``remove``, the file goes when
    the lock is released (a taker that finds its file gone since it opened it takes the new one)."""

    def __init__(self, path: Path, busy, remove: bool = False):
        self.path, self.remove = Path(path), remove
        while True:
            file = open(self.path, "a+")
            try:
                fcntl.lockf(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                file.seek(0)
                holder = file.read().strip() or "unknown"
                file.close()
                raise MlcapError(busy(holder)) from None
            if not remove or _still_at(file, self.path):
                break
            file.close()        # released and removed by its holder meanwhile
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        self.file = file

    def release(self) -> None:
        if not self.file.closed:
            if self.remove:
                self.path.unlink(missing_ok=True)
            else:
                self.file.seek(0)
                self.file.truncate()
                self.file.flush()
            fcntl.lockf(self.file, fcntl.LOCK_UN)
            self.file.close()


def _still_at(file, path: Path) -> bool:
    try:
        here, there = os.fstat(file.fileno()), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


class RunLock(FileLock):
    def __init__(self, root: Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise MlcapError(f"{self.root}: --run is a file, not a run directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise MlcapError(f"{self.root}: cannot create the run directory ({e.strerror})") from None
        super().__init__(self.root / ".lock", lambda holder: f"{self.root}: in use by another mlcap process (pid "
                                                             f"{holder}); wait for it to finish or give another --run")


@contextlib.contextmanager
def run_lock(root: Path):
    root = Path(root)
    new_dir = not root.exists()
    lock = RunLock(root)
    fresh = not (root / "run.json").exists()
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        if fresh and not any(root.glob("*.pt")):
            _forget_first_stage(root)
        raise
    finally:
        lock.release()
        if failed and new_dir and [p.name for p in root.iterdir()] == [".lock"]:
            (root / ".lock").unlink()       # a directory this failed command created, holding nothing
            root.rmdir()


def _forget_first_stage(root: Path) -> None:
    for name in ("run.json", "val_ids.json"):
        (root / name).unlink(missing_ok=True)
    for path in root.glob("*.config.json"):
        path.unlink(missing_ok=True)
    for path in root.glob("*.history.*"):
        path.unlink(missing_ok=True)
