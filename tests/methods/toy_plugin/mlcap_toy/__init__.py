"""A toy method from outside mlcap: a CNN whose label head is trained alone, then with the CNN.

Two stages: ``pretrain-cnn`` trains the head on a frozen backbone, ``finetune`` trains both.
Labels are those whose sigmoid reaches the threshold (chosen on validation by mlcap). Its
attention map per label is the backbone's feature map weighted by the label's head weights.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mlcap.nn import ConceptEncoder, create_backbone
from mlcap.nn.decoding import labels_at_or_above, padded_labels_at_or_above
from mlcap.nn.losses import concept_bce
from mlcap.protocol import Batch, DecodeOptions, Decoded, Method, ModelSpec, Recipe, images_only


class ToyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5)    # targets pulled towards 0.5 by this much


class ToyModel(nn.Module):
    def __init__(self, encoder: ConceptEncoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = None


class ToyMethod(Method):
    name = "toy"
    summary = "a toy CNN head (the conformance suite's own out-of-tree plugin)"
    stages = ("pretrain-cnn", "finetune")
    stage_help = {"pretrain-cnn": "the label head on a frozen CNN", "finetune": "the CNN and its head"}
    options_model = ToyOptions
    orders = ()

    def threshold_kind(self, spec: ModelSpec) -> str | None:
        return "label"

    def recipe(self, stage: str, spec: ModelSpec, dataset: str) -> Recipe:
        return Recipe(optimizer="adam", lr=1e-3, epochs=2, select_by="loss")

    def build(self, spec: ModelSpec) -> ToyModel:
        return ToyModel(ConceptEncoder(create_backbone(spec.backbone, weights=spec.weights), len(spec.labels)))

    def parameter_groups(self, model: ToyModel, stage: str, spec: ModelSpec) -> dict:
        backbone = list(model.encoder.backbone.parameters())
        fixed = {id(p) for p in backbone}
        head = [p for p in model.parameters() if id(p) not in fixed]
        return {"head": head} if stage == "pretrain-cnn" else {"backbone": backbone, "head": head}

    def logits(self, model: ToyModel, batch: Batch) -> torch.Tensor:
        return model.encoder.encode(batch).concept_logits.float()

    def stage_loss(self, model: ToyModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        smoothing = self.options(spec).label_smoothing
        targets = batch.targets * (1 - 2 * smoothing) + smoothing
        loss = concept_bce(self.logits(model, batch), Batch(batch.ids, None, targets, batch.sequences,
                                                            mask=batch.mask))
        return {"loss": loss, "bce": loss}

    def cut(self, decode: DecodeOptions) -> float:
        return decode.threshold if decode.threshold is not None else 0.5

    @torch.no_grad()
    def predict(self, model: ToyModel, batch: Batch, spec: ModelSpec, decode: DecodeOptions) -> Decoded:
        probs = torch.sigmoid(self.logits(model, batch))
        return Decoded(sequences=labels_at_or_above(probs, self.cut(decode)), scores=probs)

    def export_outputs(self, model: ToyModel, images: torch.Tensor, spec: ModelSpec,
                       decode: DecodeOptions) -> dict:
        probs = torch.sigmoid(self.logits(model, images_only(images)))
        return {"scores": probs, "sequence": padded_labels_at_or_above(probs, self.cut(decode))}

    @torch.no_grad()
    def attention_maps(self, model: ToyModel, batch: Batch, spec: ModelSpec, decode: DecodeOptions,
                       decoded: Decoded) -> list:
        """Per image (L, h, w): the feature map weighted by each emitted label's head weights."""
        spatial = model.encoder.encode(batch).spatial.float()              # (B, C, h, w)
        head = model.encoder.concept_head.weight.float()                   # (K, C)
        return [torch.einsum("lc,chw->lhw", head[labels], spatial[i]) for i, labels in enumerate(decoded.sequences)]
