"""The decision threshold a finished stage stores in its checkpoints (``--threshold``):
``auto`` (default) chooses a global one on validation, ``auto-class`` one per class,
a number fixes it. ``predict --threshold`` overrides what is stored."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from mlcap.data.loader import batch_to_device
from mlcap.errors import MlcapError
from mlcap.contract_checks import no_threshold_message
from mlcap.progress import note
from mlcap.metrics import thresholds
from mlcap.training.engine import collect


def parse_threshold(value: str | None) -> str | float | None:
    if value is None or value in ("auto", "auto-class"):
        return value
    try:
        number = float(value)
    except ValueError:
        raise MlcapError(f"--threshold {value!r}: auto, auto-class, or a number") from None
    if not 0 <= number <= 1:
        raise MlcapError(f"--threshold {value!r}: a number in [0, 1]")
    return number


def check_threshold_option(method, value: str | None, spec) -> None:
    """Before training: ``--threshold`` must mean something to this model."""
    wanted = parse_threshold(value)
    kind = method.threshold_kind(spec)
    if wanted is not None and kind is None:
        raise MlcapError(no_threshold_message(method, spec))
    if wanted == "auto-class" and kind != "label":
        raise MlcapError(f"--threshold auto-class: {method.name!r}'s threshold is a {kind} threshold, "
                         "one value for all labels")


def choose_threshold(stage, model, predictions=None, which: str = "") -> tuple[dict, object]:
    """``({"threshold": ..., "threshold_source": ...}, decoded)`` for ``model``: the dict is empty
    when the method has none; ``decoded`` (``engine.Collected``) holds the validation predictions
    decoded with that threshold, as the checkpoint will decode (None without validation images).
    ``predictions``: the model's validation predictions at the method's default threshold, when
    already made. ``which`` names the checkpoint in the notes ("best checkpoint, epoch 3")."""
    kind = stage.method.threshold_kind(stage.spec)
    wanted = parse_threshold(stage.opts.threshold)
    if kind is None:
        return {}, predictions
    given = {"threshold": wanted, "threshold_source": "given"} if isinstance(wanted, float) else None
    where = f"{stage.name} ({which})" if which else stage.name
    if stage.val.split is None:
        if given is None:
            note(f"{stage.name}: no validation images: the threshold stays the method's default")
        return given or {}, None
    if kind == "stop":
        return (given, _decoded_at(stage, model, wanted)) if given else _stop_threshold(stage, model, where)
    got = predictions if predictions is not None else _decoded_at(stage, model, None)
    if given:
        return given, cut_at(got, wanted)
    y_true, _, scores = got.arrays()
    if wanted == "auto-class":
        chosen = thresholds.class_thresholds(y_true, scores)
        return {"threshold": chosen, "threshold_source": "val, per class"}, cut_at(got, chosen)
    value, f1 = thresholds.global_threshold(y_true, scores)
    if value != value:
        return {}, got
    note(f"{where}: threshold {value:.4f} chosen on validation (O-F1 {f1:.4f})")
    return {"threshold": value, "threshold_source": "val", "threshold_val_f1": f1}, cut_at(got, value)


def cut_at(predictions, threshold):
    """A ``"label"`` threshold (``Method.threshold_kind``) applied to ``predictions``: every label whose
    score reaches it (one value, or one per class)."""
    if not predictions.ids:
        return predictions
    _, _, scores = predictions.arrays()
    emitted = scores >= np.asarray(threshold, float)
    return replace(predictions, y_pred=list(emitted))


def _decoded_at(stage, model, threshold):
    return collect(model, stage.method, stage.val_loader(), None, stage.spec,
                   replace(stage.decode, threshold=threshold), stage.device)


def _stop_threshold(stage, model, where: str) -> tuple[dict, object]:
    from mlcap.metrics import classification_metrics

    last: dict = {}

    def f1_at(t: float) -> float:
        got = last[t] = _decoded_at(stage, model, t)
        for other in [k for k in last if k != t]:       # only the latest decoding is kept
            del last[other]
        y_true, y_pred, _ = got.arrays()
        return classification_metrics(y_true, y_pred)["O-F1"]

    batches = (batch_to_device(batch, stage.device) for batch, _ in stage.val_loader() if batch is not None)
    model.eval()
    with torch.no_grad():
        table = stage.method.threshold_curve(model, batches, stage.spec, stage.decode)
    if table:
        chosen = _from_curve(where, table, f1_at)
    else:
        value, f1 = thresholds.stop_threshold(f1_at, thresholds.STOP_GRID)
        note(f"{where}: stop threshold {value} chosen on validation (O-F1 {f1:.4f})")
        chosen = {"threshold": value, "threshold_source": "val", "threshold_val_f1": f1}
    value = chosen["threshold"]
    return chosen, last[value] if value in last else _decoded_at(stage, model, value)


def _from_curve(where: str, table: dict, f1_at) -> dict:
    """A method's ``threshold_curve(model, batches, spec, decode) -> {threshold: validation O-F1}``
    covers every value at which its decoding can change: the best one (the lowest among equals,
    as ``thresholds.stop_threshold``), its F1 checked by decoding validation once more."""
    value, f1 = thresholds.stop_threshold(table.__getitem__, table)
    decoded = f1_at(value)
    if abs(decoded - f1) > 1e-9:
        note(f"{where}: stop threshold {value}: the curve's O-F1 {f1:.6f} differs from decoding's "
             f"{decoded:.6f}")
    note(f"{where}: stop threshold {value:.6g} chosen on validation over {len(table)} candidate values "
         f"(O-F1 {decoded:.4f})")
    return {"threshold": value, "threshold_source": "val", "threshold_val_f1": decoded,
            "threshold_val_candidates": len(table)}
