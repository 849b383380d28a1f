"""The one training loop, shared by every method and stage: recipe, epochs, validation,
best/last checkpoints, thresholds chosen on validation.

Determinism, for resume-after-kill equality on CPU: the global RNG and the
shuffling generator are re-seeded from ``(seed, epoch)`` at the start of each
epoch, and a checkpoint (model, optimizer, schedule, selection and history) is
written at the end of each. A resumed run therefore replays exactly the epochs an
uninterrupted run would.
"""

from __future__ import annotations

import json
import math
import time

import torch

from mlcap.data.loader import SkipLog
from mlcap.seeding import epoch_seed
from mlcap.errors import Interrupted, MlcapError, TrainingDiverged
from mlcap.progress import note, progress_bar
from mlcap.contract_checks import check_state
from mlcap.training import distributed
from mlcap.training.checkpoint import read_meta, save_checkpoint
from mlcap.training.engine import EpochLog, evaluate, train_one_epoch
from mlcap.training.recipe import recipe_json
from mlcap.training.stage import BestEpoch, Stage, prepare_stage
from mlcap.metrics.validation import label_metrics
from mlcap.training.silence import final_decoding, silence, warn_silent
from mlcap.training.stage_threshold import choose_threshold
from mlcap.training.validate import higher_is_better, plot_history, write_history


def train_stage(name: str, opts) -> dict:
    """Run stage ``name`` holding the run's lock (``mlcap.training.lock``); under torchrun, in
    every process of the group, rank 0 holding the lock (mlcap/training/distributed.py)."""
    from contextlib import nullcontext

    from mlcap.training.lock import run_lock

    distributed.join(opts.device)
    try:
        with run_lock(opts.run) if distributed.is_main() else nullcontext():
            summary = _train_stage(name, opts)
        distributed.barrier()
        return summary
    finally:
        distributed.leave()


def _train_stage(name: str, opts) -> dict:
    stage = prepare_stage(name, opts)
    if stage.already_complete is not None:
        meta = stage.already_complete
        note(f"{name}: already complete ({meta['epoch']} epochs) in {stage.run.root}; nothing trained")
        return _summary(stage, 0.0, 0, meta.get("best_epoch"))
    stage.run.save_config(name, {**opts.model_dump(mode="json"), "recipe": recipe_json(stage.recipe),
                                 "validation": stage.val.record(), "backbone_frozen": stage.plan.backbone_frozen})
    note(f"{name}: recipe {json.dumps(recipe_json(stage.recipe))}")
    if stage.val.note:
        note(f"{name}: {stage.val.note}")
    started, skips = time.time(), SkipLog()
    try:
        _epochs(stage, skips)
    except KeyboardInterrupt:
        raise _interrupted(stage) from None
    finally:
        stage.discard_writes()
    if skips.count:
        note(f"{name}: {skips.summary()}")
    return _summary(stage, time.time() - started, skips.count, stage.selector.best_epoch)


def _epochs(stage: Stage, skips: SkipLog) -> None:
    """The stage's epochs from where it starts, each with its last checkpoint; the best and final
    ones at the end (``_finish``)."""
    name, epochs = stage.name, stage.recipe.epochs
    with progress_bar(f"{stage.method.name} {name}", total=(epochs - stage.start_epoch) * stage.n_train) as advance:
        for epoch in range(stage.start_epoch, epochs):
            row = _one_epoch(stage, epoch, skips, advance)
            stopping = stage.selector.exhausted and epoch + 1 < epochs
            if stopping:
                note(f"{name}: no improvement of val {stage.recipe.select_by} in {stage.opts.patience} "
                     f"validations; stopping after epoch {epoch + 1} (best: epoch {stage.selector.best_epoch})")
            if epoch + 1 == epochs or stopping:
                _finish(stage, epoch, row)
                break
            _save_last(stage, epoch, row, complete=False)


def _interrupted(stage: Stage) -> Interrupted:
    """Ctrl-C during a stage: what its last checkpoint holds, and how to continue (exit 130)."""
    meta = read_meta(stage.ckpt_path, distributed.is_main()) or {}
    where = f"{stage.run.root}'s {stage.name}"
    if meta.get("complete"):
        return Interrupted(f"interrupted: {where} had completed its {meta.get('epoch')} epochs; nothing to resume")
    if not meta.get("epoch"):
        return Interrupted(f"interrupted: {where} stopped in its first epoch, before any checkpoint; run the "
                           f"command again (with --resume it starts from the beginning)")
    return Interrupted(f"interrupted: {where} stopped after epoch {meta['epoch']} of {stage.recipe.epochs}; "
                       f"continue with --resume")


