"""`prepare csv|jsonl` on hostile input: a BOM or another header name is not a label, duplicate
paths are reported, non-string labels and a captions string are bad rows, an empty or unusable
train file is an error, not a 0-image dataset."""

from __future__ import annotations

import json

from PIL import Image

from helpers import run_cli


def _images(root, names="abc"):
    (root / "img").mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (8, 8), (1, 2, 3)).save(root / "img" / f"{name}.jpg")


def _prepare(root, train, test, fmt="csv"):
    return run_cli("prepare", fmt, "--train", train, "--test", test, "--out", root / "out", "--json")


def test_bom_and_header_names_do_not_become_labels(tmp_path):
    _images(tmp_path)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_bytes(b"\xef\xbb\xbfimage,labels\nimg/a.jpg,cat|dog\nimg/b.jpg,dog\n")
    test.write_text("img/c.jpg,cat\n")
    res = _prepare(tmp_path, train, test)
    assert res.code == 0, res.err
    summary = json.loads(res.out)
    assert summary["labels"] == 2 and summary["splits"]["train"]["images"] == 2
    labels = json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"]
    assert labels == ["cat", "dog"]


def test_duplicate_paths_are_reported(tmp_path):
    _images(tmp_path)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("img/a.jpg,cat\nimg/a.jpg,dog\nimg/b.jpg,dog\n")
    test.write_text("img/c.jpg,cat\n")
    res = _prepare(tmp_path, train, test)
    assert res.code == 0, res.err
    assert json.loads(res.out)["problems"]["image listed twice"] == 1


def test_jsonl_values_of_the_wrong_type_are_bad_rows(tmp_path):
    _images(tmp_path)
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    rows = [{"path": "img/a.jpg", "labels": ["cat"]}, {"path": "img/b.jpg", "labels": [None]},
            {"path": "img/b.jpg", "labels": [3]}, {"path": "img/b.jpg", "labels": [{}]},
            {"path": "img/b.jpg", "labels": ["dog"], "captions": "a dog"}]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    test.write_text(json.dumps({"path": "img/c.jpg", "labels": ["cat"]}) + "\n")
    res = _prepare(tmp_path, train, test, "jsonl")
    assert res.code == 0, res.err
    summary = json.loads(res.out)
    assert summary["problems"]["bad row"] == 4 and summary["labels"] == 1
    assert any("'captions' must be a list of non-empty strings" in e for e in summary["problem_examples"])


def test_an_empty_or_unusable_train_file_is_an_error(tmp_path):
    _images(tmp_path)
    test = tmp_path / "test.csv"
    test.write_text("img/c.jpg,cat\n")
    for name, text in (("empty", ""), ("semicolons", "img/a.jpg;cat\nimg/b.jpg;dog\n")):
        train = tmp_path / f"{name}.csv"
        train.write_text(text)
        res = _prepare(tmp_path, train, test)
        assert res.code == 2 and ("no usable training row" in res.err or "no training rows" in res.err), res.err
        assert not (tmp_path / "out" / "dataset.json").exists()


def test_non_utf8_is_one_line(tmp_path):
    _images(tmp_path)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_bytes(b"img/a.jpg,caf\xe9\n")
    test.write_text("img/c.jpg,cat\n")
    res = _prepare(tmp_path, train, test)
    assert res.code == 2 and "not UTF-8 text" in res.err and "Traceback" not in res.err
