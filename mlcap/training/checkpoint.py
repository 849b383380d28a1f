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
from dataclasses import dataclass
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
    except (OSError, RuntimeError) as e:    # torch.save may report a full disk as a RuntimeError
        cause = e if isinstance(e, OSError) else e.__cause__ or e.__context__
        if not isinstance(cause, OSError):
            raise
        reason = cause.strerror or str(cause).splitlines()[0][:120]
        raise MlcapError(f"{path}: cannot write the checkpoint ({reason}); the previous one, if any, "
                         "is kept") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(path: Path, model_state: dict, optimizer_state: dict | None, meta: dict,
                    extra: dict | None = None) -> None:
    """``extra``: further plain state (tensors, numbers) a resumed run needs, e.g. SWA averages.
    Under torchrun only rank 0 writes (mlcap/training/distributed.py)."""
    from mlcap.training.distributed import is_main

    if not is_main():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": model_state, "optimizer": optimizer_state or {}, "meta": json.dumps(meta),
               "extra": extra or {}}
    _atomic_write(path, lambda f: torch.save(payload, f))
    _write_sidecar(path, meta)


def _stat_of(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _write_sidecar(path: Path, meta: dict) -> None:
    """``<ckpt>.json``: a readable copy of the checkpoint's own metadata, stamped with the size and
    time of the checkpoint it was written for, so that a sidecar left from an earlier checkpoint
    (a kill between the two renames) is recognised and rewritten (``read_meta``)."""
    stamped = {**meta, "checkpoint_stat": _stat_of(path)}
    _atomic_write(path.with_suffix(".json"), lambda f: f.write(json.dumps(stamped, indent=1).encode()))


def read_meta(path: Path, repair: bool = True) -> dict | None:
    """The metadata of checkpoint ``path`` (None without one). The checkpoint's embedded metadata is
    the authority; its sidecar is used when it was written for this very file, and repaired when
    it is missing or stale (with ``repair``: training, which holds the run lock; predicting reads
    the checkpoint and writes nothing)."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if not path.is_file():
        return None
    state = "stale" if sidecar.exists() else "missing"
    if sidecar.is_file():
        try:
            meta = json.loads(sidecar.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            meta = None
        if isinstance(meta, dict) and meta.get("checkpoint_stat", _stat_of(path)) == _stat_of(path):
            return meta
    _, _, meta = load_checkpoint(path)
    if not repair:
        return {**meta, "checkpoint_stat": _stat_of(path)}
    _write_sidecar(path, meta)
    from mlcap.progress import note

    note(f"{sidecar}: rewritten from {path.name} (it was {state})")
    return {**meta, "checkpoint_stat": _stat_of(path)}


def remove_orphans(folder: Path) -> int:
    """Delete the temporary files of writes killed before their rename (``.NAME.tmp-PID`` of a
    process that no longer runs); the number removed."""
    removed = 0
    for tmp in Path(folder).glob(".*.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Checkpoint:
    """One checkpoint file as read: weights, optimizer state, metadata, and the loop's extra state
    (history, selection, schedule, SWA, scaler)."""

    model: dict
    optimizer: dict
    meta: dict
    extra: dict


def load_checkpoint(path: Path) -> tuple[dict, dict, dict]:
    """``(model_state, optimizer_state, meta)``; a corrupt file is a one-line error."""
    ckpt = read_checkpoint(path)
    return ckpt.model, ckpt.optimizer, ckpt.meta


def read_checkpoint(path: Path) -> Checkpoint:
    """The whole checkpoint in one read; a corrupt file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise MlcapError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(payload["meta"])
        model = payload["model"]
        if not isinstance(meta, dict) or not isinstance(model, dict):
            raise TypeError("metadata and model state must be dictionaries")
    except Exception as e:
        first = str(e).splitlines()[0][:200] if str(e) else ""
        raise MlcapError(f"{path}: not a readable mlcap checkpoint ({type(e).__name__}: {first})") from None
    for name, tensor in model.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise MlcapError(f"{path}: {name} holds NaN or infinite values; mlcap never saves such weights, "
                             "so this file was changed or written elsewhere")
    return Checkpoint(model, payload.get("optimizer") or {}, meta, payload.get("extra") or {})


def load_weights(model: torch.nn.Module, state: dict, path: Path, strict: bool = True) -> None:
    """``model.load_state_dict``; weights of another shape or naming are one line naming ``path``."""
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:200]
        raise MlcapError(f"{path}: its weights do not fit this model ({detail})") from None
