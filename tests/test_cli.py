"""Every CLI stage end to end on a tiny synthetic dataset."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import TINY_TRAIN


def test_help_does_not_import_torch():
    code = ("import sys\nfrom mlcap.cli import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported by --help'\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("ok")


def test_methods_come_from_entry_points(mlcap):
    res = mlcap("methods", "--json")
    assert res.code == 0
    names = {row["name"]: row for row in res.json_lines()}
    assert {"bce", "scnnrnn"} <= set(names)
    assert names["scnnrnn"]["package"] == "mlcap"


def test_prepare_synthetic(mlcap, tmp_path):
    res = mlcap("prepare", "synthetic", "--out", tmp_path / "d", "--images", 20, "--seed", 1, "--json")
    assert res.code == 0
    summary = res.json_lines()[0]
    assert {k: v["images"] for k, v in summary["splits"].items()} == {"train": 14, "val": 2, "test": 4}
    assert len(list((tmp_path / "d" / "images").glob("*.png"))) == 20


def test_scnnrnn_all_stages_predict_evaluate(mlcap, tiny_data, tmp_path):
    run = tmp_path / "run"
    losses = {}
    for stage in ("pretrain-cnn", "pretrain-rnn", "finetune"):
        res = mlcap(stage, "--method", "scnnrnn", "--data", tiny_data, "--run", run, *TINY_TRAIN)
        assert res.code == 0, res.err
        summary = res.json_lines()[0]
        assert summary["stage"] == stage and summary["epochs"] == 1
        losses[stage] = summary
        assert (run / f"{stage}.pt").is_file()
        assert json.loads((run / f"{stage}.json").read_text())["complete"] is True
        assert json.loads((run / f"{stage}.config.json").read_text())["method"] == "scnnrnn"
    assert "rnn" in losses["pretrain-rnn"] and "bce" not in losses["pretrain-rnn"]
    assert {"bce", "rnn"} <= set(losses["finetune"])
    assert "starting from the pretrain-rnn checkpoint" in mlcap(
        "finetune", "-m", "scnnrnn", "--data", tiny_data, "--run", run, *TINY_TRAIN, "--overwrite").err

    res = mlcap("predict", "--run", run, "--data", tiny_data, "--split", "test")
    assert res.code == 0, res.err
    rows = res.json_lines()
    assert len(rows) == 12
    labels = json.loads((tiny_data / "dataset.json").read_text())["labels"]
    for row in rows:
        assert set(row) == {"id", "labels", "scores", "duplicates"}
        assert len(row["labels"]) == len(set(row["labels"]))
        assert set(row["labels"]) <= set(labels)
        assert set(row["scores"]) == set(labels)
        assert all(0.0 <= p <= 1.0 for p in row["scores"].values())

    preds = tmp_path / "preds.jsonl"
    preds.write_text(res.out)
    res = mlcap("evaluate", "--data", tiny_data, "--split", "test", "--metrics", "f1,map,image,nplus,duplicates",
                "--json", preds)
    assert res.code == 0, res.err
    metrics = json.loads(res.out)
    assert set(metrics) == {"C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1", "mAP", "I-P", "I-R", "I-F1", "N+", "dup"}
    assert all(0.0 <= v <= 1.0 for k, v in metrics.items() if k != "N+")

    table = mlcap("evaluate", "--data", tiny_data, "--metrics", "f1", preds)
    assert table.code == 0 and "O-F1" in table.out and f"{metrics['O-F1']:.3f}" in table.out


def test_bce_and_evaluate_from_stdin(mlcap, tiny_data, tmp_path):
    run = tmp_path / "bce"
    assert mlcap("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN).code == 0
    preds = mlcap("predict", "--run", run, "--data", tiny_data).out
    threshold = json.loads((run / "pretrain-cnn.best.json").read_text())["threshold"]   # chosen on val
    for row in map(json.loads, preds.splitlines()):  # thresholded, most confident first
        scores = [row["scores"][l] for l in row["labels"]]
        assert all(p >= threshold - 1e-5 for p in scores) and scores == sorted(scores, reverse=True)
    res = mlcap("evaluate", "--data", tiny_data, "--json", "--top-k", "3", "-", stdin=preds)
    assert res.code == 0, res.err
    assert 0 <= json.loads(res.out)["O-F1"] <= 1


def test_options_from_toml_with_command_line_override(mlcap, tiny_data, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'data = "{tiny_data}"\nrun = "{tmp_path / "r"}"\nmethod = "scnnrnn"\ndevice = "cpu"\n'
                   'batch_size = 8\nepochs = 5\n\n[pretrain-cnn]\nepochs = 2\nlr = 0.002\n\n'
                   '[method-options]\nhidden = 64\nembed_dim = 32\n')
    res = mlcap("pretrain-cnn", "--config", cfg, "--epochs", "1")
    assert res.code == 0, res.err
    saved = json.loads((tmp_path / "r" / "pretrain-cnn.config.json").read_text())
    assert saved["epochs"] == 1 and saved["lr"] == 0.002 and saved["batch_size"] == 8
    assert json.loads((tmp_path / "r" / "run.json").read_text())["spec"]["options"] == {"hidden": 64, "embed_dim": 32}
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = -3\n")
    res = mlcap("pretrain-cnn", "--config", bad, "-m", "bce", "--data", tiny_data, "--run", tmp_path / "x")
    assert res.code == 2 and "epochs" in res.err and "Traceback" not in res.err
