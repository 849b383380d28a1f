"""The CNN encoder every method shares: backbone + concept head (+ noisy-tag side information)."""

from __future__ import annotations

import torch
from torch import nn

from mlcap.sample_noise import SampleDropout
from mlcap.protocol import EncoderOutput


class ConceptEncoder(nn.Module):
    """Backbone features and concept logits ``s`` over the K labels.

    With ``num_tags > 0`` an MLP over the image's noisy-tag vector (one 256-unit
    ReLU hidden layer, then K outputs) is *summed* into the concept logits
    (S-CNN-RNN's side-information branch). The paper sums the two models'
    "predictions" without saying whether logits or probabilities; logits are
    summed here, so that sigmoid(sum) is still a probability for the BCE.
    """

    def __init__(self, backbone: nn.Module, num_labels: int, num_tags: int = 0, dropout: float = 0.0):
        super().__init__()
        self.backbone = backbone
        self.dropout = SampleDropout(dropout)
        self.concept_head = nn.Linear(backbone.feature_dim, num_labels)
        self.tag_mlp = (nn.Sequential(nn.Linear(num_tags, 256), nn.ReLU(inplace=True), nn.Linear(256, num_labels))
                        if num_tags > 0 else None)

    def forward(self, images: torch.Tensor | None, tags: torch.Tensor | None = None,
                features: tuple | None = None) -> EncoderOutput:
        pooled, spatial = features if features is not None else self.backbone(images)
        logits = self.concept_head(self.dropout(pooled))
        if self.tag_mlp is not None:
            if tags is None:
                raise ValueError("this encoder was built with tag side information; the batch has no tags")
            logits = logits + self.tag_mlp(tags)
        return EncoderOutput(pooled=pooled, spatial=spatial, concept_logits=logits)

    def encode(self, batch) -> EncoderOutput:
        """A ``Batch``'s images, or its cached backbone features (``--features``)."""
        return self(batch.images, batch.tags, features=batch.features)


class EncoderDecoder(nn.Module):
    """The shape of network the core relies on (``mlcap.protocol``): an ``encoder`` (a
    ``ConceptEncoder``) and a ``decoder`` (None for a CNN alone)."""

    def __init__(self, encoder: ConceptEncoder, decoder: nn.Module | None = None):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
