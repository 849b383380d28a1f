"""What trains in a stage, and when, decided in one place: the method's parameter groups, less the
backbone where it is frozen (``--freeze-backbone``, or ``--features``, which replaces it), each
group from its recipe's start epoch (``Recipe.group_start``). Everything no group holds is fixed,
BatchNorm statistics included."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mlcap.errors import MlcapError
from mlcap.progress import note
from mlcap.training.recipe import check_groups


@dataclass
class FreezePlan:
    groups: dict[str, list]          # group name -> its parameters that may train
    starts: dict[str, int]           # group name -> the first epoch (0-based) it trains
    backbone_frozen: bool = False

    @classmethod
    def build(cls, method, model: torch.nn.Module, stage: str, spec, opts, recipe) -> "FreezePlan":
        """The plan of ``stage``; every parameter starts fixed (``apply`` sets each epoch's)."""
        groups = {name: list(params) for name, params in method.parameter_groups(model, stage, spec).items()}
        check_groups(recipe, groups)
        frozen = opts.features is not None or opts.freeze_backbone or opts.freeze_cnn
        if frozen:
            fixed = {id(p) for p in model.encoder.backbone.parameters()}
            trained = [n for n, ps in groups.items() if any(id(p) in fixed for p in ps)]
            if trained and opts.features is not None:
                note(f"{stage}: the recipe trains the backbone ({', '.join(trained)}), but --features replaces it: "
                     "the backbone stays frozen (recorded as backbone_frozen in the run)")
            groups = {n: [p for p in ps if id(p) not in fixed] for n, ps in groups.items()}
        groups = {n: ps for n, ps in groups.items() if ps}
        if not groups:
            raise MlcapError(f"{stage}: method {method.name!r} trains no parameters in this stage")
        for p in model.parameters():
            p.requires_grad_(False)
        return cls(groups, {n: recipe.group_start.get(n, 0) for n in groups}, frozen)

    def trains(self, group: str, epoch: int) -> bool:
        return epoch >= self.starts[group]

    def apply(self, epoch: int) -> None:
        """``requires_grad`` of every group's parameters for ``epoch``."""
        for name, params in self.groups.items():
            for p in params:
                p.requires_grad_(self.trains(name, epoch))


def train_mode(model: torch.nn.Module) -> None:
    """``model.train()``, except the BatchNorm of a part with nothing to train: its statistics stay."""
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in m.parameters()):
            m.eval()
