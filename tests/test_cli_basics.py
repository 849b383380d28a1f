"""Small CLI behaviours a new user meets first: --version, no method installed, a missing option."""

from __future__ import annotations

from importlib import metadata

import pytest
import torch

import mlcap.plugins as plugins
from mlcap import __version__


def test_version_names_mlcap_its_methods_torch_and_cuda(mlcap):
    res = mlcap("--version")
    lines = res.out.splitlines()
    assert res.code == 0 and lines[0] == f"mlcap {__version__}"
    # the built-in methods ship in the mlcap distribution: its installed version (reinstall after a bump)
    assert any(line.startswith(f"method bce mlcap {metadata.version('mlcap')}") for line in lines)
    assert lines[-1].startswith(f"torch {torch.__version__}, CUDA ")


def test_methods_with_nothing_installed_says_so(mlcap, monkeypatch):
    monkeypatch.setattr(plugins, "describe_methods", lambda: [])
    res = mlcap("methods")
    assert res.code == 2 and res.out == ""
    assert "no method is installed" in res.err and "pip install" in res.err


def test_methods_registered_by_environment_variable(mlcap, monkeypatch):
    monkeypatch.setenv("MLCAP_METHODS", "echo=mlcap_bce:BCEMethod, bce=mlcap_bce:BCEMethod")
    rows = {r["name"]: r for r in mlcap("methods", "--json").json_lines()}
    assert rows["echo"]["target"] == "mlcap_bce:BCEMethod" and rows["echo"]["package"] == "?"
    assert plugins.load_method("echo").name == "bce"
    monkeypatch.setenv("MLCAP_METHODS", "echo")
    res = mlcap("methods")
    assert res.code == 2 and "MLCAP_METHODS: 'echo' is not NAME=module:object" in res.err and res.err.count("\n") == 1


@pytest.mark.parametrize("target, error", [("no_such_module:Thing", "ModuleNotFoundError"),
                                           ("mlcap.errors:NoSuchThing", "AttributeError")])
def test_a_method_that_cannot_be_imported_is_one_line(mlcap, monkeypatch, tiny_data, tmp_path, target, error):
    monkeypatch.setenv("MLCAP_METHODS", f"broken={target}")
    res = mlcap("pretrain-cnn", "-m", "broken", "--data", tiny_data, "--run", tmp_path / "r")
    assert res.code == 2 and res.err.count("\n") == 1, res.err
    assert f"method plugin 'broken' ({target}) cannot be loaded: {error}" in res.err


@pytest.mark.parametrize("args, flag", [(["predict", "--data", "d"], "--run"),
                                        (["pretrain-cnn", "--method", "bce", "--run", "r"], "--data"),
                                        (["extract-features", "--data", "d", "--out", "f.h5"], "--backbone")])
def test_a_missing_option_is_named_as_its_flag(mlcap, args, flag):
    res = mlcap(*args)
    assert res.code == 2 and f"mlcap: error: missing option {flag} " in res.err, res.err


@pytest.mark.parametrize("command, required", [
    (["pretrain-cnn"], ["--method", "--data", "--run"]), (["finetune"], ["--method", "--data", "--run"]),
    (["predict"], ["--run"]), (["extract-features"], ["--data", "--backbone", "--out"]),
    (["export"], ["--run", "--out"]), (["prepare", "synthetic"], ["--out"]), (["prepare", "coco"], ["--out", "--root"]),
])
def test_help_marks_required_options(mlcap, command, required):
    res = mlcap(*command, "--help")
    assert res.code == 0
    text = " ".join(res.out.split())          # help wraps long lines
    for flag in required:
        entry = text[text.index(flag + " <"):]
        assert "[required" in entry[: entry.index(" --", 3) if " --" in entry[3:] else None], (command, flag)


def test_help_keeps_brackets_and_tags_no_flag_as_bool(mlcap):
    res = mlcap("evaluate", "--help")
    assert "{group: [labels]}" in " ".join(res.out.split())
    assert "<bool>" not in res.out and "--json " in res.out
    assert "[requiredunless--coco-captions]" in "".join(res.out.split())     # wrapped at its hyphen


def test_extract_features_takes_split_as_well_as_splits(mlcap, tiny_data, tmp_path):
    res = mlcap("extract-features", "--data", tiny_data, "--backbone", "smallcnn", "--out", tmp_path / "f.h5",
                "--split", "val", "--device", "cpu")
    assert res.code == 0, res.err
    assert set(res.json_lines()[0]["splits"]) == {"val"}


def test_every_preparer_takes_a_config_file(mlcap, tmp_path):
    rows = tmp_path / "train.csv"
    (tmp_path / "a.png").write_bytes(b"")
    rows.write_text("a.png,cat|dog\n")
    config = tmp_path / "c.toml"
    config.write_text(f'device = "cpu"\nepochs = 3\n[prepare]\nout = "{tmp_path / "d"}"\ntrain = "{rows}"\n'
                      f'test = "{rows}"\nname = "mine"\n')
    res = mlcap("prepare", "csv", "--config", config, "--json")
    assert res.code == 0, res.err
    assert res.json_lines()[0]["dataset"] == "mine"              # top-level training keys are not its business
    config.write_text('[prepare]\nepochs = 3\n')
    res = mlcap("prepare", "csv", "--config", config)
    assert res.code == 2 and "[prepare] key 'epochs' is not an option of `mlcap prepare csv`" in res.err


def test_prepare_synthetic_reads_a_shared_config(mlcap, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'device = "cpu"\nbatch_size = 32\n[prepare]\nimages = 20\nseed = 4\n')
    res = mlcap("prepare", "synthetic", "--config", config, "--out", tmp_path / "d", "--json")
    assert res.code == 0, res.err
    assert sum(s["images"] for s in res.json_lines()[0]["splits"].values()) == 20
