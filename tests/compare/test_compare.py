"""`mlcap compare` on a tiny synthetic set: the table, its files, resume, and re-runs on change."""

from __future__ import annotations

import json

import pytest

import mlcap.compare.runner as runner
from helpers import COMPARE_FAST, run_cli
from mlcap.compare.variants import parse_methods, parse_spec
from mlcap.errors import MlcapError

pytestmark = pytest.mark.slow

TWO = "bce,bce:loss=warp"


def _compare(data, out, *extra):
    res = run_cli("compare", "--data", data, "--out", out, *COMPARE_FAST, *extra)
    assert res.code == 0, res.err
    return res


def _mtimes(run_dir):
    return {p.name: p.stat().st_mtime_ns for p in run_dir.glob("*.pt")}


def test_two_variants_two_seeds_give_the_table_files_and_plots(tiny_data, tmp_path):
    out = tmp_path / "cmp"
    res = _compare(tiny_data, out, "--methods", TWO, "--seeds", "0,1")
    lines = res.out.splitlines()
    assert lines[0].startswith("| variant | C-P | C-R | C-F1 | O-P | O-R | O-F1 | mAP | train s | img/s |")
    # a variant whose model learnt nothing in a seed (one tiny epoch) is marked "†" (k/n seeds)
    assert [line.split(" | ")[0].split(" †")[0] for line in lines[2:4]] == ["| bce", "| bce:loss=warp"]
    assert all(" ± " in line for line in lines[2:4])
    assert (out / "compare.md").read_text() == res.out
    records = [json.loads(line) for line in (out / "compare.jsonl").read_text().splitlines()]
    runs = [r for r in records if r["kind"] == "run"]
    assert [(r["variant"], r["seed"]) for r in runs] == [("bce", 0), ("bce:loss=warp", 0), ("bce", 1),
                                                        ("bce:loss=warp", 1)]
    for r in runs:          # each cell comes from `mlcap evaluate` on the run's own predictions
        meta = json.loads((tmp_path / r["run"] / "pretrain-cnn.best.json").read_text())
        assert r["silent"] == meta["val_at_threshold"]["silent"]
        expected = run_cli("evaluate", "--data", tiny_data, "--metrics", "f1,map", "--json",
                           f"{r['run']}/test.jsonl").json_lines()[0]
        assert r["metrics"] == pytest.approx({k: v for k, v in expected.items() if k in r["metrics"]})
        history = (tmp_path / r["run"] / "pretrain-cnn.history.jsonl").read_text().splitlines()
        assert len(history) == 1                         # 10 default epochs x 0.1
        assert r["train_seconds"] > 0 and r["images_per_s"] > 0
    variants = [r for r in records if r["kind"] == "variant"]
    assert [v["seeds"] for v in variants] == [[0, 1], [0, 1]]
    for name in ("metrics.png", "per_class_f1.png", "training_curves.png", "cooccurrence/bce.cooc_diff.png"):
        assert (out / "plots" / name).stat().st_size > 1000, name
    provenance = json.loads((out / "runs" / "bce" / "seed0" / "provenance.json").read_text())
    assert provenance["complete"] and provenance["dataset"] and provenance["mlcap"]
    assert provenance["recipes"]["pretrain-cnn"]["epochs"] == 1 and "git" in provenance


def test_an_interrupted_compare_resumes_and_reuses_what_is_done(tiny_data, tmp_path, monkeypatch):
    out = tmp_path / "cmp"
    real_predict, calls = runner._predict, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_predict(*args)

    monkeypatch.setattr(runner, "_predict", interrupted)
    stopped = run_cli("compare", "--data", tiny_data, "--out", out, *COMPARE_FAST, "--methods", TWO)
    assert stopped.code == 130                                   # as after Ctrl-C
    monkeypatch.setattr(runner, "_predict", real_predict)
    first, second = out / "runs" / "bce" / "seed0", out / "runs" / "bce_loss=warp" / "seed0"
    before = {"first": _mtimes(first), "second": _mtimes(second)}
    assert not json.loads((second / "provenance.json").read_text())["complete"]
    res = _compare(tiny_data, out, "--methods", TWO)
    assert "reusing" in res.err and "bce:loss=warp seed 0: reusing" not in res.err
    assert "pretrain-cnn: already complete" in res.err           # the interrupted run's stage is kept
    assert _mtimes(first) == before["first"] and _mtimes(second) == before["second"]
    assert len(res.out.splitlines()) >= 4
    assert json.loads((second / "provenance.json").read_text())["complete"]


def test_a_changed_dataset_or_recipe_trains_again(tiny_data, tmp_path):
    out = tmp_path / "cmp"
    preset = tmp_path / "preset.toml"
    preset.write_text('seeds = [0]\n[[variant]]\nname = "cnn"\nmethod = "bce"\nlr = 0.001\n')
    _compare(tiny_data, out, "--config", preset)
    run = out / "runs" / "cnn" / "seed0"
    assert "reusing" in _compare(tiny_data, out, "--config", preset).err

    preset.write_text('seeds = [0]\n[[variant]]\nname = "cnn"\nmethod = "bce"\nlr = 0.002\n')
    res = _compare(tiny_data, out, "--config", preset)
    assert "training again (request changed)" in res.err
    assert json.loads((run / "pretrain-cnn.config.json").read_text())["recipe"]["lr"] == 0.002

    manifest = tiny_data / "train.jsonl"
    rows = manifest.read_text().splitlines()
    manifest.write_text("\n".join(rows[:-1]) + "\n")                 # one training image fewer
    res = _compare(tiny_data, out, "--config", preset)
    assert "training again (dataset changed)" in res.err


