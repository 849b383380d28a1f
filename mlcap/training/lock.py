"""One writer per run directory, and no run left pinned by a first stage that failed.

``RunLock`` takes an exclusive POSIX record lock (``lockf``) on ``RUN/.lock`` for as long as a
stage runs; a second mlcap process on the same run stops at once with exit 2 naming the holder's
PID. The lock dies with its process, so a killed stage never leaves it behind, and, unlike
``flock``, it is not inherited by forked DataLoader workers, which may outlive a killed parent by
seconds. ``first_stage_guard`` removes what a
run's first stage wrote when it fails before its first checkpoint: ``run.json`` would otherwise
pin that attempt's options (structural ones cannot change) and trap the directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from mlcap.errors import MlcapError


class RunLock:
    def __init__(self, root: Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise MlcapError(f"{self.root}: --run is a file, not a run directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise MlcapError(f"{self.root}: cannot create the run directory ({e.strerror})") from None
        self.file = open(self.root / ".lock", "a+")
        try:
            fcntl.lockf(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.seek(0)
            holder = self.file.read().strip() or "unknown"
            self.file.close()
            raise MlcapError(f"{self.root}: in use by another mlcap process (pid {holder}); wait for it to "
                             f"finish or give another --run") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(str(os.getpid()))
        self.file.flush()

    def release(self) -> None:
        if not self.file.closed:
            self.file.seek(0)
            self.file.truncate()
            self.file.flush()
            fcntl.lockf(self.file, fcntl.LOCK_UN)
            self.file.close()


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
