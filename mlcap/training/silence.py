"""Learning nothing is loud: a stage whose model emits no label for (almost) every validation image,
or one and the same label set for all of them, says so in one warning line, with the usual causes
and the options that change them (and the method's own advice, ``Method.silence_advice``).

It is judged on the validation predictions decoded as the stage's checkpoints decode them: after
each validation when the method chooses no threshold on validation (the validation's decoding is
the final one), else at the stage's end, at the threshold chosen for the best checkpoint. History
rows record ``val/silent`` for their own validation predictions (at the method's default threshold,
as their other ``val/`` figures)."""

from __future__ import annotations

import numpy as np

from mlcap.progress import note

#: A model that emits no label for at least this share of the validation images is silent.
SILENT_SHARE = 0.95


def silence(predictions, labels: list[str]) -> str | None:
    """What is wrong with ``predictions`` (an ``engine.Collected``): None when nothing is, else a
    phrase ("emits no label for 6 of the 6 validation images")."""
    if predictions is None or not predictions.ids:
        return None
    y_pred = np.asarray(predictions.y_pred, bool)
    n = len(y_pred)
    empty = int((~y_pred.any(axis=1)).sum())
    if empty >= SILENT_SHARE * n:
        return f"emits no label for {empty} of the {n} validation images"
    if n > 1 and bool((y_pred == y_pred[0]).all()):
        names = [labels[k] for k in np.flatnonzero(y_pred[0])]
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return f"predicts the same labels ({shown}) for all {n} validation images"
    return None


def final_decoding(stage) -> bool:
    """Whether the validation during training decodes as the stage's checkpoints will: the method
    chooses no threshold on validation."""
    return stage.method.threshold_kind(stage.spec) is None


def warn_silent(stage, what: str, when: str) -> None:
    """One warning line: the stage, what its model does (``silence``), when, the usual causes with
    the options that change them, and the method's advice."""
    recipe = stage.recipe
    causes = (f"a learning rate too small or too large (--lr, {recipe.lr:g} now), too few epochs (--epochs, "
              f"{recipe.epochs} now), a frozen backbone (--freeze-backbone, --features; {_backbone(stage)}), "
              f"too little data ({stage.n_train} training images)")
    advice = stage.method.silence_advice(stage.name, stage.spec, recipe)
    note(f"{stage.name}: warning: learning nothing? the model {what} ({when}); usual causes: {causes}"
         + (f"; {advice}" if advice else ""))


def _backbone(stage) -> str:
    """Whether the stage trains the backbone."""
    if stage.plan.backbone_frozen:
        return "frozen here"
    backbone = {id(p) for p in stage.model.encoder.backbone.parameters()}
    trained = any(id(p) in backbone for params in stage.plan.groups.values() for p in params)
    return "this stage trains it" if trained else "this stage leaves it as it was"
