"""COCO: the real COCO-mini files, the full captions_val2017.json, and a Karpathy split file."""

from __future__ import annotations

import json
import shutil

import pytest

from mlcap.data.prepared import PreparedDataset
from mlcap.datasets import captions, coco
from mlcap.datasets.report import PrepareReport


def test_coco_mini_categories(shared_data, tmp_path, mlcap):
    root = shared_data("coco", "coco_mini")
    res = mlcap("prepare", "coco", "--root", root, "--out", tmp_path / "c", "--json")
    assert res.code == 0, res.err
    summary = json.loads(res.out)
    assert summary["labels"] == 80
    assert summary["splits"]["train"]["images"] == 80 and summary["splits"]["test"]["images"] == 79
    assert summary["splits"]["train"]["captions"] == 400
    ds = PreparedDataset(tmp_path / "c")
    instances = json.loads((root / "annotations" / "instances_train2017.json").read_text())
    # category ids are not contiguous: names come from the id -> name map
    names = {c["id"]: c["name"] for c in instances["categories"]}
    assert ds.labels == [names[i] for i in sorted(names)] and max(names) == 90
    first = ds.samples("train")[0]
    expected = sorted({a["category_id"] for a in instances["annotations"] if a["image_id"] == int(first.id)})
    assert first.labels == [names[i] for i in expected]
    assert ds.image_path(first).is_file() and len(first.captions) == 5


def test_coco_mini_trains_unchanged(shared_data, tmp_path, mlcap):
    root = shared_data("coco", "coco_mini")
    assert mlcap("prepare", "coco", "--root", root, "--out", tmp_path / "c", "--json").code == 0
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", tmp_path / "c", "--run", tmp_path / "r", "--epochs", 1,
                "--batch-size", 16, "--device", "cpu")
    assert res.code == 0, res.err
    res = mlcap("predict", "--run", tmp_path / "r", "--data", tmp_path / "c")
    assert len(res.json_lines()) == 79


def test_caption_concepts_on_the_full_val2017_captions(shared_data, tmp_path):
    full = shared_data("coco", "captions_val2017.json")
    mini = shared_data("coco", "coco_mini")
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    shutil.copy(full, root / "annotations" / "captions_train2017.json")
    shutil.copy(mini / "annotations" / "captions_val2017.json", root / "annotations" / "captions_val2017.json")
    report = PrepareReport()
    meta, samples = coco.prepare(root, tmp_path / "o", labels="concepts", check_images=False, report=report)
    doc = json.loads(full.read_text())
    assert len(samples["train"]) == 5000 and sum(len(s.captions) for s in samples["train"]) == 25_014
    vocab = json.loads((tmp_path / "o" / "caption_vocab.json").read_text())
    counts = captions.word_counts(a["caption"] for a in doc["annotations"])
    top = sorted(counts, key=lambda w: (-counts[w], w))[:1000]
    assert vocab["concepts"] == top and len(meta["labels"]) == 1000
    assert vocab["concept_coverage"] == pytest.approx(sum(counts[w] for w in top) / sum(counts.values()))
    assert 0.85 < vocab["concept_coverage"] < 0.97
    assert any("cover" in n for n in report.notes)
    # an image's concept labels are the concept words of its captions
    s = samples["train"][0]
    assert set(s.labels) == {w for c in s.captions for w in captions.tokenize(c)} & set(top)
    without = captions.concept_set(counts, 1000, drop_stop_words=True)[0]
    assert "a" in top and "a" not in without


def test_karpathy_split(shared_data, tmp_path):
    root = shared_data("coco", "coco_mini")
    instances = json.loads((root / "annotations" / "instances_val2017.json").read_text())
    ids = sorted(img["id"] for img in instances["images"])
    # dataset_coco.json format: {"images": [{"cocoid", "split", "filepath", "filename", "sentences"}]}
    entries = [{"cocoid": i, "split": ["test", "val", "restval"][k % 3], "filepath": "val2017"}
               for k, i in enumerate(ids)]
    (tmp_path / "dataset_coco.json").write_text(json.dumps({"images": entries, "dataset": "coco"}))
    report = PrepareReport()
    meta, samples = coco.prepare(root, tmp_path / "o", karpathy=tmp_path / "dataset_coco.json", report=report)
    assert set(samples) == {"train", "val", "test"}
    assert len(samples["train"]) + len(samples["val"]) + len(samples["test"]) == 79
    assert report.dropped["not in the Karpathy split"] == 80      # train2017 images are not in this split file
