"""mlcap.nn.SoftAttention: eqs. 4-5 of Order-Free RNN (Show-Attend-Tell's f_att) by hand."""

from __future__ import annotations

import math

import torch

from mlcap.nn.attention import SoftAttention, annotation_vectors


def test_soft_attention_by_hand():
    att = SoftAttention(feature_dim=2, hidden_dim=1, attention_dim=1)
    with torch.no_grad():
        att.features.weight.copy_(torch.tensor([[1.0, 0.0]]))   # W_v v_i = first feature
        att.features.bias.zero_()
        att.hidden.weight.copy_(torch.tensor([[1.0]]))          # W_h h
        att.score.weight.copy_(torch.tensor([[2.0]]))           # w
        att.score.bias.copy_(torch.tensor([0.5]))               # c
    v = torch.tensor([[[0.0, 1.0], [1.0, 3.0]]])                 # m = 2 positions
    h = torch.tensor([[0.5]])
    z, alpha = att(v, att.keys(v), h)
    e = [2 * math.tanh(0.0 + 0.5) + 0.5, 2 * math.tanh(1.0 + 0.5) + 0.5]          # eq. 4
    a = [math.exp(x) / sum(math.exp(y) for y in e) for x in e]
    assert torch.allclose(alpha, torch.tensor([a]), atol=1e-6)
    assert torch.allclose(z, torch.tensor([[a[1] * 1.0, a[0] * 1.0 + a[1] * 3.0]]), atol=1e-6)   # eq. 5


def test_shapes_default_width_and_gradient():
    spatial = torch.randn(3, 8, 4, 5, requires_grad=True)
    v = annotation_vectors(spatial)
    assert v.shape == (3, 20, 8) and torch.equal(v[1, 7], spatial[1, :, 1, 2])
    att = SoftAttention(8, 16)
    assert att.attention_dim == 8                       # Show-Attend-Tell: ctx_dim wide
    z, alpha = att(v, att.keys(v), torch.randn(3, 16))
    assert z.shape == (3, 8) and alpha.shape == (3, 20)
    assert torch.allclose(alpha.sum(1), torch.ones(3))
    z.sum().backward()
    assert spatial.grad.abs().sum() > 0 and att.hidden.weight.grad.abs().sum() > 0
