"""A stage's recipe, in one place: the method's paper default, command-line/TOML overrides,
the optimizer over named parameter groups, and the per-epoch learning rate.

The learning rate of every group is ``base_lr(group) * factor``, where the factor is a
pure function of the epoch (constant, step, cosine, swa) or, for ``plateau``, of the
validation history, kept in ``LrSchedule.state()`` so that a resumed run continues exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields, replace

import torch

from mlcap.errors import MlcapError
from mlcap.protocol import OPTIMIZERS, SCHEDULES, Recipe

#: TrainOptions fields that override the Recipe field of the same name.
RECIPE_FIELDS = tuple(f.name for f in fields(Recipe))


def resolve_recipe(method, stage: str, spec, dataset: str, overrides: dict) -> Recipe:
    """The method's recipe for ``stage`` with every given (non-None) override applied."""
    base = method.recipe(stage, spec, dataset)
    given = {k: v for k, v in overrides.items() if k in RECIPE_FIELDS and v is not None}
    if overrides.get("swa"):
        given["schedule"] = "swa"
    for key in ("group_lr", "group_start"):
        if key in given:
            given[key] = {**getattr(base, key), **given[key]}
    recipe = replace(base, **given)
    if recipe.optimizer not in OPTIMIZERS:
        raise MlcapError(f"--optimizer {recipe.optimizer!r}: one of {', '.join(OPTIMIZERS)}")
    if recipe.schedule not in SCHEDULES:
        raise MlcapError(f"--schedule {recipe.schedule!r}: one of {', '.join(SCHEDULES)}")
    _refuse_unused(recipe, given)
    return recipe


#: A recipe field given on the command line must do something: which optimizers / schedules use it.
_USED_BY = {"momentum": ("optimizer", ("sgd", "rmsprop")), "nesterov": ("optimizer", ("sgd",)),
            "betas": ("optimizer", ("adam", "adamw")), "alpha": ("optimizer", ("rmsprop",)),
            "step_size": ("schedule", ("step",)), "gamma": ("schedule", ("step", "plateau")),
            "plateau_patience": ("schedule", ("plateau",)), "lr_min": ("schedule", ("cosine", "swa")),
            "swa_cycle": ("schedule", ("swa",))}


def _refuse_unused(recipe: Recipe, given: dict) -> None:
    for name, (kind, users) in _USED_BY.items():
        if name in given and getattr(recipe, kind) not in users:
            raise MlcapError(f"--{name.replace('_', '-')} does nothing with --{kind} {getattr(recipe, kind)} "
                             f"(it applies to {', '.join(users)})")


def recipe_json(recipe: Recipe) -> dict:
    out = asdict(recipe)
    out["betas"] = list(recipe.betas)
    return out


def check_groups(recipe: Recipe, groups: dict[str, list]) -> None:
    """Every group the recipe names must be one the method returns for this stage."""
    for key in ("group_lr", "group_start"):
        unknown = sorted(set(getattr(recipe, key)) - set(groups))
        if unknown:
            flag = "--group-lr" if key == "group_lr" else "--group-start"
            raise MlcapError(f"{flag} {unknown[0]}: no such parameter group in this stage "
                             f"(groups: {', '.join(groups) or 'none'})")


def build_optimizer(recipe: Recipe, groups: dict[str, list]) -> torch.optim.Optimizer:
    """One optimizer over every group (a group frozen until ``group_start`` simply gets no
    gradient until then), each with its base learning rate."""
    param_groups = [{"params": params, "lr": base_lr(recipe, name), "name": name}
                    for name, params in groups.items() if params]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(param_groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                               weight_decay=recipe.weight_decay)
    if recipe.optimizer == "rmsprop":
        return torch.optim.RMSprop(param_groups, lr=recipe.lr, alpha=recipe.alpha, momentum=recipe.momentum,
                                   weight_decay=recipe.weight_decay)
    cls = torch.optim.AdamW if recipe.optimizer == "adamw" else torch.optim.Adam
    return cls(param_groups, lr=recipe.lr, betas=tuple(recipe.betas), weight_decay=recipe.weight_decay)


def base_lr(recipe: Recipe, group: str) -> float:
    return recipe.group_lr.get(group, recipe.lr)


class LrSchedule:
    """The learning-rate factor per epoch, and the plateau rule's memory."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        self.plateau_factor, self.plateau_best, self.plateau_bad = 1.0, None, 0

    def factor(self, epoch: int) -> float:
        r = self.recipe
        if r.schedule == "step":
            return r.gamma ** (epoch // r.step_size)
        if r.schedule == "cosine":
            floor = r.lr_min / r.lr
            return floor + (1 - floor) * (1 + math.cos(math.pi * epoch / r.epochs)) / 2
        if r.schedule == "swa":     # geometric fall lr -> lr_min within each cycle
            if r.swa_cycle == 1:
                return r.lr_min / r.lr
            position = epoch % r.swa_cycle
            return (r.lr_min / r.lr) ** (position / (r.swa_cycle - 1))
        if r.schedule == "plateau":
            return self.plateau_factor
        return 1.0

    def apply(self, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        f = self.factor(epoch)
        for group in optimizer.param_groups:
            group["lr"] = base_lr(self.recipe, group["name"]) * f

    def observe(self, value: float, higher_is_better: bool) -> None:
        """End of an epoch's validation: the plateau rule (x gamma after ``plateau_patience`` bad epochs)."""
        if self.recipe.schedule != "plateau" or value is None or not math.isfinite(value):
            return
        better = self.plateau_best is None or (value > self.plateau_best if higher_is_better
                                               else value < self.plateau_best)
        if better:
            self.plateau_best, self.plateau_bad = value, 0
            return
        self.plateau_bad += 1
        if self.plateau_bad >= self.recipe.plateau_patience:
            self.plateau_factor *= self.recipe.gamma
            self.plateau_bad = 0

    def state(self) -> dict:
        return {"factor": self.plateau_factor, "best": self.plateau_best, "bad": self.plateau_bad}

    def load_state(self, state: dict) -> None:
        self.plateau_factor = float(state.get("factor", 1.0))
        self.plateau_best = state.get("best")
        self.plateau_bad = int(state.get("bad", 0))
