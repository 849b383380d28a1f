"""torchvision ResNet, VGG16 and Inception-v3 as backbones.

Weights: ``weights=PATH`` loads a local torchvision state dict (for example
``resnet50-0676ba61.pth``, downloaded by the user); ``weights="imagenet"`` is refused in one
line (torchvision's ImageNet weights need a download, which mlcap never does); without a
file the network is randomly initialised. Shapes for a 224x224 input (299 for Inception-v3):

=============  ====================  =====================
backbone       pooled (B, D)          spatial (B, C, H, W)
=============  ====================  =====================
resnet18/34    512                    512 x 7 x 7
resnet50/101   2048                   2048 x 7 x 7
vgg16          4096 (fc7)             512 x 14 x 14 (conv5_3)
inception_v3   2048                   2048 x 8 x 8
mobilenet_v3   960                    960 x 7 x 7 (large)
=============  ====================  =====================
"""

from __future__ import annotations

import torch
from torch import nn

from mlcap.sample_noise import SampleDropout
from mlcap.models.registry import load_state_dict_file, no_offline_weights, register_backbone

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _load(model: nn.Module, weights, name: str | None = None) -> nn.Module:
    """``weights``: a local state-dict file (``imagenet`` is refused: torchvision's ImageNet weights
    would need a download)."""
    if weights == "imagenet":
        raise no_offline_weights(name or "this backbone")
    if weights:
        model.load_state_dict(load_state_dict_file(weights))
    return model


class ResNetBackbone(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool,
                                  net.layer1, net.layer2, net.layer3, net.layer4)
        self.feature_dim = self.spatial_dim = net.fc.in_features

    def forward(self, x):
        spatial = self.body(x)
        return spatial.mean(dim=(2, 3)), spatial


class VGG16Backbone(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.features = net.features[:-1]       # up to conv5_3 + ReLU, before the last max-pool
        self.pool = nn.Sequential(net.features[-1], net.avgpool)
        self.fc67 = net.classifier[:-1]         # fc6, fc7 (with ReLU and dropout)
        for i, layer in enumerate(self.fc67):    # per-sample masks (mlcap/seeding.py); same state dict
            if isinstance(layer, nn.Dropout):
                self.fc67[i] = SampleDropout(layer.p)
        self.feature_dim, self.spatial_dim = 4096, 512

    def forward(self, x):
        spatial = self.features(x)
        pooled = self.fc67(torch.flatten(self.pool(spatial), 1))
        return pooled, spatial


class InceptionV3Backbone(nn.Module):
    def __init__(self, net):
        super().__init__()
        names = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                 "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
                 "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]
        self.body = nn.Sequential(*[getattr(net, n) for n in names])
        self.feature_dim = self.spatial_dim = 2048

    def forward(self, x):
        spatial = self.body(x)
        return spatial.mean(dim=(2, 3)), spatial


def _resnet(name: str, weights):
    import torchvision

    net = getattr(torchvision.models, name)(weights=None)
    return ResNetBackbone(_load(net, weights, name))


def _register_resnet(name: str) -> None:
    def factory(weights=None, **_):
        return _resnet(name, weights)

    factory.__name__ = factory.__qualname__ = name
    register_backbone(mean=IMAGENET_MEAN, std=IMAGENET_STD, default_size=224)(factory)


for _depth in (18, 34, 50, 101):
    _register_resnet(f"resnet{_depth}")


@register_backbone(mean=IMAGENET_MEAN, std=IMAGENET_STD, default_size=224)
def vgg16(weights=None, **_):
    import torchvision

    return VGG16Backbone(_load(torchvision.models.vgg16(weights=None), weights, "vgg16"))


class MobileNetV3Backbone(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.features = net.features
        self.feature_dim = self.spatial_dim = net.features[-1].out_channels

    def forward(self, x):
        spatial = self.features(x)
        return spatial.mean(dim=(2, 3)), spatial


@register_backbone(mean=IMAGENET_MEAN, std=IMAGENET_STD, default_size=224)
def mobilenet_v3(weights=None, **_):
    import torchvision

    return MobileNetV3Backbone(_load(torchvision.models.mobilenet_v3_large(weights=None), weights, "mobilenet_v3"))


@register_backbone(mean=IMAGENET_MEAN, std=IMAGENET_STD, default_size=299)
def inception_v3(weights=None, **_):
    import torchvision

    # aux_logits must match the checkpoint: torchvision's ImageNet file carries the aux head
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=weights is None)
    return InceptionV3Backbone(_load(net, weights, "inception_v3"))
