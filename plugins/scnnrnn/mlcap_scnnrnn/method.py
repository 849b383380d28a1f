"""Stages of S-CNN-RNN, for multi-label classification and for captioning (``--task caption``).

* ``pretrain-tags`` (only with ``--use-tags``): the noisy-tag MLP alone (one 256-unit ReLU
  layer, ``ConceptEncoder.tag_mlp``) learns to predict the ground-truth labels from the
  tags, BCE on its own logits (Sec. 4.1: "we pretrain a [MLP] to predict the true tags
  given the noisy metadata"). Without tags, skip it.
* ``pretrain-cnn``: the CNN's concept head, BCE on the label vector (deep supervision of s).
  With tags, the tag MLP's logits are summed into the CNN's concept logits (s^ is the
  sigmoid of the sum) and both train together (Sec. 4.1). The paper says "summing their
  predictions" without saying logits or probabilities: logits keep s^ a probability.
* ``pretrain-rnn``: the LSTM alone, fed the *ground-truth* concept vector, teacher forcing.
* ``finetune``: both, with the joint loss L_u (BCE on s) + L_r (sequence NLL), eq. 4;
  gradients of L_r reach the CNN through s. ``--freeze-backbone`` keeps the ImageNet CNN
  unchanged in every stage while the heads and the LSTM train: the paper's "Fix" (Sec. 4.3
  "Competitors"; Table 1, "Ours+Tag1K Fix").

Recipe (Sec. 3.3 "Training and inference"; Sec. 4.2 "Implementation details"): the CNN's lr is 1e-4
on NUS-WIDE and 1e-3 on COCO (and any other dataset); the paper names no optimizer for it: Adam. The
relational model (pretrain-rnn, finetune) is trained with RMSProp, lr 1e-4 (TensorFlow's RMSProp:
decay 0.9, no momentum). Epochs are not given: 10. The tag MLP's pretraining: Adam 1e-3 (not given).

Losses (``mlcap_scnnrnn.losses``): by default as in eq. 4-5, L_u is the BCE summed over
the concepts and L_r the NLL summed over the time steps, each per image and then averaged
over the batch; ``--option loss_reduction=mean`` uses per-element means instead.

Captioning: the concept set is the label vocabulary (caption words, see ``prepare coco --labels
concepts``); a word LSTM (512 cells, 512-d embedding, the run's word vocabulary with UNK) is
taught one of the image's captions per epoch, and decodes with beam search (``predict --beam``).
Ablations (``--option variant=...``, Table 4 of the paper):

* ``nic-f``: the CNN's pooled feature sets the LSTM state; no concept supervision at all;
* ``nic-deeply``: concept supervision (BCE) on the CNN, but the pooled (penultimate) feature,
  not s^, sets the LSTM state.

Other options: ``cell=relu|tanh`` (the LSTM's activation, ReLU as in Sec. 4.2),
``init=linear|tanh`` (FC(s) sets the initial state, squashed or not), ``embed_dim``,
``hidden``, ``dropout``, ``cnn_loss_weight``.
"""

from __future__ import annotations

import torch
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlcap.nn import ConceptEncoder, EncoderDecoder, create_backbone
from mlcap.nn.alignment import align_to_predictions, label_sets_of
from mlcap.nn.cnn_then_rnn import slow_recipe_advice
from mlcap.nn.decoding import labels_at_or_above, padded_labels_at_or_above, padded_steps
from mlcap.nn.label_lstm import LabelLSTMDecoder
from mlcap.nn.losses import sequence_nll
from mlcap.protocol import (ALIGNED_ORDERS, Batch, DecodeOptions, Decoded, Method, MlcapError, ModelSpec, Recipe,
                            StageInputs, images_only, method_options, structural)

from mlcap_scnnrnn.losses import concept_loss


class ScnnrnnOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variant: Literal["scnnrnn", "nic-f", "nic-deeply"] = structural("scnnrnn")
    embed_dim: int | None = structural(None, ge=1)   # default 256 for labels, 512 for caption words
    hidden: int = structural(512, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    cnn_loss_weight: float = Field(1.0, ge=0)   # weight of L_u in finetune
    # "sum": L_u summed over concepts, L_r over time steps, per image (eq. 4-5); "mean": element means
    loss_reduction: Literal["sum", "mean"] = "sum"
    cell: Literal["relu", "tanh"] = structural("relu")     # activation of the BasicLSTMCell-style unit (Sec. 4.2)
    init: Literal["linear", "tanh"] = structural("linear")  # FC(s) -> initial (h, c), with or without tanh


def _options(spec: ModelSpec) -> ScnnrnnOptions:
    return method_options(ScnnrnnOptions, "scnnrnn", spec.options)


class ScnnrnnModel(EncoderDecoder):
    """The concept CNN (with the noisy-tag MLP) and the label or word LSTM."""


def _require_tags(model: ScnnrnnModel, spec: ModelSpec) -> None:
    if not spec.use_tags or spec.num_tags == 0 or model.encoder.tag_mlp is None:
        raise MlcapError("scnnrnn pretrain-tags: this run has no noisy tags; start a new run with --use-tags "
                         "(on a dataset with tags), or skip pretrain-tags")


class ScnnrnnMethod(Method):
    name = "scnnrnn"
    summary = "Semantic Regularisation CNN-RNN (CVPR 2017)"
    stages = ("pretrain-tags", "pretrain-cnn", "pretrain-rnn", "finetune")
    stage_help = {
        "pretrain-tags": "Stage 0, with --use-tags: train the noisy-tag MLP alone to predict the labels (BCE).",
        "pretrain-cnn": "Stage 1: train the CNN (concept head, BCE; plus the tag MLP with --use-tags).",
        "pretrain-rnn": "Stage 2: train the LSTM on ground-truth concepts (teacher forcing).",
        "finetune": "Stage 3: train CNN and LSTM jointly, L_u + L_r (--freeze-backbone: the paper's Fix).",
    }
    options_model = ScnnrnnOptions
    tasks = ("multilabel", "caption")

    def recipe(self, stage: str, spec: ModelSpec, dataset: str) -> Recipe:
        decoded = "CIDEr" if spec.task == "caption" else "O-F1"
        if stage == "pretrain-tags":
            return Recipe(optimizer="adam", lr=1e-3, epochs=10, select_by="loss")
        if stage == "pretrain-cnn":
            return Recipe(optimizer="adam", lr=1e-4 if dataset.startswith("nuswide") else 1e-3, epochs=10,
                          select_by="loss")
        return Recipe(optimizer="rmsprop", lr=1e-4, alpha=0.9, momentum=0.0, epochs=10, select_by=decoded)

    def silence_advice(self, stage: str, spec: ModelSpec, recipe: Recipe) -> str | None:
        return slow_recipe_advice(recipe)

    def stage_inputs(self, stage: str, spec: ModelSpec) -> StageInputs:
        """pretrain-tags (tags -> labels, run only with --use-tags) and pretrain-rnn (the LSTM on the
        ground-truth concepts) never look at the images; the captioning ablations nic-f and
        nic-deeply do in pretrain-rnn (the CNN's features start the LSTM). No stage or variant
        attends: the LSTM starts from the pooled features and the concepts, so ``--features`` never
        reads the spatial maps."""
        if stage == "pretrain-tags":
            return StageInputs(images=False, spatial=False, tags_only=True)
        if stage == "pretrain-rnn":
            return StageInputs(images=spec.task == "caption" and _options(spec).variant != "scnnrnn", spatial=False)
        return StageInputs(spatial=False)

    def parameter_groups(self, model: ScnnrnnModel, stage: str, spec: ModelSpec):
        if stage == "pretrain-tags":
            _require_tags(model, spec)
            return {"tags": list(model.encoder.tag_mlp.parameters())}
        backbone = list(model.encoder.backbone.parameters())
        fixed = {id(p) for p in backbone}
        heads = [p for p in model.encoder.parameters() if id(p) not in fixed]
        decoder = list(model.decoder.parameters())
        if stage == "pretrain-cnn":
            return {"backbone": backbone, "heads": heads}
        if stage == "pretrain-rnn":
            return {"decoder": decoder}
        if spec.task == "caption" and _options(spec).variant == "nic-f":   # no concept head in use
            return {"backbone": backbone, "decoder": decoder}
        return {"backbone": backbone, "heads": heads, "decoder": decoder}

    def build(self, spec: ModelSpec) -> ScnnrnnModel:
        opts = _options(spec)
        backbone = create_backbone(spec.backbone, weights=spec.weights)
        encoder = ConceptEncoder(backbone, len(spec.labels), spec.num_tags, dropout=opts.dropout)
        rnn = dict(cell=opts.cell, init=opts.init)
        if spec.task == "caption":
            inputs = len(spec.labels) if opts.variant == "scnnrnn" else backbone.feature_dim
            decoder = LabelLSTMDecoder(len(spec.words), opts.embed_dim or 512, opts.hidden, num_inputs=inputs, **rnn)
        else:
            if opts.variant != "scnnrnn":
                raise MlcapError(f"scnnrnn: variant {opts.variant!r} is a captioning ablation (--task caption)")
            decoder = LabelLSTMDecoder(len(spec.labels), opts.embed_dim or 256, opts.hidden, **rnn)
        return ScnnrnnModel(encoder, decoder)

    def stage_loss(self, model: ScnnrnnModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        reduction = _options(spec).loss_reduction
        if stage == "pretrain-tags":
            return self._tag_loss(model, batch, spec, reduction)
        if spec.task == "caption":
            return self._caption_loss(model, batch, stage, spec)
        if stage == "pretrain-rnn":
            loss = self._rnn_loss(model, batch.targets, batch, reduction)
            return {"loss": loss, "rnn": loss}
        logits = model.encoder.encode(batch).concept_logits.float()
        cnn = concept_loss(logits, batch, reduction)
        if stage == "pretrain-cnn":
            return {"loss": cnn, "bce": cnn}
        s = torch.sigmoid(logits)
        rnn = self._rnn_loss(model, s, batch, reduction)
        return {"loss": rnn + _options(spec).cnn_loss_weight * cnn, "bce": cnn, "rnn": rnn}

    @staticmethod
    def _tag_loss(model: ScnnrnnModel, batch: Batch, spec: ModelSpec, reduction: str) -> dict:
        """BCE of the tag MLP's logits alone against the ground-truth labels (concepts)."""
        _require_tags(model, spec)
        if batch.tags is None:
            raise MlcapError("scnnrnn pretrain-tags: the batch has no noisy tags (does the dataset have tags?)")
        bce = concept_loss(model.encoder.tag_mlp(batch.tags.float()).float(), batch, reduction)
        return {"loss": bce, "tag_bce": bce}

    @staticmethod
    def _rnn_loss(model: ScnnrnnModel, s: torch.Tensor, batch: Batch, reduction: str) -> torch.Tensor:
        if batch.order in ALIGNED_ORDERS:  # ground truth re-ordered to the LSTM's own predictions
            logits = model.decoder.free_run(s, batch.sequences.shape[1])
            aligned = align_to_predictions(logits, label_sets_of(batch.targets), batch.order)
            return sequence_nll(logits, aligned, reduction)
        return model.decoder.loss(s, batch.sequences, reduction)

    def _caption_loss(self, model: ScnnrnnModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        opts = _options(spec)
        variant, reduction = opts.variant, opts.loss_reduction
        if stage == "pretrain-cnn":
            if variant == "nic-f":
                raise MlcapError("scnnrnn variant nic-f has no concept supervision: skip pretrain-cnn")
            cnn = concept_loss(model.encoder.encode(batch).concept_logits, batch, reduction)
            return {"loss": cnn, "bce": cnn}
        if stage == "pretrain-rnn" and variant == "scnnrnn":
            rnn = model.decoder.loss(batch.targets, batch.captions, reduction)   # ground-truth concepts
            return {"loss": rnn, "rnn": rnn}
        enc = model.encoder.encode(batch)
        if variant == "scnnrnn":
            s = torch.sigmoid(enc.concept_logits.float())
        else:
            s = enc.pooled.float()
        if stage == "pretrain-rnn":
            s = s.detach()
        rnn = model.decoder.loss(s, batch.captions, reduction)
        if stage == "pretrain-rnn" or variant == "nic-f":
            return {"loss": rnn, "rnn": rnn}
        cnn = concept_loss(enc.concept_logits, batch, reduction)
        return {"loss": rnn + opts.cnn_loss_weight * cnn, "bce": cnn, "rnn": rnn}

    @torch.no_grad()
    def predict(self, model: ScnnrnnModel, batch: Batch, spec: ModelSpec, decode: DecodeOptions) -> Decoded:
        enc = model.encoder.encode(batch)
        s = torch.sigmoid(enc.concept_logits.float())
        if decode.stage in ("pretrain-tags", "pretrain-cnn"):   # the LSTM is untrained: the CNN's own labels
            return Decoded(sequences=labels_at_or_above(s, 0.5), scores=s)
        if spec.task != "caption":
            return Decoded(sequences=model.decoder.greedy(s, spec.max_len), scores=s)
        variant = _options(spec).variant
        init = s if variant == "scnnrnn" else enc.pooled.float()
        sequences = model.decoder.beam(init, decode.beam, spec.max_caption_len)
        captions = [" ".join(spec.words[t] for t in seq) for seq in sequences]
        if variant == "nic-f":                          # no concept supervision: no concepts to predict
            return Decoded(sequences=sequences, scores=torch.zeros_like(s), captions=captions, has_scores=False)
        return Decoded(sequences=sequences, scores=s, captions=captions)

    def export_outputs(self, model: ScnnrnnModel, images: torch.Tensor, spec: ModelSpec,
                       decode: DecodeOptions) -> dict | None:
        """``predict`` with tensor operations only (``mlcap export``); captions: the concepts alone
        (the words come from a beam search); with tags as input there is no image-only model."""
        if spec.use_tags or (spec.task == "caption" and _options(spec).variant == "nic-f"):
            return None
        s = torch.sigmoid(model.encoder.encode(images_only(images)).concept_logits.float())
        if decode.stage in ("pretrain-tags", "pretrain-cnn"):
            return {"scores": s, "sequence": padded_labels_at_or_above(s, 0.5)}
        if spec.task == "caption":
            return {"scores": s}
        return {"scores": s, "sequence": padded_steps(model.decoder.free_run(s, spec.max_len), spec.end_token)}
