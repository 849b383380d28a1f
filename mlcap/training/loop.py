"""The one training loop, shared by every method and stage.

Determinism, for resume-after-kill equality on CPU: the global RNG and the
shuffling generator are re-seeded from ``(seed, epoch)`` at the start of each
epoch, and a checkpoint (model + optimizer) is written at the end of each.
A resumed run therefore replays exactly the epochs an uninterrupted run would.
"""

from __future__ import annotations

import math
import platform
import time
from collections import defaultdict
from dataclasses import replace

import torch

import mlcap
from mlcap.config import TrainOptions
from mlcap.data.loader import SkipLog, batch_to_device, make_loader
from mlcap.data.prepared import PreparedDataset
from mlcap.errors import MlcapError, TrainingDiverged
from mlcap.features import check_cache_weights, make_feature_loader
from mlcap.models import backbone_input
from mlcap.plugins import load_method
from mlcap.progress import note, progress_bar
from mlcap.protocol import UNK_WORD, ModelSpec
from mlcap.training.checkpoint import load_checkpoint, load_extra, save_checkpoint
from mlcap.training.run import RunDir, check_labels
from mlcap.training.swa import WeightAverager


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise MlcapError("--device cuda: no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def _spec_for_run(run: RunDir, method, data: PreparedDataset, opts: TrainOptions) -> ModelSpec:
    """The run's model spec: created by its first stage, checked by the later ones."""
    info = run.info()
    if info is None:
        backbone = opts.backbone or "smallcnn"
        size = opts.image_size or backbone_input(backbone).default_size
        train = data.samples("train")
        max_len = opts.max_len or max(len(s.labels) for s in train) + 2
        use_tags = bool(opts.use_tags)
        if use_tags and not data.tags:
            raise MlcapError(f"{data.root}: --use-tags, but the dataset has no tag vocabulary")
        task = opts.task or "multilabel"
        words: list[str] = []
        if task == "caption":
            from mlcap.datasets.captions import build_vocabulary, word_counts

            counts = word_counts(c for s in train for c in s.captions)
            if not counts:
                raise MlcapError(f"{data.root}: --task caption, but the training split has no captions")
            words = [UNK_WORD] + build_vocabulary(counts, opts.vocab_size, opts.min_count)
        spec = ModelSpec(labels=data.labels, num_tags=len(data.tags) if use_tags else 0, backbone=backbone,
                         image_size=size, weights=str(opts.weights) if opts.weights else None,
                         max_len=max_len, use_tags=use_tags, options=dict(opts.method_options), task=task,
                         words=words)
        run.create(method.name, data.name, spec)
        return spec
    run.check(method.name, data.labels)
    spec = run.spec()
    for key in ("backbone", "image_size", "use_tags", "task"):
        given = getattr(opts, key)
        if given is not None and given != getattr(spec, key):
            raise MlcapError(f"{run.root}: run has {key}={getattr(spec, key)!r}; cannot change it to {given!r}")
    return spec


def _init_from(model: torch.nn.Module, path) -> None:
    """Copy the weights of another checkpoint whose names and shapes match (e.g. a bce encoder)."""
    state, _, meta = load_checkpoint(path)
    own = model.state_dict()
    matching = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not matching:
        raise MlcapError(f"{path}: no weights of this {meta.get('method')!r} checkpoint fit the model")
    model.load_state_dict(matching, strict=False)
    note(f"initialised {len(matching)} of {len(own)} tensors from {path} ({meta.get('method')} {meta.get('stage')})")


def _freeze_batchnorm_of_frozen_modules(model: torch.nn.Module) -> None:
    """A frozen part stays frozen: its BatchNorm statistics must not drift either."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            if not any(p.requires_grad for p in m.parameters()):
                m.eval()


def train_stage(stage: str, opts: TrainOptions) -> dict:
    data = PreparedDataset(opts.data)
    method = load_method(opts.method)
    if stage not in method.stages:
        raise MlcapError(f"method {method.name!r} has no stage {stage!r} (its stages: {', '.join(method.stages)})")
    run = RunDir(opts.run)
    spec = _spec_for_run(run, method, data, opts)
    spec = replace(spec, freeze_cnn=opts.freeze_cnn)
    order = opts.order or getattr(method, "default_order", "rare")
    device = pick_device(opts.device)
    ckpt_path = run.checkpoint_path(stage)
    earlier = method.stages[: method.stages.index(stage)]

    start_epoch, optimizer_state = 0, None
    torch.manual_seed(opts.seed)  # initialisation is a function of the seed
    resume_meta = run.stage_meta(stage) if opts.resume and ckpt_path.is_file() else None
    if resume_meta is not None:
        state, optimizer_state, meta = load_checkpoint(ckpt_path)
        check_labels(meta["labels"], data.labels, str(ckpt_path))
        if meta["method"] != method.name:
            raise MlcapError(f"{ckpt_path}: checkpoint of method {meta['method']!r}, not {method.name!r}")
        if meta.get("complete") and meta["epoch"] >= opts.epochs:
            note(f"{stage}: already complete ({meta['epoch']} epochs) in {run.root}")
            return {"stage": stage, "epochs": meta["epoch"], "resumed": True, **meta.get("losses", {})}
        model = method.build(replace(spec, weights=None))
        model.load_state_dict(state)
        start_epoch = meta["epoch"]
        note(f"{stage}: resuming from {ckpt_path} after epoch {start_epoch}")
    elif opts.init_from is not None:
        model = method.build(replace(spec, weights=None))
        _init_from(model, opts.init_from)
    else:
        previous = run.latest_complete(earlier)
        model = method.build(replace(spec, weights=None) if previous else spec)
        if previous:
            state, _, meta = load_checkpoint(run.checkpoint_path(previous))
            model.load_state_dict(state)
            note(f"{stage}: starting from the {previous} checkpoint")
        elif earlier:
            note(f"{stage}: no earlier stage ({', '.join(earlier)}) in {run.root}; starting from scratch")
    run.save_config(stage, opts.model_dump(mode="json"))

    params = list(method.trainable_parameters(model, stage, spec))
    if opts.features is not None:
        check_cache_weights(opts.features, run.spec().weights)
    if opts.features is not None or opts.freeze_backbone:
        backbone = getattr(getattr(model, "encoder", None), "backbone", None)
        if backbone is None:
            raise MlcapError(f"method {method.name!r} has no encoder.backbone to freeze or replace by features")
        fixed = {id(p) for p in backbone.parameters()}
        params = [p for p in params if id(p) not in fixed]
    if not params:
        raise MlcapError(f"{stage}: method {method.name!r} trains no parameters in this stage")
    trainable = {id(p) for p in params}
    for p in model.parameters():
        p.requires_grad_(id(p) in trainable)
    model.to(device)
    optimizer = torch.optim.Adam(params, lr=opts.lr, weight_decay=opts.weight_decay)
    if optimizer_state:
        optimizer.load_state_dict(optimizer_state)
        for group in optimizer.param_groups:  # this invocation's options win over the saved ones
            group["lr"], group["weight_decay"] = opts.lr, opts.weight_decay

    mean, std, _ = backbone_input(spec.backbone)
    n_train = len(data.samples("train"))
    skips = SkipLog()
    epoch_losses: dict[str, float] = {}
    base_meta = {"method": method.name, "stage": stage, "labels": data.labels, "dataset": data.name,
                 "options": opts.model_dump(mode="json"), "versions": {
                     "mlcap": mlcap.__version__, "torch": torch.__version__, "python": platform.python_version()}}
    averager = WeightAverager(opts.lr, opts.lr_min, opts.swa_cycle) if opts.swa else None
    if averager and resume_meta is not None:
        averager.load_state(load_extra(ckpt_path).get("swa", {}))
    started = time.time()
    with progress_bar(f"{method.name} {stage}", total=(opts.epochs - start_epoch) * n_train) as advance:
        for epoch in range(start_epoch, opts.epochs):
            epoch_seed = opts.seed * 100_003 + epoch
            torch.manual_seed(epoch_seed)
            generator = torch.Generator().manual_seed(epoch_seed)
            if opts.features is not None:
                loader = make_feature_loader(opts.features, data, "train", spec.backbone, opts.batch_size,
                                             order=order, shuffle=True, generator=generator, words=spec.words)
            else:
                loader = make_loader(data, "train", spec.image_size, mean, std, opts.batch_size, order=order,
                                     shuffle=True, generator=generator, num_workers=opts.num_workers,
                                     words=spec.words)
            if averager:
                for group in optimizer.param_groups:
                    group["lr"] = averager.lr_at(epoch)
            model.train()
            _freeze_batchnorm_of_frozen_modules(model)
            sums: dict[str, float] = defaultdict(float)
            seen = 0
            for step, (batch, skipped) in enumerate(loader):
                skips.add(skipped)
                if batch is None:
                    advance(len(skipped))
                    continue
                batch = batch_to_device(batch, device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=opts.amp):
                    losses = method.stage_loss(model, batch, stage, spec)
                loss = losses["loss"]
                if not torch.isfinite(loss):
                    kept = f"kept {ckpt_path} (epoch {epoch})" if epoch > 0 else "no checkpoint was written"
                    raise TrainingDiverged(f"{stage}: loss is {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                                           f"stopped, {kept}; try a lower --lr")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                n = len(batch.ids)
                seen += n
                for k, v in losses.items():
                    sums[k] += float(v.detach()) * n
                advance(n + len(skipped), info=f"epoch {epoch + 1}/{opts.epochs} loss {sums['loss'] / seen:.4f}")
            epoch_losses = {k: v / max(seen, 1) for k, v in sums.items()}
            last = epoch + 1 == opts.epochs
            extra = {}
            if averager:
                averager.end_of_epoch(model, epoch)
                extra["swa"] = averager.state()
                if last:
                    swa_loader = (make_feature_loader(opts.features, data, "train", spec.backbone, opts.batch_size,
                                                      order=order) if opts.features is not None else
                                  make_loader(data, "train", spec.image_size, mean, std, opts.batch_size,
                                              order=order))
                    averager.apply(model, _batches(swa_loader, device))
                    note(f"{stage}: weights are the average of {averager.count} cycle ends (SWA)")
            save_checkpoint(ckpt_path, model.state_dict(), optimizer.state_dict(),
                            {**base_meta, "epoch": epoch + 1, "complete": last, "losses": epoch_losses,
                             "swa_averaged": averager.count if averager else 0}, extra=extra)
    if skips.count:
        note(f"{stage}: {skips.summary()}")
    return {"stage": stage, "method": method.name, "run": str(run.root), "epochs": opts.epochs,
            "seconds": round(time.time() - started, 1), "skipped_images": skips.count,
            **{k: round(v, 5) for k, v in epoch_losses.items() if math.isfinite(v)}}


def _batches(loader, device: torch.device):
    for batch, _ in loader:
        if batch is not None:
            yield batch_to_device(batch, device)
