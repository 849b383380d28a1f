"""Training, predicting and evaluating one variant for one seed, in this process.

Each run lives in ``OUT/runs/<variant>/seed<N>/`` with its ``provenance.json`` (see
``provenance.py``) and its test predictions ``test.jsonl``. A finished run whose provenance
matches is reused; an interrupted one with the same provenance resumes its stages (``--resume``);
anything else is trained again from nothing.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mlcap.atomic import remove_orphans, write_atomic, write_text_atomic
from mlcap.compare import provenance as prov
from mlcap.compare.variants import Variant
from mlcap.errors import MlcapError
from mlcap.progress import note
from mlcap.training.commit import resolve as committed


@dataclass
class Setup:
    """What every run of a comparison shares."""

    data: Path
    out: Path
    features: Path | None = None
    backbone: str | None = None
    weights: str | None = None
    epochs_scale: float = 1.0
    device: str = "auto"
    split: str = "test"
    code: dict | None = None
    train: dict = field(default_factory=dict)   # training flags of every variant's stages (a variant's own win)

    def run_dir(self, variant_slug: str, seed: int) -> Path:
        return self.out / "runs" / variant_slug / f"seed{seed}"


def stages_of(method, variant: Variant) -> list[str]:
    """The variant's stages: its own list, else all the method's, less those that learn from the noisy
    tags alone when the variant does not use them (``StageInputs.tags_only``)."""
    if variant.stages is not None:
        return list(variant.stages)
    from mlcap.plugins import training_stages
    from mlcap.protocol import ModelSpec

    spec = ModelSpec(labels=[], use_tags=bool(variant.train.get("use_tags")),
                     task=variant.train.get("task") or "multilabel", options=dict(variant.method_options))
    return list(training_stages(method, spec))


def _stage_flags(method, variant: Variant, stage: str, setup: Setup, dataset_name: str) -> dict:
    flags = {**setup.train, **variant.train, **variant.stage_train.get(stage, {})}
    if setup.epochs_scale != 1.0 and "epochs" not in flags:
        from mlcap.protocol import ModelSpec

        epochs = method.recipe(stage, ModelSpec(labels=[]), dataset_name).epochs
        flags["epochs"] = max(1, round(epochs * setup.epochs_scale))
    return flags


def check_variants(variants: list[Variant], setup: Setup, dataset_name: str) -> None:
    """Every variant's stage and predict options validated, and its ``init_from`` stage one its
    source runs, before anything trains (a bad key is one line, not a traceback after hours)."""
    from mlcap.config import PredictOptions, TrainOptions, validated
    from mlcap.plugins import load_method

    stages = {}
    for variant in variants:
        method = load_method(variant.method)
        stages[variant.name] = stages_of(method, variant)
        for stage in stages[variant.name]:
            given = {"method": method.name, "data": setup.data, "run": setup.out, "seed": 0,
                     "method_options": dict(variant.method_options),
                     **_stage_flags(method, variant, stage, setup, dataset_name)}
            try:
                validated(TrainOptions, given)
            except MlcapError as e:
                raise MlcapError(f"variant {variant.name!r}, stage {stage}: {e}") from None
        try:
            validated(PredictOptions, {"run": setup.out, "data": setup.data, **variant.predict})
        except MlcapError as e:
            raise MlcapError(f"variant {variant.name!r}, predict: {e}") from None
        if "beam" in variant.predict and method.default_beam is None \
                and variant.train.get("task") != "caption":
            raise MlcapError(f"variant {variant.name!r}: method {method.name} decodes without a beam search (beam)")
        if variant.init_from:
            source, _, stage = variant.init_from.rpartition(":")
            if source in stages and stage not in stages[source]:
                raise MlcapError(f"variant {variant.name!r}: init_from {variant.init_from!r}, but {source!r} runs "
                                 f"{', '.join(stages[source])}")


def _train(method, variant: Variant, seed: int, run: Path, setup: Setup, resume: bool, dataset_name: str) -> None:
    from mlcap.config import TrainOptions, resolve
    from mlcap.training.loop import train_stage

    for i, stage in enumerate(stages_of(method, variant)):
        given = {"method": method.name, "data": setup.data, "run": run, "seed": seed, "device": setup.device,
                 "features": setup.features, "method_options": dict(variant.method_options),
                 **_stage_flags(method, variant, stage, setup, dataset_name)}
        if i == 0:
            given.update(backbone=setup.backbone, weights=setup.weights)
            if variant.init_from:
                source, _, source_stage = variant.init_from.rpartition(":")
                given["init_from"] = setup.run_dir(Variant(source, "").slug, seed) / f"{source_stage}.best.pt"
        if resume and committed(run / f"{stage}.pt").exists():
            given["resume"] = True
        train_stage(stage, resolve(TrainOptions, stage, given, None))


def _predict(variant: Variant, run: Path, setup: Setup) -> Path:
    from mlcap.config import PredictOptions
    from mlcap.inference.records import predict_rows

    opts = PredictOptions(run=run, data=setup.data, split=setup.split, features=setup.features,
                          device=setup.device, **variant.predict)
    path = run / f"{setup.split}.jsonl"
    remove_orphans(run, note, names=(path.name,))
    write_atomic(path, lambda f: f.writelines((json.dumps(row) + "\n").encode() for row in predict_rows(opts)),
                 "predictions")
    return path


def _throughput(run: Path, stages: list[str]) -> tuple[float, float | None]:
    """Training seconds and images/s, from the stages' histories."""
    seconds = images = 0.0
    for stage in stages:
        path = run / f"{stage}.history.jsonl"
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            row = json.loads(line)
            seconds += row.get("seconds", 0.0)
            images += row.get("seconds", 0.0) * row.get("images_per_s", 0.0)
    return round(seconds, 1), (round(images / seconds, 1) if seconds else None)