def test_variant_keys_resolve_to_flags_predict_options_and_method_options():
    v = parse_spec("orderfree:order=rare:lr=0.001:beam=2:stop=path")
    assert v.train == {"order": "rare", "lr": 0.001} and v.predict == {"beam": 2}
    assert v.method_options == {"stop": "path"} and v.slug == "orderfree_order=rare_lr=0.001_beam=2_stop=path"
    assert {v.method for v in parse_methods("all")} >= {"bce", "scnnrnn", "orderless", "orderfree", "arnn"}
    with pytest.raises(MlcapError, match="unknown key 'bogus' for method bce .*: .*lr.*top_k"):
        parse_spec("bce:bogus=1")
    with pytest.raises(MlcapError, match="expected key=value"):
        parse_spec("bce:lr")


@pytest.mark.parametrize("args, message", [
    (["--methods", "bce", "--seeds", "0,x"], "--seeds"),
    (["--methods", "bce", "--epochs-scale", "0"], "--epochs-scale"),
    (["--methods", "nope"], "unknown method 'nope'"),
    ([], "missing option --methods"),
])
def test_bad_compare_requests_are_one_line(tiny_data, tmp_path, mlcap, args, message):
    res = mlcap("compare", "--data", tiny_data, "--out", tmp_path / "o", *args)
    assert res.code == 2 and message in res.err and res.err.count("\n") == 1


def test_copy_from_continues_a_run_and_init_from_starts_from_its_checkpoint(tiny_data, tmp_path):
    out, preset = tmp_path / "cmp", tmp_path / "p.toml"
    body = ('[[variant]]\nname = "base"\nmethod = "scnnrnn"\nstages = ["pretrain-cnn", "pretrain-rnn"]\n'
            'epochs = 1\nlr = LR\n'
            '[[variant]]\nname = "cont"\nmethod = "scnnrnn"\ncopy_from = "base"\nstages = ["finetune"]\nepochs = 1\n'
            '[[variant]]\nname = "other"\nmethod = "cnnrnn"\nstages = ["finetune"]\n'
            'init_from = "base:pretrain-cnn"\nepochs = 1\n')
    preset.write_text(body.replace("LR", "0.001"))
    res = _compare(tiny_data, out, "--config", preset)
    runs = out / "runs"
    base, cont, other = (runs / n / "seed0" for n in ("base", "cont", "other"))
    assert (cont / "pretrain-rnn.best.pt").read_bytes() == (base / "pretrain-rnn.best.pt").read_bytes()
    assert (cont / "finetune.json").is_file() and not (base / "finetune.json").exists()
    assert "starting from the pretrain-rnn checkpoint" in res.err
    config = json.loads((other / "finetune.config.json").read_text())
    assert config["init_from"] == str(base / "pretrain-cnn.best.pt")

    preset.write_text(body.replace("LR", "0.002"))              # base changes: both that start from it follow
    res = _compare(tiny_data, out, "--config", preset)
    assert res.err.count("training again (request changed)") == 3


def test_a_bad_reference_between_variants_is_one_line(tiny_data, tmp_path, mlcap):
    preset = tmp_path / "p.toml"
    preset.write_text('[[variant]]\nname = "a"\nmethod = "cnnrnn"\nstages = ["finetune"]\ninit_from = "b:pretrain-cnn"\n')
    res = mlcap("compare", "--data", tiny_data, "--out", tmp_path / "o", "--config", preset)
    assert res.code == 2 and "names no variant listed before it" in res.err


def test_a_metric_without_a_value_is_left_out_of_means_and_json():
    from mlcap.compare.report import markdown, summarize

    rows = [{"variant": "a", "method": "bce", "seed": s, "metrics": {"O-F1": f1, "rigid": rigid},
             "train_seconds": 1.0, "images_per_s": 10.0} for s, f1, rigid in ((0, 0.5, float("nan")), (1, 0.7, 0.8))]
    (entry,) = summarize(rows)
    assert entry["mean"]["rigid"] == 0.8 and "rigid" not in entry["std"]
    assert entry["mean"]["O-F1"] == pytest.approx(0.6)
    assert "| a | 60.0 ± 14.1 | 80.0 (n=1) |" in markdown([entry], ["O-F1", "rigid"], [0, 1])


@pytest.mark.parametrize("preset, message", [
    ('epochs_scale = "abc"\nmethods = "bce"\n', "invalid option 'epochs_scale'"),
    ('seeds = [0.5]\nmethods = "bce"\n', "invalid option 'seeds"),
    ('methods = "bce:beam=2"\n', "decodes without a beam search"),
    ('methods = "bce:epochs=1,bce:epochs=1:batch-size=0"\n', "stage pretrain-cnn: invalid option 'batch_size'"),
    ('[[variant]]\nname = "a"\nmethod = "bce"\n[[variant]]\nname = "b"\nmethod = "cnnrnn"\nstages = ["finetune"]\n'
     'init_from = "a:finetune"\n', "but 'a' runs pretrain-cnn"),
])
def test_bad_variants_are_refused_before_anything_trains(tiny_data, tmp_path, mlcap, preset, message):
    (tmp_path / "p.toml").write_text(preset)
    res = mlcap("compare", "--data", tiny_data, "--out", tmp_path / "o", "--config", tmp_path / "p.toml")
    assert res.code == 2 and message in res.err and res.err.count("\n") == 1
    assert not (tmp_path / "o" / "runs").exists()


def test_a_name_of_dots_does_not_leave_the_runs_folder():
    from mlcap.compare.variants import Variant

    assert Variant("..", "bce").slug == "variant" and Variant("a/../b", "bce").slug == "a_.._b"
