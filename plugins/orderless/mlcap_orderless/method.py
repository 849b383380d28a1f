"""Stages of the orderless recurrent model.

* ``pretrain-cnn``: the encoder as the ``bce`` baseline (BCE on its concept head);
  or start ``finetune`` with ``--init-from`` a bce run's checkpoint.
* ``finetune``: encoder and attention LSTM together (Adam). The LSTM's target
  order is ``--order``: ``pla`` (default) or ``mla`` align the ground truth to the
  model's own free-running predictions at every step (``mlcap.alignment``); the
  fixed orders (``frequent``, ``rare``, ``dictionary``, ``random``) are trained
  with teacher forcing, as baselines. The BCE term is kept (weight
  ``cnn_loss_weight``) so that the concept scores used for mAP stay calibrated.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mlcap.alignment import aligned_cross_entropy
from mlcap.losses import concept_bce
from mlcap.config import method_options
from mlcap.models import ConceptEncoder, create_backbone
from mlcap.protocol import ALIGNED_ORDERS, Batch, Decoded, ModelSpec

from mlcap_orderless.decoder import AttentionLSTMDecoder


class OrderlessOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embed_dim: int = Field(256, ge=1)
    hidden: int = Field(512, ge=1)
    attention: int = Field(512, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    cnn_loss_weight: float = Field(1.0, ge=0)


def _options(spec: ModelSpec) -> OrderlessOptions:
    return method_options(OrderlessOptions, "orderless", spec.options)


class OrderlessModel(nn.Module):
    def __init__(self, encoder: ConceptEncoder, decoder: AttentionLSTMDecoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder


class OrderlessMethod:
    name = "orderless"
    summary = "Orderless recurrent models, PLA/MLA (CVPR 2020)"
    stages = ("pretrain-cnn", "finetune")
    default_order = "pla"

    def build(self, spec: ModelSpec) -> OrderlessModel:
        opts = _options(spec)
        backbone = create_backbone(spec.backbone, weights=spec.weights)
        encoder = ConceptEncoder(backbone, len(spec.labels), spec.num_tags, dropout=opts.dropout)
        decoder = AttentionLSTMDecoder(len(spec.labels), backbone.feature_dim, backbone.spatial_dim,
                                       opts.embed_dim, opts.hidden, opts.attention)
        return OrderlessModel(encoder, decoder)

    def trainable_parameters(self, model: OrderlessModel, stage: str, spec: ModelSpec):
        if stage == "pretrain-cnn":
            return model.encoder.parameters()
        return model.decoder.parameters() if spec.freeze_cnn else model.parameters()

    def stage_loss(self, model: OrderlessModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        enc = model.encoder.encode(batch)
        bce = concept_bce(enc.concept_logits, batch)
        if stage == "pretrain-cnn":
            return {"loss": bce, "bce": bce}
        if batch.order in ALIGNED_ORDERS:
            logits = model.decoder.run(enc, batch.sequences.shape[1])
            rnn = aligned_cross_entropy(logits, batch.targets, batch.order)
        else:
            rnn = model.decoder.teacher_forced_loss(enc, batch.sequences)
        return {"loss": rnn + _options(spec).cnn_loss_weight * bce, "bce": bce, "rnn": rnn}

    @torch.no_grad()
    def predict(self, model: OrderlessModel, batch: Batch, spec: ModelSpec) -> Decoded:
        enc = model.encoder.encode(batch)
        return Decoded(sequences=model.decoder.greedy(enc, spec.max_len),
                       scores=torch.sigmoid(enc.concept_logits.float()))
