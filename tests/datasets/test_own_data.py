"""Your own data (#33): one COCO-format file with any image folder, a single CSV, a YOLO folder,
splits drawn by fraction (stratified, seeded), and the test set kept honest (images with no
label counted per split or kept, labels only val/test holds kept and named). Real image files
(PNG and JPEG written by PIL) in folders whose names have spaces. (README's quick start, from
one CSV, runs in tests/test_readme.py.)"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from helpers import run_cli
from mlcap.data.prepared import PreparedDataset

CATEGORIES = [{"id": 1, "name": "cat", "supercategory": "animal"}, {"id": 3, "name": "dog"},
              {"id": 7, "name": "bird"}, {"id": 9, "name": "fox"}, {"id": 11, "name": "owl"},
              {"id": 12, "name": "yak"}]
FOX = (7, 11, 13)           # a rare category: 3 images, one for each split
OWL = 1                     # 1 image: it must be in train


def image(path: Path, seed: int) -> None:
    """A real image file: JPEG or PNG by suffix, noise around a colour of its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    base = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    img = Image.new("RGB", (40, 32), base)
    img.putdata([tuple(min(255, c + rng.randrange(40)) for c in base) for _ in range(40 * 32)])
    img.save(path)


def coco_labels(i: int) -> list[str]:
    names = [["cat", "dog", "bird"][i % 3]] + (["dog"] if i % 4 == 0 else [])
    return sorted(set(names + (["fox"] if i in FOX else []) + (["owl"] if i == OWL else [])))


def coco_export(root: Path, n: int = 24) -> tuple[Path, Path]:
    """What a labelling tool exports: one instances JSON (images 1..21 labelled, 22 listed but not
    there, 23 and 24 with no box) and the image folder ("my photos", some in a subfolder)."""
    images = root / "my photos"
    ids = {c["name"]: c["id"] for c in CATEGORIES}
    doc = {"info": {"description": "export"}, "licenses": [], "categories": CATEGORIES, "images": [],
           "annotations": []}
    for i in range(1, n + 1):
        name = f"sub/img {i:02d}.png" if i % 5 == 0 else f"img_{i:02d}.jpg"
        doc["images"].append({"id": i, "file_name": name, "width": 40, "height": 32})
        if i != 22:
            image(images / name, i)
        for label in coco_labels(i) if i <= 22 else []:
            for _ in range(2 if label == "cat" else 1):          # two boxes of one category: one label
                doc["annotations"].append({"id": len(doc["annotations"]) + 1, "image_id": i, "iscrowd": 0,
                                           "category_id": ids[label], "bbox": [1, 2, 10, 8], "area": 80})
    (root / "export").mkdir(parents=True, exist_ok=True)
    instances = root / "export" / "instances_default.json"
    instances.write_text(json.dumps(doc))
    return instances, images


def split_of(data: Path) -> dict[str, str]:
    ds = PreparedDataset(data)
    return {s.id: split for split in ds.splits for s in ds.samples(split)}


def test_one_coco_file_with_an_image_folder(tmp_path):
    instances, images = coco_export(tmp_path)
    captions = tmp_path / "export" / "captions.json"
    captions.write_text(json.dumps({"images": [{"id": 2, "file_name": "img_02.jpg"}],
                                    "annotations": [{"id": 1, "image_id": 2, "caption": "A bird on a branch."}]}))
    res = run_cli("prepare", "coco", "--instances", instances, "--images", images, "--captions", captions,
                  "--val-fraction", "0.2", "--test-fraction", "0.2", "--out", tmp_path / "d", "--json")
    assert res.code == 0, res.err
    s = json.loads(res.out)
    assert s["labels"] == 6 and sum(split["images"] for split in s["splits"].values()) == 21
    assert {name: split["images"] for name, split in s["splits"].items()} == {"train": 13, "test": 4, "val": 4}
    assert s["dropped"] == {"no label": 2, "image listed but missing": 1}
    assert "img_22.jpg" in s["problem_examples"][0]
    assert any("stratified by label (seed 0)" in note for note in s["notes"])
    ds = PreparedDataset(tmp_path / "d")
    assert ds.labels == ["cat", "dog", "bird", "fox", "owl", "yak"]        # by category id, named by name
    assert ds.image_root == images.resolve()
    where = split_of(tmp_path / "d")
    assert sorted(where[str(i)] for i in FOX) == ["test", "train", "val"]   # a rare label reaches every split
    assert where[str(OWL)] == "train"
    for split in ds.splits:
        for sample in ds.samples(split):
            assert sample.labels == sorted(coco_labels(int(sample.id)), key=ds.labels.index)
            assert ds.image_path(sample).is_file()
    assert next(x for x in ds.samples(where["2"]) if x.id == "2").captions == ["A bird on a branch."]


