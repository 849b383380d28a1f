"""orderfree from the command line on the tiny synthetic set: pretrain-cnn, finetune, predict,
evaluate; theta_R and the backbone unchanged by finetune; the stored stop threshold; ablations."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import SMALL as SMALL_OPTIONS, TINY_TRAIN, run_cli
from mlcap.training.checkpoint import load_checkpoint

SMALL = SMALL_OPTIONS["orderfree"]


@pytest.fixture
def trained(tiny_run, tiny_data_master, tmp_path):
    """``(data, run, folder)``: the shared data, an orderfree run (read-only) and a folder for outputs."""
    return tiny_data_master, tiny_run("orderfree", ["pretrain-cnn", "finetune"], *SMALL), tmp_path


def test_end_to_end_predict_and_evaluate_without_duplicates(trained):
    data, run, root = trained
    res = run_cli("predict", "--run", run, "--data", data)
    assert res.code == 0, res.err
    rows = [json.loads(line) for line in res.out.splitlines()]
    assert len(rows) == 12 and all(r["duplicates"] == 0 for r in rows)
    assert all(len(r["labels"]) == len(set(r["labels"])) and len(r["scores"]) == 20 for r in rows)
    preds = root / "p.jsonl"
    preds.write_text(res.out)
    res = run_cli("evaluate", "--data", data, "--metrics", "f1,map,duplicates", "--json", preds)
    assert res.code == 0, res.err
    metrics = json.loads(res.out)
    assert metrics["dup"] == 0.0 and 0 <= metrics["O-F1"] <= 1 and 0 <= metrics["mAP"] <= 1


def test_finetune_leaves_theta_r_and_the_backbone_unchanged(trained):
    _, run, _ = trained
    before, _, _ = load_checkpoint(run / "pretrain-cnn.best.pt")
    after, _, _ = load_checkpoint(run / "finetune.pt")
    encoder = [k for k in before if k.startswith("encoder.")]
    assert any(k.startswith("encoder.concept_head.") for k in encoder)           # theta_R
    assert all(torch.equal(before[k], after[k]) for k in encoder)                # BatchNorm statistics too
    decoder = [k for k in after if k.startswith("decoder.") and after[k].is_floating_point()]
    assert any(not torch.equal(before[k], after[k]) for k in decoder)


def test_stop_threshold_is_chosen_on_val_stored_and_overridden(trained):
    data, run, _ = trained
    meta = json.loads((run / "finetune.best.json").read_text())
    assert meta["threshold_source"] == "val" and 0 <= meta["threshold"] <= 1
    assert meta["threshold_val_candidates"] >= 1 and 0 <= meta["threshold_val_f1"] <= 1
    res = run_cli("predict", "--run", run, "--data", data, "--threshold", "1.0")
    assert res.code == 0, res.err
    assert all(json.loads(line)["labels"] == [] for line in res.out.splitlines())   # nothing reaches 1


@pytest.mark.parametrize("args", [["--option", "attention=false", "--option", "stop=path"],
                                  ["--order", "frequent"]])
def test_ablations_from_the_command_line(trained, args):
    data, run, root = trained
    name = "ablation-" + "-".join(a.split("=")[-1] for a in args[1::2])
    res = run_cli("finetune", "-m", "orderfree", "--data", data, "--run", root / name, *SMALL, *args,
                  "--init-from", run / "pretrain-cnn.best.pt", *TINY_TRAIN)
    assert res.code == 0, res.err
    res = run_cli("predict", "--run", root / name, "--data", data, "--beam", "2")
    assert res.code == 0, res.err
    assert all(json.loads(line)["duplicates"] == 0 for line in res.out.splitlines())


def test_mla_is_refused(trained):
    data, run, root = trained
    res = run_cli("finetune", "-m", "orderfree", "--data", data, "--run", root / "mla", *SMALL, "--order", "mla",
                  *TINY_TRAIN)
    assert res.code == 2 and "--order mla: method 'orderfree' accepts free, frequent" in res.err


@pytest.mark.slow
def test_coco_mini_real_images_from_cached_imagenet_features(coco_mini_features, tmp_path):
    """The 80 COCO categories on the real COCO-mini images: EfficientNet-Lite0 ImageNet features
    (offline weights) cached, theta_R then the order-free LSTM, predictions with no repeats."""
    (data, feats), run = coco_mini_features, tmp_path / "run"
    common = ["-m", "orderfree", "--data", data, "--run", run, "--backbone", "efficientnet_lite0", "--weights",
              "imagenet", "--image-size", "128", "--features", feats, "--epochs", "1", "--device", "cpu", *SMALL]
    for stage in ("pretrain-cnn", "finetune"):
        res = run_cli(stage, *common)
        assert res.code == 0, res.err
    assert json.loads((run / "finetune.json").read_text())["backbone_frozen"]
    res = run_cli("predict", "--run", run, "--data", data, "--features", feats)
    assert res.code == 0, res.err
    rows = [json.loads(line) for line in res.out.splitlines()]
    assert len(rows) == 79 and all(r["duplicates"] == 0 and len(r["scores"]) == 80 for r in rows)
    preds = tmp_path / "p.jsonl"
    preds.write_text(res.out)
    res = run_cli("evaluate", "--data", data, "--metrics", "f1,map,duplicates", "--json", preds)
    assert res.code == 0 and json.loads(res.out)["dup"] == 0.0
