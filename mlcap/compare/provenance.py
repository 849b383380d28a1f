"""Where a compared run came from, so that an interrupted compare reuses only what still holds.

A run is reused when every field matches: mlcap's version, the git commit of the code with a
dirty flag (the uncommitted diff's hash is recorded, not compared: an edit of a dirty tree
does not retrain a comparison, a commit does), the dataset's fingerprint (its manifests and
metadata: images are named there, and a changed list changes it), the feature cache's (size,
modification time and a hash of its first and last MiB), and the request itself (method, flags,
options, seed, budget scale, the flags given to every variant: ``--epochs``, ``--image-size``,
``--batch-size``). The recipe each stage resolved is recorded beside them.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from mlcap.version import __version__

CHUNK = 1 << 20
#: Recorded for the reader, not compared.
RECORDED_ONLY = ("complete", "recipes", "result", "diff")


def dataset_fingerprint(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(root).glob("*.json")) + sorted(Path(root).glob("*.jsonl")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def file_fingerprint(path: Path | None) -> str | None:
    if path is None:
        return None
    path = Path(path)
    stat = path.stat()
    digest = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    with open(path, "rb") as f:
        digest.update(f.read(CHUNK))
        if stat.st_size > CHUNK:
            f.seek(max(CHUNK, stat.st_size - CHUNK))
            digest.update(f.read(CHUNK))
    return digest.hexdigest()[:16]


#: The folder that holds the mlcap package (a git checkout when mlcap runs from its own clone).
SOURCE = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(SOURCE), *args], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.decode("utf-8", "replace") if out.returncode == 0 else None


def code_state() -> dict:
    """mlcap's version and, when mlcap runs from its own git checkout, its commit, whether it is
    dirty, and the diff's hash (an installed mlcap inside some other repository records none)."""
    top = _git("rev-parse", "--show-toplevel")
    source = SOURCE
    commit = _git("rev-parse", "HEAD") if top and Path(top.strip()).resolve() == source \
        and (source / "pyproject.toml").is_file() else None
    if commit is None:
        return {"mlcap": __version__, "git": None}
    status = _git("status", "--porcelain", "--untracked-files=no") or ""
    diff = _git("diff", "HEAD") or ""
    return {"mlcap": __version__, "git": commit.strip(), "dirty": bool(status.strip()),
            "diff": hashlib.sha256(diff.encode()).hexdigest()[:16] if status.strip() else None}


def provenance(request: dict, data: Path, features: Path | None, code: dict) -> dict:
    return {**code, "dataset": dataset_fingerprint(data), "features": file_fingerprint(features),
            "request": request}


def matches(run: Path, expected: dict) -> bool:
    """Whether ``run`` finished with exactly this provenance."""
    path = Path(run) / "provenance.json"
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(recorded, dict) and recorded.get("complete") is True and not differences(run, expected)


def differences(run: Path, expected: dict) -> list[str]:
    """The fields that keep ``run`` from being reused (for the log)."""
    try:
        recorded = json.loads((Path(run) / "provenance.json").read_text())
    except (OSError, ValueError):
        return ["no provenance"]
    if not isinstance(recorded, dict):
        return ["no provenance"]
    keys = (set(expected) | set(recorded)) - set(RECORDED_ONLY)
    fields = sorted(k for k in keys if recorded.get(k) != expected.get(k))
    return fields + ([] if recorded.get("complete") is True else ["incomplete"])
