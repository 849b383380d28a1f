"""Atomic, safe checkpoints.

One file per stage: ``torch.save`` of plain state dicts (model, optimizer) and
a JSON string of metadata, loaded back with ``weights_only=True`` so a
checkpoint can never run code. A human-readable ``.json`` copy of the metadata
sits beside it. Both are written to a temporary file and renamed, so a kill at
any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from mlcap.errors import MlcapError


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(path: Path, model_state: dict, optimizer_state: dict | None, meta: dict,
                    extra: dict | None = None) -> None:
    """``extra``: further plain state (tensors, numbers) a resumed run needs, e.g. SWA averages."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": model_state, "optimizer": optimizer_state or {}, "meta": json.dumps(meta),
               "extra": extra or {}}
    _atomic_write(path, lambda f: torch.save(payload, f))
    _atomic_write(path.with_suffix(".json"), lambda f: f.write(json.dumps(meta, indent=1).encode()))


def load_extra(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True).get("extra") or {}


def load_checkpoint(path: Path) -> tuple[dict, dict, dict]:
    """``(model_state, optimizer_state, meta)``; a corrupt file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise MlcapError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(payload["meta"])
        return payload["model"], payload.get("optimizer") or {}, meta
    except Exception as e:
        first = str(e).splitlines()[0][:200] if str(e) else ""
        raise MlcapError(f"{path}: not a readable mlcap checkpoint ({type(e).__name__}: {first})") from None