def test_drawn_splits_are_seeded(tmp_path):
    instances, images = coco_export(tmp_path)
    args = ["prepare", "coco", "--instances", instances, "--images", images, "--json"]
    for out, seed in (("a", "0"), ("b", "0"), ("c", "5")):
        assert run_cli(*args, "--split-seed", seed, "--out", tmp_path / out).code == 0
    assert split_of(tmp_path / "a") == split_of(tmp_path / "b")
    assert split_of(tmp_path / "a") != split_of(tmp_path / "c")
    sizes = Counter(split_of(tmp_path / "a").values())               # the defaults: 70/10/20 of 21
    assert sizes == {"train": 15, "test": 4, "val": 2}


def test_keep_unlabelled_keeps_them_as_all_negative(tmp_path):
    instances, images = coco_export(tmp_path)
    res = run_cli("prepare", "coco", "--instances", instances, "--images", images, "--keep-unlabelled",
                  "--out", tmp_path / "d", "--json")
    assert res.code == 0, res.err
    s = json.loads(res.out)
    assert s["dropped"] == {"image listed but missing": 1}
    assert sum(split["images"] for split in s["splits"].values()) == 23
    ds = PreparedDataset(tmp_path / "d")
    empty = [x.id for split in ds.splits for x in ds.samples(split) if not x.labels]
    assert sorted(empty) == ["23", "24"]


@pytest.mark.parametrize("args, says", [
    (["--root", "R", "--instances", "I"], "give --root"),
    ([], "give --root"),
    (["--instances", "I"], "give --images"),
    (["--root", "R", "--test-fraction", "0.2"], "--test-fraction goes with --instances"),
    (["--instances", "I", "--images", "M", "--test-fraction", "1.5"], "below 1"),
    (["--instances", "I", "--images", "M", "--val-fraction", "0.5", "--test-fraction", "0.5"], "no image for training"),
    (["--instances", "I", "--images", "M", "--karpathy", "I"], "--karpathy"),
])
def test_coco_file_mode_refusals_are_one_line(tmp_path, args, says):
    instances, images = coco_export(tmp_path)
    named = {"R": tmp_path, "I": instances, "M": images}
    res = run_cli("prepare", "coco", "--out", tmp_path / "d", *[named.get(a, a) for a in args])
    assert res.one_line_error() and says in res.err, res.err
    assert not (tmp_path / "d").exists()


def csv_images(root: Path, n: int) -> None:
    for i in range(n):
        image(root / "photos" / f"p{i}.jpg", 100 + i)


def test_one_csv_is_split_by_label(tmp_path):
    csv_images(tmp_path, 30)
    rows = [f"photos/p{i}.jpg,{'sea|sky' if i % 2 else 'sky'}{'|crab' if i in (3, 17, 25) else ''}" for i in range(30)]
    (tmp_path / "all.csv").write_text("path,labels\n" + "\n".join(rows) + "\n")
    res = run_cli("prepare", "csv", "--train", tmp_path / "all.csv", "--out", tmp_path / "d", "--json")
    assert res.code == 0, res.err
    s = json.loads(res.out)
    assert {name: split["images"] for name, split in s["splits"].items()} == {"train": 21, "test": 6, "val": 3}
    ds = PreparedDataset(tmp_path / "d")
    crab = sorted(split for split in ds.splits for x in ds.samples(split) if "crab" in x.labels)
    assert crab == ["test", "train", "val"]
    # a test file of its own, and val drawn from train
    (tmp_path / "test.csv").write_text("photos/p0.jpg,sky\n")
    res = run_cli("prepare", "csv", "--train", tmp_path / "all.csv", "--test", tmp_path / "test.csv",
                  "--val-fraction", "0.1", "--out", tmp_path / "e", "--json")
    assert res.code == 0, res.err
    assert {k: v["images"] for k, v in json.loads(res.out)["splits"].items()} == {"train": 27, "val": 3, "test": 1}
    res = run_cli("prepare", "csv", "--train", tmp_path / "all.csv", "--test", tmp_path / "test.csv",
                  "--test-fraction", "0.1", "--out", tmp_path / "f")
    assert res.one_line_error() and "--test-fraction and a test file" in res.err


