"""The CNN alone with per-label sigmoid thresholds: the baseline every table needs.

``bce``: a CNN with one output per label, trained with binary cross-entropy (or, with
``--option loss=...``, the seeds' other CNN baselines: ``softmax``, ``warp``, ``weighted``;
see ``mlcap_bce.losses``).

Prediction: with ``loss=bce|weighted`` every label whose probability reaches the threshold,
most confident first. The threshold is chosen on validation at the end of training
(``--threshold auto``: one for all labels, maximising the overall F1; ``auto-class``: one per
label; or a number) and stored in the run; ``predict --threshold`` overrides it; ``--option
threshold=`` is the fallback when there is no validation split. With ``loss=softmax|warp``
the ``top_k`` highest-scoring labels (default 3, as the seed tables score them); ``top_k=0``
uses the threshold instead. Scores: the sigmoid of each output (softmax: the softmax).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from mlcap.nn import ConceptEncoder, EncoderDecoder, create_backbone
from mlcap.nn.decoding import labels_at_or_above, padded_labels_at_or_above, top_k_labels
from mlcap.nn.losses import concept_bce
from mlcap.protocol import (Batch, DecodeOptions, Decoded, Method, MlcapError, ModelSpec, Recipe, StageInputs,
                            images_only, method_options, structural)

from mlcap_bce import losses


class BCEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(0.5, gt=0, lt=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    loss: Literal["bce", "softmax", "warp", "weighted"] = structural("bce")
    top_k: int | None = Field(None, ge=0)   # labels predicted; default 3 for softmax and warp, else 0 (threshold)


def _options(spec: ModelSpec) -> BCEOptions:
    return method_options(BCEOptions, "bce", spec.options)


def _top_k(opts: BCEOptions) -> int:
    return opts.top_k if opts.top_k is not None else (3 if opts.loss in ("softmax", "warp") else 0)


def positive_ratio(spec: ModelSpec) -> torch.Tensor:
    """p_l = training images where label l is positive / those where its value is known (``loss=weighted``)."""
    if len(spec.label_counts) != len(spec.labels) or len(spec.label_known) != len(spec.labels):
        raise MlcapError("bce loss=weighted: this run records no training label counts (made by an older mlcap); "
                         "start a new run")
    known = torch.tensor(spec.label_known, dtype=torch.float32).clamp(min=1)
    return torch.tensor(spec.label_counts, dtype=torch.float32) / known


class BCEModel(EncoderDecoder):
    """The CNN and its concept head; no decoder."""


class BCEMethod(Method):
    name = "bce"
    summary = "CNN + per-label sigmoid, threshold chosen on validation (baseline)"
    stages = ("pretrain-cnn",)
    stage_help = {"pretrain-cnn": "the CNN and its per-label sigmoid head, BCE"}
    options_model = BCEOptions
    orders = ()             # no label sequence: --order is refused

    def threshold_kind(self, spec: ModelSpec) -> str | None:
        """A per-label probability: emit the labels whose score reaches it; None with a top-k decoding
        (softmax and warp by default): no threshold is chosen or taken."""
        return None if _top_k(_options(spec)) > 0 else "label"

    def recipe(self, stage: str, spec: ModelSpec, dataset: str) -> Recipe:
        return Recipe(optimizer="adam", lr=1e-3, epochs=10, select_by="loss")

    def stage_inputs(self, stage: str, spec: ModelSpec) -> StageInputs:
        """The concept head sees the pooled features only, so ``--features`` never reads the spatial maps."""
        return StageInputs(spatial=False)

    def parameter_groups(self, model: BCEModel, stage: str, spec: ModelSpec):
        backbone = list(model.encoder.backbone.parameters())
        fixed = {id(p) for p in backbone}
        return {"backbone": backbone, "heads": [p for p in model.parameters() if id(p) not in fixed]}

    def build(self, spec: ModelSpec) -> BCEModel:
        opts = method_options(BCEOptions, "bce", spec.options)
        backbone = create_backbone(spec.backbone, weights=spec.weights)
        return BCEModel(ConceptEncoder(backbone, len(spec.labels), spec.num_tags, dropout=opts.dropout))

    def stage_loss(self, model: BCEModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        logits = model.encoder.encode(batch).concept_logits
        kind = _options(spec).loss
        if kind == "softmax":
            loss = losses.softmax_cross_entropy(logits, batch)
        elif kind == "warp":
            loss = losses.warp(logits, batch)
        elif kind == "weighted":
            loss = losses.weighted_bce(logits, batch, positive_ratio(spec))
        else:
            loss = concept_bce(logits, batch)
        return {"loss": loss, kind: loss}

    @torch.no_grad()
    def predict(self, model: BCEModel, batch: Batch, spec: ModelSpec, decode: DecodeOptions) -> Decoded:
        opts = _options(spec)
        logits = model.encoder.encode(batch).concept_logits.float()
        probs = torch.softmax(logits, dim=1) if opts.loss == "softmax" else torch.sigmoid(logits)
        if _top_k(opts) > 0:
            return Decoded(sequences=top_k_labels(probs, _top_k(opts)), scores=probs)
        threshold = decode.threshold if decode.threshold is not None else opts.threshold
        return Decoded(sequences=labels_at_or_above(probs, threshold), scores=probs)

    def export_outputs(self, model: BCEModel, images: torch.Tensor, spec: ModelSpec,
                       decode: DecodeOptions) -> dict:
        """``predict`` with tensor operations only (``mlcap export``)."""
        opts = _options(spec)
        logits = model.encoder.encode(images_only(images)).concept_logits.float()
        probs = torch.softmax(logits, dim=1) if opts.loss == "softmax" else torch.sigmoid(logits)
        if _top_k(opts) > 0:
            return {"scores": probs, "sequence": probs.topk(min(_top_k(opts), probs.shape[1]), dim=1).indices}
        threshold = decode.threshold if decode.threshold is not None else opts.threshold
        return {"scores": probs, "sequence": padded_labels_at_or_above(probs, threshold)}
