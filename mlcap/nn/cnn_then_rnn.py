"""What the seeds' CNN-RNN baselines share (``cnnrnn``, ``ria``): a CNN, then a label RNN conditioned
on the CNN's pooled feature I_e, with S-CNN-RNN's modules and recipe (its Sec. 4, "Competitors": "In all
compared models, the same CNN and RNN modules are used").

* ``pretrain-cnn``: the backbone and a concept head with BCE averaged over the labels (as bce's;
  S-CNN-RNN's stage 1 with ``-o loss_reduction=mean``, its eq. 5 summing instead), so that
  ``finetune --init-from`` a bce or scnnrnn ``pretrain-cnn`` checkpoint gives the same start;
  skip it with ``--weights``.
* ``finetune``: CNN and decoder jointly, the sequence NLL of the label order alone (no concept
  supervision, no semantic regularisation); the concept head is not used.

A method built on it gives ``name``, ``summary``, ``stage_help``, ``options_model`` (a subclass
of ``CnnThenRnnOptions``), ``orders`` (its default first), ``default_beam`` and ``make_decoder(spec, options,
feature_dim)``; the decoder provides ``loss(image, sequences, reduction)``,
``greedy_scores(image, max_len) -> (sequences, scores)`` and ``beam(image, width, max_len)``.
Prediction is the greedy path with ``--beam 1``, else beam search; a label's score (mAP, top-k)
is its highest probability over the greedy path's steps.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mlcap.models import create_backbone
from mlcap.nn.encoder import ConceptEncoder, EncoderDecoder
from mlcap.nn.decoding import decoder_scores, labels_at_or_above, padded_labels_at_or_above, padded_steps
from mlcap.nn.losses import concept_bce
from mlcap.protocol import (Batch, DecodeOptions, Decoded, Method, MlcapError, ModelSpec, Recipe, StageInputs,
                            images_only, structural)


class CnnThenRnnOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embed_dim: int = structural(256, ge=1)    # S-CNN-RNN's label LSTM sizes
    hidden: int = structural(512, ge=1)
    cell: Literal["relu", "tanh"] = structural("relu")
    dropout: float = Field(0.0, ge=0, lt=1)   # on the pooled CNN features: before the concept head
                                               # (pretrain-cnn) and before the label RNN (finetune)
    loss_reduction: Literal["sum", "mean"] = "sum"


class CnnThenRnnModel(EncoderDecoder):
    """The CNN and a label RNN conditioned on its pooled feature."""


class CnnThenRnnMethod(Method):
    stages = ("pretrain-cnn", "finetune")
    stage_help = {"pretrain-cnn": "backbone + concept head with BCE, S-CNN-RNN's CNN stage (skip it with --weights)"}
    options_model = CnnThenRnnOptions
    orders = ("rare", "frequent", "dictionary", "random")   # fixed orders: a predefined order; no PLA/MLA

    def stage_inputs(self, stage: str, spec: ModelSpec) -> StageInputs:
        """No attention: the pooled CNN feature conditions the label RNN, so ``--features`` never reads
        the spatial maps."""
        return StageInputs(spatial=False)

    def make_decoder(self, spec: ModelSpec, options, feature_dim: int) -> nn.Module:
        raise NotImplementedError

    def recipe(self, stage: str, spec: ModelSpec, dataset: str) -> Recipe:
        """S-CNN-RNN's (Sec. 3.3 "Training and inference", Sec. 4.2 "Implementation details"): the CNN
        with Adam, 1e-4 on NUS-WIDE, else 1e-3; the relational model with RMSProp 1e-4 (TensorFlow's
        decay 0.9, no momentum); 10 epochs each."""
        if stage == "pretrain-cnn":
            return Recipe(optimizer="adam", lr=1e-4 if dataset.startswith("nuswide") else 1e-3, epochs=10,
                          select_by="loss")
        return Recipe(optimizer="rmsprop", lr=1e-4, alpha=0.9, momentum=0.0, epochs=10, select_by="O-F1")

    def silence_advice(self, stage: str, spec: ModelSpec, recipe: Recipe) -> str | None:
        return slow_recipe_advice(recipe)

    def parameter_groups(self, model: CnnThenRnnModel, stage: str, spec: ModelSpec):
        backbone = list(model.encoder.backbone.parameters())
        if stage == "pretrain-cnn":
            fixed = {id(p) for p in backbone}
            return {"backbone": backbone, "heads": [p for p in model.encoder.parameters() if id(p) not in fixed]}
        return {"backbone": backbone, "decoder": list(model.decoder.parameters())}

    def build(self, spec: ModelSpec) -> CnnThenRnnModel:
        if spec.use_tags:
            raise MlcapError(f"{self.name}: the baseline takes no noisy tags (--use-tags)")
        opts = self.options(spec)
        backbone = create_backbone(spec.backbone, weights=spec.weights)
        encoder = ConceptEncoder(backbone, len(spec.labels), spec.num_tags, dropout=opts.dropout)
        return CnnThenRnnModel(encoder, self.make_decoder(spec, opts, backbone.feature_dim))

    def stage_loss(self, model: CnnThenRnnModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        enc = model.encoder.encode(batch)
        if stage == "pretrain-cnn":
            bce = concept_bce(enc.concept_logits, batch)
            return {"loss": bce, "bce": bce}
        image = model.encoder.dropout(enc.pooled).float()      # the option's dropout (identity at 0)
        rnn = model.decoder.loss(image, batch.sequences, self.options(spec).loss_reduction)
        return {"loss": rnn, "rnn": rnn}

    @torch.no_grad()
    def predict(self, model: CnnThenRnnModel, batch: Batch, spec: ModelSpec, decode: DecodeOptions) -> Decoded:
        enc = model.encoder.encode(batch)
        if decode.stage == "pretrain-cnn":                # the concept head alone
            s = torch.sigmoid(enc.concept_logits.float())
            return Decoded(sequences=labels_at_or_above(s, 0.5), scores=s)
        image = enc.pooled.float()
        greedy, scores = model.decoder.greedy_scores(image, spec.max_len)
        sequences = greedy if decode.beam == 1 else model.decoder.beam(image, decode.beam, spec.max_len)
        return Decoded(sequences=sequences, scores=scores)

    def export_outputs(self, model: CnnThenRnnModel, images: torch.Tensor, spec: ModelSpec,
                       decode: DecodeOptions) -> dict:
        """``predict`` with tensor operations only (``mlcap export``); with a beam wider than 1 the
        sequence comes from a beam search and is not exported, the scores are."""
        enc = model.encoder.encode(images_only(images))
        if decode.stage == "pretrain-cnn":
            s = torch.sigmoid(enc.concept_logits.float())
            return {"scores": s, "sequence": padded_labels_at_or_above(s, 0.5)}
        logits = model.decoder.free_run(enc.pooled.float(), spec.max_len)
        out = {"scores": decoder_scores(logits, spec.end_token)}
        if decode.beam == 1:
            out["sequence"] = padded_steps(logits, spec.end_token)
        return out


def slow_recipe_advice(recipe: Recipe) -> str | None:
    """``Method.silence_advice`` of the S-CNN-RNN recipes: RMSProp at 1e-4 (or less) learns slowly."""
    if recipe.optimizer != "rmsprop" or recipe.lr > 1e-4:
        return None
    return (f"the recipe's RMSProp {recipe.lr:g} needs many epochs on small data; try --lr 1e-3, or more "
            "--epochs")