def test_test_set_honesty(tmp_path):
    csv_images(tmp_path, 6)
    (tmp_path / "train.csv").write_text("photos/p0.jpg,cat|dog\nphotos/p1.jpg,dog\nphotos/p2.jpg,\n")
    # p3: a label training never sees; p4: no label at all
    (tmp_path / "test.csv").write_text("photos/p3.jpg,emu\nphotos/p4.jpg,\nphotos/p5.jpg,cat|emu\n")
    args = ["prepare", "csv", "--train", tmp_path / "train.csv", "--test", tmp_path / "test.csv"]
    res = run_cli(*args, "--out", tmp_path / "d", "--strict")
    assert res.code == 0, res.err
    assert "dropped 2 image(s): no label" in res.out and "from the test split: 1 (no label 1)" in res.out
    assert "warning: 1 label(s) never occur in train" in res.out and "'emu' (test 2)" in res.out
    ds = PreparedDataset(tmp_path / "d")
    assert ds.labels == ["cat", "dog", "emu"] and ds.frequencies["emu"] == 0
    assert [(x.id, x.labels) for x in ds.samples("test")] == [("photos/p3.jpg", ["emu"]),
                                                               ("photos/p5.jpg", ["cat", "emu"])]
    s = json.loads(run_cli(*args, "--out", tmp_path / "j", "--json").out)
    assert s["dropped_by_split"] == {"train": {"no label": 1}, "test": {"no label": 1}}
    res = run_cli(*args, "--out", tmp_path / "k", "--keep-unlabelled", "--json")
    assert res.code == 0 and "dropped_by_split" not in json.loads(res.out)
    test = PreparedDataset(tmp_path / "k").samples("test")
    assert [(x.id, x.labels) for x in test] == [("photos/p3.jpg", ["emu"]), ("photos/p4.jpg", []),
                                                ("photos/p5.jpg", ["cat", "emu"])]
    # the metrics count the label training never saw and the all-negative image
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": x.id, "labels": ["cat"], "scores": {"cat": 0.9, "dog": 0.1, "emu": 0.2}})
                             + "\n" for x in test))
    res = run_cli("evaluate", "--data", tmp_path / "k", "--split", "test", "--metrics", "f1", "--json", preds)
    assert res.code == 0, res.err
    assert json.loads(res.out)["O-R"] == pytest.approx(1 / 3)        # cat found; emu twice missed


def yolo_folder(root: Path) -> Path:
    """images/ (one in a subfolder), labels/ with the same relative paths, classes.txt and data.yaml."""
    root.mkdir(parents=True)
    (root / "classes.txt").write_text("person\ncar\ndog\n")
    (root / "data.yaml").write_text("path: .\ntrain: images\nval: images\nnc: 3\nnames:\n  0: person\n"
                                    "  1: car\n  2: dog  # pets\n")
    rows = {"a.jpg": "0 0.5 0.5 0.2 0.2\n2 0.1 0.1 0.1 0.1\n0 0.3 0.3 0.1 0.1\n",
            "b.png": "1 0.5 0.5 0.5 0.5\nbad row\n",
            "sub/c.jpg": "7 0.5 0.5 0.1 0.1\n1 0.2 0.2 0.1 0.1\n",
            "e.jpg": ""}
    rows.update({f"n{i}.jpg": f"{i % 3} 0.5 0.5 0.3 0.3\n" for i in range(12)})
    for k, (name, text) in enumerate(sorted(rows.items())):
        image(root / "images" / name, 300 + k)
        label = root / "labels" / Path(name).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(text)
    image(root / "images" / "d.jpg", 299)                      # no label file: no label
    (root / "labels" / "zz.txt").write_text("0 0.5 0.5 0.1 0.1\n")    # no image
    return root


def test_yolo_folder(tmp_path):
    root = yolo_folder(tmp_path / "yolo set")
    res = run_cli("prepare", "yolo", "--root", root, "--out", tmp_path / "d", "--json", "--split-seed", "3")
    assert res.code == 0, res.err
    s = json.loads(res.out)
    assert s["problems"] == {"bad label row": 1, "class id out of range": 1, "label file without an image": 1}
    assert s["dropped"] == {"no label": 2}
    assert any("labels/b.txt:2" in e for e in s["problem_examples"])
    assert sum(split["images"] for split in s["splits"].values()) == 15
    ds = PreparedDataset(tmp_path / "d")
    assert ds.labels == ["person", "car", "dog"]
    got = {x.id: x.labels for split in ds.splits for x in ds.samples(split)}
    assert (got["a.jpg"], got["b.png"], got["sub/c.jpg"]) == (["dog", "person"], ["car"], ["car"])
    assert all(ds.image_path(x).is_file() for split in ds.splits for x in ds.samples(split))
    assert set(ds.splits) == {"train", "val", "test"}
    res = run_cli("prepare", "yolo", "--root", root, "--out", tmp_path / "k", "--keep-unlabelled", "--json")
    assert sum(split["images"] for split in json.loads(res.out)["splits"].values()) == 17
    (root / "data.yaml").write_text("names: ['person', 'car', 'cat']\n")
    res = run_cli("prepare", "yolo", "--root", root, "--out", tmp_path / "e")
    assert res.one_line_error() and "classes.txt" in res.err and "differ" in res.err
    (root / "classes.txt").unlink()
    res = run_cli("prepare", "yolo", "--root", root, "--out", tmp_path / "f", "--json")
    assert res.code == 0 and PreparedDataset(tmp_path / "f").labels == ["person", "car", "cat"]
