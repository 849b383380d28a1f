"""Issue #33, "your own data in the first hour": attention maps of one's own photos, missing files
skipped, compare's shared --epochs/--image-size/--batch-size, export's folder and files, names
in any case and "did you mean", the version, readable ONNX dimensions, no library warnings, and
plots with whole epochs and bars per class."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest

import mlcap
from helpers import ROOT, SMALL, run_cli
from mlcap.inference.attention_maps import safe_name
from mlcap.metric_groups import METRICS, parse_metrics
from mlcap.testing.cli import mlcap_command, subprocess_env


def _test_images(data: Path, n: int) -> list[Path]:
    rows = [json.loads(line) for line in (data / "test.jsonl").read_text().splitlines()][:n]
    return [data / row["image"] for row in rows]


def _one_line(res, *parts):
    assert res.one_line_error(), (res.code, res.err)
    for part in parts:
        assert part in res.err, res.err


# ---- 6: predict --images --attention
def test_attention_maps_of_image_files_go_to_numbered_folders(tiny_run, tiny_data_master, tmp_path):
    run = tiny_run("orderless", ["pretrain-cnn", "finetune"], *SMALL["orderless"])
    first, second = _test_images(tiny_data_master, 2)
    for folder, source in (("a", first), ("b", second)):          # two files of one stem
        (tmp_path / folder).mkdir()
        shutil.copy(source, tmp_path / folder / "photo.png")
    paths = [tmp_path / "a" / "photo.png", tmp_path / "gone.png", tmp_path / "b" / "photo.png"]
    out = tmp_path / "maps"
    res = run_cli("predict", "--run", run, "--images", *paths, "--attention", out)
    assert res.code == 0, res.err
    rows = res.json_lines()
    assert [r["id"] for r in rows] == [str(paths[0]), str(paths[2])]
    assert sorted(p.name for p in out.iterdir()) == ["1_photo", "3_photo"]
    for row, folder in zip(rows, ("1_photo", "3_photo")):
        files = sorted((out / folder).glob("*.png"))
        assert len(files) == len(row["labels"]) + row["duplicates"]
        if row["labels"]:
            assert files[0].name == f"01_{safe_name(row['labels'][0])}.png"
    assert "attention: " in res.err and "skipped 1 unreadable image(s)" in res.err


# ---- 11: a missing file is skipped and counted
def test_a_missing_image_file_is_skipped_and_counted(tiny_runs, tmp_path, mlcap):
    data, runs = tiny_runs
    (path,) = _test_images(data, 1)
    res = mlcap("predict", "--run", runs["bce"], "--images", path, tmp_path / "gone.png")
    assert res.code == 0, res.err
    assert [r["id"] for r in res.json_lines()] == [str(path)]
    assert "skipped 1 unreadable image(s)" in res.err and "gone.png" in res.err
    res = mlcap("predict", "--run", runs["bce"], "--images", tmp_path / "gone.png", tmp_path / "lost.jpg")
    _one_line(res, "none of the 2 paths exists", "gone.png")
    assert res.out == ""


# ---- 8: compare --epochs / --image-size / --batch-size
def test_compare_shared_flags_reach_every_run_and_its_provenance(tiny_data, tmp_path):
    out = tmp_path / "cmp"
    shared = ["--epochs", "1", "--image-size", "32", "--batch-size", "16", "--device", "cpu"]
    res = run_cli("compare", "--data", tiny_data, "--out", out, "--methods", "bce", *shared, "--json")
    assert res.code == 0, res.err
    run = out / "runs" / "bce" / "seed0"                           # the flags stay out of the name
    assert [p.name for p in (out / "runs").iterdir()] == ["bce"]
    config = json.loads((run / "pretrain-cnn.config.json").read_text())
    assert (config["image_size"], config["batch_size"]) == (32, 16)
    assert [json.loads(line)["epoch"] for line in (run / "pretrain-cnn.history.jsonl").read_text().splitlines()] == [1]
    request = json.loads((run / "provenance.json").read_text())["request"]
    assert request["shared"] == {"epochs": 1, "image_size": 32, "batch_size": 16}

    def plan(*flags):
        res = run_cli("compare", "--data", tiny_data, "--out", out, "--methods", "bce", *flags, "--dry-run", "--json")
        assert res.code == 0, res.err
        return [e["plan"] for e in res.json_lines()]

    assert plan(*shared) == ["reuse"]
    assert plan(*shared[:3], "48", *shared[4:]) == ["train again (request changed)"]
    assert plan("--epochs", "2", *shared[2:]) == ["train again (request changed)"]


def test_a_variants_own_value_wins_over_a_shared_flag(tiny_data, tmp_path):
    from mlcap.compare.runner import Setup, _stage_flags, expected_provenance
    from mlcap.compare.variants import parse_spec
    from mlcap.plugins import load_method

    setup = Setup(data=tiny_data, out=tmp_path, train={"image_size": 32, "epochs": 1}, code={"mlcap": "test"})
    own, plain = parse_spec("bce:image-size=40"), parse_spec("bce")
    method = load_method("bce")
    assert _stage_flags(method, own, "pretrain-cnn", setup, "synthetic") == {"image_size": 40, "epochs": 1}
    assert expected_provenance(own, 0, setup)["request"]["shared"] == {"epochs": 1}
    assert expected_provenance(plain, 0, setup)["request"]["shared"] == {"image_size": 32, "epochs": 1}
    assert "shared" not in expected_provenance(plain, 0, Setup(data=tiny_data, out=tmp_path, code={}))["request"]


def test_compare_shared_flags_are_checked(tiny_data, tmp_path, mlcap):
    base = ["compare", "--data", tiny_data, "--out", tmp_path / "o", "--methods", "bce", "--dry-run"]
    _one_line(mlcap(*base, "--epochs", "2", "--epochs-scale", "0.5"), "--epochs and --epochs-scale")
    _one_line(mlcap(*base, "--image-size", "8"), "image_size")
    _one_line(mlcap(*base, "--batch-size", "0"), "batch_size")


# ---- 9: export makes its folder and names its files
def test_export_makes_its_folder_and_prints_both_files(tiny_runs, tmp_path):
    _, runs = tiny_runs
    out = tmp_path / "new" / "deeper" / "m.pt"
    res = run_cli("export", "--run", runs["bce"], "--out", out)
    assert res.code == 0, res.err
    (summary,) = res.json_lines()
    assert summary["files"] == [str(out), str(out) + ".json"]
    assert all(Path(f).is_file() for f in summary["files"])


# ---- 10: names in any case; unknown names listed with "did you mean"
def test_metric_names_in_any_case(tiny_runs, tmp_path):
    data, runs = tiny_runs
    preds = tmp_path / "p.jsonl"
    preds.write_text(run_cli("predict", "--run", runs["bce"], "--data", data, "--split", "test").out)
    results = [run_cli("evaluate", "--data", data, "--metrics", spec, "--json", preds).json_lines()
               for spec in ("map,f1", "mAP,F1", "MAP,f1,Map")]
    assert results[0] == results[1] == results[2] and "mAP" in results[0][0]
    assert parse_metrics("Per-Image,mAP,map") == ["per-image", "map"]


def test_evaluate_help_lists_every_metric_group(mlcap):
    res = mlcap("evaluate", "--help")
    words = set(re.split(r"[\s,()]+", res.out))
    assert res.code == 0 and set(METRICS) <= words, set(METRICS) - words


@pytest.mark.parametrize("args, parts", [
    (["evaluate", "--data", "DATA", "--metrics", "f1,maps", "p.jsonl"], ["unknown metric 'maps'", "per-image",
                                                                         "did you mean 'map'?"]),
    (["compare", "--data", "DATA", "--out", "OUT", "--methods", "bce", "--metrics", "cidr", "--dry-run"],
     ["unknown metric 'cidr'", "did you mean 'cider'?"]),
    (["pretrain-cnn", "-m", "orderles", "--data", "DATA", "--run", "OUT"],
     ["unknown method 'orderles'", "scnnrnn", "did you mean 'orderless'?"]),
    (["pretrain-cnn", "-m", "orderfree", "-o", "hiden=12", "--data", "DATA", "--run", "OUT"],
     ["orderfree: method option 'hiden' is unknown", "pred_hidden", "did you mean 'hidden'?"]),
    (["pretrain-cnn", "-m", "bce", "--backbone", "resnet19", "--data", "DATA", "--run", "OUT"],
     ["unknown backbone 'resnet19'", "smallcnn", "did you mean 'resnet18'?"]),
    (["compare", "--data", "DATA", "--out", "OUT", "--methods", "bce:epoch=2", "--dry-run"],
     ["unknown key 'epoch'", "did you mean 'epochs'?"]),
])
def test_unknown_names_list_the_valid_ones_and_the_closest(tiny_data, tmp_path, mlcap, args, parts):
    args = [tiny_data if a == "DATA" else tmp_path / "out" if a == "OUT" else a for a in args]
    _one_line(mlcap(*args), *parts)


def test_a_name_with_nothing_close_gets_no_guess(mlcap, tiny_data, tmp_path):
    res = mlcap("pretrain-cnn", "-m", "zzzz", "--data", tiny_data, "--run", tmp_path / "r")
    _one_line(res, "unknown method 'zzzz' (installed: ")
    assert "did you mean" not in res.err


# ---- 12: the version, ONNX names, no warnings, plots
def test_the_version_is_one_and_readme_names_none_later():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == mlcap.__version__
    current = tuple(int(x) for x in mlcap.__version__.split(".")[:2])
    mentioned = re.findall(r"mlcap (\d+)\.(\d+)", (ROOT / "README.md").read_text())
    assert mentioned and all(tuple(map(int, m)) <= current for m in mentioned)


def test_onnx_dimensions_have_readable_names(tiny_runs, tmp_path):
    import onnx

    _, runs = tiny_runs
    res = run_cli("export", "--run", runs["bce"], "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert res.code == 0, res.err
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*graph.input, *graph.output]}
    assert dims["images"][0] == "batch" and dims["scores"][0] == "batch"
    assert dims["sequence"] == ["batch", "steps"]


def test_export_and_predict_show_no_library_warning(tiny_runs, tmp_path):
    data, runs = tiny_runs
    (path,) = _test_images(data, 1)
    for args in (["export", "--run", runs["bce"], "--out", tmp_path / "m.pt"],
                 ["export", "--run", runs["bce"], "--format", "onnx", "--out", tmp_path / "m.onnx"],
                 ["predict", "--run", runs["scnnrnn"], "--images", path]):
        res = subprocess.run(mlcap_command(*args), capture_output=True, text=True, env=subprocess_env(), timeout=300)
        assert res.returncode == 0, res.stderr
        assert "Warning" not in res.stderr and "deprecated" not in res.stderr, res.stderr


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures closed during the test (kept open to be looked at)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    closed, real_close = [], plt.close
    monkeypatch.setattr(plt, "close", closed.append)
    yield closed
    for fig in closed:
        real_close(fig)


def test_history_plots_have_whole_epoch_ticks(tmp_path, figures):
    from mlcap.training.validate import plot_history

    rows = [{"epoch": e, "train/loss": 1.0 / e, "val/O-F1": 0.1 * e} for e in (1, 2, 3)]
    assert plot_history(tmp_path, "s", rows).is_file()
    (fig,) = figures
    for axis in fig.axes:
        ticks = axis.get_xticks()
        assert len(ticks) and np.allclose(ticks, np.round(ticks)), ticks


def test_per_class_f1_is_drawn_as_bars(tmp_path, figures):
    from mlcap.compare.plots import per_class_f1

    per_class = {"a": np.array([0.2, 0.9, 0.5]), "b": np.array([0.1, 0.3, 0.7])}
    assert per_class_f1(per_class, ["x", "y", "z"], tmp_path / "f.png").is_file()
    ((ax,),) = [fig.axes for fig in figures]
    assert not ax.lines and len(ax.patches) == 6
    assert [t.get_text() for t in ax.get_xticklabels()] == ["y", "z", "x"]     # by the first variant's F1
