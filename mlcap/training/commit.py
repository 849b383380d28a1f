"""A stage's files become visible together: one commit per epoch.

At the end of each epoch a stage writes its new files (checkpoint, best checkpoint, their
metadata sidecars, history, plot) beside the current ones, as ``.NAME.next``; then its manifest
``RUN/<stage>.manifest.json``, which names every file of the stage with its size and SHA-256 and
lists the new ones as ``pending``. The manifest's rename is the commit: the pending files are
then renamed over the current ones, and the manifest is written again without ``pending``.

A kill before the manifest's rename leaves the previous epoch's files as they were; a kill after
it leaves the new epoch's, part of them still under their ``.next`` names. Readers take a pending
file from its ``.next`` name (``resolve``), so ``--resume`` and ``predict`` see the same epoch;
the next command holding the run lock finishes the renames and removes the ``.next`` files of a
commit that never happened (``recover``), one line each. ``predict`` holds no lock and writes
nothing: it checks what it reads against the manifest (``open_committed``) and reads again when a
commit replaced the file in between. A file changed outside mlcap since it was committed is said
once and read as it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from mlcap.atomic import fsync_dir, remove_orphans, sha256_of, write_synced, write_text_atomic
from mlcap.progress import note

MANIFEST = ".manifest.json"
NEXT = ".next"


def manifest_path(root: Path, stage: str) -> Path:
    return Path(root) / f"{stage}{MANIFEST}"


def staged_path(path: Path) -> Path:
    """Where the next commit writes ``path`` before moving it into place: ``.NAME.next``."""
    path = Path(path)
    return path.with_name(f".{path.name}{NEXT}")


def stage_of(path: Path) -> str:
    """The stage a run file belongs to (``<stage>.<what>``)."""
    return Path(path).name.split(".", 1)[0]


@dataclass
class Manifest:
    path: Path
    info: dict                  # stage, epoch, complete
    files: dict[str, dict]      # name -> {"size": bytes, "sha256": hex}
    pending: list[str]          # names committed but maybe not yet moved into place

    def body(self, pending: list[str]) -> dict:
        return {**self.info, "files": self.files, "pending": pending}


_said: set = set()


def say_once(message: str, key) -> None:
    """``message`` once per process for ``key`` (a file and its state)."""
    if (message, key) not in _said:
        _said.add((message, key))
        note(message)


def read_manifest(root: Path, stage: str) -> Manifest | None:
    """The stage's manifest; None without one, or for one that is not a manifest (said once)."""
    path = manifest_path(root, stage)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        return _unreadable(path, getattr(e, "strerror", None) or "not text")
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return _unreadable(path, "not JSON")
    if not _well_formed(raw):
        return _unreadable(path, "not an mlcap manifest")
    info = {k: v for k, v in raw.items() if k not in ("files", "pending")}
    return Manifest(path, info, raw["files"], raw.get("pending", []))


def _well_formed(raw) -> bool:
    if not isinstance(raw, dict) or not isinstance(raw.get("files"), dict):
        return False
    records = raw["files"].values()
    if not all(isinstance(r, dict) and isinstance(r.get("size"), int) and isinstance(r.get("sha256"), str)
               for r in records):
        return False
    pending = raw.get("pending", [])
    return isinstance(pending, list) and all(isinstance(n, str) and n in raw["files"] for n in pending)


def _unreadable(path: Path, why: str) -> None:
    try:
        key = path.stat().st_mtime_ns
    except OSError:
        key = None
    say_once(f"{path}: unreadable ({why}); the stage's files are read as they are", key)
    return None


def _resolved(manifest: Manifest | None, path: Path) -> Path:
    if manifest is not None and path.name in manifest.pending:
        staged = staged_path(path)
        if staged.exists():
            return staged
    return path


def resolve(path: Path) -> Path:
    """The file holding ``path``'s committed content: its ``.next`` name while the commit that wrote
    it is still being moved into place, else ``path``."""
    path = Path(path)
    return _resolved(read_manifest(path.parent, stage_of(path)), path)


