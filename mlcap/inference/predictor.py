"""A trained run ready to predict (``Predictor``, ``load_run``): what `mlcap predict` (on a prepared
split or on image files), `mlcap export` and the Python API (``mlcap.load_run``) share.

A record is one JSON object per image:

    {"id": ..., "labels": [emitted order, duplicates removed], "scores": {label: probability},
     "duplicates": n}                                   (multi-label runs)
    {"id": ..., "caption": "...", "concepts": {concept: probability}}   (captioning runs)

A method that predicts no probabilities (``Decoded.has_scores`` false, e.g. scnnrnn's nic-f)
writes records without ``scores`` / ``concepts``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from mlcap.errors import MlcapError
from mlcap.models import backbone_input
from mlcap.plugins import default_beam, load_method
from mlcap.protocol import DecodeOptions
from mlcap.contract_checks import check_decoded, no_threshold_message
from mlcap.inference.stage_choice import pick_stage
from mlcap.training.checkpoint import load_checkpoint, load_weights
from mlcap.training.commit import resolve
from mlcap.training.run import RunDir, check_labels
from mlcap.training.setup import pick_device


def dedupe(sequence: list[int]) -> list[int]:
    seen, out = set(), []
    for label in sequence:
        if label not in seen:
            seen.add(label)
            out.append(label)
    return out


def load_trained(run: RunDir, stage: str | None, labels: list[str] | None, checkpoint: str = "best",
                 allow_stale: bool = False):
    """``(method, model, spec, decode)`` from a run's latest complete stage (or ``stage``): its best
    weights on validation (``checkpoint="last"``: its last), decoded with the threshold stored with them.
    ``labels``: a dataset's vocabulary, checked against the run's (None: the run's own). A stale stage
    is refused unless ``allow_stale`` (mlcap/inference/stage_choice.py)."""
    info = run.require_info()
    method = load_method(info["method"])
    if labels is not None:
        check_labels(info["spec"]["labels"], labels, str(run.root))
    stage = pick_stage(run, method, stage, allow_stale)
    path = run.best_path(stage) if checkpoint == "best" else run.checkpoint_path(stage)
    if checkpoint == "best" and not resolve(path).is_file():
        path = run.checkpoint_path(stage)       # a run trained before best checkpoints existed
    state, _, meta = load_checkpoint(path)
    if meta.get("labels") is not None:
        check_labels(meta["labels"], info["spec"]["labels"], str(path))
    spec = replace(run.spec(), weights=None, options=meta.get("method_options", run.spec().options))
    decode = DecodeOptions(stage=stage, beam=default_beam(method, spec.task), threshold=meta.get("threshold"))
    model = method.build(spec)
    if meta.get("method") != method.name:
        raise MlcapError(f"{path}: checkpoint of method {meta.get('method')!r}, "
                         f"but the run is {method.name!r}")
    load_weights(model, state, path)
    return method, model, spec, decode


class Predictor:
    """A run's trained model on a device, with its labels and preprocessing; ``records`` turns a
    batch into prediction records, ``predict`` takes image files, PIL images or tensors."""

    def __init__(self, run, stage: str | None = None, checkpoint: str = "best", *, labels: list[str] | None = None,
                 beam: int | None = None, threshold: float | None = None, device: str = "auto",
                 allow_stale: bool = False):
        if checkpoint not in ("best", "last"):
            raise MlcapError(f"checkpoint must be best or last, not {checkpoint!r}")
        self.run = RunDir(Path(run))
        self.method, self.model, spec, decode = load_trained(self.run, stage, labels, checkpoint, allow_stale)
        if beam is not None:
            if spec.task != "caption" and self.method.default_beam is None:
                raise MlcapError(f"--beam: method {self.method.name!r} decodes its labels without a beam search")
            decode = replace(decode, beam=beam)
        if threshold is not None:
            if self.method.threshold_kind(spec) is None:
                raise MlcapError(no_threshold_message(self.method, spec))
            decode = replace(decode, threshold=threshold)
        self.spec, self.decode_options, self.stage, self.labels = spec, decode, decode.stage, list(spec.labels)
        self.device = pick_device(device)
        self.model.to(self.device).eval()
        self.mean, self.std, _ = backbone_input(spec.backbone)
        self.images_with_duplicates = 0

    def __repr__(self) -> str:
        return f"Predictor({str(self.run.root)!r}, method={self.method.name!r}, stage={self.stage!r})"

    @torch.no_grad()
    def decode(self, batch, source: str = "the image"):
        """The method's ``Decoded`` for a batch already on the device; non-finite scores are an error
        (``source`` names the input)."""
        decoded = check_decoded(self.method, self.method.predict(self.model, batch, self.spec, self.decode_options),
                                batch, self.spec)
        if not bool(torch.isfinite(decoded.scores).all()):
            bad = batch.ids[int((~torch.isfinite(decoded.scores)).any(1).nonzero()[0])]
            raise MlcapError(f"predict: image {bad!r} has NaN or infinite scores (from {source}); "
                             "nothing after it is written")
        return decoded

    def records(self, ids: list, decoded) -> list[dict]:
        """Prediction records (see the module's docstring) of ``decoded`` for the images ``ids``."""
        if decoded.has_scores:
            scores = decoded.scores.float().cpu().tolist()
            rounded = [{name: round(p, 5) for name, p in zip(self.labels, row)} for row in scores]
        else:
            rounded = [None] * len(ids)
        key = "concepts" if decoded.captions is not None else "scores"
        with_scores = lambda row, probs: row if probs is None else {**row, key: probs}  # noqa: E731
        if decoded.captions is not None:
            return [with_scores({"id": image_id, "caption": caption}, concepts)
                    for image_id, caption, concepts in zip(ids, decoded.captions, rounded)]
        rows = []
        for image_id, raw, row_scores in zip(ids, decoded.sequences, rounded):
            labels = dedupe(raw)
            self.images_with_duplicates += len(raw) > len(labels)
            row = with_scores({"id": image_id, "labels": [self.labels[k] for k in labels]}, row_scores)
            rows.append({**row, "duplicates": len(raw) - len(labels)})
        return rows

    def image_loader(self, images: list, batch_size: int = 32, num_workers: int = 0):
        """Batches of ``images`` (paths, PIL images or image tensors); see ``mlcap.data.image_files``."""
        from mlcap.data.image_files import make_image_loader

        if self.spec.use_tags:
            raise MlcapError(f"{self.run.root}: this run takes noisy tags as input (--use-tags) and images alone "
                             "have none: predict from a prepared dataset (--data)")
        return make_image_loader(images, len(self.labels), self.spec.image_size, self.mean, self.std,
                                 batch_size, num_workers, self.device)

    def predict(self, images, batch_size: int = 32, ids: list | None = None) -> list[dict]:
        """Records for ``images`` (one path, PIL image or tensor, or a list of them), in their order;
        ``ids``: the records' ids (default: the paths as given, or the positions), e.g. a
        dataset's sample ids for ``mlcap.evaluate``. An unreadable file raises (the CLI skips and
        counts it instead)."""
        from mlcap.data.loader import batch_to_device

        items = images if isinstance(images, (list, tuple)) else [images]
        if ids is not None and len(ids) != len(items):
            raise MlcapError(f"predict: {len(ids)} ids for {len(items)} images")
        out = []
        for batch, skipped in self.image_loader(list(items), batch_size):
            if skipped:
                raise MlcapError(f"predict: {skipped[0]}")
            batch = batch_to_device(batch, self.device)
            out.extend(self.records(batch.ids, self.decode(batch)))
        if ids is not None:
            out = [{**record, "id": image_id} for record, image_id in zip(out, ids)]
        return out


def load_run(path, stage: str | None = None, checkpoint: str = "best", *, beam: int | None = None,
             threshold: float | None = None, device: str = "auto", allow_stale: bool = False) -> Predictor:
    """A trained run ready to predict (``mlcap.load_run``): ``.predict(images)`` takes image paths, PIL
    images or tensors ((3, H, W), float in [0, 1] or uint8) and returns one record per image;
    ``.labels``, ``.spec``, ``.decode_options``, ``.stage``, ``.model`` describe it. A stale stage is
    refused unless ``allow_stale``."""
    return Predictor(path, stage, checkpoint, beam=beam, threshold=threshold, device=device,
                     allow_stale=allow_stale)