def learnt_nothing(run: Path, variant: Variant) -> bool:
    """Whether the checkpoint the run predicted with is silent at its threshold: it emits no label for
    (almost) every validation image, or the same labels for all (``val_at_threshold.silent`` of its
    metadata, mlcap/training/silence.py)."""
    from mlcap.plugins import load_method
    from mlcap.training.checkpoint import read_meta
    from mlcap.training.run import RunDir

    runs = RunDir(run)
    stage = variant.predict.get("stage") or runs.latest_complete(load_method(variant.method).stages, repair=False)
    if stage is None:
        return False
    path = runs.checkpoint_path(stage) if variant.predict.get("checkpoint") == "last" else runs.best_path(stage)
    meta = read_meta(path, repair=False) or {}
    return bool((meta.get("val_at_threshold") or {}).get("silent"))


def _write(path: Path, obj: dict) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1, default=str), "run record")


def expected_provenance(variant: Variant, seed: int, setup: Setup) -> dict:
    """What the run of ``variant`` for ``seed`` records, and must match to be reused."""
    request = {**variant.request(), "seed": seed, "epochs_scale": setup.epochs_scale, "backbone": setup.backbone,
               "weights": setup.weights, "split": setup.split, "sources": _sources(variant, seed, setup)}
    shared = {k: v for k, v in setup.train.items() if k not in variant.train}
    if shared:                      # absent when none, so that runs made before these flags still match
        request["shared"] = shared
    return prov.provenance(request, setup.data, setup.features, setup.code or prov.code_state())


def ensure_run(variant: Variant, seed: int, setup: Setup, dataset_name: str) -> tuple[Path, dict]:
    """The run of ``variant`` for ``seed``, trained and predicted unless a matching one exists;
    ``(its predictions, its provenance)``."""
    from mlcap.plugins import load_method

    method = load_method(variant.method)
    run = setup.run_dir(variant.slug, seed)
    expected = expected_provenance(variant, seed, setup)
    preds = run / f"{setup.split}.jsonl"
    if prov.matches(run, expected):
        note(f"compare: {variant.name} seed {seed}: reusing {run}")
        if not preds.is_file():
            _predict(variant, run, setup)
        return preds, json.loads((run / "provenance.json").read_text())
    differs = prov.differences(run, expected) if run.exists() else []
    resume = differs == ["incomplete"]
    if run.exists() and not resume:
        note(f"compare: {variant.name} seed {seed}: training again ({', '.join(differs)} changed)")
        shutil.rmtree(run)
    if variant.copy_from and not resume:
        _copy_run(setup.run_dir(Variant(variant.copy_from, "").slug, seed), run, method, stages_of(method, variant)[0])
    run.mkdir(parents=True, exist_ok=True)
    _write(run / "provenance.json", {**expected, "complete": False})
    stages = stages_of(method, variant)
    _train(method, variant, seed, run, setup, resume, dataset_name)
    preds = _predict(variant, run, setup)
    seconds, rate = _throughput(run, stages)
    recipes = {}
    for stage in stages:
        config = run / f"{stage}.config.json"
        if config.is_file():
            recipes[stage] = json.loads(config.read_text()).get("recipe")
    record = {**expected, "complete": True, "recipes": recipes,
              "result": {"train_seconds": seconds, "images_per_s": rate, "task": _task(run)}}
    _write(run / "provenance.json", record)
    return preds, record


def _sources(variant: Variant, seed: int, setup: Setup) -> dict:
    """The provenance digests of the runs a variant starts from: retraining one retrains it."""
    import hashlib

    out = {}
    for ref in variant.sources:
        path = setup.run_dir(Variant(ref, "").slug, seed) / "provenance.json"
        out[ref] = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None
    return out


def _copy_run(source: Path, run: Path, method, first_stage: str) -> None:
    """``copy_from``: the source run's run.json and the stages before ``first_stage`` (checkpoints,
    configs, histories), so that the variant continues that run with its own stages."""
    from mlcap.training.run import RunDir

    if not (source / "run.json").is_file():
        raise MlcapError(f"copy_from: {source} has no run to copy")
    run.mkdir(parents=True, exist_ok=True)
    earlier = method.stages[: method.stages.index(first_stage)]
    for path in [source / "run.json", source / "val_ids.json"] + [
            p for stage in earlier for p in RunDir(source).stage_files(stage)]:
        if path.is_file():
            shutil.copy2(path, run / path.name)


def _task(run: Path) -> str:
    try:
        return json.loads((run / "run.json").read_text())["spec"].get("task", "multilabel")
    except (OSError, ValueError, KeyError) as e:
        raise MlcapError(f"{run}: no readable run.json after training ({e})") from None
