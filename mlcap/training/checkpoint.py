"""Atomic, safe checkpoints.

One file per stage: ``torch.save`` of plain state dicts (model, optimizer) and
a JSON string of metadata, loaded back with ``weights_only=True`` so a
checkpoint can never run code. A human-readable ``.json`` copy of the metadata
sits beside it. In a run, both are part of the stage's commit (mlcap/training/
commit.py): a kill at any moment leaves the previous epoch's files or the new
ones, never a mix. A checkpoint saved outside a run is written to a temporary
file and renamed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from mlcap.atomic import write_atomic
from mlcap.errors import MlcapError
from mlcap.progress import note
from mlcap.training.commit import StageCommit, open_committed, read_manifest, resolve, say_once, stage_of


def save_checkpoint(path: Path, model_state: dict, optimizer_state: dict | None, meta: dict,
                    extra: dict | None = None, commit: StageCommit | None = None) -> None:
    """``extra``: further plain state (tensors, numbers) a resumed run needs, e.g. SWA averages.
    ``commit``: the stage's commit the checkpoint and its sidecar join (written at once without).
    Under torchrun only rank 0 writes (mlcap/training/distributed.py)."""
    from mlcap.training.distributed import is_main

    if not is_main():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": model_state, "optimizer": optimizer_state or {}, "meta": json.dumps(meta),
               "extra": extra or {}}
    if commit is None:
        write_atomic(path, lambda f: torch.save(payload, f), "checkpoint")
        _write_sidecar(path, meta, _stat_of(path))
    else:
        written = commit.add(path.name, lambda f: torch.save(payload, f), "checkpoint")
        _write_sidecar(path, meta, _stat_of(written), commit)


def _stat_of(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _write_sidecar(path: Path, meta: dict, stat: list[int], commit: StageCommit | None = None) -> None:
    """``<ckpt>.json``: a readable copy of the checkpoint's own metadata, stamped with the size and
    time of the checkpoint it was written for (``stat``), so that a sidecar left from an earlier
    checkpoint is recognised and rewritten (``read_meta``)."""
    data = json.dumps({**meta, "checkpoint_stat": stat}, indent=1).encode()
    sidecar = path.with_suffix(".json")
    if commit is None:
        write_atomic(sidecar, lambda f: f.write(data), "checkpoint metadata")
    else:
        commit.add(sidecar.name, lambda f: f.write(data), "checkpoint metadata")


def read_meta(path: Path, repair: bool = True) -> dict | None:
    """The metadata of checkpoint ``path`` (None without one), as committed (mlcap/training/commit.py).
    The checkpoint's embedded metadata is the authority; its sidecar is used when it was written for
    this very file, and otherwise said and, with ``repair`` (training, which holds the run lock),
    rewritten; predicting reads the checkpoint and writes nothing."""
    path = Path(path)
    real = resolve(path)
    if not real.is_file():
        return None
    meta, state = _sidecar_meta(path, real)
    if state is None:
        return meta
    meta = {**read_checkpoint(path).meta, "checkpoint_stat": _stat_of(real)}
    sidecar = path.with_suffix(".json")
    if not repair:
        say_once(f"{sidecar}: {state}; the metadata inside {path.name} is used (the next training command "
                 f"of this run rewrites it)", tuple(meta["checkpoint_stat"]))
        return meta
    _repair_sidecar(path, meta)
    note(f"{sidecar}: rewritten from {path.name} (it was {state})")
    return meta


def _sidecar_meta(path: Path, real: Path) -> tuple[dict | None, str | None]:
    """``(meta, None)`` from a sidecar written for checkpoint ``real``; else ``(None, what is wrong)``."""
    sidecar = resolve(path.with_suffix(".json"))
    if not sidecar.exists():
        return None, "missing"
    try:
        meta = json.loads(sidecar.read_bytes())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        return None, f"unreadable: {getattr(e, 'strerror', None) or 'not JSON'}"
    if not isinstance(meta, dict):
        return None, "unreadable: not a JSON object"
    if meta.get("checkpoint_stat", _stat_of(real)) != _stat_of(real):
        return None, "stale"
    return meta, None


def _repair_sidecar(path: Path, meta: dict) -> None:
    """The sidecar of ``path`` written again: through the stage's commit when the run has manifests."""
    stat = meta["checkpoint_stat"]
    clean = {k: v for k, v in meta.items() if k != "checkpoint_stat"}
    if read_manifest(path.parent, stage_of(path)) is None:
        _write_sidecar(path, clean, stat)
        return
    commit = StageCommit(path.parent, stage_of(path))
    _write_sidecar(path, clean, stat, commit)
    commit.commit()


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
    if not resolve(path).is_file():
        raise MlcapError(f"{path}: checkpoint not found")
    try:
        with open_committed(path) as f:
            payload = torch.load(f, map_location="cpu", weights_only=True)
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
