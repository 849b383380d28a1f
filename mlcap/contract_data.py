"""The data that crosses the contract between the core and a method (``mlcap.protocol``):
what a batch holds, what an encoder and a decoder give back, how a stage trains (``Recipe``) and
what a network is built from (``ModelSpec``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch stays out of `mlcap --help`
    import torch

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
                                  # re-orders the labels to its own predictions (mlcap.nn.alignment)
    seeds: "list[int] | None" = None  # training: each sample's seed for this epoch (mlcap/seeding.py);
                                      # model-side draws use mlcap.nn.sample_uniform / sample_bernoulli, not torch.rand
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
    options: dict[str, Any] = field(default_factory=dict)   # method-specific, from [method-options] in TOML
    task: str = "multilabel"        # or "caption"
    words: list[str] = field(default_factory=list)   # caption vocabulary; words[0] is UNK_WORD
    max_caption_len: int = 20
    label_counts: list[int] = field(default_factory=list)   # training images where each label is positive
    label_known: list[int] = field(default_factory=list)    # training images where its value is known

    @property
    def end_token(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class DecodeOptions:
    """How ``predict`` decodes, per call (not saved with the network, unlike ``ModelSpec``)."""

    stage: str | None = None        # the stage whose weights the model holds (e.g. "pretrain-cnn": the
                                    # decoder is still untrained)
    beam: int = 1                   # beam width (the method's ``default_beam``, or ``predict --beam``)
    threshold: float | list[float] | None = None   # the decision threshold (``Method.threshold_kind``);
                                                   # None: the method's default


UNK_WORD = "<unk>"


def cut_at_end(emitted: list[list[int]], end: int) -> list[list[int]]:
    """Per-step argmax rows -> label sequences, each cut before its first END (duplicates kept)."""
    return [row[: row.index(end)] if end in row else row for row in emitted]