def _summary(stage: Stage, seconds: float, skipped: int, best_epoch: int | None) -> dict:
    """What a stage prints: its last epoch's training losses; the validation figures of its best and
    last checkpoints (``best_val/...``, ``last_val/...``), each at the threshold stored with it
    (``best_threshold``, ``last_threshold``), as ``predict`` decodes them."""
    last = stage.history[-1] if stage.history else {}
    out = {"stage": stage.name, "method": stage.method.name, "run": str(stage.run.root), "epochs": last.get("epoch"),
           "seconds": round(seconds, 1), "skipped_images": skipped, "best_epoch": best_epoch or last.get("epoch"),
           **{k[6:]: round(v, 5) for k, v in last.items() if k.startswith("train/") and math.isfinite(v)}}
    repair = distributed.is_main()      # the other ranks read what rank 0 wrote, and write nothing
    for which, meta in (("best", read_meta(stage.run.best_path(stage.name), repair)),
                        ("last", read_meta(stage.ckpt_path, repair))):
        out.update(_figures_of(which, meta or {}))
    return out


def _figures_of(which: str, meta: dict) -> dict:
    """``{which}_val/<metric>`` and ``{which}_threshold`` of a checkpoint's metadata."""
    threshold = meta.get("threshold")
    out = {f"{which}_threshold": "per class" if isinstance(threshold, list) else threshold} \
        if threshold is not None else {}
    for key, value in (meta.get("val_at_threshold") or {}).items():
        if isinstance(value, bool) or value is not None and math.isfinite(value):
            out[f"{which}_val/{key}"] = value if isinstance(value, bool) else round(value, 5)
    return out


def _one_epoch(stage: Stage, epoch: int, skips: SkipLog, advance) -> dict:
    """Train one epoch, validate when due; the epoch's history row (best checkpoint written if improved)."""
    seed = epoch_seed(stage.opts.seed, epoch)
    torch.manual_seed(seed)
    loader = stage.train_loader(seed)
    stage.schedule.apply(stage.optimizer, epoch)
    stage.plan.apply(epoch)
    stage.replicas.follow_trainable()
    tic = time.time()
    epochs = stage.recipe.epochs
    skipped_before = skips.events
    steps = [] if stage.opts.step_losses else None
    try:
        log = EpochLog(skips, advance, lambda loss: f"epoch {epoch + 1}/{epochs} loss {loss:.4f}", steps)
        losses, seen = train_one_epoch(stage.replicas, loader, stage.optimizer, stage.scaler, log)
    except TrainingDiverged as e:
        kept = f"kept {stage.ckpt_path} (epoch {epoch})" if epoch > 0 else "no checkpoint was written"
        raise TrainingDiverged(f"{e} of epoch {epoch + 1}; stopped, {kept}; try a lower --lr") from None
    skipped = int(distributed.sum_numbers([skips.events - skipped_before])[0])
    _check_read(stage, epoch, seen, skipped, skips)
    _check_finite(stage, epoch)
    seconds = time.time() - tic
    row = {"epoch": epoch + 1, "lr": {g["name"]: g["lr"] for g in stage.optimizer.param_groups},
           **{f"train/{k}": v for k, v in losses.items()}, "seconds": round(seconds, 3),
           "images_per_s": round(seen / seconds, 2) if seconds > 0 else None}
    if steps is not None:
        row["step_losses"] = steps
    if stage.averager is not None:
        stage.averager.end_of_epoch(stage.model, epoch)
    if _validation_due(stage, epoch):
        metrics, stage.last_validation = _validate(stage)
        row.update({f"val/{k}": v for k, v in metrics.items()})
        _check_silence(stage, row)
        value = metrics.get(stage.recipe.select_by)
        stage.schedule.observe(value, higher_is_better(stage.recipe.select_by))
        row["best"] = stage.selector.update(value, epoch + 1)
        if row["best"] and stage.averager is None:
            state = {k: v.detach().to("cpu", copy=True) for k, v in stage.model.state_dict().items()}
            stage.best = BestEpoch(epoch + 1, state, stage.last_validation)
            save_checkpoint(stage.run.best_path(stage.name), state, None,
                            {**stage.base_meta(), "epoch": epoch + 1, "complete": False, "val": metrics},
                            commit=stage.writes)
    stage.history.append(row)
    return row


