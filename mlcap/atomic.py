"""Writes a kill cannot leave half done: each file is written under a temporary name beside its
place, flushed to disk, and renamed over it.

A temporary file is named ``.NAME.tmp-PID`` after the process writing it, so that a later command
tells a write in progress (its process still runs) from one a kill interrupted, and removes the
latter (``remove_orphans``). A full disk or a file-size limit while writing is one line naming the
file, and the previous file, if any, is kept.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO, Callable

from mlcap.errors import MlcapError

TMP_MARK = ".tmp-"


def tmp_path(path: Path) -> Path:
    """``.NAME.tmp-PID`` beside ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


def write_reason(e: BaseException) -> str | None:
    """The reason of a failed write (an ``OSError``, or a ``RuntimeError`` that torch or h5py raised
    for one, e.g. a full disk); None for any other error, which is a bug and keeps its traceback."""
    cause = e if isinstance(e, OSError) else e.__cause__ or e.__context__
    if not isinstance(cause, OSError):
        return None
    return cause.strerror or str(cause).splitlines()[0][:120]


def write_synced(path: Path, write: Callable[[BinaryIO], None], what: str = "file", shown: Path | None = None,
                 kept: str = "") -> None:
    """Write ``path`` itself with ``write(f)`` and flush it to disk; a failed write removes it and is
    one line naming ``shown`` (the file the user knows; ``path`` by default), ``what`` it is and
    ``kept``, what is left as it was."""
    path = Path(path)
    try:
        with open(path, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except (OSError, RuntimeError) as e:    # torch.save may report a full disk as a RuntimeError
        path.unlink(missing_ok=True)
        reason = write_reason(e)
        if reason is None:
            raise
        raise MlcapError(f"{shown or path}: cannot write the {what} ({reason}){kept}") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, write: Callable[[BinaryIO], None], what: str = "file") -> None:
    """``path`` written whole or not at all (see the module's docstring); ``write(f)`` writes bytes."""
    path = Path(path)
    tmp = tmp_path(path)
    try:
        write_synced(tmp, write, what, path, "; the previous one, if any, is kept")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str, what: str = "file") -> None:
    write_atomic(path, lambda f: f.write(text.encode("utf-8")), what)


def fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_of(f: BinaryIO) -> str:
    """The SHA-256 of what is left to read of ``f`` (in blocks: a checkpoint is never read whole)."""
    digest = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return sha256_of(f)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphans(folder: Path, names: tuple[str, ...] | None = None) -> list[Path]:
    """The temporary files in ``folder`` of writes whose process no longer runs (``names``: of those
    files alone)."""
    found = []
    for tmp in sorted(Path(folder).glob(f".*{TMP_MARK}*")):
        name, _, pid = tmp.name[1:].rpartition(TMP_MARK)
        if pid.isdigit() and (names is None or name in names) and not alive(int(pid)) and tmp.is_file():
            found.append(tmp)
    return found


def remove_orphans(folder: Path, say: Callable[[str], None], names: tuple[str, ...] | None = None) -> int:
    """Delete the temporary files of writes killed before their rename (``names``: of those files
    alone), each said in one line (``say``); the number removed."""
    removed = 0
    for tmp in orphans(folder, names):
        try:
            size = tmp.stat().st_size
            tmp.unlink()
        except FileNotFoundError:
            continue
        say(f"{tmp}: removed ({size} bytes of a write that a kill interrupted before it was complete)")
        removed += 1
    return removed


def exchange_dirs(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one step (Linux ``renameat2`` with ``RENAME_EXCHANGE``), so
    that ``b`` is never missing; False where the system or the file system cannot."""
    import ctypes
    import errno

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_cwd, exchange = -100, 2
    if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))
