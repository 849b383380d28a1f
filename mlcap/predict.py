"""`mlcap predict`: one JSON object per image on stdout.

    {"id": ..., "labels": [emitted order, duplicates removed],
     "scores": {label: probability}, "duplicates": n}

``duplicates`` counts the repeats removed from the raw emitted sequence, so
that the duplicate ratio can be computed from the file alone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator

import torch

from mlcap.config import PredictOptions
from mlcap.data.loader import SkipLog, batch_to_device, make_loader
from mlcap.data.prepared import PreparedDataset
from mlcap.errors import MlcapError
from mlcap.models import backbone_input
from mlcap.plugins import load_method
from mlcap.progress import note, progress_bar
from mlcap.training.checkpoint import load_checkpoint, load_weights
from mlcap.features import make_feature_loader
from mlcap.training.setup import pick_device
from mlcap.training.run import RunDir, check_labels


def dedupe(sequence: list[int]) -> list[int]:
    seen, out = set(), []
    for label in sequence:
        if label not in seen:
            seen.add(label)
            out.append(label)
    return out


def load_trained(run: RunDir, stage: str | None, labels: list[str], checkpoint: str = "best"):
    """``(method, model, spec, stage)`` from a run's latest complete stage (or ``stage``): its best
    weights on validation (``checkpoint="last"``: its last), with the threshold stored with them."""
    info = run.require_info()
    method = load_method(info["method"])
    check_labels(info["spec"]["labels"], labels, str(run.root))
    if stage is None:
        stage = run.latest_complete(method.stages)
        if stage is None:
            raise MlcapError(f"{run.root}: no completed stage to predict with (stages: {', '.join(method.stages)})")
    elif stage not in method.stages:
        raise MlcapError(f"method {method.name!r} has no stage {stage!r}")
    path = run.best_path(stage) if checkpoint == "best" else run.checkpoint_path(stage)
    if checkpoint == "best" and not path.is_file():
        path = run.checkpoint_path(stage)       # a run trained before best checkpoints existed
    state, _, meta = load_checkpoint(path)
    if meta.get("labels") is not None:
        check_labels(meta["labels"], labels, str(path))
    spec = replace(run.spec(), weights=None, options=meta.get("method_options", run.spec().options),
                   threshold=meta.get("threshold"), stage=stage)
    model = method.build(spec)
    if meta.get("method") != method.name:
        raise MlcapError(f"{path}: checkpoint of method {meta.get('method')!r}, "
                         f"but the run is {method.name!r}")
    load_weights(model, state, path)
    return method, model, spec, stage


def _check_features_fit(run: RunDir, method, stage: str, features) -> None:
    """Cached features are those of the run's initial backbone: a stage that trained the backbone
    makes them wrong for this model."""
    from mlcap.features import check_cache_weights

    check_cache_weights(features, run.spec().weights)
    for earlier in method.stages[: method.stages.index(stage) + 1]:
        meta = run.stage_meta(earlier)
        if meta is not None and meta.get("backbone_frozen") is False:
            raise MlcapError(f"--features {features}: stage {earlier} of {run.root} trained the backbone, so "
                             "features of the initial backbone are not what this model sees; predict from images")


def predict_rows(opts: PredictOptions) -> Iterator[dict]:
    data = PreparedDataset(opts.data)
    n = len(data.samples(opts.split))
    if n == 0:
        raise MlcapError(f"{data.root}: split {opts.split!r} has no images: nothing to predict")
    method, model, spec, stage = load_trained(RunDir(opts.run), opts.stage, data.labels, opts.checkpoint)
    if opts.beam is not None:
        if spec.task != "caption" and getattr(method, "default_beam", None) is None:
            raise MlcapError(f"--beam: method {method.name!r} decodes its labels without a beam search")
        spec = replace(spec, beam=opts.beam)
    if opts.threshold is not None:
        if getattr(method, "threshold", None) is None:
            raise MlcapError(f"--threshold: method {method.name!r} has no decision threshold")
        spec = replace(spec, threshold=opts.threshold)
    attention = None
    if opts.attention is not None:
        if getattr(method, "attention_maps", None) is None:
            raise MlcapError(f"--attention: method {method.name!r} has no attention maps")
        if spec.stage not in getattr(method, "attention_stages", method.stages):
            raise MlcapError(f"--attention: a {method.name} {stage} checkpoint has no attention "
                             f"(stages with attention: {', '.join(method.attention_stages)})")
        from mlcap.attention_maps import AttentionWriter

        attention = AttentionWriter(opts.attention, data, opts.split, spec.image_size)
    device = pick_device(opts.device)
    model.to(device).eval()
    mean, std, _ = backbone_input(spec.backbone)
    if opts.features is not None:
        _check_features_fit(RunDir(opts.run), method, stage, opts.features)
        loader = make_feature_loader(opts.features, data, opts.split, spec.backbone, opts.batch_size)
    else:
        data.check_image_root()
        loader = make_loader(data, opts.split, spec.image_size, mean, std, opts.batch_size,
                             num_workers=opts.num_workers)
    skips, n_dup_images, written = SkipLog(), 0, 0
    with progress_bar(f"predict {method.name} ({stage})", total=n) as advance, torch.no_grad():
        for batch, skipped in loader:
            skips.add(skipped)
            if batch is not None:
                written += len(batch.ids)
                batch = batch_to_device(batch, device)
                decoded = method.predict(model, batch, spec)
                if attention is not None:
                    maps = method.attention_maps(model, batch, spec, decoded)
                    for image_id, raw, m in zip(batch.ids, decoded.sequences, maps):
                        attention.write(image_id, [data.labels[k] for k in raw], m)
                if not bool(torch.isfinite(decoded.scores).all()):
                    bad = batch.ids[int((~torch.isfinite(decoded.scores)).any(1).nonzero()[0])]
                    source = f"the features in {opts.features}" if opts.features is not None else "the image"
                    raise MlcapError(f"predict: image {bad!r} has NaN or infinite scores (from {source}); "
                                     "nothing after it is written")
                scores = decoded.scores.float().cpu().tolist()
                if decoded.captions is not None:
                    for i, image_id in enumerate(batch.ids):
                        yield {"id": image_id, "caption": decoded.captions[i],
                               "concepts": {name: round(p, 5) for name, p in zip(data.labels, scores[i])}}
                    advance(len(batch.ids) + len(skipped))
                    continue
                for i, image_id in enumerate(batch.ids):
                    raw = decoded.sequences[i]
                    labels = dedupe(raw)
                    n_dup_images += len(raw) > len(labels)
                    yield {"id": image_id, "labels": [data.labels[k] for k in labels],
                           "scores": {name: round(p, 5) for name, p in zip(data.labels, scores[i])},
                           "duplicates": len(raw) - len(labels)}
            advance((len(batch.ids) if batch is not None else 0) + len(skipped))
    if written == 0:
        raise MlcapError(f"predict: none of the {n} images of split {opts.split!r} could be read ({skips.summary()})")
    if n_dup_images:
        note(f"predict: removed repeated labels from {n_dup_images} of {n} sequences")
    if skips.count:
        note(f"predict: {skips.summary()} (no prediction written for them)")
    if attention is not None:
        note(attention.summary())
