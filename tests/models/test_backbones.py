"""Every named backbone builds (random init, no download) and returns the documented shapes."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from mlcap.errors import MlcapError
from mlcap.models import ConceptEncoder, backbone_input, backbone_names, create_backbone

# (name, input side, pooled D, spatial C, spatial side)
SHAPES = [("smallcnn", 64, 128, 128, 8), ("resnet18", 64, 512, 512, 2), ("resnet50", 64, 2048, 2048, 2),
          ("resnet101", 64, 2048, 2048, 2), ("vgg16", 64, 4096, 512, 4), ("inception_v3", 75, 2048, 2048, 1)]


@pytest.mark.parametrize("name,side,dim,channels,spatial_side", SHAPES)
def test_shapes(name, side, dim, channels, spatial_side):
    net = create_backbone(name).eval()
    with torch.no_grad():
        pooled, spatial = net(torch.randn(2, 3, side, side))
    assert pooled.shape == (2, dim) and net.feature_dim == dim
    assert spatial.shape == (2, channels, spatial_side, spatial_side) and net.spatial_dim == channels


def test_all_registered_backbones_are_covered():
    assert set(backbone_names()) == {s[0] for s in SHAPES} | {"resnet34"}
    assert backbone_input("inception_v3").default_size == 299


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
