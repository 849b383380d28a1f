"""The contract between the core and a method plugin.

A method is an object registered under the ``mlcap.methods`` entry-point group
(see ``mlcap.plugins``). The core owns data, orderings, the training loop,
checkpoints, prediction output and metrics; a method owns its network and
says, per stage, which parameters train and what the loss is.

Networks are built from two kinds of parts:

* an **encoder** maps images (and optional noisy tags) to an ``EncoderOutput``:
  pooled features, a spatial feature map for attention, and optional concept
  logits (the CNN's own multi-label prediction);
* a **decoder** consumes an ``EncoderOutput`` and returns losses for training
  and label sequences plus per-label scores (``Decoded``) for prediction.

``mlcap.models.ConceptEncoder`` is the shared encoder; decoders live in the
plugins. The usual stages are ``STAGES``; a method may declare others (e.g.
scnnrnn's ``pretrain-tags``), run with ``mlcap stage NAME``.

How a stage trains is the method's ``Recipe`` for it (its paper's optimizer,
learning rates per named parameter group, schedule, epochs, the validation
metric that selects the best checkpoint); every field can be overridden from the
command line or TOML (``mlcap.training.recipe``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Protocol, runtime_checkable

from mlcap.errors import MlcapError

if TYPE_CHECKING:  # torch stays out of `mlcap --help`
    import torch
    from torch import nn

STAGES = ("pretrain-cnn", "pretrain-rnn", "finetune")

#: Padding value in ``Batch.sequences`` (ignored by cross-entropy).
PAD = -100

#: Label orders found during training by aligning the ground truth to the predictions.
ALIGNED_ORDERS = ("pla", "mla")

#: No target order at all: the method's loss does not depend on one (order-free training).
FREE_ORDER = "free"

#: The ``--order`` values a method accepts when it declares no ``orders`` of its own.
SEQUENCE_ORDERS = ("rare", "frequent", "dictionary", "random", "pla", "mla")


@dataclass
class EncoderOutput:
    pooled: "torch.Tensor"                          # (B, D)
    spatial: "torch.Tensor | None" = None           # (B, C, H, W)
    concept_logits: "torch.Tensor | None" = None    # (B, K), before the sigmoid


@dataclass
class Batch:
    ids: list[str]
    images: "torch.Tensor | None" # (B, 3, H, W), normalised for the backbone; None with cached features
    targets: "torch.Tensor"       # (B, K) multi-hot float
    sequences: "torch.Tensor"     # (B, T) label ids in training order, then END, then PAD
    tags: "torch.Tensor | None" = None   # (B, V) multi-hot noisy tags, when the dataset has them
    mask: "torch.Tensor | None" = None   # (B, K) 0 where a label's value is unknown (masked from losses)
    features: "tuple | None" = None      # cached backbone output (pooled, spatial) instead of images
    captions: "torch.Tensor | None" = None   # (B, T) word ids of one caption per image, then END, then PAD
    order: str = "rare"           # how ``sequences`` is ordered; for ALIGNED_ORDERS the decoder
                                  # re-orders the labels to its own predictions (mlcap.alignment)
    seeds: "list[int] | None" = None  # training: each sample's seed for this epoch (mlcap/seeding.py);
                                      # model-side draws use mlcap.nn.sample_noise, not torch.rand
    pending: object = None            # the loader's uint8 images, which batch_to_device normalises into
                                      # ``images`` (mlcap/data/image_batch.py): a method never sees this

    def pin_memory(self) -> "Batch":
        """DataLoader(pin_memory=True) calls this: the batch's CPU tensors in pinned memory."""
        for name in ("images", "targets", "sequences", "tags", "mask", "captions"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.pin_memory())
        if self.pending is not None:
            self.pending = self.pending.pin_memory()
        return self


def images_only(images) -> Batch:
    """A batch of normalised images and nothing else (what ``export_scores`` receives, traced)."""
    empty = images.new_zeros(images.shape[0], 0)
    return Batch(ids=[], images=images, targets=empty, sequences=empty.long())


@dataclass
class Decoded:
    sequences: list[list[int]]    # raw emitted label ids, in emitted order (duplicates kept)
    scores: "torch.Tensor"        # (B, K) a probability per label, for mAP and top-k
    captions: list[str] | None = None   # captioning: the generated sentence per image
    has_scores: bool = True       # False: the method predicts no label (concept) probabilities at
                                  # all (``scores`` is zeros): predictions carry none, and no label
                                  # metric is computed from them (e.g. scnnrnn's nic-f captioner)


OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "step", "plateau", "cosine", "swa")


