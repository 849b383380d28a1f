"""`mlcap predict`'s records: one JSON object per image of a prepared split or of image files
(with ``--attention``, the maps of either: mlcap/inference/attention_maps.py).

    {"id": ..., "labels": [emitted order, duplicates removed],
     "scores": {label: probability}, "duplicates": n}

``duplicates`` counts the repeats removed from the raw emitted sequence, so
that the duplicate ratio can be computed from the file alone.
"""

from __future__ import annotations

from typing import Iterator

from mlcap.config import PredictOptions
from mlcap.data.loader import SkipLog, batch_to_device, make_loader
from mlcap.data.pipeline import resolve_workers
from mlcap.data.prepared import PreparedDataset
from mlcap.errors import MlcapError
from mlcap.features.feature_loader import make_feature_loader
from mlcap.features.store import check_feature_options
from mlcap.inference.predictor import Predictor
from mlcap.progress import note, progress_bar
from mlcap.training import distributed
from mlcap.training.run import RunDir


def _check_features_fit(run: RunDir, method, stage: str, features) -> None:
    """Cached features are those of the run's initial backbone: a stage that trained the backbone
    makes them wrong for this model."""
    from mlcap.features.cache_file import check_cache_fits

    check_cache_fits(features, run.spec().weights, run.spec().image_size)
    for earlier in method.stages[: method.stages.index(stage) + 1]:
        meta = run.stage_meta(earlier, repair=False)
        if meta is not None and meta.get("backbone_frozen") is False:
            raise MlcapError(f"--features {features}: stage {earlier} of {run.root} trained the backbone, so "
                             "features of the initial backbone are not what this model sees; predict from images")


def _predictor(opts: PredictOptions, labels: list[str] | None) -> Predictor:
    check_feature_options(opts.features, opts.features_memory, opts.features_dtype)
    return Predictor(opts.run, opts.stage, opts.checkpoint, labels=labels, beam=opts.beam, threshold=opts.threshold,
                     device=opts.device, allow_stale=opts.allow_stale)


def _attention_writer(predictor: Predictor, folder, data: PreparedDataset | None = None, split: str = "",
                      paths: list | None = None):
    """``--attention`` of a prepared split (``data``, ``split``) or of image files (``paths``)."""
    from mlcap.inference.attention_maps import AttentionWriter

    size = predictor.spec.image_size
    if paths is not None:
        return AttentionWriter.for_files(folder, paths, size)
    return AttentionWriter.for_split(folder, data, split, size)


def _predicted(predictor: Predictor, loader, total: int, what: str, source: str, attention=None) -> Iterator[dict]:
    """Records of every batch of ``loader``, progress on stderr; skipped images counted and reported."""
    skips, written = SkipLog(), 0
    with progress_bar(f"predict {predictor.method.name} ({predictor.stage})", total=total) as advance:
        for batch, skipped in loader:
            skips.add(skipped)
            if batch is not None:
                written += len(batch.ids)
                batch = batch_to_device(batch, predictor.device)
                decoded = predictor.decode(batch, source)
                if attention is not None:
                    _write_attention(predictor, batch, decoded, attention)
                yield from predictor.records(batch.ids, decoded)
            advance((len(batch.ids) if batch is not None else 0) + len(skipped))
    if written == 0:
        raise MlcapError(f"predict: none of the {total} images of {what} could be read ({skips.summary()})")
    if predictor.images_with_duplicates:
        note(f"predict: removed repeated labels from {predictor.images_with_duplicates} of {written} sequences")
    if skips.count:
        note(f"predict: {skips.summary()} (no prediction written for them)")
    if attention is not None:
        note(attention.summary())


def _write_attention(predictor: Predictor, batch, decoded, attention) -> None:
    import torch

    with torch.no_grad():
        maps = predictor.method.attention_maps(predictor.model, batch, predictor.spec,
                                                   predictor.decode_options, decoded)
    if maps is None:        # known at the first batch, before any record is written
        raise MlcapError(f"--attention: a {predictor.method.name} {predictor.stage} checkpoint has no attention maps")
    for image_id, raw, m in zip(batch.ids, decoded.sequences, maps):
        attention.write(image_id, [predictor.labels[k] for k in raw], m)


def predict_rows(opts: PredictOptions) -> Iterator[dict]:
    """Records for a prepared split (images, or ``--features``)."""
    data = PreparedDataset(opts.data)
    n = len(data.samples(opts.split))
    if n == 0:
        raise MlcapError(f"{data.root}: split {opts.split!r} has no images: nothing to predict")
    predictor = _predictor(opts, data.labels)
    attention = None
    if opts.attention is not None:
        attention = _attention_writer(predictor, opts.attention, data, opts.split)
    spec = predictor.spec
    share = distributed.shard(list(range(n))) if distributed.active() else None   # this rank's images
    if opts.features is not None:
        _check_features_fit(RunDir(opts.run), predictor.method, predictor.stage, opts.features)
        spatial = attention is not None or predictor.method.stage_inputs(predictor.stage, spec).spatial
        loader = make_feature_loader(opts.features, data, opts.split, spec.backbone, opts.batch_size, indices=share,
                                     memory=opts.features_memory, dtype=opts.features_dtype, spatial=spatial)
        source = f"the features in {opts.features}"
    else:
        data.check_image_root()
        loader = make_loader(data, opts.split, spec.image_size, predictor.mean, predictor.std, opts.batch_size,
                             num_workers=resolve_workers(opts.num_workers, predictor.device), indices=share,
                             device=predictor.device, decode=opts.decode)
        source = "the image"
    rows = _predicted(predictor, loader, n if share is None else len(share), f"split {opts.split!r}", source,
                      attention)
    if share is None:
        yield from rows
    else:
        yield from _gathered(rows, [s.id for s in data.samples(opts.split)])


def _gathered(rows: Iterator[dict], split_ids: list[str]) -> Iterator[dict]:
    """Under torchrun: every rank's records, on rank 0, in the split's order (none on the others)."""
    parts = distributed.gather_objects(list(rows))
    if not distributed.is_main():
        return
    position = {image_id: k for k, image_id in enumerate(split_ids)}
    yield from sorted((r for part in parts for r in part), key=lambda r: position[r["id"]])


def image_rows(opts: PredictOptions, paths: list) -> Iterator[dict]:
    """Records for image files (``predict --images``): no prepared dataset; ``--attention`` maps
    in ``DIR/<n>_<file stem>/``."""
    predictor = _predictor(opts, None)
    loader = predictor.image_loader(paths, opts.batch_size, resolve_workers(opts.num_workers, predictor.device))
    attention = None if opts.attention is None else _attention_writer(predictor, opts.attention, paths=paths)
    yield from _predicted(predictor, loader, len(paths), "--images", "the image", attention)