def open_committed(path: Path) -> BinaryIO:
    """``path``'s committed content, opened for reading (see the module's docstring); the caller
    checks that it exists (``resolve(path).is_file()``)."""
    path = Path(path)
    for _ in range(3):
        manifest = read_manifest(path.parent, stage_of(path))
        real = _resolved(manifest, path)
        record = manifest.files.get(path.name) if manifest is not None else None
        try:
            f = open(real, "rb")
        except FileNotFoundError:       # moved into place since the manifest was read: read it again
            continue
        if record is None:
            return f
        if os.fstat(f.fileno()).st_size == record["size"] and sha256_of(f) == record["sha256"]:
            f.seek(0)
            return f
        f.close()                       # replaced by a later commit meanwhile, or changed outside mlcap
    f = open(resolve(path), "rb")
    if record is not None:
        say_once(f"{path}: not the file {manifest.path.name} records for it (changed since mlcap wrote it); "
                 "read as it is", os.fstat(f.fileno()).st_mtime_ns)
    return f


class StageCommit:
    """The new files of one step of a stage (an epoch's end, a repaired sidecar), made visible
    together by ``commit``. Only the process holding the run lock writes one."""

    def __init__(self, root: Path, stage: str):
        self.root, self.stage = Path(root), stage
        self.staged: dict[str, dict] = {}

    def add(self, name: str, write: Callable[[BinaryIO], None], what: str = "file") -> Path:
        """Write file ``name`` of the stage under its ``.next`` name; the path written."""
        staged = staged_path(self.root / name)
        try:
            write_synced(staged, write, what, self.root / name, "; the previous one is kept")
        except BaseException:
            self.discard()
            raise
        with open(staged, "rb") as f:
            self.staged[name] = {"size": os.fstat(f.fileno()).st_size, "sha256": sha256_of(f)}
        return staged

    def commit(self, **info) -> None:
        """Make the staged files the stage's (``info``: the state they hold, e.g. epoch, complete)."""
        if not self.staged:
            return
        old = read_manifest(self.root, self.stage)
        manifest = Manifest(manifest_path(self.root, self.stage),
                            {"stage": self.stage, **(old.info if old else {}), **info},
                            {**(old.files if old else {}), **self.staged}, [])
        pending = sorted(self.staged)
        try:
            _write_manifest(manifest, pending)
        except BaseException:
            self.discard()
            raise
        for name in pending:                                # the commit is made: roll it forward
            os.replace(staged_path(self.root / name), self.root / name)
        fsync_dir(self.root)
        _write_manifest(manifest, [])
        self.staged = {}

    def discard(self) -> None:
        """Remove what was staged and not committed (a stage that stops on an error)."""
        for name in self.staged:
            staged_path(self.root / name).unlink(missing_ok=True)
        self.staged = {}


def _write_manifest(manifest: Manifest, pending: list[str]) -> None:
    write_text_atomic(manifest.path, json.dumps(manifest.body(pending), indent=1), "stage manifest")
    fsync_dir(manifest.path.parent)


def recover(root: Path) -> None:
    """What a kill left in run folder ``root``, put right by a command holding its lock, one line
    each: a commit's pending files moved into place, the files of a commit that never happened and
    the temporary files of interrupted writes removed."""
    root = Path(root)
    if not root.is_dir():
        return
    for path in sorted(root.glob(f"*{MANIFEST}")):
        manifest = read_manifest(root, path.name[: -len(MANIFEST)])
        if manifest is None or not manifest.pending:
            continue
        for name in manifest.pending:
            staged = staged_path(root / name)
            if staged.exists():
                os.replace(staged, root / name)
                note(f"{root / name}: moved into place from {staged.name} (its epoch was committed; a kill "
                     "stopped the move)")
        fsync_dir(root)
        _write_manifest(manifest, [])
    for staged in sorted(root.glob(f".*{NEXT}")):
        size = staged.stat().st_size
        staged.unlink(missing_ok=True)
        note(f"{staged}: removed ({size} bytes written for an epoch that a kill stopped before its commit)")
    remove_orphans(root, note)
