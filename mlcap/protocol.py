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
plugins. The stages a method may implement are, in order, ``STAGES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Protocol, runtime_checkable

if TYPE_CHECKING:  # torch stays out of `mlcap --help`
    import torch
    from torch import nn

STAGES = ("pretrain-cnn", "pretrain-rnn", "finetune")

#: Padding value in ``Batch.sequences`` (ignored by cross-entropy).
PAD = -100

#: Label orders found during training by aligning the ground truth to the predictions.
ALIGNED_ORDERS = ("pla", "mla")


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


@dataclass
class Decoded:
    sequences: list[list[int]]    # raw emitted label ids, in emitted order (duplicates kept)
    scores: "torch.Tensor"        # (B, K) a probability per label, for mAP and top-k
    captions: list[str] | None = None   # captioning: the generated sentence per image


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
    freeze_cnn: bool = False        # finetune with the encoder fixed (the papers' "Fix")
    options: dict[str, Any] = field(default_factory=dict)   # method-specific, from [method-options] in TOML
    task: str = "multilabel"        # or "caption"
    words: list[str] = field(default_factory=list)   # caption vocabulary; words[0] is UNK_WORD
    max_caption_len: int = 20
    beam: int = 3                   # captioning: beam width at prediction

    @property
    def end_token(self) -> int:
        return len(self.labels)


UNK_WORD = "<unk>"


def cut_at_end(emitted: list[list[int]], end: int) -> list[list[int]]:
    """Per-step argmax rows -> label sequences, each cut before its first END (duplicates kept)."""
    return [row[: row.index(end)] if end in row else row for row in emitted]


@runtime_checkable
class Method(Protocol):
    name: str
    summary: str
    stages: tuple[str, ...]         # a subset of STAGES, in the order they run
    # optional: ``default_order``, the label order used when --order is not given (else "rare")

    def build(self, spec: ModelSpec) -> "nn.Module":
        """A fresh network (an ``nn.Module`` with ``encoder`` and optional ``decoder``)."""

    def trainable_parameters(self, model: "nn.Module", stage: str, spec: ModelSpec) -> Iterable["nn.Parameter"]:
        """The parameters that train in ``stage``; all others are frozen."""

    def stage_loss(self, model: "nn.Module", batch: Batch, stage: str, spec: ModelSpec) -> dict[str, "torch.Tensor"]:
        """Named loss terms; ``"loss"`` is the one optimised."""

    def predict(self, model: "nn.Module", batch: Batch, spec: ModelSpec) -> Decoded:
        """Label sequences and scores for a batch, with the model in eval mode."""
