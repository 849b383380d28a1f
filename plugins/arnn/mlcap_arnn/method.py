"""Stages of ARNN, the attentive recurrent neural network (Li et al., ACM MM 2018, "Attentive
Recurrent Neural Network for Weak-supervised Multi-label Image Classification"; cited by section
and equation).

* ``pretrain-cnn``: the backbone and a concept head with BCE, a stand-in for the ImageNet
  pretraining of the paper's VGG16 when the backbone has none (the synthetic set's smallcnn);
  skip it with ``--weights``: ``finetune`` then starts from the pretrained backbone.
* ``finetune``: the whole network end to end (Algorithm 1): RHN -> T candidate glimpses
  (eqs. 1-2), the emission indicator (REINFORCE, eqs. 4-6), the context extractor and GRRE
  (eqs. 7-8) on the emitted glimpses, eq. 9's prediction per emitted glimpse and eq. 10's loss.

Choices where the paper leaves room (docs/methods/arnn.md; ``--option KEY=VALUE``):

* Glimpse 1 sees the whole map (A_1 = 1). The deconvolution of eq. 2 is a transposed
  convolution with a g x g kernel on l_{t-1} as a 1 x 1 map (``mlcap_arnn.network``).
* Context extractor: ReLU after both convolutions, ``dilation=2``; 256 channels each.
* Emission (Sec. 3.3 "Emission Indicator"): e_t ~ Bernoulli(sigma(FC(X_t))) in training,
  ``samples=4`` (K) sequences per image; at prediction and validation e_t = [sigma >=
  ``emit_threshold`` (0.5)], or ``emit=sample``. The policy and the value network read X_t without
  passing gradients back into the RHN (the REINFORCE term trains f_e alone; eq. 10 trains the rest).
* Reward (eq. 6) at the last glimpse only, so R_t = R_T for every t; ``reward_count=glimpses``:
  each emitted glimpse is a classification, a repeated label a false one (``labels``: distinct
  labels). Baseline b_t = FC(X_t), a value network trained by squared error to R_t.
* Loss = eq. 10 + ``reinforce_weight`` (1) x the REINFORCE surrogate (eq. 5) + ``value_weight``
  (1) x the baseline's squared error. Eq. 10 is averaged over the K sampled emission sets
  (``ce_samples=mean``; ``greedy``: on the set [sigma >= 0.5] alone); a set with nothing emitted
  adds 0. P^_i: glimpses matched to ground-truth labels by minimum total -log P (Hungarian), a
  glimpse left over takes its most probable ground-truth label (``mlcap_arnn.reward``).
* GRRE weights shared by all glimpses, f^0 = 0 (``mlcap_arnn.network``).
* Output: the labels of the emitted glimpses in order (the core removes and counts duplicates);
  scores = per label the maximum of P_i over the emitted glimpses (0 when nothing is emitted).
* Recipe (Sec. 4.1 "Implementation Details"): Adam 1e-3, betas (0.8, 0.999); "staircase weight decay
  after 10 epochs" read as the learning rate x 0.1 every 10 epochs; the backbone fixed for 20 epochs
  and then trained, when the staircase has reached 1e-3 x 0.01 = 1e-5, the paper's fine-tuning rate;
  30 epochs (not stated). The best checkpoint is chosen by validation C-F1 (the paper's F_L).
* Ablations (Table 1): ``ce=false``, ``ei=false`` (every glimpse emitted, no REINFORCE),
  ``grre=false``, ``grre=rnn``; ``ce=false grre=false`` together.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from mlcap.nn import ConceptEncoder, create_backbone, sample_bernoulli
from mlcap.nn.alignment import label_sets_of
from mlcap.nn.decoding import labels_at_or_above, padded_labels_at_or_above
from mlcap.nn.losses import concept_bce
from mlcap.nn.reinforce import baseline_loss, bernoulli_log_prob, reinforce_loss, returns_to_go
from mlcap.protocol import (Batch, DecodeOptions, Decoded, Method, ModelSpec, Recipe, images_only, method_options,
                            structural)

from mlcap_arnn.network import (ContextExtractor, FeatureMap, GatedRelationExtractor, HighlightNetwork,
                                LabelPredictor, PlainRelationRNN)
from mlcap_arnn.reward import R_EMPTY, R_MINUS, R_PLUS, glimpse_targets, rewards


class ARNNOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dim: int = structural(512, ge=1)               # X_t, O_i
    channels: int = structural(512, ge=1)          # V_I's channels for a projected backbone
    grid: int = structural(7, ge=1)                # V_I's grid (smallcnn: image size / 8)
    context_width: int = structural(256, ge=1)
    dilation: int = structural(2, ge=1)
    glimpses: int = structural(10, ge=1)           # T
    highlight_init: Literal["default", "ones"] = structural("default")   # the deconvolution's bias
    ce: bool = structural(True)
    ei: bool = structural(True)
    grre: Literal["gated", "rnn", "none"] = structural("gated")
    samples: int = Field(4, ge=1)                  # K
    reward_count: Literal["glimpses", "labels"] = "glimpses"
    r_plus: float = R_PLUS
    r_minus: float = R_MINUS
    r_empty: float = R_EMPTY
    reinforce_weight: float = Field(1.0, ge=0)
    value_weight: float = Field(1.0, ge=0)
    ce_samples: Literal["mean", "greedy"] = "mean"
    emit: Literal["threshold", "sample"] = "threshold"
    emit_threshold: float = Field(0.5, ge=0, le=1)

    @field_validator("grre", mode="before")
    @classmethod
    def _grre_bool(cls, value):
        """``grre=true|false`` as Table 1 names them: the gated extractor, or none."""
        text = str(value).lower()
        return {"true": "gated", "false": "none"}.get(text, value)


def options(spec: ModelSpec) -> ARNNOptions:
    return method_options(ARNNOptions, "arnn", spec.options)


class ARNNModel(nn.Module):
    def __init__(self, encoder: ConceptEncoder, spec: ModelSpec, opts: ARNNOptions):
        super().__init__()
        backbone = encoder.backbone
        grid = spec.image_size // 8 if spec.backbone == "smallcnn" else opts.grid
        self.encoder = encoder
        self.features = FeatureMap(spec.backbone, backbone.spatial_dim, grid, opts.channels)
        channels = self.features.channels
        self.rhn = HighlightNetwork(channels, grid, opts.dim, opts.highlight_init)
        self.context = ContextExtractor(channels, opts.context_width, opts.dilation) if opts.ce else None
        self.emit = nn.Linear(opts.dim, 1)          # f_e (Sec. 3.3)
        self.value = nn.Linear(opts.dim, 1)         # baseline b_t
        self.relation = {"gated": lambda: GatedRelationExtractor(opts.dim),
                         "rnn": lambda: PlainRelationRNN(opts.dim), "none": lambda: None}[opts.grre]()
        self.head = LabelPredictor(opts.dim, self.context.dim if self.context else None,
                                   self.relation is not None, len(spec.labels))

    def glimpses(self, batch: Batch, T: int):
        """X (B, T, dim), C (B, T, ctx) or None, and the highlighted features V_t (B, T, C, g, g)."""
        enc = self.encoder.encode(batch)
        v, x, _ = self.rhn(self.features(enc.spatial.float()), T)
        c = self.context(v.flatten(0, 1)).view(v.shape[0], T, -1) if self.context is not None else None
        return x, c, v

    def emission_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.emit(x.detach()).squeeze(-1))

    def logits(self, x: torch.Tensor, c: torch.Tensor | None, emitted: torch.Tensor) -> torch.Tensor:
        """Eq. 9 (before the softmax) for every glimpse; only the emitted ones are meaningful."""
        o = self.relation(x, emitted) if self.relation is not None else None
        return self.head(x, c, o)


def repeat_rows(t: torch.Tensor | None, k: int) -> torch.Tensor | None:
    """(B, ...) -> (k B, ...), sample-major (row k B + b is image b's k-th sample)."""
    return None if t is None else t.repeat(k, *([1] * (t.dim() - 1)))


def sequence_ce(log_probs: torch.Tensor, emitted: torch.Tensor, label_sets: list[list[int]]) -> torch.Tensor:
    """(N,) eq. 10 per emission set: -1/N_e sum_i log P^_i (0 when nothing is emitted)."""
    targets = glimpse_targets(log_probs, emitted, label_sets)
    nll = F.nll_loss(log_probs.flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="none")
    n_e = (targets != -100).sum(1).clamp(min=1)
    return nll.view(targets.shape).sum(1) / n_e


class ARNNMethod(Method):
    name = "arnn"
    summary = "Attentive RNN: recurrent highlight network, REINFORCE emission indicator, GRRE (ACM MM 2018)"
    stages = ("pretrain-cnn", "finetune")
    options_model = ARNNOptions
    orders = ()                 # no label sequence to order; the emission indicator decides (no threshold)
    stage_help = {"pretrain-cnn": "backbone + concept head with BCE (stands in for ImageNet pretraining; "
                                  "skip it with --weights)",
                  "finetune": "RHN glimpses, emission indicator by REINFORCE, context extractor, GRRE, eq. 10; "
                              "backbone from epoch 20"}

    def recipe(self, stage: str, spec: ModelSpec, dataset: str) -> Recipe:
        adam = dict(optimizer="adam", lr=1e-3, betas=(0.8, 0.999))
        if stage == "pretrain-cnn":
            return Recipe(**adam, epochs=10, select_by="loss")
        return Recipe(**adam, schedule="step", step_size=10, gamma=0.1, epochs=30,
                      group_start={"backbone": 20}, select_by="C-F1")

    def parameter_groups(self, model: ARNNModel, stage: str, spec: ModelSpec):
        backbone = list(model.encoder.backbone.parameters())
        if stage == "pretrain-cnn":
            fixed = {id(p) for p in backbone}
            return {"backbone": backbone, "heads": [p for p in model.encoder.parameters() if id(p) not in fixed]}
        encoder = {id(p) for p in model.encoder.parameters()}
        return {"backbone": backbone, "arnn": [p for p in model.parameters() if id(p) not in encoder]}

    def build(self, spec: ModelSpec) -> ARNNModel:
        backbone = create_backbone(spec.backbone, weights=spec.weights)
        return ARNNModel(ConceptEncoder(backbone, len(spec.labels), spec.num_tags), spec, options(spec))

    def stage_loss(self, model: ARNNModel, batch: Batch, stage: str, spec: ModelSpec) -> dict:
        if stage == "pretrain-cnn":
            bce = concept_bce(model.encoder.encode(batch).concept_logits, batch)
            return {"loss": bce, "bce": bce}
        opts = options(spec)
        x, c, _ = model.glimpses(batch, opts.glimpses)
        B, T, _ = x.shape
        sets = label_sets_of(batch.targets)
        if not opts.ei:                                                   # w/o EI: every glimpse emitted
            emitted = torch.ones(B, T, dtype=torch.bool, device=x.device)
            ce = sequence_ce(torch.log_softmax(model.logits(x, c, emitted).float(), -1), emitted, sets).mean()
            return {"loss": ce, "ce": ce, "emitted": emitted.sum(1).float().mean()}
        p = model.emission_probs(x)                                       # (B, T)
        greedy = p >= opts.emit_threshold
        K = opts.samples if model.training else 1
        emitted = sample_bernoulli(p, K) if model.training else greedy
        rows = model.logits(repeat_rows(x, K), repeat_rows(c, K), emitted).float()
        ce_rows = sequence_ce(torch.log_softmax(rows, -1), emitted, sets * K)       # eq. 10 per sample
        if opts.ce_samples == "greedy" and model.training:
            ce = sequence_ce(torch.log_softmax(model.logits(x, c, greedy).float(), -1), greedy, sets).mean()
        else:
            ce = ce_rows.mean()
        unknown = None if batch.mask is None else [frozenset(s) for s in label_sets_of(1 - batch.mask)] * K
        reward = rewards(rows, emitted, [set(s) for s in sets] * K, opts.reward_count,
                         opts.r_plus, opts.r_minus, opts.r_empty, unknown)       # eq. 6
        final = torch.zeros(len(reward), T, device=x.device)
        final[:, -1] = reward                                             # returned at the T-th glimpse
        returns = returns_to_go(final)                                    # R_t = sum_{t' >= t} r_t'
        baseline = repeat_rows(model.value(x.detach()).squeeze(-1), K)    # b_t
        log_pi = bernoulli_log_prob(repeat_rows(p, K), emitted.float())
        policy = reinforce_loss(log_pi, returns, baseline)                # eq. 5
        value = baseline_loss(baseline, returns)
        loss = ce + opts.reinforce_weight * policy + opts.value_weight * value
        return {"loss": loss, "ce": ce, "reinforce": policy, "value": value, "reward": reward.mean(),
                "emitted": emitted.sum(1).float().mean()}

    @torch.no_grad()
    def emitted_glimpses(self, model: ARNNModel, batch: Batch, spec: ModelSpec):
        """Prediction's forward pass: (P (B, T, D), emission mask (B, T), V_t (B, T, C, g, g))."""
        opts = options(spec)
        x, c, v = model.glimpses(batch, opts.glimpses)
        if not opts.ei:
            emitted = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        elif opts.emit == "sample":
            emitted = torch.bernoulli(model.emission_probs(x)).bool()
        else:
            emitted = model.emission_probs(x) >= opts.emit_threshold
        return torch.softmax(model.logits(x, c, emitted).float(), -1), emitted, v

    @torch.no_grad()
    def predict(self, model: ARNNModel, batch: Batch, spec: ModelSpec, decode: DecodeOptions) -> Decoded:
        if decode.stage == "pretrain-cnn":                # the concept head alone
            s = torch.sigmoid(model.encoder.encode(batch).concept_logits.float())
            return Decoded(sequences=labels_at_or_above(s, 0.5), scores=s)
        probs, emitted, _ = self.emitted_glimpses(model, batch, spec)
        labels = probs.argmax(-1)
        sequences = [labels[b][emitted[b]].tolist() for b in range(labels.shape[0])]
        scores = (probs * emitted[..., None]).amax(1)
        return Decoded(sequences=sequences, scores=scores)

    def export_outputs(self, model: ARNNModel, images: torch.Tensor, spec: ModelSpec,
                       decode: DecodeOptions) -> dict | None:
        """``predict`` with tensor operations only (``mlcap export``); the sequence has one slot per
        glimpse, -1 where the emission indicator emits nothing. ``-o emit=sample`` draws at random:
        not exported."""
        batch = images_only(images)
        if decode.stage == "pretrain-cnn":
            s = torch.sigmoid(model.encoder.encode(batch).concept_logits.float())
            return {"scores": s, "sequence": padded_labels_at_or_above(s, 0.5)}
        if options(spec).emit == "sample":
            return None
        probs, emitted, _ = self.emitted_glimpses(model, batch, spec)
        labels = probs.argmax(-1)
        return {"scores": (probs * emitted[..., None]).amax(1),
                "sequence": torch.where(emitted, labels, torch.full_like(labels, -1))}

    @torch.no_grad()
    def attention_maps(self, model: ARNNModel, batch: Batch, spec: ModelSpec, decode: DecodeOptions,
                       decoded: Decoded) -> list:
        """Per image (N_e, g, g): each emitted glimpse's highlighted features V_t = V_I (x) A_t,
        averaged over channels (the paper's Figure 6 shows where V_t concentrates). With
        ``emit=sample`` the maps come from a fresh draw of the emissions. None at pretrain-cnn."""
        if decode.stage != "finetune":
            return None
        _, emitted, v = self.emitted_glimpses(model, batch, spec)
        heat = v.abs().mean(2)                                          # (B, T, g, g)
        return [heat[b][emitted[b]] for b in range(heat.shape[0])]