def _validate(stage: Stage):
    """``(metrics, predictions)`` of the validation images; with SWA, of the averaged weights, loaded
    into the model for the pass and then replaced by the training weights again."""
    trained = None
    if stage.averager is not None:
        trained = {k: v.detach().clone() for k, v in stage.model.state_dict().items()}
        stage.averager.apply(stage.model, stage.train_batches())
    try:
        return evaluate(stage.model, stage.method, stage.val_loader(shard=True), stage.name, stage.spec,
                        stage.decode, stage.device, stage.amp, references=_references(stage))
    finally:
        if trained is not None:
            stage.model.load_state_dict(trained)


def _check_silence(stage: Stage, row: dict) -> None:
    """``val/silent`` in the row (labels only); a warning at the stage's first silent validation when
    its decoding is the checkpoints' (mlcap/training/silence.py)."""
    if stage.spec.task == "caption":
        return
    what = silence(stage.last_validation, stage.data.labels)
    row["val/silent"] = what is not None
    if what and final_decoding(stage) and not stage.warned_silent:
        warn_silent(stage, what, f"validation after epoch {row['epoch']}")
        stage.warned_silent = True


def _check_read(stage: Stage, epoch: int, seen: int, skipped: int, skips: SkipLog) -> None:
    """A stage that could read too few of its training images stops (exit 2), not complete."""
    limit = stage.opts.max_skip_fraction
    total = seen + skipped
    if seen == 0 or skipped > limit * total:
        first = f"; first: {skips.examples[0]}" if skips.examples else ""
        raise MlcapError(f"{stage.name}: only {seen} of {total} training images could be read in epoch "
                         f"{epoch + 1} (more than --max-skip-fraction {limit:g} unreadable{first}); "
                         f"the stage is not complete")


def _check_finite(stage: Stage, epoch: int) -> None:
    """Weights or BatchNorm statistics that diverged to inf/NaN without a NaN loss are never saved."""
    for name, tensor in check_state(stage.method, stage.model.state_dict()).items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            kept = f"kept {stage.ckpt_path} (epoch {epoch})" if epoch > 0 else "no checkpoint was written"
            raise TrainingDiverged(f"{stage.name}: {name} is not finite after epoch {epoch + 1}; stopped, {kept}; "
                                   f"try a lower --lr")


def _validation_due(stage: Stage, epoch: int) -> bool:
    if stage.val.split is None:
        return False
    if stage.averager is not None:
        return stage.averager.is_cycle_end(epoch) or epoch + 1 == stage.recipe.epochs
    return (epoch + 1) % stage.opts.val_every == 0 or epoch + 1 == stage.recipe.epochs


def _references(stage: Stage) -> dict | None:
    if stage.spec.task != "caption" or stage.val.split is None:
        return None
    samples = stage.data.samples(stage.val.split)
    chosen = samples if stage.val.indices is None else [samples[i] for i in stage.val.indices]
    return {s.id: s.captions for s in chosen}


def _extra(stage: Stage) -> dict:
    extra = {"history": stage.history, "selector": stage.selector.state(), "schedule": stage.schedule.state()}
    if stage.averager is not None:
        extra["swa"] = stage.averager.state()
    if stage.scaler is not None:
        extra["scaler"] = stage.scaler.state_dict()
    return extra


def _save_last(stage: Stage, epoch: int, row: dict, complete: bool, more: dict | None = None) -> None:
    """The epoch's last checkpoint and history (its plot too at the end), then its commit: the
    epoch's files become the stage's together (mlcap/training/commit.py)."""
    losses = {k[6:]: v for k, v in row.items() if k.startswith("train/")}
    save_checkpoint(stage.ckpt_path, stage.model.state_dict(), stage.optimizer.state_dict(),
                    {**stage.base_meta(), "epoch": epoch + 1, "complete": complete, "losses": losses,
                     "swa_averaged": stage.averager.count if stage.averager else 0,
                     "best_epoch": stage.selector.best_epoch, **(more or {})}, extra=_extra(stage),
                    commit=stage.writes)
    write_history(stage.run.root, stage.name, stage.history, commit=stage.writes)
    if complete:
        plot_history(stage.run.root, stage.name, stage.history, commit=stage.writes)
    stage.commit_epoch(epoch + 1, complete)


