"""The contract between the core and a method: the ``Method`` base class.

A method is an instance of a ``Method`` subclass registered under the ``mlcap.methods``
entry-point group (``mlcap.plugins``); the built-in ones register exactly so. The core owns data,
orderings, the training loop, checkpoints, prediction output and metrics; a method owns its network
and says, per stage, which parameters train, what the loss is and how it predicts. A method imports
this module and the toolkit ``mlcap.nn``, nothing else of mlcap.

Five hooks are required (``build``, ``recipe``, ``parameter_groups``, ``stage_loss``, ``predict``);
every other hook and attribute below has a default that suits a method without that feature, and the
core calls them directly.

The network ``build`` returns is an ``nn.Module`` whose ``encoder`` attribute is an
``mlcap.nn.ConceptEncoder`` (or has its interface: a ``backbone`` module and ``encode(batch) ->
EncoderOutput``, which reads ``Batch.features`` when the batch carries cached backbone output).
The core reaches the encoder for ``--features`` caches, frozen backbones and exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlcap.contract_data import (ALIGNED_ORDERS, FREE_ORDER, OPTIMIZERS, PAD, SCHEDULES, SEQUENCE_ORDERS, STAGES,
                                 UNK_WORD, Batch, DecodeOptions, Decoded, EncoderOutput, ModelSpec, Recipe, cut_at_end,
                                 images_only)
from mlcap.errors import MlcapError, did_you_mean

if TYPE_CHECKING:  # torch stays out of `mlcap --help`
    import torch
    from torch import nn

__all__ = ["ALIGNED_ORDERS", "FREE_ORDER", "OPTIMIZERS", "PAD", "SCHEDULES", "SEQUENCE_ORDERS", "STAGES", "UNK_WORD",
           "Batch", "DecodeOptions", "Decoded", "EncoderOutput", "Method", "MlcapError", "ModelSpec", "NoOptions", "Recipe",
           "StageInputs", "cut_at_end", "images_only", "method_options", "structural"]


class NoOptions(BaseModel):
    """The options of a method that has none (``--option`` is then refused)."""

    model_config = ConfigDict(extra="forbid")


def structural(default, **kwargs):
    """A method option fixed by the run's first stage (network sizes, vocabularies, variants)."""
    return Field(default, json_schema_extra={"structural": True}, **kwargs)


def method_options(model: type[BaseModel], method: str, options: dict):
    """``options`` (``--option``, ``[method-options]``) validated by a method's pydantic ``model``."""
    try:
        return model(**options)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "options"
        if err["type"] == "extra_forbidden":
            valid = list(model.model_fields)
            raise MlcapError(f"{method}: method option {where!r} is unknown (options: {', '.join(valid) or 'none'})"
                             + did_you_mean(where, valid)) from None
        raise MlcapError(f"{method}: method option {where!r}: {err['msg']}") from None


@dataclass(frozen=True)
class StageInputs:
    """What one stage reads of a batch (``Method.stage_inputs``)."""

    images: bool = True     # False: ``stage_loss`` never looks at ``Batch.images``; the core opens no image
                            # file for the stage's training batches (validation, which predicts, still does)
    spatial: bool = True    # False: ``stage_loss`` and ``predict`` never read ``EncoderOutput.spatial``;
                            # ``--features`` then reads no spatial map from its cache
    tags_only: bool = False  # True: the stage learns from the noisy tags alone; a full training
                             # (``mlcap compare``) runs it only for runs with ``--use-tags``


