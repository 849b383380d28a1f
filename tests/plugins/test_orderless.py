"""The orderless method: attention LSTM, aligned and fixed orders, end to end."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import TINY_TRAIN
from mlcap.plugins import load_method
from mlcap.protocol import PAD, Batch, ModelSpec


def build():
    method = load_method("orderless")
    spec = ModelSpec(labels=list("abcde"), image_size=32, max_len=5,
                     options={"hidden": 32, "embed_dim": 16, "attention": 16})
    torch.manual_seed(0)
    return method, method.build(spec), spec


def batch(order):
    seq = torch.tensor([[2, 0, 5], [1, 5, PAD]])
    return Batch(ids=["x", "y"], images=torch.randn(2, 3, 32, 32), targets=torch.tensor(
        [[1, 0, 1, 0, 0], [0, 1, 0, 0, 0]], dtype=torch.float32), sequences=seq, order=order)


def test_attention_decoder_shapes_and_teacher_forcing():
    method, model, spec = build()
    enc = model.encoder(torch.randn(2, 3, 32, 32))
    assert model.decoder.run(enc, 4).shape == (2, 4, 6)
    teacher = torch.tensor([[2, 0, 5, PAD]] * 2)
    logits = model.decoder.run(enc, 4, teacher=teacher)
    assert logits.shape == (2, 4, 6)


@pytest.mark.parametrize("order", ["pla", "mla", "frequent", "rare", "dictionary", "random"])
def test_every_order_trains_encoder_and_decoder(order):
    method, model, spec = build()
    losses = method.stage_loss(model, batch(order), "finetune", spec)
    assert torch.isfinite(losses["loss"]) and {"bce", "rnn"} <= set(losses)
    losses["rnn"].backward()
    assert model.decoder.attend.score.weight.grad.abs().sum() > 0
    assert model.encoder.backbone.features[0][0].weight.grad.abs().sum() > 0   # through attention


def test_default_order_is_pla_and_stages():
    method = load_method("orderless")
    assert method.orders[0] == "pla" and method.stages == ("pretrain-cnn", "finetune")


def test_orderless_end_to_end_with_order_metrics(mlcap, tiny_data, tmp_path):
    assert mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "bce", *TINY_TRAIN).code == 0
    run = tmp_path / "o"
    res = mlcap("finetune", "-m", "orderless", "--data", tiny_data, "--run", run, "--order", "mla",
                "--init-from", tmp_path / "bce" / "pretrain-cnn.pt", *TINY_TRAIN)
    assert res.code == 0, res.err
    assert "initialised" in res.err and json.loads((run / "finetune.config.json").read_text())["order"] == "mla"
    preds = tmp_path / "o.jsonl"
    preds.write_text(mlcap("predict", "--run", run, "--data", tiny_data).out)
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps({"beach": ["sea", "ball", "crab"], "kitchen": ["table", "orange", "cup"]}))
    res = mlcap("evaluate", "--data", tiny_data, "--metrics", "f1,duplicates,rigidness", "--json",
                "--cooccurrence", tmp_path / "cooc", "--groups", groups, preds)
    assert res.code == 0, res.err
    m = json.loads(res.out)
    assert 0 <= m["dup"] <= 1 and (m["rigid"] is None or 0.5 <= m["rigid"] <= 1)
    names = sorted(p.name for p in (tmp_path / "cooc").iterdir())
    assert names == ["o.cooc_diff.beach.png", "o.cooc_diff.kitchen.png", "o.cooc_diff.npy", "o.cooc_diff.png"]


@pytest.mark.parametrize("teacher_forcing", ["false", "true"])
def test_fixed_order_baseline_from_the_command_line(mlcap, tiny_data, tmp_path, teacher_forcing):
    res = mlcap("finetune", "-m", "orderless", "--data", tiny_data, "--run", tmp_path / "f", "--order", "frequent",
                "--option", f"teacher_forcing={teacher_forcing}", *TINY_TRAIN)
    assert res.code == 0, res.err
    assert "rnn" in json.loads(res.out)
    res = mlcap("predict", "--run", tmp_path / "f", "--data", tiny_data)
    assert res.code == 0, res.err
    assert all(0 <= p <= 1 for line in res.json_lines() for p in line["scores"].values())


def test_scnnrnn_accepts_aligned_orders(mlcap, tiny_data, tmp_path):
    for stage in ("pretrain-rnn", "finetune"):
        res = mlcap(stage, "-m", "scnnrnn", "--data", tiny_data, "--run", tmp_path / "s", "--order", "pla",
                    *TINY_TRAIN)
        assert res.code == 0, res.err
        assert "rnn" in json.loads(res.out)
