"""Prediction on a user's own images: `mlcap predict --images`, and the Python API (mlcap.load_run)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

import mlcap as api
from helpers import run_cli


def _test_images(data) -> dict[str, str]:
    """Image path (as the CLI gets it) -> sample id, for the test split."""
    rows = [json.loads(line) for line in (data / "test.jsonl").read_text().splitlines()]
    return {str(data / row["image"]): row["id"] for row in rows}


def _by_id(rows, key="id"):
    return {row[key]: row for row in rows}


@pytest.mark.parametrize("method", ["bce", "scnnrnn"])
def test_images_give_the_records_of_the_prepared_split(tiny_runs, method, tmp_path):
    data, runs = tiny_runs
    folder = tmp_path / "mine" / "nested"
    folder.mkdir(parents=True)
    paths = _test_images(data)
    for path in paths:
        shutil.copy(path, folder)
    split = run_cli("predict", "--run", runs[method], "--data", data, "--split", "test")
    mine = run_cli("predict", "--run", runs[method], "--images", tmp_path / "mine")
    assert split.code == 0 and mine.code == 0, mine.err
    expected = _by_id(split.json_lines())
    got = mine.json_lines()
    assert len(got) == len(expected) == 12
    for row in got:
        sample = paths[str(data / "images" / row["id"].rsplit("/", 1)[-1])]
        assert {**row, "id": sample} == expected[sample]
        assert row["id"].startswith(str(folder))
    assert "predict scnnrnn" in mine.err or "predict bce" in mine.err      # the progress line


def test_files_folders_glob_and_stdin_with_an_unreadable_file_reported(tiny_runs, tmp_path, mlcap):
    data, runs = tiny_runs
    paths = sorted(_test_images(data))
    (tmp_path / "folder").mkdir()
    shutil.copy(paths[0], tmp_path / "folder" / "a.png")
    shutil.copy(paths[1], tmp_path / "folder" / "b.jpeg.png")
    (tmp_path / "folder" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "folder" / "notes.txt").write_text("skipped: no image suffix")
    res = mlcap("predict", "--run", runs["bce"], "--images", paths[2], tmp_path / "folder", "-",
                stdin=f"{paths[3]}\n\n{tmp_path / 'gone.png'}\n")
    assert res.code == 0, res.err
    ids = [row["id"] for row in res.json_lines()]
    assert ids == [paths[2], str(tmp_path / "folder" / "a.png"), str(tmp_path / "folder" / "b.jpeg.png"), paths[3]]
    assert "skipped 2 unreadable image(s)" in res.err and "broken.png" in res.err
    only_a = mlcap("predict", "--run", runs["bce"], "--images", tmp_path / "folder", "--glob", "a*")
    assert [row["id"] for row in only_a.json_lines()] == [str(tmp_path / "folder" / "a.png")]


@pytest.mark.parametrize("args, message", [
    (["--images"], "give image files, folders, or -"),
    (["--images", "nowhere.png"], "nowhere.png: no such file or folder"),
    (["--images", "EMPTY"], "no file with an image suffix"),
    (["--images", "-", "-"], "given twice"),
    (["--images", "EMPTY", "--data", "DATA"], "--data does not go with --images"),
    (["some.png"], "image paths need --images"),
    (["--glob", "*.png"], "give --images too"),
    ([], "missing option --data"),
])
def test_bad_image_arguments_are_one_line(tiny_runs, tmp_path, mlcap, args, message):
    data, runs = tiny_runs
    (tmp_path / "empty").mkdir()
    args = [str(tmp_path / "empty") if a == "EMPTY" else str(data) if a == "DATA" else a for a in args]
    res = mlcap("predict", "--run", runs["bce"], *args, stdin="")
    assert res.code == 2 and message in res.err and "Traceback" not in res.err
    assert res.err.count("\n") == 1 and res.out == ""


def test_all_unreadable_images_is_an_error(tiny_runs, tmp_path, mlcap):
    _, runs = tiny_runs
    (tmp_path / "x.png").write_bytes(b"\x89PNG broken")
    res = mlcap("predict", "--run", runs["bce"], "--images", tmp_path / "x.png")
    assert res.code == 2 and "none of the 1 images of --images could be read" in res.err


def test_a_captioning_run_prints_captions(tiny_runs, tmp_path):
    data, runs = tiny_runs
    path = sorted(_test_images(data))[0]
    res = run_cli("predict", "--run", runs["caption"], "--images", path)
    assert res.code == 0, res.err
    (row,) = res.json_lines()
    assert set(row) == {"id", "caption", "concepts"} and isinstance(row["caption"], str)


def test_python_api_predicts_paths_pil_images_and_tensors_like_the_cli(tiny_runs):
    import torch

    data, runs = tiny_runs
    paths = sorted(_test_images(data))[:3]
    cli = run_cli("predict", "--run", runs["scnnrnn"], "--images", *paths).json_lines()
    run = api.load_run(runs["scnnrnn"], device="cpu")
    assert run.labels == json.loads((data / "dataset.json").read_text())["labels"]
    pil = Image.open(paths[1]).convert("RGB")
    tensor = torch.from_numpy(np.array(Image.open(paths[2]).convert("RGB"))).permute(2, 0, 1)
    got = run.predict([paths[0], pil, tensor.float() / 255])
    assert got[0] == cli[0]
    assert {**got[1], "id": paths[1]} == cli[1] and got[1]["id"] == 1
    assert {**got[2], "id": paths[2]} == cli[2] and got[2]["id"] == 2
    assert run.predict(tensor)[0]["labels"] == cli[2]["labels"]          # one image, uint8
    with pytest.raises(api.MlcapError, match="a float image tensor holds values in"):
        run.predict(torch.full((3, 8, 8), 2.0))


def test_python_api_evaluate_matches_the_cli(tiny_runs, tmp_path):
    data, runs = tiny_runs
    split = run_cli("predict", "--run", runs["bce"], "--data", data, "--split", "test")
    (tmp_path / "p.jsonl").write_text(split.out)
    cli = run_cli("evaluate", "--data", data, "--split", "test", "--metrics", "f1,map", "--json", tmp_path / "p.jsonl")
    expected = cli.json_lines()[0]
    metrics = api.evaluate(split.json_lines(), data, metrics=["f1", "map"], split="test")
    assert {"C-F1", "O-F1", "mAP"} <= set(metrics) and metrics == pytest.approx(expected)
    assert api.evaluate(tmp_path / "p.jsonl", data, metrics=["map"]) == pytest.approx({"mAP": expected["mAP"]})
    with pytest.raises(api.MlcapError, match="unknown label 'zebra'"):
        api.evaluate([{"id": split.json_lines()[0]["id"], "labels": ["zebra"]}], data)


def test_absolute_glob_is_one_line_and_api_ids_name_the_records(tiny_runs, tmp_path, mlcap):
    data, runs = tiny_runs
    res = mlcap("predict", "--run", runs["bce"], "--images", data / "images", "--glob", "/abs/*.png")
    assert res.code == 2 and "not a pattern relative to the folder" in res.err
    paths = _test_images(data)
    records = api.load_run(runs["bce"]).predict(list(paths), ids=list(paths.values()))
    assert [r["id"] for r in records] == list(paths.values())
    assert api.evaluate(records, data, metrics=["f1"])["O-F1"] >= 0
