"""Nothing trains on nothing (issue: hardening): a stage whose training images cannot be read
stops with exit 2 and is not marked complete; a dataset without image paths names --images;
weights that diverge without a NaN loss are never saved (exit 3); predict on unreadable or
empty splits is an error."""

from __future__ import annotations

import json

from helpers import TINY_TRAIN, run_cli


def _break_images(data, share: float):
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    broken = int(len(rows) * share)
    for row in rows[:broken]:
        (data / row["image"]).write_bytes(b"not a png")
    return broken, len(rows)


def test_every_train_image_unreadable_stops_the_stage(tiny_data, tmp_path):
    _break_images(tiny_data, 1.0)
    run = tmp_path / "run"
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN)
    assert res.code == 2 and "only 0 of 42 training images could be read" in res.err
    assert "Traceback" not in res.err and not (run / "pretrain-cnn.pt").exists()


def test_max_skip_fraction_bounds_the_unreadable_share(tiny_data, tmp_path):
    broken, total = _break_images(tiny_data, 0.3)
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "a", *TINY_TRAIN,
                  "--max-skip-fraction", "0.2")
    assert res.code == 2 and f"only {total - broken} of {total} training images" in res.err
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "b", *TINY_TRAIN)
    assert res.code == 0 and f"skipped {broken} unreadable image(s)" in res.err     # default 0.5: reported


def test_a_dataset_without_image_paths_names_images(tiny_data, tmp_path):
    path = tiny_data / "train.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**r, "image": ""}) + "\n" for r in rows))
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", *TINY_TRAIN)
    assert res.code == 2 and "42 of 42 train images have no image path" in res.err and "--images" in res.err
    assert not (tmp_path / "r" / "run.json").exists()


def test_divergence_without_nan_loss_is_not_saved(tiny_data, tmp_path):
    run = tmp_path / "run"
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN, "--lr", "1e9")
    assert res.code == 3 and "not finite" in res.err and "Traceback" not in res.err
    assert not (run / "pretrain-cnn.pt").exists()


def test_predict_on_unreadable_or_empty_splits_is_an_error(tiny_data, tmp_path):
    run = tmp_path / "run"
    assert run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN).code == 0
    rows = [json.loads(line) for line in (tiny_data / "test.jsonl").read_text().splitlines()]
    for row in rows:
        (tiny_data / row["image"]).write_bytes(b"")
    res = run_cli("predict", "--run", run, "--data", tiny_data)
    assert res.code == 2 and "none of the 12 images of split 'test' could be read" in res.err and res.out == ""
    (tiny_data / "test.jsonl").write_text("")
    res = run_cli("predict", "--run", run, "--data", tiny_data)
    assert res.code == 2 and "split 'test' has no images" in res.err


def test_an_image_unreadable_every_epoch_counts_once(tiny_data, tmp_path):
    rows = [json.loads(line) for line in (tiny_data / "train.jsonl").read_text().splitlines()]
    (tiny_data / rows[0]["image"]).write_bytes(b"broken")
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", *TINY_TRAIN,
                  "--epochs", "3")
    assert res.code == 0 and "skipped 1 unreadable image(s)" in res.err
    assert json.loads(res.out.splitlines()[-1])["skipped_images"] == 1


def test_duplicate_ids_in_a_split_are_reported_at_load(tiny_data, tmp_path):
    path = tiny_data / "test.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + [lines[0]]) + "\n")
    res = run_cli("evaluate", "--data", tiny_data, "--json", tmp_path / "none.jsonl")
    assert res.code == 2 and f"{path}:{len(lines) + 1}: id" in res.err and "first at line 1" in res.err
