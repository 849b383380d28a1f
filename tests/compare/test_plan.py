"""`mlcap compare --dry-run`: each run's plan from the provenance check, nothing trained; every
preset of examples/compare/ passes the variant checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import COMPARE_FAST, run_cli

PRESETS = sorted((Path(__file__).resolve().parents[2] / "examples" / "compare").glob("*.toml"))


def _plan(data, out, *extra) -> list[dict]:
    res = run_cli("compare", "--data", data, "--out", out, *COMPARE_FAST, "--dry-run", "--json", *extra)
    assert res.code == 0, res.err
    return res.json_lines()


def _preset(path: Path, lr: float) -> Path:
    path.write_text(f'seeds = [0]\n[[variant]]\nname = "cnn"\nmethod = "bce"\nlr = {lr}\n'
                    '[[variant]]\nname = "rnn"\nmethod = "cnnrnn"\nstages = ["finetune"]\n'
                    'init_from = "cnn:pretrain-cnn"\n')
    return path


def test_a_fresh_comparison_plans_every_run_and_writes_nothing(tiny_data, tmp_path):
    out = tmp_path / "cmp"
    entries = _plan(tiny_data, out, "--config", _preset(tmp_path / "p.toml", 0.001), "--seeds", "0,1")
    assert [(e["variant"], e["seed"], e["plan"]) for e in entries] == [
        ("cnn", 0, "train"), ("rnn", 0, "train (cnn trains first)"),
        ("cnn", 1, "train"), ("rnn", 1, "train (cnn trains first)")]
    assert entries[0]["run"] == str(out / "runs" / "cnn" / "seed0")
    assert not out.exists()
    table = run_cli("compare", "--data", tiny_data, "--out", out, *COMPARE_FAST, "--dry-run", "--config",
                    tmp_path / "p.toml").out
    assert table.startswith("| variant | seed | plan | run |")
    assert table.rstrip().endswith("2 runs: 2 train")       # "train (cnn trains first)" counts as train


def test_the_plan_says_reuse_resume_or_train_again_as_the_run_would(tiny_data, tmp_path):
    out, preset = tmp_path / "cmp", _preset(tmp_path / "p.toml", 0.001)
    res = run_cli("compare", "--data", tiny_data, "--out", out, *COMPARE_FAST, "--config", preset)
    assert res.code == 0, res.err
    assert [e["plan"] for e in _plan(tiny_data, out, "--config", preset)] == ["reuse", "reuse"]

    provenance = out / "runs" / "rnn" / "seed0" / "provenance.json"
    record = json.loads(provenance.read_text())
    provenance.write_text(json.dumps({**record, "complete": False}))          # as if interrupted
    assert [e["plan"] for e in _plan(tiny_data, out, "--config", preset)] == ["reuse", "resume"]
    provenance.write_text(json.dumps(record))

    _preset(preset, 0.002)
    assert [e["plan"] for e in _plan(tiny_data, out, "--config", preset)] == [
        "train again (request changed)", "train (cnn trains first)"]
    assert json.loads((out / "runs" / "cnn" / "seed0" / "provenance.json").read_text())["complete"]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_every_shipped_preset_passes_the_checks(tiny_data, tmp_path, preset):
    entries = _plan(tiny_data, tmp_path / "cmp", "--config", preset)
    assert entries and {e["seed"] for e in entries} == {0, 1, 2}
    assert all(e["plan"].startswith("train") for e in entries)


def test_a_bad_variant_is_refused_by_the_dry_run_too(tiny_data, tmp_path):
    res = run_cli("compare", "--data", tiny_data, "--out", tmp_path / "o", "--dry-run", "--methods", "bce:nope=1")
    assert res.code == 2 and "nope" in res.err and len(res.err.strip().splitlines()) == 1
