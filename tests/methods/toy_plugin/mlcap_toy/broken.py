"""The toy method with one guarantee broken per class; ``check_method`` must name each."""

from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F
from pydantic import Field

from mlcap.protocol import Decoded

from mlcap_toy import ToyMethod, ToyModel, ToyOptions


class BadRows(ToyMethod):
    """stages: ``predict`` drops the last image of every batch."""
    name = "toy-bad-rows"

    def predict(self, model, batch, spec, decode):
        decoded = super().predict(model, batch, spec, decode)
        return Decoded(sequences=decoded.sequences[:-1], scores=decoded.scores[:-1])


class ReadsIds(ToyMethod):
    """images: the prediction depends on the image's id, not only on its pixels."""
    name = "toy-reads-ids"

    def predict(self, model, batch, spec, decode):
        decoded = super().predict(model, batch, spec, decode)
        bumped = [[zlib.crc32(str(i).encode()) % decoded.scores.shape[1]] for i in batch.ids]
        return Decoded(sequences=bumped, scores=decoded.scores)


class Opaque:
    """A Python object that only unpickling can bring back."""

    def __init__(self, note: str):
        self.note = note


class PickledModel(ToyModel):
    def get_extra_state(self):
        return Opaque("kept with the weights")

    def set_extra_state(self, state):
        self.note = state


class Pickled(ToyMethod):
    """weights_only: the model keeps a Python object in its state, so checkpoints need unpickling."""
    name = "toy-pickled"
    stages = ("pretrain-cnn",)

    def build(self, spec):
        return PickledModel(super().build(spec).encoder)


class IgnoresThreshold(ToyMethod):
    """threshold: declares one but always cuts at 0.5."""
    name = "toy-ignores-threshold"

    def cut(self, decode):
        return 0.5


class BadAttention(ToyMethod):
    """attention: one map per image, whatever it emitted."""
    name = "toy-bad-attention"

    def attention_maps(self, model, batch, spec, decode, decoded):
        return [m[:1] if len(m) else m.new_zeros(1, *m.shape[1:]) for m in super().attention_maps(model, batch, spec, decode,
                                                                                                  decoded)]


class BadExport(ToyMethod):
    """export: the exported scores are logits, not the probabilities ``predict`` gives."""
    name = "toy-bad-export"

    def export_outputs(self, model, images, spec, decode):
        out = super().export_outputs(model, images, spec, decode)
        return {**out, "scores": torch.logit(out["scores"].clamp(1e-6, 1 - 1e-6))}


class NeedsImages(ToyMethod):
    """features: the loss reads ``batch.images`` directly, so a feature cache cannot train it."""
    name = "toy-needs-images"

    def logits(self, model, batch):
        return model.encoder(batch.images).concept_logits.float()


class UnusedOptions(ToyOptions):
    temperature: float = Field(1.0, gt=0)       # declared, read by nothing


class UnusedOption(ToyMethod):
    """later_options: an option that nothing reads, taken silently at a later stage."""
    name = "toy-unused-option"
    options_model = UnusedOptions


class CountsCalls(ToyMethod):
    """resume: the loss depends on how many steps this process has run (state outside the run)."""
    name = "toy-counts-calls"
    calls = 0

    def stage_loss(self, model, batch, stage, spec):
        type(self).calls += 1
        out = super().stage_loss(model, batch, stage, spec)
        return {**out, "loss": out["loss"] * (1 + 0.01 * type(self).calls)}


class GlobalDropout(ToyMethod):
    """ranks: dropout from the process's random stream, not from each sample's seed."""
    name = "toy-global-dropout"

    def logits(self, model, batch):
        enc = model.encoder
        pooled = enc.backbone(batch.images)[0] if batch.images is not None else batch.features[0]
        return enc.concept_head(F.dropout(pooled, 0.5, training=model.training)).float()
