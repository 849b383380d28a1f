"""``bce``: a CNN with one sigmoid per label, trained with binary cross-entropy.

Prediction emits every label whose probability reaches the threshold, most confident
first. The threshold is chosen on validation at the end of training (``--threshold auto``:
one for all labels, maximising the overall F1; ``auto-class``: one per label; or a number)
and stored in the run; ``predict --threshold`` overrides it; ``--option threshold=`` is the
fallback when there is no validation split.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mlcap.config import method_options
from mlcap.decoding import labels_at_or_above
from mlcap.losses import concept_bce
from mlcap.models import ConceptEncoder, create_backbone
from mlcap.protocol import Batch, Decoded, ModelSpec, Recipe


class BCEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(0.5, gt=0, lt=1)
    dropout: float = Field(0.0, ge=0, lt=1)


class BCEModel(nn.Module):
    def __init__(self, encoder: ConceptEncoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = None


class BCEMethod:
    name = "bce"
    summary = "CNN + per-label sigmoid, threshold chosen on validation (baseline)"
    stages = ("pretrain-cnn",)
    stage_help = {"pretrain-cnn": "the CNN and its per-label sigmoid head, BCE"}
    options_model = BCEOptions
    threshold = "label"     # a per-label probability: emit the labels whose score reaches it
    orders = ()             # no label sequence: --order is refused

    def recipe(self, stage: str, spec: ModelSpec, dataset: str) -> Recipe:
        return Recipe(optimizer="adam", lr=1e-3, epochs=10, select_by="loss")

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
        loss = concept_bce(logits, batch)
        return {"loss": loss, "bce": loss}

    @torch.no_grad()
    def predict(self, model: BCEModel, batch: Batch, spec: ModelSpec) -> Decoded:
        threshold = spec.threshold if spec.threshold is not None else \
            method_options(BCEOptions, "bce", spec.options).threshold
        probs = torch.sigmoid(model.encoder.encode(batch).concept_logits.float())
        return Decoded(sequences=labels_at_or_above(probs, threshold), scores=probs)
