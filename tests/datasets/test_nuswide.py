"""NUS-WIDE: the real official label CSVs and concept list, and the official per-concept layout."""

from __future__ import annotations

import json
import pickle

import pytest

from mlcap.data.prepared import PreparedDataset
from mlcap.datasets import nuswide
from mlcap.datasets.report import PrepareReport
from mlcap.errors import MlcapError


class _NamesOnly(pickle.Unpickler):
    """Reads a pickle of plain containers only: refuses any class or function."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


@pytest.mark.slow
def test_real_csvs_keep_every_labelled_image(shared_data, tmp_path, mlcap):
    d = shared_data("nuswide")
    res = mlcap("prepare", "nuswide", "--out", tmp_path / "nw", "--concepts", d / "Concepts81.txt",
                "--train-csv", d / "brthmas_labels_train.zip", "--test-csv", d / "brthmas_labels_test.zip", "--json")
    assert res.code == 0, res.err
    summary = json.loads(res.out)
    assert summary["splits"]["train"]["images"] == 125_449
    assert summary["splits"]["test"]["images"] == 83_898
    assert any("209347 images have no image path" in n and "--images" in n for n in summary["notes"])
    # the one corrupt cell (train row 74,383, column lake) is reported with its line and read as 0
    assert summary["problems"]["label value not 0/1"] == 1
    assert any("labels_train.csv:78374" in e and "lake='-1130179'" in e for e in summary["problem_examples"])
    assert summary["problems"]["corrupt image_id (named by row)"] == 19_997 + 13_331
    assert summary["dropped"]["no label"] == (161_789 - 125_449) + (107_859 - 83_898)
    ds = PreparedDataset(tmp_path / "nw")
    assert ds.labels == (d / "Concepts81.txt").read_text().split()
    test = ds.samples("test")
    assert len({s.id for s in test}) == len(test)
    # --strict stops at the corrupt cell, naming file and line
    res = mlcap("prepare", "nuswide", "--out", tmp_path / "s", "--concepts", d / "Concepts81.txt",
                "--train-csv", d / "brthmas_labels_train.zip", "--test-csv", d / "brthmas_labels_test.zip",
                "--strict")
    assert res.code == 2 and "labels_train.csv:78374" in res.err


def test_real_test_list_names_the_rows(shared_data, tmp_path):
    d = shared_data("nuswide")
    with open(d / "biam_test_img_names.pkl", "rb") as f:
        names = _NamesOnly(f).load()["img_names"]
    assert len(names) == 107_859
    test_list = tmp_path / "TestImagelist.txt"
    test_list.write_text("\n".join(names) + "\n")
    report = PrepareReport()
    meta, samples = nuswide.prepare(tmp_path / "nw", concepts_file=d / "Concepts81.txt",
                                    train_csv=d / "brthmas_labels_train.zip", test_csv=d / "brthmas_labels_test.zip",
                                    test_list=test_list, report=report)
    test = samples["test"]
    assert len(test) == 83_898 and all(s.image for s in test)
    assert test[0].image in names and test[0].image.endswith(".jpg")


def test_columns_are_mapped_by_name(tmp_path):
    concepts = tmp_path / "Concepts.txt"
    concepts.write_text("airport\r\nanimal\r\nbeach\r\n")
    shuffled = tmp_path / "train.csv"
    shuffled.write_text("image_id,beach,airport,animal\n11,1,0,0\n12,0,0,0\n13,0,1,1\n")
    test = tmp_path / "test.csv"
    test.write_text("image_id,airport,animal,beach\n21,0,0,1\n")
    meta, samples = nuswide.prepare(tmp_path / "o", concepts_file=concepts, train_csv=shuffled, test_csv=test)
    assert [(s.id, s.labels) for s in samples["train"]] == [("11", ["beach"]), ("13", ["airport", "animal"])]
    bad = tmp_path / "bad.csv"
    bad.write_text("image_id,beach,airport,zebra\n")
    with pytest.raises(MlcapError, match="unknown concept column 'zebra'"):
        nuswide.prepare(tmp_path / "o2", concepts_file=concepts, train_csv=bad, test_csv=test)


def official_layout(root):
    """The official NUS-WIDE layout (files as named in the NUS-WIDE release's ReadMe), 3 concepts."""
    (root / "ConceptsList").mkdir(parents=True)
    (root / "ConceptsList" / "Concepts81.txt").write_text("beach\r\nsky\r\nzebra\r\n")
    (root / "ImageList").mkdir()
    train = ["beach\\0001_101.jpg", "sky\\0002_102.jpg", "zebra\\0003_103.jpg"]
    test = ["beach\\0004_104.jpg", "sky\\0005_105.jpg"]
    (root / "ImageList" / "TrainImagelist.txt").write_text("\r\n".join(train) + "\r\n")
    (root / "ImageList" / "TestImagelist.txt").write_text("\r\n".join(test) + "\r\n")
    (root / "ImageList" / "Imagelist.txt").write_text("\r\n".join(train + test) + "\r\n")
    gt = root / "Groundtruth" / "TrainTestLabels"
    gt.mkdir(parents=True)
    values = {"beach": ([1, 0, 0], [1, 0]), "sky": ([1, 1, 0], [0, 0]), "zebra": ([0, 0, 0], [0, 7])}
    for concept, (tr, te) in values.items():
        (gt / f"Labels_{concept}_Train.txt").write_text("".join(f"{v}\r\n" for v in tr))
        (gt / f"Labels_{concept}_Test.txt").write_text("".join(f"{v}\r\n" for v in te))
    tags = root / "NUS_WID_Tags"
    tags.mkdir()
    (tags / "TagList1k.txt").write_text("nature\nsky\nblue\n")
    (tags / "AllTags1k.txt").write_text("1 0 1\n0 1 0\n0 0 0\n1 1 1\n0 0 0\n")


def test_official_layout_with_tags(tmp_path):
    official_layout(tmp_path / "nus")
    report = PrepareReport()
    meta, samples = nuswide.prepare(tmp_path / "o", root=tmp_path / "nus", report=report)
    train, test = samples["train"], samples["test"]
    assert [(s.id, s.labels, s.tags, s.image) for s in train] == [
        ("101", ["beach", "sky"], ["nature", "blue"], "beach/0001_101.jpg"), ("102", ["sky"], ["sky"], "sky/0002_102.jpg")]
    assert [s.id for s in test] == ["104"]            # 105's only value is a corrupt 7
    assert report.problems["label value not 0/1"] == 1 and report.dropped["no label"] == 2
    assert meta["tags"] == ["nature", "sky", "blue"]
    meta, samples = nuswide.prepare(tmp_path / "p", root=tmp_path / "nus", split="paper")
    assert len(samples["train"]) == 3 and samples["test"] == []


def test_list_form(tmp_path):
    concepts = tmp_path / "c.txt"
    concepts.write_text("a\nb\n")
    (tmp_path / "train.txt").write_text("img/1.jpg 1 0\nimg/2.jpg 0 1\nimg/3.jpg 1\n")
    (tmp_path / "test.txt").write_text("img/4.jpg 1 1\n")
    report = PrepareReport()
    meta, samples = nuswide.prepare(tmp_path / "o", concepts_file=concepts, train_labels=tmp_path / "train.txt",
                                    test_labels=tmp_path / "test.txt", report=report)
    assert [s.labels for s in samples["train"]] == [["a"], ["b"]]
    assert report.problems["bad row"] == 1 and "train.txt:3" in report.examples[0]


def test_real_images_with_their_flickr_tags_as_side_information(shared_data, tmp_path, mlcap):
    """The three real NUS-WIDE images and their raw Flickr tags (coco-cn's nuswide100 readme),
    laid out as the official release: tag vectors over the real TagList1k, labels from the
    readme's manually verified tags mapped to concept names."""
    d = shared_data("nuswide")
    src = d / "images_cococn"
    readme = (src / "readme.md").read_text(encoding="utf-8")
    flickr = {}
    for line in readme.splitlines():
        if line.startswith("| <img src="):
            name = line.split('"')[1]
            flickr[name] = line.split("|")[2].split()
    assert len(flickr) == 3
    labels = {"417187631.jpg": ["boats", "water"], "48661375.jpg": ["cat"], "342635061.jpg": ["ocean", "rocks", "sky"]}
    root = tmp_path / "NUS-WIDE"
    (root / "ConceptsList").mkdir(parents=True)
    (root / "ConceptsList" / "Concepts81.txt").write_bytes((d / "Concepts81.txt").read_bytes())
    concepts = (d / "Concepts81.txt").read_text().split()
    names = {n: f"nuswide100\\{n}" for n in flickr}
    order = ["417187631.jpg", "48661375.jpg", "342635061.jpg"]
    (root / "ImageList").mkdir()
    (root / "ImageList" / "Imagelist.txt").write_text("".join(names[n] + "\r\n" for n in order))
    (root / "ImageList" / "TrainImagelist.txt").write_text("".join(names[n] + "\r\n" for n in order[:2]))
    (root / "ImageList" / "TestImagelist.txt").write_text(names[order[2]] + "\r\n")
    gt = root / "Groundtruth" / "TrainTestLabels"
    gt.mkdir(parents=True)
    for c in concepts:
        for split, members in (("Train", order[:2]), ("Test", order[2:])):
            (gt / f"Labels_{c}_{split}.txt").write_text("".join(f"{int(c in labels[n])}\r\n" for n in members))
    (root / "NUS_WID_Tags").mkdir()
    taglist = (d / "TagList1k.txt").read_text().split()
    (root / "NUS_WID_Tags" / "TagList1k.txt").write_text("\n".join(taglist) + "\n")
    (root / "NUS_WID_Tags" / "AllTags1k.txt").write_text(
        "".join(" ".join("1" if t in flickr[n] else "0" for t in taglist) + "\n" for n in order))
    images = tmp_path / "images" / "nuswide100"
    images.mkdir(parents=True)
    for n in order:
        (images / n).write_bytes((src / n).read_bytes())

    res = mlcap("prepare", "nuswide", "--root", root, "--images", tmp_path / "images", "--out", tmp_path / "o",
                "--json")
    assert res.code == 0, res.err
    ds = PreparedDataset(tmp_path / "o")
    train = ds.samples("train")
    assert [s.labels for s in train] == [["boats", "water"], ["cat"]]
    assert set(train[0].tags) == set(flickr["417187631.jpg"]) & set(taglist) and "boats" in train[0].tags
    assert len(ds.tags) == 1000
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", tmp_path / "o", "--run", tmp_path / "r", "--use-tags",
                "--epochs", 1, "--device", "cpu", "--image-size", 64)
    assert res.code == 0, res.err
    assert len(mlcap("predict", "--run", tmp_path / "r", "--data", tmp_path / "o").json_lines()) == 1
