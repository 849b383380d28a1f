"""Stages of the orderless recurrent model.

* ``pretrain-cnn``: the encoder as the ``bce`` baseline (BCE on its concept head);
  or start ``finetune`` with ``--init-from`` a bce run's checkpoint.
* ``finetune``: encoder and attention LSTM together (Adam). The decoder always
  runs free: its input at each step is its own previous argmax. The LSTM's target
  order is ``--order``: ``pla`` (default) or ``mla`` align the ground truth to the
  model's predictions at every step (``mlcap.nn.alignment``); the fixed orders
  (``frequent``, ``rare``, ``dictionary``, and ``random``, drawn anew for each image
  and epoch by the loader, from the image's own seed) are compared position by position with the free-running outputs,
  truncated or padded to the ground-truth length as in the paper (Sec. 3.2; see
  ``mlcap_orderless.decoder``). So the baselines can produce, and are measured on,
  duplicates.

Options (``--option KEY=VALUE``):

* ``teacher_forcing=true``: fixed orders are trained with teacher forcing instead
  (the previous ground-truth label is the next input); refused with pla/mla, which it
  would not change.
* ``cnn_loss_weight`` (default 0): the finetune loss is the LSTM loss alone, as in
  the paper; a positive weight adds the BCE on the encoder's concept head.
* ``scores`` (mAP, top-k): ``decoder`` (default), per label the highest
  probability the decoder gave it over the steps of its greedy prediction;
  ``concepts``, the sigmoid of the concept head. A ``pretrain-cnn`` checkpoint
  (decoder untrained) always scores with the concept head.

Recipe (Sec. 4.1, "Network training"): ``pretrain-cnn`` SGD lr 0.01, momentum 0.9, x0.1 after 3
epochs without improvement of the validation loss, 40 epochs; ``finetune`` encoder and decoder from
the best BCE model with Adam, SWA and the cyclical rate 1e-3 -> 1e-6; the paper says "over 3
iterations" without a cycle length: we read a cycle as 3 epochs (``--swa-cycle``), 30 epochs.

Prediction is greedy (no beam, no candidate mask) up to END; duplicates are kept
in the raw sequences and removed by the core, so their ratio stays measurable.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from mlcap.nn import ConceptEncoder, EncoderDecoder, create_backbone
from mlcap.nn.alignment import aligned_cross_entropy
from mlcap.nn.decoding import decoder_scores, labels_at_or_above, padded_labels_at_or_above, padded_steps
from mlcap.nn.losses import concept_bce
from mlcap.protocol import (ALIGNED_ORDERS, SEQUENCE_ORDERS, Batch, DecodeOptions, Decoded, Method, MlcapError,
                            ModelSpec, Recipe, images_only, method_options, structural)

from mlcap_orderless.decoder import AttentionLSTMDecoder


class OrderlessOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embed_dim: int = structural(256, ge=1)
    hidden: int = structural(512, ge=1)
    attention: int = structural(512, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    cnn_loss_weight: float = Field(0.0, ge=0)
    teacher_forcing: bool = False
    scores: Literal["decoder", "concepts"] = "decoder"


def _options(spec: ModelSpec) -> OrderlessOptions:
    return method_options(OrderlessOptions, "orderless", spec.options)


class OrderlessModel(EncoderDecoder):
    """The CNN and the attention LSTM decoder."""


class OrderlessMethod(Method):
    name = "orderless"
    summary = "Orderless recurrent models, PLA/MLA (CVPR 2020)"
    stages = ("pretrain-cnn", "finetune")
    stage_help = {"pretrain-cnn": "the CNN with a BCE concept head (or --init-from a bce run)",
                  "finetune": "encoder and attention LSTM, PLA/MLA or a fixed order, Adam + SWA"}
    options_model = OrderlessOptions
    orders = ("pla",) + tuple(o for o in SEQUENCE_ORDERS if o != "pla")     # PLA by default
    #: mlcap.testing.check_method: a guarantee this method is known not to keep
    xfail_checks = {"ranks": "its sequence losses average over the label steps of the batch each process holds, "
                             "and DistributedDataParallel averages the processes' means: images with more labels "
                             "weigh differently than in one process (step 0 differs by about 3e-5)"}

    def recipe(self, stage: str, spec: ModelSpec, dataset: str) -> Recipe:
        if stage == "pretrain-cnn":
            return Recipe(optimizer="sgd", lr=0.01, momentum=0.9, schedule="plateau", gamma=0.1,
                          plateau_patience=3, epochs=40, select_by="loss")
        return Recipe(optimizer="adam", lr=1e-3, schedule="swa", lr_min=1e-6, swa_cycle=3, epochs=30,
                      select_by="O-F1")

    def parameter_groups(self, model: OrderlessModel, stage: str, spec: ModelSpec):
        backbone = list(model.encoder.backbone.parameters())
        fixed = {id(p) for p in backbone}
        heads = [p for p in model.encoder.parameters() if id(p) not in fixed]
        if stage == "pretrain-cnn":
            return {"backbone": backbone, "heads": heads}
        return {"backbone": backbone, "heads": heads, "decoder": list(model.decoder.parameters())}

    def build(self, spec: ModelSpec) -> OrderlessModel:
        opts = _options(spec)
        backbone = create_backbone(spec.backbone, weights=spec.weights)
        encoder = ConceptEncoder(backbone, len(spec.labels), spec.num_tags, dropout=opts.dropout)
        decoder = AttentionLSTMDecoder(len(spec.labels), backbone.feature_dim, backbone.spatial_dim,
                                       opts.embed_dim, opts.hidden, opts.attention)
        return OrderlessModel(encoder, decoder)

    def stage_loss(self, model: OrderlessModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        enc = model.encoder.encode(batch)
        bce = concept_bce(enc.concept_logits, batch)
        if stage == "pretrain-cnn":
            return {"loss": bce, "bce": bce}
        opts = _options(spec)
        if batch.order in ALIGNED_ORDERS:
            if opts.teacher_forcing:
                raise MlcapError(f"orderless: teacher_forcing=true applies to fixed orders; --order {batch.order} "
                                 "aligns the targets to the predictions instead")
            logits = model.decoder.run(enc, batch.sequences.shape[1])
            rnn = aligned_cross_entropy(logits, batch.targets, batch.order)
        elif opts.teacher_forcing:
            rnn = model.decoder.teacher_forced_loss(enc, batch.sequences)
        else:
            rnn = model.decoder.free_running_loss(enc, batch.sequences)
        if opts.cnn_loss_weight == 0:   # the concept head gets no gradient at all
            return {"loss": rnn, "bce": bce.detach(), "rnn": rnn}
        return {"loss": rnn + opts.cnn_loss_weight * bce, "bce": bce, "rnn": rnn}

    @torch.no_grad()
    def predict(self, model: OrderlessModel, batch: Batch, spec: ModelSpec, decode: DecodeOptions) -> Decoded:
        enc = model.encoder.encode(batch)
        concepts = torch.sigmoid(enc.concept_logits.float())
        if decode.stage == "pretrain-cnn":    # the decoder is untrained: the concept head's own labels
            return Decoded(sequences=labels_at_or_above(concepts, 0.5), scores=concepts)
        sequences, scores = model.decoder.predict(enc, spec.max_len)
        if _options(spec).scores == "concepts":
            scores = concepts
        return Decoded(sequences=sequences, scores=scores)

    def export_outputs(self, model: OrderlessModel, images: torch.Tensor, spec: ModelSpec,
                       decode: DecodeOptions) -> dict:
        """``predict`` with tensor operations only (``mlcap export``)."""
        enc = model.encoder.encode(images_only(images))
        concepts = torch.sigmoid(enc.concept_logits.float())
        if decode.stage == "pretrain-cnn":
            return {"scores": concepts, "sequence": padded_labels_at_or_above(concepts, 0.5)}
        logits = model.decoder.run(enc, spec.max_len)
        scores = concepts if _options(spec).scores == "concepts" else decoder_scores(logits, spec.end_token)
        return {"scores": scores, "sequence": padded_steps(logits, spec.end_token)}

    @torch.no_grad()
    def attention_maps(self, model: OrderlessModel, batch: Batch, spec: ModelSpec, decode: DecodeOptions,
                       decoded: Decoded) -> list:
        """Per image (L, h, w): the soft attention over the spatial map at each greedy step (finetune)."""
        if decode.stage != "finetune":
            return None
        return model.decoder.attention(model.encoder.encode(batch), decoded.sequences, spec.max_len)
