"""Stochastic weight averaging with a cyclical learning rate."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import TINY_TRAIN
from mlcap.training.swa import WeightAverager


def test_cyclical_schedule_matches_the_seed():
    from mlcap.protocol import Recipe
    from mlcap.training.recipe import LrSchedule

    schedule = LrSchedule(Recipe(lr=1e-3, lr_min=1e-6, swa_cycle=3, schedule="swa"))
    assert [1e-3 * schedule.factor(e) for e in range(6)] == pytest.approx([1e-3, 10 ** -4.5, 1e-6] * 2)


def test_average_of_cycle_ends_and_state_round_trip():
    model = torch.nn.Linear(2, 1)
    swa = WeightAverager(cycle=2)
    seen = []
    for epoch in range(6):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        swa.end_of_epoch(model, epoch)
        if epoch % 2 == 1:
            seen.append(float(epoch))
    assert swa.count == 3
    assert torch.allclose(swa.average["weight"], torch.full((1, 2), sum(seen) / 3))
    other = WeightAverager(cycle=2)
    other.load_state(swa.state())
    other.apply(model, [])
    assert torch.allclose(model.weight, torch.full((1, 2), 3.0))


def test_swa_stage_from_the_cli(mlcap, tiny_data, tmp_path):
    res = mlcap("finetune", "-m", "orderless", "--data", tiny_data, "--run", tmp_path / "r", "--swa",
                "--swa-cycle", "2", "--epochs", "4", "--batch-size", "16", "--device", "cpu")
    assert res.code == 0, res.err
    assert "average of 2 cycle ends" in res.err
    assert json.loads((tmp_path / "r" / "finetune.json").read_text())["swa_averaged"] == 2
