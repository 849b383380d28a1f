"""The parts of ARNN (Li et al., ACM MM 2018), by section and equation.

* ``FeatureMap``: V_I, the backbone's last convolutional map as a grid (Fig. 2; Sec. 3.2, below
  eq. 2).
* ``guide`` (eq. 1) and ``HighlightNetwork`` (eq. 2, V_t = V_I * A_t, X_t = ReLU(FC(V_t))): the RHN.
* ``ContextExtractor``: C_t from V_t (Sec. 3.2, Figure 3).
* ``GatedRelationExtractor``: GRRE, eqs. 7-8, over the emitted glimpses; ``PlainRelationRNN`` is
  the "w/o GRRE w. RNN" ablation.
* ``LabelPredictor``: P_i = softmax(W_xp X_i + W_cp C_i + W_op O_i), eq. 9 (logits returned).

Every choice the paper leaves open is listed in the method's docstring (``mlcap_arnn.method``)
and in docs/methods/arnn.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FeatureMap(nn.Module):
    """V_I (B, C, g, g). VGG16's conv5_3 map (14 x 14 at 224 px) goes through VGG16's own pool5
    (2 x 2 max pooling) to 7 x 7 x 512; smallcnn's map is used as it is (C = its channels, g =
    image size / 8); any other backbone's map is average-pooled to g x g and projected to
    ``channels`` by a 1 x 1 convolution."""

    def __init__(self, backbone: str, in_channels: int, grid: int, channels: int = 512):
        super().__init__()
        self.pool = nn.Sequential(*([nn.MaxPool2d(2)] if backbone == "vgg16" else []), nn.AdaptiveAvgPool2d(grid))
        keep = backbone in ("vgg16", "smallcnn")
        self.project = None if keep else nn.Conv2d(in_channels, channels, 1)
        self.channels = in_channels if keep else channels
        self.grid = grid

    def forward(self, spatial: torch.Tensor) -> torch.Tensor:
        v = self.pool(spatial)
        return v if self.project is None else self.project(v)


def guide(x: torch.Tensor) -> torch.Tensor:
    """Eq. 1: l = (exp(X^max) - exp(X)) / sum_j exp(X^j), over the last dimension; computed as
    (1 - exp(X - X^max)) / sum_j exp(X^j - X^max), the same value without overflow."""
    e = torch.exp(x - x.amax(-1, keepdim=True))
    return (1 - e) / e.sum(-1, keepdim=True)


class HighlightNetwork(nn.Module):
    """The recurrent highlight network: T candidate glimpses.

    Glimpse 1 sees the whole map (A_1 = 1: there is no X_0 to guide it). For t > 1,
    A_t = ReLU(Deconv(l_{t-1})) (eq. 2), where the deconvolution is a transposed convolution whose
    kernel covers the whole g x g grid, applied to l_{t-1} as a 1 x 1 map with ``dim`` channels:
    every grid cell and channel of A_t is its own learned linear function of l_{t-1}.
    V_t = V_I * A_t (elementwise) and X_t = ReLU(FC(V_t)) with FC over the flattened V_t
    (the 7 x 7 x 512 -> 512 layer of Sec. 3.2, below eq. 2), one set of weights for every glimpse."""

    def __init__(self, channels: int, grid: int, dim: int = 512, init: str = "default"):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(dim, channels, kernel_size=grid)     # F(.; theta_F), eq. 2
        self.fc = nn.Linear(channels * grid * grid, dim)
        if init == "ones":      # A_t starts near 1, as strong as A_1; l_{t-1} makes the differences
            nn.init.ones_(self.deconv.bias)

    def forward(self, v: torch.Tensor, glimpses: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """V_I (B, C, g, g) -> V (B, T, C, g, g), X (B, T, dim), A (B, T, C, g, g)."""
        a = torch.ones_like(v)
        vs, xs, maps = [], [], []
        for t in range(glimpses):
            if t > 0:
                l_prev = guide(xs[-1])                                            # eq. 1
                a = F.relu(self.deconv(l_prev[:, :, None, None]))                 # eq. 2
            v_t = v * a                                                           # V_t = V_I (x) A_t
            vs.append(v_t)
            xs.append(F.relu(self.fc(v_t.flatten(1))))                            # X_t
            maps.append(a)
        return torch.stack(vs, 1), torch.stack(xs, 1), torch.stack(maps, 1)


class ContextExtractor(nn.Module):
    """C_t: a 1 x 1 convolution and a dilated 3 x 3 convolution (``width`` channels each, ReLU,
    the dilated one with ``dilation`` and padding to keep the grid), concatenated and
    average-pooled (Figure 3)."""

    def __init__(self, channels: int, width: int = 256, dilation: int = 2):
        super().__init__()
        self.point = nn.Conv2d(channels, width, 1)
        self.dilated = nn.Conv2d(channels, width, 3, padding=dilation, dilation=dilation)
        self.dim = 2 * width

    def forward(self, v_t: torch.Tensor) -> torch.Tensor:
        """(N, C, g, g) -> (N, 2 width)."""
        both = torch.cat([F.relu(self.point(v_t)), F.relu(self.dilated(v_t))], dim=1)
        return both.mean(dim=(2, 3))


class GatedRelationExtractor(nn.Module):
    """GRRE (eqs. 7-8), run recurrently over the emitted glimpses i = 1..N_e in emission order.

    At step i, for every other emitted glimpse k:
    h_k = tanh(W_hx X_k + W_hf f_k^{i-1}) (eq. 7); z = softmax over k != i of
    (w_zx X_k + w_zf f_k^{i-1}) (eq. 8; one scalar per glimpse); f_k^i = z_k h_k and
    O_i = sum_{k != i} f_k^i. The weights are shared by all glimpses (the paper's per-glimpse
    subscripts cannot serve a variable N_e); f_k^0 = 0; glimpse i's own f keeps its value at step i
    (eq. 8 defines f_k^i for k != i only). With one emitted glimpse O = 0. Weights ~ N(0, 0.1^2),
    biases 0 (Sec. 4.1 "Implementation Details")."""

    def __init__(self, dim: int, std: float = 0.1):
        super().__init__()
        self.hx = nn.Linear(dim, dim, bias=False)
        self.hf = nn.Linear(dim, dim)
        self.zx = nn.Linear(dim, 1, bias=False)
        self.zf = nn.Linear(dim, 1)
        for layer in (self.hx, self.hf, self.zx, self.zf):
            nn.init.normal_(layer.weight, std=std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, emitted: torch.Tensor) -> torch.Tensor:
        """X (N, T, dim) of all T glimpses and the emission mask (N, T) -> O (N, T, dim), 0 at the
        glimpses that were not emitted (the recurrence skips them)."""
        N, T, _ = x.shape
        f = torch.zeros_like(x)
        hx, zx = self.hx(x), self.zx(x).squeeze(-1)
        eye = torch.eye(T, device=x.device) > 0     # a float eye: ONNX Runtime has no boolean EyeLike
        outs = []
        for i in range(T):
            h = torch.tanh(hx + self.hf(f))                                       # eq. 7
            others = emitted & ~eye[i]                                            # k in N_e \ i
            score = (zx + self.zf(f).squeeze(-1)).masked_fill(~others, -1e9)
            z = torch.softmax(score, dim=-1) * others                             # eq. 8
            f_i = z[..., None] * h                                                # f_k^i = z_k h_k
            outs.append(f_i.sum(1) * emitted[:, i, None])                         # O_i = sum_{k != i} f_k^i
            update = (others & emitted[:, i, None])[..., None]
            f = torch.where(update, f_i, f)
        return torch.stack(outs, 1)


class PlainRelationRNN(nn.Module):
    """"w/o GRRE w. RNN": a plain tanh RNN over the emitted glimpses in emission order,
    O_i = its hidden state after glimpse i (0 at glimpses not emitted)."""

    def __init__(self, dim: int):
        super().__init__()
        self.cell = nn.RNNCell(dim, dim)

    def forward(self, x: torch.Tensor, emitted: torch.Tensor) -> torch.Tensor:
        N, T, dim = x.shape
        s = x.new_zeros(N, dim)
        outs = []
        for i in range(T):
            on = emitted[:, i, None]
            s = torch.where(on, self.cell(x[:, i], s), s)
            outs.append(s * on)
        return torch.stack(outs, 1)


class LabelPredictor(nn.Module):
    """Eq. 9 before its softmax: W_xp X_i + W_cp C_i + W_op O_i (one bias, on the X term);
    the C and O terms are absent in the w/o CE and w/o GRRE ablations."""

    def __init__(self, dim: int, context_dim: int | None, relation: bool, num_labels: int):
        super().__init__()
        self.xp = nn.Linear(dim, num_labels)
        self.cp = nn.Linear(context_dim, num_labels, bias=False) if context_dim else None
        self.op = nn.Linear(dim, num_labels, bias=False) if relation else None

    def forward(self, x: torch.Tensor, c: torch.Tensor | None, o: torch.Tensor | None) -> torch.Tensor:
        logits = self.xp(x)
        if self.cp is not None:
            logits = logits + self.cp(c)
        if self.op is not None:
            logits = logits + self.op(o)
        return logits
