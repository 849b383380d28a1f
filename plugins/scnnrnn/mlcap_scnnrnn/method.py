"""Stages of S-CNN-RNN.

* ``pretrain-cnn``: the CNN's concept head, BCE on the label vector (deep supervision of s).
* ``pretrain-rnn``: the LSTM alone, fed the *ground-truth* concept vector, teacher forcing.
* ``finetune``: both, with the joint loss L_u (BCE on s) + L_r (sequence cross-entropy);
  gradients of L_r reach the CNN through s. ``--freeze-cnn`` trains the LSTM only
  (the paper's "Fix" variant).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mlcap.losses import concept_bce
from mlcap.errors import MlcapError
from mlcap.models import ConceptEncoder, create_backbone
from mlcap.alignment import aligned_cross_entropy
from mlcap.protocol import ALIGNED_ORDERS, Batch, Decoded, ModelSpec

from mlcap_scnnrnn.decoder import LabelLSTMDecoder


class ScnnrnnOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embed_dim: int = Field(256, ge=1)
    hidden: int = Field(512, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    cnn_loss_weight: float = Field(1.0, ge=0)   # weight of L_u in finetune


def _options(spec: ModelSpec) -> ScnnrnnOptions:
    try:
        return ScnnrnnOptions(**spec.options)
    except Exception as e:
        raise MlcapError(f"scnnrnn: invalid [method-options] option: {str(e).splitlines()[-2].strip()}") from None


class ScnnrnnModel(nn.Module):
    def __init__(self, encoder: ConceptEncoder, decoder: LabelLSTMDecoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder


class ScnnrnnMethod:
    name = "scnnrnn"
    summary = "Semantic Regularisation CNN-RNN (CVPR 2017)"
    stages = ("pretrain-cnn", "pretrain-rnn", "finetune")

    def build(self, spec: ModelSpec) -> ScnnrnnModel:
        opts = _options(spec)
        backbone = create_backbone(spec.backbone, weights=spec.weights)
        encoder = ConceptEncoder(backbone, len(spec.labels), spec.num_tags, dropout=opts.dropout)
        return ScnnrnnModel(encoder, LabelLSTMDecoder(len(spec.labels), opts.embed_dim, opts.hidden))

    def trainable_parameters(self, model: ScnnrnnModel, stage: str, spec: ModelSpec):
        if stage == "pretrain-cnn":
            return model.encoder.parameters()
        if stage == "pretrain-rnn" or spec.freeze_cnn:
            return model.decoder.parameters()
        return model.parameters()

    def stage_loss(self, model: ScnnrnnModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        if stage == "pretrain-rnn":
            loss = self._rnn_loss(model, batch.targets, batch)
            return {"loss": loss, "rnn": loss}
        logits = model.encoder.encode(batch).concept_logits.float()
        cnn = concept_bce(logits, batch)
        if stage == "pretrain-cnn":
            return {"loss": cnn, "bce": cnn}
        s = torch.sigmoid(logits)
        if spec.freeze_cnn:
            s = s.detach()
        rnn = self._rnn_loss(model, s, batch)
        return {"loss": rnn + _options(spec).cnn_loss_weight * cnn, "bce": cnn, "rnn": rnn}

    @staticmethod
    def _rnn_loss(model: ScnnrnnModel, s: torch.Tensor, batch: Batch) -> torch.Tensor:
        if batch.order in ALIGNED_ORDERS:  # ground truth re-ordered to the LSTM's own predictions
            logits = model.decoder.free_run(s, batch.sequences.shape[1])
            return aligned_cross_entropy(logits, batch.targets, batch.order)
        return model.decoder.loss(s, batch.sequences)

    @torch.no_grad()
    def predict(self, model: ScnnrnnModel, batch: Batch, spec: ModelSpec) -> Decoded:
        s = torch.sigmoid(model.encoder.encode(batch).concept_logits.float())
        return Decoded(sequences=model.decoder.greedy(s, spec.max_len), scores=s)
