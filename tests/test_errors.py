"""Bad input: one line on stderr naming the file (and line), exit 2; or a counted, reported skip."""

from __future__ import annotations

import json

from helpers import TINY_TRAIN

from mlcap.data.prepared import PreparedDataset, Sample, write_prepared


def one_line_error(res, *fragments, code=2):
    assert res.code == code, (res.code, res.err)
    lines = [l for l in res.err.splitlines() if l.strip()]
    assert lines and lines[-1].startswith("mlcap: error: "), res.err
    assert "Traceback" not in res.err
    for f in fragments:
        assert f in lines[-1], (f, lines[-1])


def test_missing_dataset(mlcap, tmp_path):
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", tmp_path / "nope", "--run", tmp_path / "r")
    one_line_error(res, str(tmp_path / "nope"), "no such dataset")


def test_unknown_method(mlcap, tiny_data, tmp_path):
    res = mlcap("pretrain-cnn", "-m", "nosuch", "--data", tiny_data, "--run", tmp_path / "r")
    one_line_error(res, "unknown method 'nosuch'", "scnnrnn")


def test_stage_the_method_does_not_have(mlcap, tiny_data, tmp_path):
    res = mlcap("finetune", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r")
    one_line_error(res, "no stage 'finetune'")


def test_run_of_another_method(mlcap, tiny_data, tmp_path):
    run = tmp_path / "r"
    assert mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN).code == 0
    res = mlcap("finetune", "-m", "scnnrnn", "--data", tiny_data, "--run", run, *TINY_TRAIN)
    one_line_error(res, str(run), "method 'bce'")


def test_checkpoint_of_another_vocabulary(mlcap, tiny_data, tmp_path):
    run = tmp_path / "r"
    assert mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN).code == 0
    other = tmp_path / "other"
    ds = PreparedDataset(tiny_data)
    img = ds.samples("train")[0].image
    (other / "images").mkdir(parents=True)
    (other / img).write_bytes((tiny_data / img).read_bytes())
    write_prepared(other, "other", ["cat", "dog"], {"train": [Sample("a", img, ["cat"])],
                                                   "test": [Sample("b", img, ["dog"])]})
    one_line_error(mlcap("predict", "--run", run, "--data", other), "label vocabulary differs")
    one_line_error(mlcap("pretrain-cnn", "-m", "bce", "--data", other, "--run", run), "label vocabulary differs")


def test_not_a_checkpoint(mlcap, tiny_data, tmp_path):
    run = tmp_path / "r"
    assert mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN).code == 0
    (run / "pretrain-cnn.best.pt").write_bytes(b"garbage")
    one_line_error(mlcap("predict", "--run", run, "--data", tiny_data), "pretrain-cnn.best.pt", "not a readable")
    (run / "pretrain-cnn.pt").write_bytes(b"garbage")
    one_line_error(mlcap("predict", "--run", run, "--data", tiny_data, "--checkpoint", "last"), "pretrain-cnn.pt",
                   "not a readable")


def test_unreadable_images_are_counted_and_reported(mlcap, tiny_data, tmp_path):
    ds = PreparedDataset(tiny_data)
    broken = ds.samples("train")[:2] + ds.samples("test")[:1]
    for s in broken:
        (tiny_data / s.image).write_bytes(b"not a png")
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", *TINY_TRAIN)
    assert res.code == 0, res.err
    assert json.loads(res.out)["skipped_images"] == 2
    assert "skipped 2 unreadable image(s)" in res.err and any(s.image in res.err for s in broken[:2])
    res = mlcap("predict", "--run", tmp_path / "r", "--data", tiny_data)
    assert res.code == 0
    assert len(res.json_lines()) == len(ds.samples("test")) - 1
    assert "skipped 1 unreadable image(s)" in res.err
    # the image with no prediction is counted, not silently dropped
    preds = tmp_path / "p.jsonl"
    preds.write_text(res.out)
    res = mlcap("evaluate", "--data", tiny_data, "--json", preds)
    assert res.code == 0 and "1 of 12 test images have no prediction" in res.err


def test_bad_manifest_line(mlcap, tiny_data, tmp_path):
    path = tiny_data / "train.jsonl"
    lines = path.read_text().splitlines()
    lines[4] = '{"id": "x", "image": "images/x.png", "labels": ["unicorn"]}'
    path.write_text("\n".join(lines) + "\n")
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r")
    one_line_error(res, f"{path}:5", "unknown label 'unicorn'")
    lines[4] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    one_line_error(mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r"), f"{path}:5")


def test_bad_predictions_file(mlcap, tiny_data, tmp_path):
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "000048", "labels": []}\n{"id": "000049", "labels": ["unicorn"]}\n')
    one_line_error(mlcap("evaluate", "--data", tiny_data, "--metrics", "f1", preds), f"{preds}:2", "unicorn")
    preds.write_text('{"id": "000048", "labels": []}\n\n[1, 2]\n')
    one_line_error(mlcap("evaluate", "--data", tiny_data, "--metrics", "f1", preds), f"{preds}:3")
    one_line_error(mlcap("evaluate", "--data", tiny_data, "--metrics", "blue", preds), "unknown metric 'blue'")
    one_line_error(mlcap("evaluate", "--data", tiny_data, tmp_path / "none.jsonl"), "none.jsonl", "not found")


def test_invalid_option_value(mlcap, tiny_data, tmp_path):
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", "--order", "sideways")
    one_line_error(res, "order")


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(mlcap, tiny_data, tmp_path):
    run = tmp_path / "r"
    assert mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN).code == 0
    good = (run / "pretrain-cnn.pt").read_bytes()
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, "--resume", "--epochs", "4",
                "--lr", "1e30", "--batch-size", "8", "--device", "cpu")
    one_line_error(res, "loss is", "kept", code=3)
    assert (run / "pretrain-cnn.pt").read_bytes() == good
    assert json.loads((run / "pretrain-cnn.json").read_text())["epoch"] == 1


def test_invalid_method_option_is_one_line(mlcap, tiny_data, tmp_path):
    for method, option in (("bce", "threshold=2"), ("scnnrnn", "hidden=0"), ("orderless", "colour=red")):
        res = mlcap("pretrain-cnn", "-m", method, "--data", tiny_data, "--run", tmp_path / method, "--option", option)
        one_line_error(res, f"{method}: method option '{option.split('=')[0]}'")
    one_line_error(mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "x", "--option", "x"),
                   "expected KEY=VALUE")


def test_an_order_the_method_does_not_use_is_refused(mlcap, tiny_data, tmp_path):
    res = mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "b", "--order", "rare")
    one_line_error(res, "--order rare", "emits no label sequence")
    res = mlcap("pretrain-cnn", "-m", "scnnrnn", "--data", tiny_data, "--run", tmp_path / "s", "--order", "free")
    one_line_error(res, "--order free", "accepts rare")
    assert not (tmp_path / "b").exists() and not (tmp_path / "s").exists()
