"""Soft attention over a spatial feature map, conditioned on a recurrent hidden state.

The deterministic ("soft") attention of Show, Attend and Tell (Xu et al., ICML 2015,
Sec. 4.2), the f_att that Order-Free RNN (Chen et al., AAAI 2018, eqs. 4-5) and the
orderless recurrent models (Yazici et al., CVPR 2020) reuse. For the m annotation
vectors v_1..v_m (the positions of a C x H x W map, m = H W, each v_i in R^C) and the
previous hidden state h_{t-1}::

    e_{i,t} = w^T tanh(W_v v_i + W_h h_{t-1} + b) + c     # f_att, a one-hidden-layer MLP
    alpha_{i,t} = exp(e_{i,t}) / sum_j exp(e_{j,t})       # softmax over the m positions
    z_t = sum_i alpha_{i,t} v_i                            # the context vector

``W_v v_i + b`` does not depend on the step: ``keys`` computes it once per image and
``forward`` takes it, so a decoder pays for it once (Xu et al.'s ``pctx``). The MLP width
(``attention_dim``) is Show-Attend-Tell's ``ctx_dim`` (the feature channels) by default.
No method-specific logic lives here: the plugins compose it.
"""

from __future__ import annotations

import torch
from torch import nn


def annotation_vectors(spatial: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) feature map -> (B, m = H W, C) annotation vectors v_1..v_m."""
    return spatial.flatten(2).transpose(1, 2)


class SoftAttention(nn.Module):
    """``keys(v)`` once per image, then ``forward(v, keys, h) -> (z, alpha)`` at every step."""

    def __init__(self, feature_dim: int, hidden_dim: int, attention_dim: int | None = None):
        super().__init__()
        attention_dim = attention_dim or feature_dim
        self.feature_dim, self.hidden_dim, self.attention_dim = feature_dim, hidden_dim, attention_dim
        self.features = nn.Linear(feature_dim, attention_dim)            # W_v, b
        self.hidden = nn.Linear(hidden_dim, attention_dim, bias=False)   # W_h
        self.score = nn.Linear(attention_dim, 1)                         # w, c

    def keys(self, v: torch.Tensor) -> torch.Tensor:
        """(B, m, C) annotation vectors -> (B, m, A): ``W_v v_i + b``, independent of the step."""
        return self.features(v)

    def forward(self, v: torch.Tensor, keys: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Context z_t (B, C) and weights alpha_t (B, m) for hidden state h_{t-1} (B, hidden)."""
        e = self.score(torch.tanh(keys + self.hidden(h)[:, None, :])).squeeze(-1)   # (B, m), eq. 4
        alpha = torch.softmax(e, dim=1)                                              # eq. 4
        z = torch.bmm(alpha[:, None, :], v).squeeze(1)                               # eq. 5
        return z, alpha
