"""A registry of backbones by name, in the manner of timm's ``create_model``.

A backbone is an ``nn.Module`` whose ``forward(images)`` returns
``(pooled (B, D), spatial (B, C, H, W))`` and which carries ``feature_dim`` (D)
and ``spatial_dim`` (C). Each registered name also records the input its
weights expect (``backbone_input``): normalisation mean/std and natural size,
known without building the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

from mlcap.errors import MlcapError, unknown_name


class BackboneInput(NamedTuple):
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    default_size: int


_REGISTRY: dict[str, tuple[Callable, BackboneInput]] = {}
_FAMILIES: dict[str, tuple[Callable, Callable]] = {}   # name prefix -> (factory(name), input(name))


def register_family(prefix: str, factory: Callable, input_of: Callable) -> None:
    """Open-ended names such as ``timm/<model>``: ``factory(rest, weights=...)``, ``input_of(rest)``."""
    _FAMILIES[prefix] = (factory, input_of)


def _family(name: str):
    for prefix, entry in _FAMILIES.items():
        if name.startswith(prefix):
            return entry, name[len(prefix):]
    return None, None


#: Backbones whose ImageNet weights (``--weights imagenet``) come with an installed package; no
#: other backbone has ImageNet weights here, and nothing is ever downloaded.
OFFLINE_IMAGENET = ("efficientnet_lite0",)


def no_offline_weights(name: str) -> MlcapError:
    """The one-line refusal of ``--weights imagenet`` for a backbone without offline weights."""
    return MlcapError(f"--weights imagenet: {name} has no offline ImageNet weights (backbones that have them: "
                      f"{', '.join(OFFLINE_IMAGENET)}), and mlcap never downloads; pass a local state-dict file "
                      "(.pth or .safetensors) with --weights PATH")


def register_backbone(*, mean, std, default_size: int):
    """Decorator: register a backbone factory under its function name."""
    def register(fn: Callable) -> Callable:
        _REGISTRY[fn.__name__] = (fn, BackboneInput(tuple(mean), tuple(std), default_size))
        return fn
    return register


def backbone_input(name: str) -> BackboneInput:
    family, rest = _family(name)
    if family:
        return family[1](rest)
    _check(name)
    return _REGISTRY[name][1]


def _check(name: str) -> None:
    if name not in _REGISTRY:
        raise unknown_name("backbone", name, backbone_names() + [f"{p}<name>" for p in _FAMILIES])


def backbone_names() -> list[str]:
    return sorted(_REGISTRY)


def create_backbone(name: str, weights: str | Path | None = None, **cfg):
    """Build backbone ``name``; ``weights`` is a local state-dict file, or ``imagenet`` for the
    backbones of ``OFFLINE_IMAGENET`` (refused for the others: nothing is downloaded)."""
    family, rest = _family(name)
    if family:
        return family[0](rest, weights=weights, **cfg)
    _check(name)
    return _REGISTRY[name][0](weights=weights, **cfg)


def load_state_dict_file(path: str | Path) -> dict:
    """A state dict from a ``.safetensors`` file or a ``torch.save`` file, never unpickling code."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise MlcapError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt or foreign file: one line, not a traceback
        raise MlcapError(f"{path}: cannot read weights ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise MlcapError(f"{path}: not a state dict")
    return state
