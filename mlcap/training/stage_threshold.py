"""The decision threshold a finished stage stores in its checkpoints (``--threshold``):
``auto`` (default) chooses a global one on validation, ``auto-class`` one per class,
a number fixes it. ``predict --threshold`` overrides what is stored."""

from __future__ import annotations

from dataclasses import replace

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


def choose_threshold(stage, model, predictions=None) -> dict:
    """``{"threshold": ..., "threshold_source": ...}`` for ``model`` (empty when the method has none).
    ``predictions`` (``engine.Collected``): the model's validation predictions, when already made."""
    kind = stage.method.threshold_kind(stage.spec)
    wanted = parse_threshold(stage.opts.threshold)
    if kind is None:
        return {}
    if isinstance(wanted, float):
        return {"threshold": wanted, "threshold_source": "given"}
    if stage.val.split is None:
        note(f"{stage.name}: no validation images: the threshold stays the method's default")
        return {}
    if kind == "label":
        got = predictions if predictions is not None else collect(model, stage.method, stage.val_loader(), None,
                                                                  stage.spec, stage.decode, stage.device)
        y_true, _, scores = got.arrays()
        if wanted == "auto-class":
            return {"threshold": thresholds.class_thresholds(y_true, scores), "threshold_source": "val, per class"}
        value, f1 = thresholds.global_threshold(y_true, scores)
        if value != value:
            return {}
        note(f"{stage.name}: threshold {value:.4f} chosen on validation (O-F1 {f1:.4f})")
        return {"threshold": value, "threshold_source": "val", "threshold_val_f1": f1}
    return _stop_threshold(stage, model)


def _stop_threshold(stage, model) -> dict:
    from mlcap.metrics import classification_metrics

    def f1_at(t: float) -> float:
        got = collect(model, stage.method, stage.val_loader(), None, stage.spec, replace(stage.decode, threshold=t),
                      stage.device)
        y_true, y_pred, _ = got.arrays()
        return classification_metrics(y_true, y_pred)["O-F1"]

    batches = (batch_to_device(batch, stage.device) for batch, _ in stage.val_loader() if batch is not None)
    model.eval()
    with torch.no_grad():
        table = stage.method.threshold_curve(model, batches, stage.spec, stage.decode)
    if table:
        return _from_curve(stage, table, f1_at)
    value, f1 = thresholds.stop_threshold(f1_at, thresholds.STOP_GRID)
    note(f"{stage.name}: stop threshold {value} chosen on validation (O-F1 {f1:.4f})")
    return {"threshold": value, "threshold_source": "val", "threshold_val_f1": f1}


def _from_curve(stage, table: dict, f1_at) -> dict:
    """A method's ``threshold_curve(model, batches, spec, decode) -> {threshold: validation O-F1}``
    covers every value at which its decoding can change: the best one (the lowest among equals,
    as ``thresholds.stop_threshold``), its F1 checked by decoding validation once more."""
    value, f1 = thresholds.stop_threshold(table.__getitem__, table)
    decoded = f1_at(value)
    if abs(decoded - f1) > 1e-9:
        note(f"{stage.name}: stop threshold {value}: the curve's O-F1 {f1:.6f} differs from decoding's "
             f"{decoded:.6f}")
    note(f"{stage.name}: stop threshold {value:.6g} chosen on validation over {len(table)} candidate values "
         f"(O-F1 {decoded:.4f})")
    return {"threshold": value, "threshold_source": "val", "threshold_val_f1": decoded,
            "threshold_val_candidates": len(table)}
