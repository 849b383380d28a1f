"""A method with per-sample randomness (random label orders and augmentation,
REINFORCE sampling, dropout) trains to identical weights with 0 and with 2 DataLoader workers:
every draw for a sample comes from its own seed (mlcap/seeding.py), not from a process's stream."""

from __future__ import annotations

import json

import pytest
import torch

from mlcap.training.checkpoint import load_checkpoint

from helpers import train_tiny

pytestmark = pytest.mark.slow

#: Each method with its default options is held to this by mlcap.testing.check_method's ``workers``
#: check (tests/methods/test_contract.py); here, the draws that only options make: a random label
#: order and augmentation.
CASES = {
    "orderless, random order, augmented": ("orderless", ["--order", "random", "--augment"]),
}


@pytest.mark.parametrize("case", CASES)
def test_zero_and_two_workers_train_identical_weights(case, tiny_data, tmp_path):
    method, extra = CASES[case]
    weights, val_losses = [], []
    for workers in (0, 2):
        run = train_tiny(tiny_data, tmp_path / f"w{workers}", method, ["pretrain-cnn", "finetune"],
                         "--num-workers", str(workers), *extra)
        weights.append(load_checkpoint(run / "finetune.pt")[0])
        history = [json.loads(line) for line in (run / "finetune.history.jsonl").read_text().splitlines()]
        val_losses.append([row["val/loss"] for row in history])
    assert val_losses[0] == val_losses[1]         # validation draws (a random order's loss) too
    assert weights[0].keys() == weights[1].keys()
    differing = [k for k in weights[0] if not torch.equal(weights[0][k], weights[1][k])]
    assert not differing, f"{case}: {len(differing)} tensors differ, e.g. {differing[:3]}"