class Method:
    """Subclass it, set ``name`` and ``summary``, and implement the five required hooks."""

    name: str = ""
    summary: str = ""                           # one line, shown by ``mlcap methods``
    stages: tuple[str, ...] = STAGES            # the stages, in the order they run
    stage_help: dict[str, str] = {}             # one line per stage (``mlcap methods``, ``mlcap stage``)
    options_model: type[BaseModel] = NoOptions  # pydantic model of its ``--option`` values; fields made
                                                # with ``structural()`` cannot change after the first stage
    tasks: tuple[str, ...] = ("multilabel",)    # the ``--task`` values it does (others are refused)
    orders: tuple[str, ...] = SEQUENCE_ORDERS   # the ``--order`` values it accepts, its default first;
                                                # () for a method without a label sequence (--order refused)
    default_beam: int | None = None             # beam width of its label decoding when ``--beam`` is not
                                                # given; None: no beam search (``--beam`` refused). Captions
                                                # are always beam-searched (default 3)
    xfail_checks: dict[str, str] = {}           # ``{check: why}``: ``mlcap.testing.check_method`` checks it is
                                                # known not to pass (a failure once they pass)

    # -- required ---------------------------------------------------------------------------------

    def build(self, spec: ModelSpec) -> "nn.Module":
        """A fresh network: an ``nn.Module`` with an ``encoder`` (see the module docstring)."""
        raise NotImplementedError

    def recipe(self, stage: str, spec: ModelSpec, dataset: str) -> Recipe:
        """The paper's recipe for ``stage`` (``dataset``: the prepared dataset's name, for presets)."""
        raise NotImplementedError

    def parameter_groups(self, model: "nn.Module", stage: str, spec: ModelSpec) -> dict[str, Iterable["nn.Parameter"]]:
        """Named groups of the parameters that train in ``stage``; all others are frozen."""
        raise NotImplementedError

    def stage_loss(self, model: "nn.Module", batch: Batch, stage: str, spec: ModelSpec) -> dict[str, "torch.Tensor"]:
        """Named loss terms; ``"loss"`` is the one optimised."""
        raise NotImplementedError

    def predict(self, model: "nn.Module", batch: Batch, spec: ModelSpec, decode: DecodeOptions) -> Decoded:
        """Label sequences and scores for a batch, with the model in eval mode (``decode``: the stage
        whose weights the model holds, the beam width and the threshold)."""
        raise NotImplementedError

    # -- optional, with defaults ------------------------------------------------------------------

    def options(self, spec: ModelSpec) -> BaseModel:
        """The run's ``--option`` values, validated by ``options_model`` (one line naming a bad one)."""
        return method_options(self.options_model, self.name, spec.options)

    def threshold_kind(self, spec: ModelSpec) -> str | None:
        """What ``DecodeOptions.threshold`` means to ``predict`` for this model: ``"label"`` (a probability cut
        of ``Decoded.scores``, global or per class), ``"stop"`` (a decoder's stop threshold) or None (no
        threshold; ``--threshold`` refused). The core chooses it on validation after each stage."""
        return None

    def threshold_curve(self, model: "nn.Module", batches: Iterable[Batch], spec: ModelSpec,
                        decode: DecodeOptions) -> dict[float, float] | None:
        """For a ``"stop"`` threshold: ``{threshold: validation O-F1}`` over every value at which the
        decoding can change, from the validation ``batches`` (on the model's device). None: the core
        tries a grid of thresholds instead, decoding validation once per value."""
        return None

    def silence_advice(self, stage: str, spec: ModelSpec, recipe: Recipe) -> str | None:
        """Advice of the method's own, added to the warning the core prints when ``stage``'s model
        emits no label for (almost) every validation image, or the same labels for all of them
        (``recipe``: the stage's, with the options given): e.g. that its recipe needs many epochs on
        small data, and the option to try. None (the default): the usual causes alone."""
        return None

    def label_layout(self, spec: ModelSpec) -> dict[str, dict[int, tuple]]:
        """Where the network's tensors hold labels among other entries, for ``--init-from`` a
        checkpoint of other labels (copied by label name): ``{tensor name: {dimension: segments}}``,
        each segment ``"labels"`` (one entry per label, in the run's order), a number of entries of no
        label (copied as they are), or at most one None (the entries the others leave), e.g.
        ``{"decoder.cell.weight_ih": {1: ("labels", None, "labels")}}`` for an input made of label scores,
        features and the previous label. The core finds the rest itself: a dimension that grows by one
        with each label holds the labels first, then entries of no label (an END token). Default: {}."""
        return {}

    def stage_inputs(self, stage: str, spec: ModelSpec) -> StageInputs:
        """What ``stage`` reads of a batch (default: everything)."""
        return StageInputs()

    def attention_maps(self, model: "nn.Module", batch: Batch, spec: ModelSpec, decode: DecodeOptions,
                       decoded: Decoded) -> list | None:
        """Per image a map (L, h, w) over the feature grid for each of the L labels of
        ``decoded.sequences`` (repeats included), written by ``predict --attention DIR``; None where
        this stage's model has no attention (the default)."""
        return None

    def export_outputs(self, model: "nn.Module", images: "torch.Tensor", spec: ModelSpec,
                       decode: DecodeOptions) -> dict | None:
        """What ``predict`` gives, as a function of the normalised images alone (``images_only(images)``
        makes the batch), with tensor operations only (no Python branch on values, no loop of
        data-dependent length), so that ``mlcap export`` can trace it: ``"scores"`` (B, K), as
        ``Decoded.scores``, and, where the decoding is traceable, ``"sequence"`` (B, T) label ids in
        emitted order, -1 where there is none. None (the default): the export is the encoder
        (images -> pooled features)."""
        return None