@dataclass
class Recipe:
    """How one stage trains. ``group_lr`` and ``group_start`` name the groups returned by
    ``Method.parameter_groups``: a group's own learning rate, and the epoch (0-based) from
    which it trains, frozen before (e.g. ``{"backbone": 20}``: fixed for the first 20 epochs)."""

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9               # sgd, rmsprop
    nesterov: bool = False              # sgd
    betas: tuple[float, float] = (0.9, 0.999)   # adam, adamw
    alpha: float = 0.99                 # rmsprop smoothing (TensorFlow's "decay" is 0.9)
    weight_decay: float = 0.0
    group_lr: dict[str, float] = field(default_factory=dict)
    group_start: dict[str, int] = field(default_factory=dict)
    schedule: str = "constant"          # see SCHEDULES; swa = cyclical lr + weight averaging
    step_size: int = 10                 # step: lr x gamma every step_size epochs
    gamma: float = 0.1                  # step and plateau factor
    plateau_patience: int = 3           # plateau: epochs without improvement before x gamma
    lr_min: float = 1e-6                # cosine floor; swa: lr at each cycle's end
    swa_cycle: int = 3                  # swa: epochs per cycle
    epochs: int = 10
    select_by: str = "loss"             # validation metric selecting `best` ("loss": lowest val loss)
    augment: bool = False               # random affine / contrast / flip on training images


@dataclass
class ModelSpec:
    """What a method needs to build its network; saved with every checkpoint."""

    labels: list[str]
    num_tags: int = 0
    backbone: str = "smallcnn"
    image_size: int = 64
    weights: str | None = None      # local backbone weights (state dict)
    max_len: int = 10               # longest label sequence the decoder emits
    use_tags: bool = False          # feed noisy tags as side information
    freeze_cnn: bool = False        # unused; kept so that run.json files of mlcap 0.1 still load
    options: dict[str, Any] = field(default_factory=dict)   # method-specific, from [method-options] in TOML
    task: str = "multilabel"        # or "caption"
    words: list[str] = field(default_factory=list)   # caption vocabulary; words[0] is UNK_WORD
    max_caption_len: int = 20
    beam: int = 3                   # beam width at prediction and validation (see default_beam)
    label_counts: list[int] = field(default_factory=list)   # training images where each label is positive
    label_known: list[int] = field(default_factory=list)    # training images where its value is known
    threshold: float | list[float] | None = None   # the method's decision threshold (see Method.threshold)
    stage: str | None = None        # at prediction and validation: the stage whose weights are used

    @property
    def end_token(self) -> int:
        return len(self.labels)


UNK_WORD = "<unk>"


def cut_at_end(emitted: list[list[int]], end: int) -> list[list[int]]:
    """Per-step argmax rows -> label sequences, each cut before its first END (duplicates kept)."""
    return [row[: row.index(end)] if end in row else row for row in emitted]


def method_tasks(method) -> tuple[str, ...]:
    """The ``--task`` values ``method`` does (its ``tasks``; default multilabel only)."""
    return tuple(getattr(method, "tasks", ("multilabel",)))


def check_decoded(method, decoded: Decoded, batch: Batch, spec: ModelSpec) -> Decoded:
    """``decoded`` as ``predict`` must give it for ``batch``: one sequence and one score row per
    image, a score per label (a method that breaks this is named in one line)."""
    n, k = len(batch.ids), len(spec.labels)
    scores = tuple(decoded.scores.shape)
    if len(decoded.sequences) != n or scores[:1] != (n,) or (decoded.has_scores and scores != (n, k)):
        raise MlcapError(f"method {method.name!r}: predict gave {len(decoded.sequences)} sequences and scores of "
                         f"shape {scores} for a batch of {n} images and {k} labels")
    if decoded.captions is not None and len(decoded.captions) != n:
        raise MlcapError(f"method {method.name!r}: predict gave {len(decoded.captions)} captions for {n} images")
    return decoded


def check_state(method, state: dict) -> dict:
    """A model's ``state_dict`` holds tensors only, so that its checkpoints load without unpickling
    (``torch.load(weights_only=True)``); a method whose model keeps other objects is named."""
    import torch

    odd = [(name, type(value).__name__) for name, value in state.items() if not isinstance(value, torch.Tensor)]
    if odd:
        raise MlcapError(f"method {method.name!r}: its model's state holds a {odd[0][1]} at {odd[0][0]!r}; "
                         "checkpoints hold tensors only (they load without unpickling)")
    return state


def threshold_kind(method, spec: ModelSpec) -> str | None:
    """What ``spec.threshold`` means to this model: the method's ``threshold_kind(spec)`` where it
    has one, else its ``threshold`` (see ``Method``)."""
    declared = getattr(method, "threshold_kind", None)
    return declared(spec) if declared is not None else getattr(method, "threshold", None)


def no_threshold_message(method) -> str:
    """The ``--threshold`` refusal when ``threshold_kind`` is None (the method's options may be why)."""
    return (f"--threshold: method {method.name!r} has no decision threshold"
            + ("" if getattr(method, "threshold", None) is None else " with these options"))


def needs_spatial(method, stage: str, spec: ModelSpec) -> bool:
    """The method's ``stage_needs_spatial`` (see ``Method``); True when it does not have one."""
    declared = getattr(method, "stage_needs_spatial", None)
    return True if declared is None else bool(declared(stage, spec))


