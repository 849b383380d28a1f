"""Stages of S-CNN-RNN, for multi-label classification and for captioning (``--task caption``).

* ``pretrain-cnn``: the CNN's concept head, BCE on the label vector (deep supervision of s).
* ``pretrain-rnn``: the LSTM alone, fed the *ground-truth* concept vector, teacher forcing.
* ``finetune``: both, with the joint loss L_u (BCE on s) + L_r (sequence cross-entropy);
  gradients of L_r reach the CNN through s. ``--freeze-cnn`` trains the LSTM only
  (the paper's "Fix" variant).

Captioning: the concept set is the label vocabulary (caption words, see ``prepare coco --labels
concepts``); a word LSTM (512 cells, 512-d embedding, the run's word vocabulary with UNK) is
taught one of the image's captions per epoch, and decodes with beam search (``predict --beam``).
Ablations (``--option variant=...``, Table 4 of the paper):

* ``nic-f``: the CNN's pooled feature sets the LSTM state; no concept supervision at all;
* ``nic-deeply``: concept supervision (BCE) on the CNN, but the pooled (penultimate) feature,
  not s^, sets the LSTM state.
"""

from __future__ import annotations

import torch
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mlcap.losses import concept_bce
from mlcap.config import method_options
from mlcap.errors import MlcapError
from mlcap.models import ConceptEncoder, create_backbone
from mlcap.alignment import aligned_cross_entropy
from mlcap.protocol import ALIGNED_ORDERS, Batch, Decoded, ModelSpec

from mlcap_scnnrnn.decoder import LabelLSTMDecoder


class ScnnrnnOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variant: Literal["scnnrnn", "nic-f", "nic-deeply"] = "scnnrnn"
    embed_dim: int | None = Field(None, ge=1)   # default 256 for labels, 512 for caption words
    hidden: int = Field(512, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    cnn_loss_weight: float = Field(1.0, ge=0)   # weight of L_u in finetune


def _options(spec: ModelSpec) -> ScnnrnnOptions:
    return method_options(ScnnrnnOptions, "scnnrnn", spec.options)


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
        if spec.task == "caption":
            inputs = len(spec.labels) if opts.variant == "scnnrnn" else backbone.feature_dim
            decoder = LabelLSTMDecoder(len(spec.words), opts.embed_dim or 512, opts.hidden, num_inputs=inputs)
        else:
            if opts.variant != "scnnrnn":
                raise MlcapError(f"scnnrnn: variant {opts.variant!r} is a captioning ablation (--task caption)")
            decoder = LabelLSTMDecoder(len(spec.labels), opts.embed_dim or 256, opts.hidden)
        return ScnnrnnModel(encoder, decoder)

    def trainable_parameters(self, model: ScnnrnnModel, stage: str, spec: ModelSpec):
        if stage == "pretrain-cnn":
            return model.encoder.parameters()
        if spec.task == "caption" and stage == "finetune" and _options(spec).variant == "nic-f" \
                and not spec.freeze_cnn:
            return list(model.encoder.backbone.parameters()) + list(model.decoder.parameters())
        if stage == "pretrain-rnn" or spec.freeze_cnn:
            return model.decoder.parameters()
        return model.parameters()

    def stage_loss(self, model: ScnnrnnModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        if spec.task == "caption":
            return self._caption_loss(model, batch, stage, spec)
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

    def _caption_loss(self, model: ScnnrnnModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        variant = _options(spec).variant
        if stage == "pretrain-cnn":
            if variant == "nic-f":
                raise MlcapError("scnnrnn variant nic-f has no concept supervision: skip pretrain-cnn")
            cnn = concept_bce(model.encoder.encode(batch).concept_logits, batch)
            return {"loss": cnn, "bce": cnn}
        if stage == "pretrain-rnn" and variant == "scnnrnn":
            rnn = model.decoder.loss(batch.targets, batch.captions)   # ground-truth concepts
            return {"loss": rnn, "rnn": rnn}
        enc = model.encoder.encode(batch)
        if variant == "scnnrnn":
            s = torch.sigmoid(enc.concept_logits.float())
        else:
            s = enc.pooled.float()
        if stage == "pretrain-rnn" or spec.freeze_cnn:
            s = s.detach()
        rnn = model.decoder.loss(s, batch.captions)
        if stage == "pretrain-rnn" or variant == "nic-f":
            return {"loss": rnn, "rnn": rnn}
        cnn = concept_bce(enc.concept_logits, batch)
        return {"loss": rnn + _options(spec).cnn_loss_weight * cnn, "bce": cnn, "rnn": rnn}

    @torch.no_grad()
    def predict(self, model: ScnnrnnModel, batch: Batch, spec: ModelSpec) -> Decoded:
        enc = model.encoder.encode(batch)
        s = torch.sigmoid(enc.concept_logits.float())
        if spec.task != "caption":
            return Decoded(sequences=model.decoder.greedy(s, spec.max_len), scores=s)
        variant = _options(spec).variant
        init = s if variant == "scnnrnn" else enc.pooled.float()
        sequences = model.decoder.beam(init, spec.beam, spec.max_caption_len)
        captions = [" ".join(spec.words[t] for t in seq) for seq in sequences]
        scores = torch.zeros_like(s) if variant == "nic-f" else s   # nic-f predicts no concepts
        return Decoded(sequences=sequences, scores=scores, captions=captions)
