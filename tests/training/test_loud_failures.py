"""Learning nothing is loud (a stage whose model emits nothing, or the same labels for every image,
says so in one warning line; `mlcap compare` marks it), and a stage's summary gives its best and
last checkpoints' validation figures at their own thresholds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import SMALL, TINY_TRAIN, run_cli
from mlcap.compare.report import SILENT_MARK, markdown, summarize
from mlcap.compare.runner import learnt_nothing
from mlcap.compare.variants import Variant
from mlcap.training.engine import Collected
from mlcap.training.silence import silence

LABELS = ["a", "b", "c"]


def _collected(rows) -> Collected:
    rows = np.asarray(rows, bool)
    return Collected(ids=[str(i) for i in range(len(rows))], y_pred=list(rows))


def test_silence_is_no_label_for_95_percent_or_one_label_set_for_all():
    nothing = [[0, 0, 0]] * 19 + [[1, 0, 0]]
    assert silence(_collected(nothing), LABELS) == "emits no label for 19 of the 20 validation images"
    assert silence(_collected([[0, 0, 0]] * 18 + [[1, 0, 0], [0, 1, 0]]), LABELS) is None
    assert silence(_collected([[1, 0, 1]] * 4), LABELS) == "predicts the same labels (a, c) for all 4 validation images"
    assert silence(_collected([[1, 0, 1]] * 3 + [[1, 0, 0]]), LABELS) is None
    assert silence(None, LABELS) is None and silence(Collected(), LABELS) is None


def _history(run, stage):
    return [json.loads(line) for line in (run / f"{stage}.history.jsonl").read_text().splitlines()]


def test_a_model_that_learns_nothing_says_so_with_the_usual_causes_and_the_method_advice(tiny_data, tmp_path):
    run = tmp_path / "run"
    first = run_cli("pretrain-cnn", "-m", "scnnrnn", "--data", tiny_data, "--run", run, *TINY_TRAIN, *SMALL["scnnrnn"],
                    "--image-size", "32")
    assert first.code == 0, first.err
    # a learning rate of (almost) 0: the LSTM stays as initialised, which emits nothing useful
    res = run_cli("pretrain-rnn", "-m", "scnnrnn", "--data", tiny_data, "--run", run, *TINY_TRAIN, "--lr", "1e-30")
    assert res.code == 0, res.err
    warnings = [line for line in res.err.splitlines() if "learning nothing?" in line]
    assert len(warnings) == 1, res.err
    line = warnings[0]
    assert line.startswith("pretrain-rnn: warning: learning nothing? the model ")
    assert "validation after epoch 1" in line
    for option in ("--lr, 1e-30 now", "--epochs, 1 now", "--freeze-backbone, --features; this stage leaves it as it "
                   "was", "(42 training images)"):
        assert option in line, option
    assert "RMSProp 1e-30 needs many epochs on small data; try --lr 1e-3" in line     # the method's advice
    assert _history(run, "pretrain-rnn")[-1]["val/silent"] is True
    summary = res.json_lines()[0]
    assert summary["best_val/silent"] is True and summary["last_val/silent"] is True
    assert learnt_nothing(run, Variant("s", "scnnrnn"))       # what `mlcap compare` marks
    cnn = json.loads((run / "pretrain-cnn.best.json").read_text())["val_at_threshold"]["silent"]
    assert learnt_nothing(run, Variant("s", "scnnrnn", predict={"stage": "pretrain-cnn"})) == cnn


def test_a_label_threshold_that_emits_nothing_is_judged_at_the_stage_end(tiny_data, tmp_path):
    """A method whose threshold is chosen at the stage's end is judged at its best checkpoint's
    threshold (here one no score reaches), once, with no method advice."""
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", *TINY_TRAIN,
                  "--threshold", "1")
    assert res.code == 0, res.err
    warnings = [line for line in res.err.splitlines() if "learning nothing?" in line]
    assert warnings == ["pretrain-cnn: warning: learning nothing? the model emits no label for 6 of the 6 "
                        "validation images (best checkpoint, epoch 1, at its threshold); usual causes: a learning "
                        "rate too small or too large (--lr, 0.001 now), too few epochs (--epochs, 1 now), a frozen "
                        "backbone (--freeze-backbone, --features; this stage trains it), too little data (42 "
                        "training images)"]
    summary = res.json_lines()[0]
    assert summary["best_threshold"] == 1.0 and summary["best_val/silent"] is True
    assert summary["best_val/O-F1"] == 0.0


def test_compare_marks_a_silent_variant_with_a_footnote():
    rows = [{"variant": v, "method": "bce", "seed": s, "metrics": {"O-F1": 0.5}, "train_seconds": 1.0,
             "images_per_s": 2.0, "silent": silent} for v, s, silent in
            (("quiet", 0, True), ("quiet", 1, True), ("half", 0, True), ("half", 1, False), ("fine", 0, False),
             ("fine", 1, False))]
    table = markdown(summarize(rows), ["O-F1"], [0, 1])
    lines = table.splitlines()
    assert [line.split(" | ")[0] for line in lines[2:5]] == [f"| quiet {SILENT_MARK}",
                                                           f"| half {SILENT_MARK} (1/2 seeds)", "| fine"]
    assert lines[-1].startswith(f"{SILENT_MARK} emits no label for ≥ 95 % of the validation images")
    quiet = markdown(summarize([r for r in rows if r["variant"] == "fine"]), ["O-F1"], [0, 1])
    assert SILENT_MARK not in quiet


@pytest.mark.parametrize("method", ["bce", "orderfree"])
def test_the_summary_gives_best_and_last_figures_at_their_thresholds(tiny_data, tmp_path, method):
    """orderfree's validation decodes at its default stop threshold (0.5), which may emit nothing; the
    summary's figures are those of the checkpoints with the thresholds chosen for them."""
    run = tmp_path / "r"
    res = run_cli("pretrain-cnn", "-m", method, "--data", tiny_data, "--run", run, *TINY_TRAIN, "--epochs", "3",
                  *SMALL.get(method, []), "--image-size", "32")
    assert res.code == 0, res.err
    summary = res.json_lines()[0]
    best = json.loads((run / "pretrain-cnn.best.json").read_text())
    last = json.loads((run / "pretrain-cnn.json").read_text())
    assert summary["best_epoch"] == best["epoch"] and summary["epochs"] == 3
    for which, meta in (("best", best), ("last", last)):
        assert summary[f"{which}_threshold"] == meta["threshold"]
        assert summary[f"{which}_val/O-F1"] == pytest.approx(meta["threshold_val_f1"], abs=1e-5)
        row = _history(run, "pretrain-cnn")[meta["epoch"] - 1]
        assert summary[f"{which}_val/loss"] == pytest.approx(row["val/loss"], abs=1e-5)
        assert {"C-F1", "mAP", "silent"} <= set(meta["val_at_threshold"])
    assert not any(key.startswith("val/") for key in summary)     # no figure at the default threshold
    notes = [line for line in res.err.splitlines() if "chosen on validation" in line]
    if best["epoch"] == 3:
        assert len(notes) == 1 and notes[0].startswith("pretrain-cnn (best and last checkpoint, epoch 3): ")
    else:
        assert [n.split(":")[0] for n in notes] == ["pretrain-cnn (last checkpoint, epoch 3)",
                                                    f"pretrain-cnn (best checkpoint, epoch {best['epoch']})"]