def _best_epoch(stage: Stage, best_path) -> tuple[BestEpoch, dict]:
    """The best epoch, from memory; from its file (read once) when it was an epoch before a resume."""
    from mlcap.training.checkpoint import read_checkpoint

    meta = {**stage.base_meta(), "epoch": stage.best.epoch} if stage.best is not None else None
    if stage.best is not None and stage.best.epoch == stage.selector.best_epoch:
        return stage.best, {**meta, "val": _val_metrics(stage, stage.best.epoch)}
    ckpt = read_checkpoint(best_path)
    return BestEpoch(int(ckpt.meta["epoch"]), ckpt.model, None), ckpt.meta


def _history_row(stage: Stage, epoch: int) -> dict:
    return next((r for r in stage.history if r["epoch"] == epoch), {})


def _val_metrics(stage: Stage, epoch: int) -> dict:
    return {k[4:]: v for k, v in _history_row(stage, epoch).items() if k.startswith("val/")}


def _threshold_of(stage: Stage, best: BestEpoch, which: str) -> tuple[dict, object]:
    """The threshold of the best epoch's weights and its validation predictions decoded with it
    (``choose_threshold``): from its validation predictions where the method's threshold needs no
    more (none, or a label threshold); else with its weights loaded for a moment."""
    kind = stage.method.threshold_kind(stage.spec)
    if kind is None or best.predictions is not None and kind != "stop":
        return choose_threshold(stage, stage.model, best.predictions, which)
    final = {k: v.detach().clone() for k, v in stage.model.state_dict().items()}
    stage.model.load_state_dict(best.state)
    try:
        return choose_threshold(stage, stage.model, best.predictions, which)
    finally:
        stage.model.load_state_dict(final)


def _figures(stage: Stage, decoded, epoch: int) -> dict:
    """``{"val_at_threshold": ...}`` of a checkpoint: its epoch's validation loss terms, and the label
    metrics of its validation predictions ``decoded`` at its threshold with ``silent`` (mlcap/training/
    silence.py); the history row's figures where there are no such predictions. Empty without validation."""
    figures = _val_metrics(stage, epoch)
    if decoded is not None and decoded.ids and stage.spec.task != "caption":
        y_true, y_pred, scores = decoded.arrays()
        figures.update(label_metrics(y_true, y_pred, scores), silent=silence(decoded, stage.data.labels) is not None)
    return {"val_at_threshold": figures} if figures else {}


def _finish(stage: Stage, epoch: int, row: dict) -> None:
    """The stage's end: SWA's average becomes the weights; best and last checkpoints with their
    thresholds and their validation figures at them, history and plot, in one commit: a kill before
    it replays the final epoch."""
    distributed.barrier()       # rank 0's commits are made before any rank reads them
    if stage.averager is not None and stage.averager.count:
        stage.averager.apply(stage.model, stage.train_batches())
        note(f"{stage.name}: weights are the average of {stage.averager.count} cycle ends (SWA)")
    best_path = stage.run.best_path(stage.name)
    use_best = stage.averager is None and stage.val.split is not None and stage.selector.best_epoch \
        and (stage.best is not None or best_path.is_file())      # in memory, or committed before a resume
    more = {"stopped_early": epoch + 1 < stage.recipe.epochs}
    best, best_meta = _best_epoch(stage, best_path) if use_best else (None, None)
    separate = best is not None and best.epoch != epoch + 1     # best and last are different weights
    validated_now = stage.history and "best" in stage.history[-1]     # this epoch's weights were validated
    threshold, decoded = choose_threshold(stage, stage.model, stage.last_validation if validated_now else None,
                                          f"{'last' if separate else 'best and last'} checkpoint, epoch {epoch + 1}")
    last = {**threshold, **_figures(stage, decoded, epoch + 1)}
    if separate:
        best_threshold, best_decoded = _threshold_of(stage, best, f"best checkpoint, epoch {best.epoch}")
        best_more = {**best_threshold, **_figures(stage, best_decoded, best.epoch)}
    else:
        best_more, best_decoded = last, decoded
    if best is not None:
        save_checkpoint(best_path, best.state, None, {**best_meta, "complete": True, **best_more, **more},
                        commit=stage.writes)
    else:   # best is the final model: no validation, or SWA's average
        save_checkpoint(best_path, stage.model.state_dict(), None,
                        {**stage.base_meta(), "epoch": epoch + 1, "complete": True, **last, **more},
                        commit=stage.writes)
    _save_last(stage, epoch, row, complete=True, more={**last, **more})
    what = silence(best_decoded, stage.data.labels) if stage.spec.task != "caption" else None
    if what and not final_decoding(stage):
        warn_silent(stage, what, f"best checkpoint, epoch {best.epoch if best else epoch + 1}, at its threshold")