@runtime_checkable
class Method(Protocol):
    name: str
    summary: str
    stages: tuple[str, ...]         # the stages, in the order they run (STAGES or others of its own)
    stage_help: dict[str, str]      # one line per stage, shown by `mlcap methods` and `mlcap stage`
    options_model: type             # pydantic model of its --option values; fields made with
                                    # mlcap.config.structural() cannot change after the first stage
    threshold: str | None           # what ModelSpec.threshold means to predict(): "label" (a per-label
                                    # probability cut of Decoded.scores, global or per class), "stop" (a
                                    # decoder's stop threshold), or None; chosen on validation by the core,
                                    # a "stop" one over ``threshold_candidates`` (a sequence, default a
                                    # 0.05 grid) or, when the method has it, its exact
                                    # ``threshold_curve(model, loader, spec, device) -> {value: val O-F1}``
    # optional: ``threshold_kind(spec) -> str | None``, the same for one model where it depends on its
    # options (e.g. a top-k decoding that uses no threshold); the core asks ``threshold_kind``
    # below, which falls back to ``threshold``
    # optional: ``tasks``, the ``--task`` values it does (default ``("multilabel",)``; a first stage
    # with another task is refused)
    # optional: ``xfail_checks``, ``{check: why}``: the ``mlcap.testing.check_method`` checks it is
    # known not to pass (reported as expected failures; a failure once they pass)
    # optional: ``default_beam``, the beam width of its label decoding when ``predict --beam`` is not
    # given (default 1, greedy; captions always default to 3)
    # optional: ``stage_needs_images(stage, spec) -> bool``, False for a stage whose ``stage_loss``
    # never looks at ``Batch.images`` (e.g. an LSTM taught on the ground-truth concept vectors): the
    # core then opens no image file for that stage's training batches (``Batch.images`` is None,
    # and no image is augmented or skipped as unreadable); validation, which calls ``predict``,
    # still reads its images (default: every stage needs them)
    # optional: ``stage_needs_spatial(stage, spec) -> bool``, False for a stage whose ``stage_loss`` and
    # ``predict`` never read ``EncoderOutput.spatial`` (``Batch.features[1]``; a method without
    # attention): with ``--features`` the core then reads no spatial map from the cache for it (the
    # batch's ``features`` are ``(pooled, None)``, the encoder's ``spatial`` None); images still give
    # the backbone's spatial map (default: every stage needs them; see ``needs_spatial``)
    # optional: ``default_order``, the label order used when --order is not given (else "rare"), and
    # ``orders``, the --order values it accepts (else SEQUENCE_ORDERS; () for a method without
    # a label sequence, which then refuses --order)
    # optional: ``attention_maps(model, batch, spec, decoded) -> list[Tensor]``, per image a map
    # (L, h, w) over the feature grid for each of the L labels of ``decoded.sequences`` (repeats
    # included), written by ``predict --attention DIR``; ``attention_stages``, the stages whose
    # checkpoints have them (default all)
    # optional: ``default_stages(train_flags) -> tuple[str, ...]``, the stages a full training runs,
    # in order, given the training flags of its first stage (``mlcap compare``; default: ``stages``)
    # optional: ``export_outputs(model, images, spec) -> dict | None``: what ``predict`` gives, as
    # a function of the normalised images alone (``images_only(images)`` makes the batch), with
    # tensor operations only (no Python branch on values, no loop of data-dependent length), so
    # that ``mlcap export`` can trace it to TorchScript or ONNX: ``"scores"`` (B, K), as
    # ``Decoded.scores`` (captioning: the concepts), and, where the decoding is traceable,
    # ``"sequence"`` (B, T) label ids in emitted order, -1 where there is none (read left to right,
    # skipping -1, it is ``Decoded.sequences``); None where this stage needs the decoder's search
    # even for its scores. Without it, or with None, the export is the encoder (images -> pooled).

    def build(self, spec: ModelSpec) -> "nn.Module":
        """A fresh network (an ``nn.Module`` with ``encoder`` and optional ``decoder``)."""

    def recipe(self, stage: str, spec: ModelSpec, dataset: str) -> Recipe:
        """The paper's recipe for ``stage`` (``dataset`` is the prepared dataset's name, for presets)."""

    def parameter_groups(self, model: "nn.Module", stage: str, spec: ModelSpec) -> dict[str, Iterable["nn.Parameter"]]:
        """Named groups of the parameters that train in ``stage``; all others are frozen."""

    def stage_loss(self, model: "nn.Module", batch: Batch, stage: str, spec: ModelSpec) -> dict[str, "torch.Tensor"]:
        """Named loss terms; ``"loss"`` is the one optimised."""

    def predict(self, model: "nn.Module", batch: Batch, spec: ModelSpec) -> Decoded:
        """Label sequences and scores for a batch, with the model in eval mode."""
