"""Recipes: overrides, optimizers over named groups, learning-rate schedules on hand-computed values."""

from __future__ import annotations

import pytest
import torch

from mlcap.errors import MlcapError
from mlcap.protocol import Recipe
from mlcap.training.recipe import LrSchedule, build_optimizer, check_groups, resolve_recipe


class Paper:
    name = "paper"

    def recipe(self, stage, spec, dataset):
        return Recipe(optimizer="sgd", lr=0.01, schedule="plateau", epochs=40, group_lr={"backbone": 1e-5})


def groups():
    return {"backbone": [torch.nn.Parameter(torch.zeros(2))], "heads": [torch.nn.Parameter(torch.zeros(3))]}


def test_overrides_win_and_group_lrs_merge():
    r = resolve_recipe(Paper(), "s", None, "d", {"lr": 0.1, "epochs": None, "group_lr": {"heads": 1e-3}})
    assert (r.optimizer, r.lr, r.epochs, r.schedule) == ("sgd", 0.1, 40, "plateau")
    assert r.group_lr == {"backbone": 1e-5, "heads": 1e-3}
    assert resolve_recipe(Paper(), "s", None, "d", {"swa": True}).schedule == "swa"


def test_unknown_group_is_an_error():
    with pytest.raises(MlcapError, match="no such parameter group"):
        check_groups(Recipe(group_lr={"decoder": 1.0}), groups())


@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                       ("sgd", torch.optim.SGD), ("rmsprop", torch.optim.RMSprop)])
def test_optimizers_with_per_group_learning_rates(name, cls):
    opt = build_optimizer(Recipe(optimizer=name, lr=1e-3, group_lr={"backbone": 1e-5}, nesterov=True), groups())
    assert isinstance(opt, cls)
    assert {g["name"]: g["lr"] for g in opt.param_groups} == {"backbone": 1e-5, "heads": 1e-3}
    if name == "sgd":
        assert opt.param_groups[0]["momentum"] == 0.9 and opt.param_groups[0]["nesterov"]


def test_step_cosine_and_swa_factors():
    step = LrSchedule(Recipe(schedule="step", step_size=2, gamma=0.1))
    assert [step.factor(e) for e in range(5)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    cos = LrSchedule(Recipe(schedule="cosine", lr=1.0, lr_min=0.0 + 1e-12, epochs=4))
    assert [cos.factor(e) for e in range(5)] == pytest.approx([1, 0.853553, 0.5, 0.146447, 0], abs=1e-6)
    swa = LrSchedule(Recipe(schedule="swa", lr=1e-3, lr_min=1e-5, swa_cycle=3))
    assert [swa.factor(e) for e in range(4)] == pytest.approx([1, 0.1, 0.01, 1])


def test_plateau_multiplies_after_patience_bad_epochs_and_round_trips():
    s = LrSchedule(Recipe(schedule="plateau", gamma=0.1, plateau_patience=3))
    factors = []
    for value in [1.0, 0.9, 0.95, 0.92, 0.91, 0.8, 0.85]:   # val loss: lower is better
        s.observe(value, higher_is_better=False)
        factors.append(s.factor(0))
    # epochs 3, 4, 5 bring no improvement over 0.9: x0.1 after the third; 0.8 improves
    assert factors == pytest.approx([1, 1, 1, 1, 0.1, 0.1, 0.1])
    other = LrSchedule(s.recipe)
    other.load_state(s.state())
    assert other.state() == s.state()


def test_schedule_sets_every_group():
    r = Recipe(schedule="step", step_size=1, gamma=0.5, lr=1.0, group_lr={"backbone": 0.1})
    opt = build_optimizer(r, groups())
    LrSchedule(r).apply(opt, 2)
    assert {g["name"]: g["lr"] for g in opt.param_groups} == pytest.approx({"backbone": 0.025, "heads": 0.25})
