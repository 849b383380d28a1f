"""``bce``: a CNN with one sigmoid per label, trained with binary cross-entropy.

Prediction emits every label whose probability reaches the threshold
(``[method-options] threshold``, default 0.5), most confident first.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mlcap.config import method_options
from mlcap.losses import concept_bce
from mlcap.models import ConceptEncoder, create_backbone
from mlcap.protocol import Batch, Decoded, ModelSpec


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
    summary = "CNN + per-label sigmoid, threshold 0.5 (baseline)"
    stages = ("pretrain-cnn",)

    def build(self, spec: ModelSpec) -> BCEModel:
        opts = method_options(BCEOptions, "bce", spec.options)
        backbone = create_backbone(spec.backbone, weights=spec.weights)
        return BCEModel(ConceptEncoder(backbone, len(spec.labels), spec.num_tags, dropout=opts.dropout))

    def trainable_parameters(self, model: BCEModel, stage: str, spec: ModelSpec):
        return model.parameters()

    def stage_loss(self, model: BCEModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        logits = model.encoder.encode(batch).concept_logits
        loss = concept_bce(logits, batch)
        return {"loss": loss, "bce": loss}

    @torch.no_grad()
    def predict(self, model: BCEModel, batch: Batch, spec: ModelSpec) -> Decoded:
        threshold = method_options(BCEOptions, "bce", spec.options).threshold
        probs = torch.sigmoid(model.encoder.encode(batch).concept_logits.float())
        sequences = []
        for row in probs.cpu():
            order = torch.argsort(row, descending=True)
            sequences.append([int(i) for i in order if row[i] >= threshold])
        return Decoded(sequences=sequences, scores=probs)
