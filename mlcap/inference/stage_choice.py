"""Which stage of a run predicts: the latest complete one, or the one ``--stage`` names.

A run with no complete stage is refused, naming the partial stages and ``--resume``; a partial stage
named with ``--stage`` is used with a warning (epoch k of n). A stale stage (trained from weights of
an earlier stage that was trained again since: run.json's ``stale``, mlcap/training/run.py) is
refused, naming how to train it again and ``--stage``, unless ``--allow-stale``."""

from __future__ import annotations

from mlcap.errors import MlcapError
from mlcap.progress import note
from mlcap.textfile import read_json
from mlcap.training.run import RunDir


def pick_stage(run: RunDir, method, stage: str | None, allow_stale: bool = False) -> str:
    """The stage to predict with (see the module's docstring)."""
    if stage is None:
        stage = run.latest_complete(method.stages, repair=False)
        if stage is None:
            raise MlcapError(_nothing_complete(run, method))
    elif stage not in method.stages:
        raise MlcapError(f"method {method.name!r} has no stage {stage!r}")
    else:
        meta = run.stage_meta(stage, repair=False)
        if meta is not None and not meta.get("complete"):
            note(f"predict: warning: {stage} is partial: its training stopped after epoch {_progress(meta)} "
                 f"(continue it with `{command(run, method, stage, '--resume')}`)")
    _check_stale(run, method, stage, allow_stale)
    return stage


def command(run: RunDir, method, stage: str, flag: str) -> str:
    """The command line that trains ``stage`` of ``run`` again (``flag``: --resume or --overwrite),
    with the dataset its config names."""
    data = "DATA"
    config = run.root / f"{stage}.config.json"
    try:
        data = str(read_json(config, "stage config").get("data") or data)
    except (MlcapError, AttributeError):
        pass
    return f"mlcap stage {stage} --method {method.name} --data {data} --run {run.root} {flag}"


def _progress(meta: dict) -> str:
    epochs = (meta.get("recipe") or {}).get("epochs")
    return f"{meta.get('epoch')}" + (f" of {epochs}" if epochs else "")


def _nothing_complete(run: RunDir, method) -> str:
    partial = [(s, m) for s in method.stages if (m := run.stage_meta(s, repair=False)) is not None]
    message = f"{run.root}: no completed stage to predict with (stages: {', '.join(method.stages)})"
    if not partial:
        return message + "; train its first stage"
    stage, meta = partial[-1]
    return (f"{message}; {stage} stopped after epoch {_progress(meta)}: continue it with --resume "
            f"(`{command(run, method, stage, '--resume')}`), or predict with its partial weights: --stage {stage}")


def _check_stale(run: RunDir, method, stage: str, allow_stale: bool) -> None:
    stale = run.stale()
    if stage not in stale:
        return
    why = f"{stale[stage]} was trained again after {stage} was trained from it"
    if allow_stale:
        note(f"predict: warning: {stage} is stale ({why}); used as asked (--allow-stale)")
        return
    index = method.stages.index(stage)
    fresh = [s for s in method.stages[:index] if s not in stale
             and (run.stage_meta(s, repair=False) or {}).get("complete")]
    other = f"--stage {fresh[-1]}" if fresh else "--stage STAGE"
    raise MlcapError(f"{run.root}: stage {stage} is stale ({why}): train it again "
                     f"(`{command(run, method, stage, '--overwrite')}`), predict with an earlier stage "
                     f"({other}), or use it anyway with --allow-stale")
