"""Unique names for several input files of one command (``evaluate``'s table rows, JSON keys and
co-occurrence outputs): ``a/preds.jsonl`` and ``b/preds.jsonl`` must not share one, nor must
the same file given twice."""

from __future__ import annotations

import os
from pathlib import Path, PurePath

STDIN = "-"


def row_names(sources: list[str]) -> list[str]:
    """The sources as given (``-`` is ``stdin``); a name given again gets `` #2``, `` #3``, ..."""
    out, seen = [], {}
    for source in sources:
        name = "stdin" if source == STDIN else str(source)
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


def _parts(source: str) -> tuple[str, ...]:
    """The file's absolute path, anchor dropped, ``.jsonl`` dropped from its name."""
    parts = PurePath(os.path.abspath(source)).parts[1:]
    return (*parts[:-1], parts[-1].removesuffix(".jsonl")) if parts else ("predictions",)


def _shortest_suffix(mine: tuple[str, ...], others: set[tuple[str, ...]]) -> tuple[str, ...]:
    """The fewest trailing path parts of ``mine`` that no other file's path ends with."""
    for k in range(1, len(mine) + 1):
        if all(other[-k:] != mine[-k:] for other in others):
            return mine[-k:]
    return mine


def output_stems(sources: list[str]) -> list[str]:
    """Per source, a relative path (no extension) for the files written about it: its file name,
    with as many parent folders as tell it apart from the others (``a/preds``, ``b/preds``);
    ``stdin`` for ``-``; the same file again gets ``-2``, ``-3``, ... Unique within the list."""
    paths = {s: _parts(s) for s in sources if s != STDIN}
    stems, used = [], set()
    for source in sources:
        if source == STDIN:
            stem = "stdin"
        else:
            mine = paths[source]
            stem = "/".join(_shortest_suffix(mine, {p for p in paths.values() if p != mine}))
        candidate, n = stem, 1
        while candidate in used:
            n += 1
            candidate = f"{stem}-{n}"
        used.add(candidate)
        stems.append(candidate)
    return stems


def output_path(out_dir: Path, stem: str, suffix: str) -> Path:
    """``out_dir/<stem><suffix>``, its folders created (a stem may hold parent folders)."""
    path = Path(out_dir) / f"{stem}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
