"""A feature cache is written as ``.FILE.h5.part`` beside ``FILE.h5`` and renamed into place when
every split asked for is complete: training and predict only ever see a complete cache.

An extraction that stops (a kill, a full disk, a file-size limit, an unreadable split) leaves the
``.part``, flushed after every batch; the same command continues it after its last written rows
(the last batch written again: a kill during a flush may have lost it). A ``.part`` that cannot be
read (HDF5 is not written to survive a crash in the middle of a flush) is removed and the
extraction starts again, in one line. Adding splits to a complete cache copies it to a ``.part``
first, so the complete one stays usable until the new one replaces it.

Before each batch is written, the room it needs (its uncompressed size, plus a margin for HDF5's
own records) is checked against the free disk space and the file-size limit: an extraction that
would not fit stops cleanly, one line, its ``.part`` readable, rather than failing inside h5py,
which cannot recover from a write error.
"""

from __future__ import annotations

import os
import resource
import shutil
from pathlib import Path

from mlcap.errors import MlcapError
from mlcap.features.cache_file import check_split_group, open_h5, require_cache_header, rows_done
from mlcap.progress import note

#: HDF5's records beside the rows of one batch, and per row (its chunk's index entry), in bytes.
MARGIN, PER_ROW = 1 << 20, 512


def part_path(out: Path) -> Path:
    out = Path(out)
    return out.with_name(f".{out.name}.part")


def start(out: Path, splits: list[str], sizes: dict[str, int], header: dict) -> Path | None:
    """The ``.part`` to write into: a readable one left by an extraction that stopped, else a copy of
    ``out`` when it misses a split asked for, else a new one; None when ``out`` holds every split
    asked for, complete (nothing to do)."""
    part = part_path(out)
    if part.exists():
        reason = _unreadable(part, header)
        if reason is None:
            note(f"{part}: continuing the extraction that stopped there")
            return part
        part.unlink()
        note(f"{part}: removed ({reason}): the extraction starts again")
    if out.exists():
        if _complete(out, splits, sizes):
            return None
        shutil.copyfile(out, part)
    return part


def _unreadable(part: Path, header: dict) -> str | None:
    """Why a ``.part`` cannot be continued (``header``: the attributes of the cache asked for); None
    when it can."""
    try:
        with open_h5(part, "r") as f:
            require_cache_header(f, part)
            if not same_header(f, header):
                return "features of another backbone, weights, size or dataset"
            for split in f:
                group = f[split]
                if "pooled" in group:
                    n = check_split_group(group, part, split)
                    rows_done(group, part, split, n)
                    group["pooled"][max(0, n - 1):n]         # its index can be read to the end
    except MlcapError as e:
        return str(e).split(": ", 1)[-1]
    except Exception as e:       # h5py's own errors on a file a crash left inconsistent
        return f"unreadable: {type(e).__name__}"
    return None


def same_header(f, header: dict) -> bool:
    old = {k: (f.attrs[k].decode() if isinstance(f.attrs[k], bytes) else f.attrs[k]) for k in header if k in f.attrs}
    return {k: str(v) for k, v in old.items()} == {k: str(v) for k, v in header.items()}


def _complete(out: Path, splits: list[str], sizes: dict[str, int]) -> bool:
    with open_h5(out, "r") as f:
        require_cache_header(f, out)
        for split in splits:
            if split not in f or "pooled" not in f[split]:
                return False
            group = f[split]
            n = check_split_group(group, out, split)
            if rows_done(group, out, split, n) < sizes[split]:
                return False
    return True


def finish(part: Path, out: Path) -> None:
    """The complete ``.part`` becomes ``out``."""
    with open(part, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(part, out)


def check_room(part: Path, out: Path, needed: int, where: str) -> None:
    """Stop (one line) before writing ``needed`` more bytes that the disk or the file-size limit
    cannot take; ``where``: how far the extraction got."""
    size = part.stat().st_size
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and size + needed + MARGIN > limit:
        reason = f"the file-size limit ({limit} bytes) would be passed"
    else:
        stats = os.statvfs(part.parent)
        free = stats.f_bavail * stats.f_frsize
        if needed + MARGIN <= free:
            return
        reason = f"the disk has {free} bytes free"
    raise MlcapError(f"{out}: {reason}; stopped after {where}; what was extracted is kept in {part.name}, and the "
                     f"same command continues it once there is room")
