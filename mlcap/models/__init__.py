"""Backbones by name (``create_backbone``); the concept encoder built on them is ``mlcap.nn.ConceptEncoder``."""

from mlcap.models.registry import backbone_input, backbone_names, create_backbone, register_backbone

# importing the family modules registers their backbones
from mlcap.models import small_cnn as _small_cnn  # noqa: F401,E402
from mlcap.models import torchvision_nets as _torchvision_nets  # noqa: F401,E402
from mlcap.models import timm_nets as _timm_nets  # noqa: F401,E402

__all__ = ["backbone_input", "backbone_names", "create_backbone", "register_backbone"]
