"""arnn from the command line: pretrain-cnn, finetune, predict, evaluate with the paper's top-k
protocol and TagProp metrics, determinism of the REINFORCE sampling, real COCO-mini images."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from helpers import SMALL as SMALL_OPTIONS, TINY_TRAIN, run_cli
from mlcap.training.checkpoint import load_checkpoint

SMALL = SMALL_OPTIONS["arnn"]


@pytest.fixture
def trained(tiny_run, tiny_data_master, tmp_path):
    """``(data, run, folder)``: the shared data, an arnn run (read-only) and a folder for outputs."""
    run = tiny_run("arnn", ["pretrain-cnn", "finetune"], *SMALL, "--seed", "3", "--epochs", "2")
    return tiny_data_master, run, tmp_path


def test_end_to_end_predict_and_evaluate_top_3(trained):
    data, run, root = trained
    history = [json.loads(line) for line in (run / "finetune.history.jsonl").read_text().splitlines()]
    assert all({"train/reward", "train/value", "train/ce", "val/C-F1"} <= set(h) for h in history)
    res = run_cli("predict", "--run", run, "--data", data)
    assert res.code == 0, res.err
    rows = [json.loads(line) for line in res.out.splitlines()]
    assert len(rows) == 12 and all(len(r["scores"]) == 20 and len(r["labels"]) <= 4 for r in rows)
    preds = root / "p.jsonl"
    preds.write_text(res.out)
    res = run_cli("evaluate", "--data", data, "--metrics", "f1,map,nplus", "--top-k", "3", "--json", preds)
    assert res.code == 0, res.err
    metrics = json.loads(res.out)
    assert 0 <= metrics["C-F1"] <= 1 and 0 <= metrics["N+"] <= 20


def test_finetune_is_deterministic_per_seed(trained):
    data, run, root = trained
    again = root / "again"
    shutil.copytree(run, again)
    res = run_cli("finetune", "-m", "arnn", "--data", data, "--run", again, *SMALL, "--seed", "3", *TINY_TRAIN,
                  "--overwrite", "--epochs", "2")
    assert res.code == 0, res.err
    a, _, _ = load_checkpoint(run / "finetune.pt")
    b, _, _ = load_checkpoint(again / "finetune.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    before, _, _ = load_checkpoint(run / "pretrain-cnn.best.pt")
    assert not torch.equal(before["emit.weight"], a["emit.weight"])        # REINFORCE trained f_e


@pytest.mark.parametrize("options", [["ce=false", "grre=false"], ["ei=false"], ["grre=rnn"]])
def test_ablations_from_the_command_line(trained, options):
    data, run, root = trained
    name = root / ("ablation-" + "-".join(options))
    flags = [x for o in options for x in ("--option", o)]
    res = run_cli("finetune", "-m", "arnn", "--data", data, "--run", name, *SMALL, *flags,
                  "--init-from", run / "pretrain-cnn.best.pt", *TINY_TRAIN)
    assert res.code == 0, res.err
    res = run_cli("predict", "--run", name, "--data", data)
    assert res.code == 0, res.err
    rows = [json.loads(line) for line in res.out.splitlines()]
    if "ei=false" in options:       # every glimpse emitted
        assert all(len(r["labels"]) + r["duplicates"] == 4 for r in rows)


def test_no_label_order_is_accepted(trained):
    data, _, root = trained
    res = run_cli("finetune", "-m", "arnn", "--data", data, "--run", root / "ordered", *SMALL, "--order", "rare",
                  *TINY_TRAIN)
    assert res.code == 2 and "--order" in res.err


@pytest.mark.slow
def test_coco_mini_real_images_from_cached_imagenet_features(coco_mini_features, tmp_path):
    """The 80 COCO categories on the real COCO-mini images: EfficientNet-Lite0 ImageNet features
    cached (offline weights), projected to 512 channels on a 7 x 7 grid; finetune alone."""
    (data, feats), run = coco_mini_features, tmp_path / "run"
    res = run_cli("finetune", "-m", "arnn", "--data", data, "--run", run, "--backbone", "efficientnet_lite0",
                  "--weights", "imagenet", "--image-size", "128", "--features", feats, "--epochs", "1",
                  "--device", "cpu", *SMALL)
    assert res.code == 0, res.err
    assert json.loads((run / "finetune.json").read_text())["backbone_frozen"]
    res = run_cli("predict", "--run", run, "--data", data, "--features", feats)
    assert res.code == 0, res.err
    rows = [json.loads(line) for line in res.out.splitlines()]
    assert len(rows) == 79 and all(len(r["scores"]) == 80 for r in rows)
