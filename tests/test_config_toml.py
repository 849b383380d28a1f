"""TOML configs: a misspelled table is reported (not silently ignored); values of the wrong TOML
type are errors, not coerced; a config that is a directory or not UTF-8 is one line."""

from __future__ import annotations

import pytest

from helpers import TINY_TRAIN, run_cli


def test_a_misspelled_table_is_reported(tiny_data, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[pretrain-cn]\nepochs = 1\n[pretrain-tags]\n[method-options]\n")
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", *TINY_TRAIN,
                  "--config", cfg)
    assert res.code == 0, res.err
    assert "unknown table(s) [pretrain-cn] ignored" in res.err       # pretrain-tags is a method's stage


@pytest.mark.parametrize("line, message", [("epochs = true", "epochs must be a number, not True"),
                                           ('epochs = "1"', "epochs must be a number, not '1'"),
                                           ("epochs = 1.5", "epochs must be an integer, not 1.5"),
                                           ("amp = 1", "amp must be true or false, not 1")])
def test_wrong_toml_types_are_errors(tiny_data, tmp_path, line, message):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[pretrain-cnn]\n{line}\n")
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", "--config", cfg)
    assert res.code == 2 and message in res.err and "Traceback" not in res.err


def test_a_config_that_is_a_directory_or_not_utf8_is_one_line(tiny_data, tmp_path):
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", "--config", tmp_path)
    assert res.code == 2 and "is a directory, not a config file" in res.err
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"epochs = 1\n# \xff\xfe\n")
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", "--config", cfg)
    assert res.code == 2 and "Traceback" not in res.err and str(cfg) in res.err
    table = tmp_path / "t.toml"
    table.write_text('pretrain-cnn = 3\n')
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", "--config", table)
    assert res.code == 2 and "[pretrain-cnn] must be a table" in res.err


def test_option_flags_override_the_files_method_options_key_by_key(tmp_path):
    from mlcap.config import TrainOptions, resolve

    cfg = tmp_path / "c.toml"
    cfg.write_text("[method-options]\nhidden = 8\nembed_dim = 4\n")
    cli = {"method": "scnnrnn", "data": tmp_path, "run": tmp_path / "r"}
    opts = resolve(TrainOptions, "finetune", {**cli, "method_options": {"hidden": "16"}}, cfg)
    assert opts.method_options == {"hidden": "16", "embed_dim": 4}
    assert resolve(TrainOptions, "finetune", cli, cfg).method_options == {"hidden": 8, "embed_dim": 4}
