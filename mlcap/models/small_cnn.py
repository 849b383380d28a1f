"""A small CNN for CPU demos and tests (~0.5 M parameters at width 32, 64x64 inputs)."""

from __future__ import annotations

from torch import nn

from mlcap.models.registry import load_state_dict_file, register_backbone


def _block(cin: int, cout: int, convs: int = 2) -> nn.Sequential:
    layers = []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False),
                   nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _block(3, w, convs=1), nn.MaxPool2d(2),  # 32
            _block(w, 2 * w), nn.MaxPool2d(2),      # 16
            _block(2 * w, 4 * w), nn.MaxPool2d(2),  # 8
            _block(4 * w, 4 * w),
        )
        self.feature_dim = self.spatial_dim = 4 * w

    def forward(self, x):
        spatial = self.features(x)
        return spatial.mean(dim=(2, 3)), spatial


@register_backbone(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), default_size=64)
def smallcnn(weights=None, width: int = 32, **_):
    model = SmallCNN(width)
    if weights:
        model.load_state_dict(load_state_dict_file(weights))
    return model
