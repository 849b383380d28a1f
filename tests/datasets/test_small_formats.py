"""VOC, WIDER Attribute, ESP Game, CSV and JSONL, on fixtures written to their documented formats."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import torch

from mlcap.data.loader import batch_to_device, make_loader
from mlcap.data.prepared import PreparedDataset
from mlcap.datasets import espgame, generic, voc, wider
from mlcap.datasets.report import PrepareReport
from mlcap.errors import MlcapError


def jpeg(path, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 60, 30)).save(path)


def test_voc(tmp_path, mlcap):
    # VOC devkit: ImageSets/Main/<class>_<split>.txt, lines "<id> <1|-1|0>" (0 = difficult)
    root = tmp_path / "VOC2007"
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True)
    for split, ids in (("trainval", ["000005", "000007"]), ("test", ["000001"])):
        for cls in voc.CLASSES:
            value = {"000005": {"chair": "1", "person": "0"}, "000007": {"car": "1"},
                     "000001": {"dog": "1"}}
            (main / f"{cls}_{split}.txt").write_text(
                "".join(f"{i} {value[i].get(cls, '-1'):>2}\n" for i in ids))
        for i in ids:
            jpeg(root / "JPEGImages" / f"{i}.jpg")
    res = mlcap("prepare", "voc", "--root", root, "--out", tmp_path / "v", "--json")
    assert res.code == 0, res.err
    ds = PreparedDataset(tmp_path / "v")
    first = ds.samples("train")[0]
    assert (first.id, first.labels, first.unknown) == ("000005", ["chair"], ["person"])
    batch, _ = next(iter(make_loader(ds, "train", 16, (0, 0, 0), (1, 1, 1), 2)))
    assert batch.mask[0, ds.label_index["person"]] == 0 and batch.mask[1].sum() == 20
    # a difficult label counts neither as hit nor miss in evaluation
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "000001", "labels": ["dog"], "scores": {}}) + "\n")
    m = json.loads(mlcap("evaluate", "--data", tmp_path / "v", "--metrics", "f1", "--json", preds).out)
    assert m["O-F1"] == 1.0


def test_wider_boxes_and_unknowns(tmp_path):
    root = tmp_path / "wider"
    jpeg(root / "Image" / "train" / "0--Parade" / "a.jpg", (100, 80))
    names = ["Male", "longHair", "sunglass"]
    doc = {"attribute_id_map": {str(i): n for i, n in enumerate(names)}, "scene_id_map": {"0": "Parade"},
           "images": [{"file_name": "train/0--Parade/a.jpg", "scene_id": 0, "targets": [
               {"bbox": [10, 5, 30, 60], "attribute": [1, -1, 0]},
               {"bbox": [50, 5, 30, 60], "attribute": [-1, 1, 1]},
               {"bbox": [1, 2], "attribute": [1, 1, 1]}]}]}
    for name in ("trainval", "test"):
        (root / f"wider_attribute_{name}.json").write_text(json.dumps(doc))
    report = PrepareReport()
    meta, samples = wider.prepare(root, tmp_path / "w", report=report)
    train = samples["train"]
    assert [(s.labels, s.unknown, s.box) for s in train] == [
        (["Male"], ["sunglass"], [10.0, 5.0, 30.0, 60.0]), (["longHair", "sunglass"], [], [50.0, 5.0, 30.0, 60.0])]
    assert report.problems["bad person box"] == 2
    ds = PreparedDataset(tmp_path / "w")
    batch, _ = next(iter(make_loader(ds, "train", 24, (0, 0, 0), (1, 1, 1), 2)))
    assert batch.pending.pixels.shape == (2, 24, 24, 3)           # uint8, normalised on the device
    assert batch_to_device(batch, torch.device("cpu")).images.shape == (2, 3, 24, 24)


def test_espgame(tmp_path):
    root = tmp_path / "esp"
    root.mkdir()
    (root / "espgame_dictionary.txt").write_text("sky\nman\ntree\n")
    (root / "espgame_train_list.txt").write_text("images/a\nimages/b\nimages/c\n")
    (root / "espgame_train_annot.txt").write_text("0 2\nman\nunicorn\n")
    (root / "espgame_test_list.txt").write_text("images/d\n")
    (root / "espgame_test_annot.txt").write_text("1\n")
    for name in "abd":
        jpeg(root / "images" / f"{name}.jpg")
    report = PrepareReport()
    meta, samples = espgame.prepare(root, tmp_path / "e", report=report)
    assert [(s.image, s.labels) for s in samples["train"]] == [("images/a.jpg", ["sky", "tree"]),
                                                              ("images/b.jpg", ["man"])]
    assert report.problems["unknown label"] == 1 and "espgame_train_annot.txt:3" in report.examples[0]
    with pytest.raises(MlcapError, match="unknown label"):
        espgame.prepare(root, tmp_path / "e2", report=PrepareReport(strict=True))


def test_csv_and_jsonl(tmp_path, mlcap):
    for name in "abcd":
        jpeg(tmp_path / "img" / f"{name}.jpg")
    (tmp_path / "train.csv").write_text("path,labels\nimg/a.jpg,cat|dog\nimg/b.jpg,dog\nimg/zz.jpg,cat\nbroken\n")
    (tmp_path / "test.csv").write_text("img/c.jpg,cat|emu\n")
    res = mlcap("prepare", "csv", "--train", tmp_path / "train.csv", "--test", tmp_path / "test.csv",
                "--out", tmp_path / "o", "--json")
    assert res.code == 0, res.err
    s = json.loads(res.out)
    assert s["labels"] == 3 and s["splits"]["train"]["images"] == 2
    assert s["problems"] == {"image listed but missing": 1, "bad row": 1}
    # a test label training never saw stays, named in a warning (tests/datasets/test_own_data.py)
    assert any(n.startswith("warning: 1 label(s) never occur in train") and "'emu'" in n for n in s["notes"])
    (tmp_path / "train.jsonl").write_text(json.dumps({"path": "img/a.jpg", "labels": ["cat"], "tags": ["pet"],
                                                      "captions": ["a cat"]}) + "\n")
    (tmp_path / "test.jsonl").write_text(json.dumps({"path": "img/d.jpg", "labels": ["cat"]}) + "\n")
    meta, samples = generic.prepare(tmp_path / "j", tmp_path / "train.jsonl", tmp_path / "test.jsonl")
    assert meta["tags"] == ["pet"] and samples["train"][0].captions == ["a cat"]
    res = mlcap("prepare", "csv", "--train", tmp_path / "train.csv", "--test", tmp_path / "test.csv",
                "--out", tmp_path / "o2", "--strict")
    assert res.code == 2 and "train.csv:5" in res.err and "bad row" in res.err
