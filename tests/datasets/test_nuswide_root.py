"""`prepare nuswide --root DIR` on the derived forms of the release (mlcap/datasets/nuswide_root.py):
a flat Concepts81.txt, one label CSV per split (brthmas' labels_{train,test}.zip), flat image lists."""

from __future__ import annotations

import pytest

import json
import zipfile

from mlcap.data.prepared import PreparedDataset


def derived_folder(root, zipped=True):
    """Files as BiAM and brthmas ship them: Concepts81.txt at the top (CRLF), labels_<split>.zip
    holding one CSV, the image lists at the top, and a names pickle that must not be read."""
    root.mkdir(parents=True)
    (root / "Concepts81.txt").write_bytes(b"beach\r\nsky\r\nzebra\r\n")
    tables = {"train": "image_id,beach,sky,zebra\n101,1,1,0\n102,0,1,0\n103,0,0,0\n",
              "test": "image_id,beach,sky,zebra\n104,1,0,0\nof,0,0,1\n"}
    for split, text in tables.items():
        if zipped:
            with zipfile.ZipFile(root / f"labels_{split}.zip", "w") as z:
                z.writestr(f"labels_{split}.csv", text)
        else:
            (root / f"brthmas_labels_{split}.csv").write_text(text)
    (root / "test_img_names.pkl").write_bytes(b"not a pickle to open")
    return root


def test_derived_files_are_found(tmp_path, mlcap):
    root = derived_folder(tmp_path / "nus")
    res = mlcap("prepare", "nuswide", "--root", root, "--out", tmp_path / "o", "--json")
    assert res.code == 0, res.err
    summary = json.loads(res.out)
    assert summary["splits"]["train"]["images"] == 2 and summary["splits"]["test"]["images"] == 2
    assert any("labels_train.zip" in n and "Concepts81.txt" in n for n in summary["notes"])
    assert any("test_img_names.pkl: not read" in n and "--test-list" in n for n in summary["notes"])
    ds = PreparedDataset(tmp_path / "o")
    assert ds.labels == ["beach", "sky", "zebra"]
    assert [(s.id, s.labels) for s in ds.samples("train")] == [("101", ["beach", "sky"]), ("102", ["sky"])]
    assert [(s.id, s.labels) for s in ds.samples("test")] == [("104", ["beach"]), ("test-row2", ["zebra"])]


def test_flat_image_lists_name_the_rows(tmp_path, mlcap):
    root = derived_folder(tmp_path / "nus", zipped=False)
    (root / "TrainImagelist.txt").write_text("beach\\0001_101.jpg\r\nsky\\0002_102.jpg\r\nzebra\\0003_103.jpg\r\n")
    (root / "TestImagelist.txt").write_text("beach\\0004_104.jpg\r\nzebra\\0005_105.jpg\r\n")
    res = mlcap("prepare", "nuswide", "--root", root, "--out", tmp_path / "o", "--json")
    assert res.code == 0, res.err
    test = PreparedDataset(tmp_path / "o").samples("test")
    assert [(s.id, s.image) for s in test] == [("104", "beach/0004_104.jpg"), ("105", "zebra/0005_105.jpg")]


def test_flags_win_over_the_derived_files(tmp_path, mlcap):
    root = derived_folder(tmp_path / "nus")
    other = tmp_path / "concepts.txt"
    other.write_text("sky\nbeach\nzebra\n")
    res = mlcap("prepare", "nuswide", "--root", root, "--concepts", other, "--out", tmp_path / "o")
    assert res.code == 0, res.err
    assert PreparedDataset(tmp_path / "o").labels == ["sky", "beach", "zebra"]


def test_a_folder_with_neither_form_names_the_flags(tmp_path, mlcap):
    root = tmp_path / "nus"
    root.mkdir()
    res = mlcap("prepare", "nuswide", "--root", root, "--out", tmp_path / "o")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1
    assert "no concept list" in res.err and "--concepts FILE" in res.err
    (root / "Concepts81.txt").write_text("beach\n")
    with zipfile.ZipFile(root / "labels_train.zip", "w") as z:
        z.writestr("labels_train.csv", "image_id,beach\n1,1\n")
    res = mlcap("prepare", "nuswide", "--root", root, "--out", tmp_path / "o")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1
    assert "no label files" in res.err and "found only train table labels_train.zip" in res.err
    assert "--train-csv/--test-csv" in res.err and "--train-labels/--test-labels" in res.err
    assert not (tmp_path / "o").exists()
    res = mlcap("prepare", "nuswide", "--root", tmp_path / "absent", "--out", tmp_path / "o")
    assert res.code == 2 and "absent: not found or not a directory" in res.err


@pytest.mark.slow
def test_the_real_derived_folder_as_root(shared_data, tmp_path, mlcap):
    """../shared/data/nuswide holds the derived files themselves: BiAM's Concepts81.txt, brthmas'
    labels_{train,test}.zip and BiAM's names pickle (not read)."""
    d = shared_data("nuswide")
    res = mlcap("prepare", "nuswide", "--root", d, "--out", tmp_path / "nw", "--json")
    assert res.code == 0, res.err
    summary = json.loads(res.out)
    assert summary["splits"]["train"]["images"] == 125_449 and summary["splits"]["test"]["images"] == 83_898
    assert any("biam_test_img_names.pkl: not read" in n for n in summary["notes"])
    assert PreparedDataset(tmp_path / "nw").labels == (d / "Concepts81.txt").read_text().split()
