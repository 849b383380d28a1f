"""What a stage starts from: the run's model spec (fixed by its first stage), the stage's
method options, and the initial weights (resumed, ``--init-from``, or the previous stage's)."""

from __future__ import annotations

from dataclasses import replace

import torch

from mlcap.config import STRUCTURAL, TrainOptions
from mlcap.data.prepared import PreparedDataset
from mlcap.errors import MlcapError
from mlcap.models import backbone_input
from mlcap.progress import note
from mlcap.protocol import UNK_WORD, ModelSpec
from mlcap.training.checkpoint import load_checkpoint, load_weights, read_checkpoint
from mlcap.training.init_from import init_from
from mlcap.training.run import RunDir


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise MlcapError("--device cuda: no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        from mlcap.training import distributed

        return torch.device("cuda", distributed.local_rank())   # one GPU per rank under torchrun
    return torch.device(name)


def _new_spec(method, data: PreparedDataset, opts: TrainOptions) -> ModelSpec:
    backbone = opts.backbone or "smallcnn"
    size = opts.image_size or backbone_input(backbone).default_size
    train = data.samples("train")
    if not train:
        raise MlcapError(f"{data.root}: the train split is empty")
    max_len = opts.max_len or max(len(s.labels) for s in train) + 2
    use_tags = bool(opts.use_tags)
    if use_tags and not data.tags:
        raise MlcapError(f"{data.root}: --use-tags, but the dataset has no tag vocabulary")
    task = opts.task or "multilabel"
    if task not in method.tasks:
        raise MlcapError(f"--task {task}: method {method.name!r} does not do it "
                         f"(its tasks: {', '.join(method.tasks)})")
    words: list[str] = []
    if task == "caption":
        from mlcap.datasets.captions import build_vocabulary, word_counts

        counts = word_counts(c for s in train for c in s.captions)
        if not counts:
            raise MlcapError(f"{data.root}: --task caption, but the training split has no captions")
        size_limit = opts.vocab_size if opts.vocab_size is not None else 12000
        words = [UNK_WORD] + build_vocabulary(counts, size_limit, opts.min_count)
    options = dict(opts.method_options)
    method.options(ModelSpec(labels=[], options=options))   # fail before the run exists
    return ModelSpec(labels=data.labels, num_tags=len(data.tags) if use_tags else 0, backbone=backbone,
                     image_size=size, weights=str(opts.weights) if opts.weights else None, max_len=max_len,
                     use_tags=use_tags, options=options, task=task, words=words,
                     **label_counts(data))


def label_counts(data: PreparedDataset) -> dict[str, list[int]]:
    """Per label, the training images where it is positive and where its value is known (for
    positive ratios, e.g. bce's loss=weighted)."""
    train = data.samples("train")
    positive, unknown = [0] * len(data.labels), [0] * len(data.labels)
    for sample in train:
        for label in sample.labels:
            positive[data.label_index[label]] += 1
        for label in sample.unknown:
            unknown[data.label_index[label]] += 1
    return {"label_counts": positive, "label_known": [len(train) - u for u in unknown]}


def spec_for_stage(run: RunDir, method, data: PreparedDataset, opts: TrainOptions) -> ModelSpec:
    """The run's spec (a first stage's: new, written by ``create_run`` once every check passed); a
    later stage may change the options that are not structural (loss weights, ...) for itself, and
    is refused a structural change."""
    if run.info() is None:
        return _new_spec(method, data, opts)
    info = run.check(method.name, data.labels)
    spec = run.spec()
    created = info.get("created_with", {})
    for key in STRUCTURAL:
        given = getattr(opts, key)
        if given is None:
            continue
        current = created.get(key, getattr(spec, key, None)) if key in ("vocab_size", "min_count") \
            else getattr(spec, key)
        if str(given) != str(current):
            raise MlcapError(f"{run.root}: run has {key}={current!r}, fixed by its first stage; "
                             f"cannot change it to {given!r}")
    if opts.method_options:
        spec = replace(spec, options=merged_method_options(method, spec, opts.method_options))
    return spec


def create_run(run: RunDir, method, data: PreparedDataset, spec: ModelSpec, opts: TrainOptions) -> None:
    """A first stage's ``run.json`` (nothing to do for a later stage)."""
    if run.info() is None:
        run.create(method.name, data.name, spec, {"vocab_size": opts.vocab_size or 12000,
                                                  "min_count": opts.min_count})


def merged_method_options(method, spec: ModelSpec, given: dict) -> dict:
    """The options for a later stage: ``given`` overrides the run's, except structural fields."""
    before = method.options(spec)
    after = method.options(replace(spec, options={**spec.options, **given}))
    for name, info in method.options_model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("structural") and getattr(before, name) != getattr(after, name):
            raise MlcapError(f"{method.name}: option {name!r} is fixed by the run's first stage "
                             f"({getattr(before, name)!r}); cannot change it to {getattr(after, name)!r}")
    return {**spec.options, **given}


def initial_model(method, run: RunDir, stage: str, spec: ModelSpec, opts: TrainOptions):
    """``(model, resume)``: ``resume`` is the stage's own ``Checkpoint``, read once, when continuing it."""
    torch.manual_seed(opts.seed)  # initialisation is a function of the seed
    ckpt_path = run.checkpoint_path(stage)
    earlier = method.stages[: method.stages.index(stage)]
    if opts.resume and ckpt_path.is_file() and run.stage_meta(stage) is not None:
        ckpt = read_checkpoint(ckpt_path)
        if ckpt.meta["method"] != method.name:
            raise MlcapError(f"{ckpt_path}: checkpoint of method {ckpt.meta['method']!r}, not {method.name!r}")
        model = method.build(replace(spec, weights=None))
        load_weights(model, ckpt.model, ckpt_path)
        return model, ckpt
    if opts.resume:
        note(f"{stage}: --resume, but {ckpt_path} does not exist: the stage starts from its beginning")
    if opts.init_from is not None:
        model = method.build(replace(spec, weights=None))
        init_from(model, opts.init_from, method, spec)
        return model, None
    previous = run.latest_complete(earlier)
    model = method.build(replace(spec, weights=None) if previous else spec)
    if previous:
        path = run.best_path(previous) if run.best_path(previous).is_file() else run.checkpoint_path(previous)
        state, _, _ = load_checkpoint(path)
        load_weights(model, state, path)
        note(f"{stage}: starting from the {previous} checkpoint ({path.name})")
    elif earlier:
        note(f"{stage}: no earlier stage ({', '.join(earlier)}) in {run.root}; starting from scratch")
    return model, None
