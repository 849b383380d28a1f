"""Stages of Order-Free RNN with visual attention (Chen et al., AAAI 2018; cited by section
and equation; the paper's sections are unnumbered).

* ``pretrain-cnn``: M_map, the backbone and the fully connected layer theta_R (the encoder's
  concept head) giving v_prob = sigma(theta_R(.)) (eqs. 1-3), trained with BCE (the core's
  ``concept_bce``, averaged over labels and images). As in the paper
  the CNN stays fixed when it has pretrained weights (``--weights``): only theta_R trains; a
  backbone without them (the synthetic set's smallcnn) is trained here, the only stage that can.
* ``finetune``: M_att and M_pred (attention, LSTM, f_pred) on the frozen M_map (Algorithm 1
  updates theta_a, theta_L, theta_p only): ``parameter_groups`` returns the ``decoder`` alone.
  Order-free by default: at each step the BCE between sigma(p_t) and the whole label vector
  (eq. 8), l_t from the candidate pool (eqs. 9-10). ``--order frequent|rare|dictionary|random``
  trains the same network on that order instead (the paper's "Frequency-first / Rare-first
  (w/ atten)" rows): softmax cross-entropy on the ordered labels then END, teacher-forced.

Prediction (Sec. "Order-Free Training and Testing", "Testing", eq. 11): beam search over K paths,
each with its own candidate pool (no label is ever repeated), path probability the product of its
labels' probabilities (eq. 11); a path stops when its "probability output" is below the stop
threshold, or at the maximum length; the answer is the most probable stopped path, without length
normalisation (``mlcap_orderfree.pool_search.pool_beam_search``). K is ``predict --beam`` (default 3; 1 is
greedy); the validation during training, and so the threshold's choice, uses the method's
``default_beam`` (3). The threshold is chosen on validation at the end of each stage over every
value at which the validation predictions change (``mlcap_orderfree.threshold``, exact: no grid),
stored in the run; ``predict --threshold`` overrides it. It is this method's own decoding threshold
(a label's or a path's probability, by ``stop=``), unrelated to bce's per-label thresholds.

Choices where the paper leaves room (options: ``--option KEY=VALUE``):

* ``stop=label`` (default): a path may be extended by a label only if that label's probability
  reaches the threshold; it stops when no candidate does (with eq. 8's per-label sigmoid,
  sigma(p_t,l) is the probability that l is present). ``stop=path``: the extended path's
  product probability (eq. 11) must reach it.
* Sizes follow Show-Attend-Tell's COCO settings (the paper's Sec. "Implementation" defers to them):
  LSTM of ``hidden=1800`` cells (standard LSTM, tanh, no forget bias), attention MLP as wide as the
  feature channels (``attention_dim``, its ``ctx_dim``), f_pred's first layer ``pred_hidden=512``
  (its ``dim_word``) with tanh; h_0, c_0 = tanh(FC(mean of v_1..v_m)), as Show-Attend-Tell. Its
  gating scalar beta and doubly stochastic attention penalty are not used (not in eqs. 4-8).
* "Dropout rate at 0.8 for updating f_pred" is read as the keep probability (TensorFlow's
  ``keep_prob``; dropping 80 % is implausible): ``dropout=0.2`` is the drop probability, applied
  to the input of each of f_pred's two layers.
* v_pred = sigma(p_{t-1}) for t > 1 (the paper writes p_{t-1}; the sigmoid keeps v_prob's scale),
  and gradients flow through it across steps (through y~, a hard vector, none).
* Steps per image in training (Algorithm 1's ``iter``): ``train_steps``, default ``--max-len``
  (whose core default is the largest training label count + 2), at most C. The step losses are
  summed into one update per batch (``step_losses=sum``: summed over labels, eq. 8, and steps,
  averaged over images; ``mean``: averaged over labels and steps too). Algorithm 1 writes a
  gradient step inside the loop over t; the core makes one update per batch.
* Maximum length at prediction: ``--max-len`` (the paper: the largest label count in training;
  the core's default adds 2; give ``--max-len`` for the paper's value), at most C.
* Until a threshold is chosen (the validation of each epoch, or no validation split) the
  threshold is ``stop_threshold=0.5``. Checkpoints are selected by the validation loss.
* Scores (mAP, top-k): per label, the highest probability the final path's steps gave it,
  including the step that decided to stop; a pretrain-cnn checkpoint scores with v_prob and
  predicts every label with v_prob >= threshold, most confident first.
* w/o attention (``attention=false``): z_t is the mean annotation vector at every step (uniform
  alpha; the backbone's pooled feature for the ResNets and smallcnn).
* The spatial map v_1..v_m is each backbone's ``spatial`` output (see docs/backbones.md: ResNet
  layer4 / conv5_x, VGG16 conv5_3, smallcnn's last convolution); the paper's "bottom fourth
  convolution layer" of ResNet-152 is not exposed. theta_R is the encoder's concept head on the
  pooled feature.
* Fixed orders (ablation): v_pred = the softmax's label probabilities; at prediction END ends a
  path (its probability a factor of the path's), the candidate pool and the threshold still
  apply to labels. The network is the same (p_t always has an END unit); a buffer records which
  training was used, for ``predict``. The order-free run's order is ``free`` (the default; no
  target order at all); pla and mla are refused (``orders``).
* Recipe: Adam 3e-4 (Sec. "Implementation") for both stages; epochs are not given: 10 each.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from mlcap.nn import ConceptEncoder, EncoderDecoder, create_backbone
from mlcap.nn.decoding import padded_labels_at_or_above
from mlcap.nn.losses import concept_bce
from mlcap.protocol import (FREE_ORDER, Batch, DecodeOptions, Decoded, Method, MlcapError, ModelSpec, Recipe,
                            images_only, method_options, structural)

from mlcap_orderfree.decoder import OrderFreeDecoder, concept_search, path_scores


class OrderFreeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hidden: int = structural(1800, ge=1)
    attention_dim: int | None = structural(None, ge=1)
    pred_hidden: int = structural(512, ge=1)
    attention: bool = structural(True)
    dropout: float = Field(0.2, ge=0, lt=1)
    stop: Literal["label", "path"] = "label"
    stop_threshold: float = Field(0.5, ge=0, le=1)
    train_steps: int | None = Field(None, ge=1)
    step_losses: Literal["sum", "mean"] = "sum"


def options(spec: ModelSpec) -> OrderFreeOptions:
    return method_options(OrderFreeOptions, "orderfree", spec.options)


class OrderFreeModel(EncoderDecoder):
    """M_map (the encoder and its concept head) and the order-free decoder."""
    def encode(self, batch: Batch):
        """M_map: the encoder output and v_prob (eq. 3)."""
        enc = self.encoder.encode(batch)
        return enc, torch.sigmoid(enc.concept_logits.float())


class OrderFreeMethod(Method):
    name = "orderfree"
    summary = "Order-Free RNN with visual attention, candidate pool and beam search (AAAI 2018)"
    stages = ("pretrain-cnn", "finetune")
    stage_help = {"pretrain-cnn": "M_map: the CNN's fully connected layer theta_R (and a backbone without "
                                  "pretrained weights), BCE",
                  "finetune": "attention + confidence-ranked LSTM on the frozen M_map, per-step BCE against "
                              "the label vector (or a fixed --order), Adam 3e-4"}
    options_model = OrderFreeOptions
    #: mlcap.testing.check_method: what its runs with a validation split cannot show
    xfail_checks = {"later_options:stop_threshold": "the fallback for a run without a validation split; the check's "
                                                    "runs have one, and the threshold chosen there replaces it"}
    default_beam = 3        # K paths ("Testing", eq. 11)
    orders = (FREE_ORDER,    # order-free: no target order (the default); or a fixed order, the ablation
              "frequent", "rare", "dictionary", "random")

    def recipe(self, stage: str, spec: ModelSpec, dataset: str) -> Recipe:
        return Recipe(optimizer="adam", lr=3e-4, epochs=10, select_by="loss")

    def parameter_groups(self, model: OrderFreeModel, stage: str, spec: ModelSpec):
        if stage == "pretrain-cnn":
            backbone = list(model.encoder.backbone.parameters())
            fixed = {id(p) for p in backbone}
            theta_r = [p for p in model.encoder.parameters() if id(p) not in fixed]
            return {"backbone": backbone if spec.weights is None else [], "heads": theta_r}
        return {"decoder": list(model.decoder.parameters())}      # theta_a, theta_L, theta_p

    def build(self, spec: ModelSpec) -> OrderFreeModel:
        opts = options(spec)
        backbone = create_backbone(spec.backbone, weights=spec.weights)
        encoder = ConceptEncoder(backbone, len(spec.labels), spec.num_tags)
        decoder = OrderFreeDecoder(len(spec.labels), backbone.spatial_dim, opts.hidden, opts.attention_dim,
                                   opts.pred_hidden, opts.dropout, opts.attention)
        return OrderFreeModel(encoder, decoder)

    def label_layout(self, spec: ModelSpec) -> dict:
        """f_LSTM (eq. 6) reads [v_pred, z_t, y~_{t-1}] through its input kernel (the hidden state has a
        kernel of its own) and f_pred (eq. 7) the same and h: two label blocks around the features."""
        return {"decoder.cell.weight_ih": {1: ("labels", None, "labels")},
                "decoder.pred.1.weight": {1: ("labels", None, "labels", options(spec).hidden)}}

    def stage_loss(self, model: OrderFreeModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        if stage == "pretrain-cnn":
            bce = concept_bce(model.encoder.encode(batch).concept_logits, batch)
            return {"loss": bce, "bce": bce}
        opts = options(spec)
        with torch.no_grad():                   # M_map is frozen in finetune
            enc, v_prob = model.encode(batch)
            bce = concept_bce(enc.concept_logits, batch)
        decoder = model.decoder
        fixed = batch.order != FREE_ORDER
        decoder.fixed_order.fill_(float(fixed))
        if fixed:
            rnn = decoder.fixed_order_loss(enc, v_prob, batch.sequences, opts.step_losses)
        else:
            steps = min(opts.train_steps or spec.max_len, len(spec.labels))
            rnn = decoder.order_free_loss(enc, v_prob, batch.targets, batch.mask, steps, opts.step_losses)
        return {"loss": rnn, "rnn": rnn, "bce": bce}

    def stop_threshold(self, spec: ModelSpec, decode: DecodeOptions) -> float:
        return float(decode.threshold) if decode.threshold is not None else options(spec).stop_threshold

    def search(self, model: OrderFreeModel, enc, v_prob, spec: ModelSpec, decode: DecodeOptions, threshold,
               record: bool = False):
        """The stage's decoding: M_map alone after pretrain-cnn, else the beam search."""
        if decode.stage == "pretrain-cnn":
            return concept_search(v_prob, threshold, record)
        return model.decoder.search(enc, v_prob, decode.beam, min(spec.max_len, len(spec.labels)), threshold,
                                    options(spec).stop, record)

    @torch.no_grad()
    def predict(self, model: OrderFreeModel, batch: Batch, spec: ModelSpec, decode: DecodeOptions) -> Decoded:
        enc, v_prob = model.encode(batch)
        found = self.search(model, enc, v_prob, spec, decode, self.stop_threshold(spec, decode))
        scores = v_prob if decode.stage == "pretrain-cnn" else path_scores(found, len(spec.labels))
        return Decoded(sequences=found.sequences, scores=scores)

    def export_outputs(self, model: OrderFreeModel, images: torch.Tensor, spec: ModelSpec,
                       decode: DecodeOptions) -> dict | None:
        """``mlcap export``: M_map's v_prob and its labels after pretrain-cnn; after finetune the
        scores come from the beam search itself (eq. 11), which is not traceable: None."""
        if decode.stage != "pretrain-cnn":
            return None
        _, v_prob = model.encode(images_only(images))
        return {"scores": v_prob, "sequence": padded_labels_at_or_above(v_prob, self.stop_threshold(spec, decode))}

    def threshold_kind(self, spec: ModelSpec) -> str | None:
        """The beam search's stop threshold, chosen on validation."""
        return "stop"

    def threshold_curve(self, model: OrderFreeModel, batches, spec: ModelSpec,
                        decode: DecodeOptions) -> dict[float, float] | None:
        """``{threshold: validation O-F1}`` over every piece of constant predictions (the core keeps
        the best)."""
        from mlcap_orderfree.threshold import validation_curve

        return validation_curve(self, model, batches, spec, decode)

    @torch.no_grad()
    def attention_maps(self, model: OrderFreeModel, batch: Batch, spec: ModelSpec, decode: DecodeOptions,
                       decoded: Decoded) -> list:
        """Per image (L, h, w): M_att's alpha_t at each step of the final beam path (finetune)."""
        if decode.stage != "finetune":
            return None
        if model.decoder.attend is None:
            raise MlcapError("--attention: this run was trained without attention (-o attention=false)")
        enc, v_prob = model.encode(batch)
        return model.decoder.attention(enc, v_prob, decoded.sequences)
