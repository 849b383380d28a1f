"""examples/run_stats.py: the per-variant figures a compare table leaves out, read from run files."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "run_stats.py"


def _run(folder: Path, preds: list[dict], stages: dict[str, dict], history: list[dict], last="finetune",
         method="orderfree") -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"method": method, "spec": {"labels": ["x", "y", "z"]}}))
    (folder / "test.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    for stage, best in stages.items():
        (folder / f"{stage}.best.json").write_text(json.dumps(best))
    (folder / f"{last}.history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    return folder


def _layout(tmp_path: Path) -> Path:
    out = tmp_path / "cmp"
    a0 = _run(out / "runs" / "a" / "seed0", [{"id": "1", "labels": ["x", "y"], "duplicates": 2},
                                             {"id": "2", "labels": ["x"]}],
              {"finetune": {"epoch": 3, "threshold": 0.25}, "pretrain-cnn": {"epoch": 8}},
              [{"epoch": 1, "train/reward": 1.0}, {"epoch": 2, "train/reward": 2.0}, {"epoch": 3, "train/reward": 4.0}])
    a1 = _run(out / "runs" / "a" / "seed1", [{"id": "1", "labels": ["x", "y", "z"], "duplicates": 0},
                                             {"id": "2", "labels": [], "duplicates": 1}],
              {"pretrain-cnn": {"epoch": 1}, "finetune": {"epoch": 2, "threshold": 0.5}},
              [{"epoch": 1, "train/reward": 3.0}, {"epoch": 2, "train/reward": 2.0}])
    b0 = _run(out / "runs" / "b" / "seed0", [{"id": "1", "labels": ["z"]}], {"pretrain-cnn": {"epoch": 5}}, [],
              "pretrain-cnn", "bce")
    rows = [{"kind": "run", "variant": "A", "seed": 0, "run": str(a0)},
            {"kind": "run", "variant": "B", "seed": 0, "run": str(b0)},
            {"kind": "run", "variant": "A", "seed": 1, "run": str(a1)},
            {"kind": "variant", "variant": "A"}]
    (out / "compare.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def test_figures_per_variant_from_the_run_files(tmp_path):
    by_variant = runpy.run_path(str(SCRIPT))["by_variant"]
    entries = {e["variant"]: e for e in by_variant(_layout(tmp_path), "test", ["train/reward"])}
    a, b = entries["A"], entries["B"]
    # seed 0: (2 + 1) / 2 = 1.5 labels, (2 + 2 + 1) / 2 = 2.5 emitted; seed 1: (3 + 0) / 2 = 1.5, (3 + 1) / 2 = 2
    assert a["labels"] == 1.5 and a["emitted"] == 2.25
    assert a["seeds"][0]["stage"] == "finetune" and a["seeds"][1]["stage"] == "finetune"
    assert [s["threshold"] for s in a["seeds"].values()] == [0.25, 0.5]
    assert [s["best_epoch"] for s in a["seeds"].values()] == [3, 2]
    assert a["train/reward"] == [2.0, 3.0]                  # first epochs (1 + 3) / 2, last (4 + 2) / 2
    assert b["labels"] == 1.0 and "emitted" not in b and "threshold" not in b["seeds"][0]
    assert "train/reward" not in b                         # no history values: left out, not zero


def test_markdown_table_and_a_missing_listing(tmp_path):
    out = _layout(tmp_path)
    res = subprocess.run([sys.executable, str(SCRIPT), str(out), "--history", "train/reward"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("| variant | labels/image | emitted/image |")
    assert lines[2] == "| A | 1.50 | 2.25 | 3, 2 | 0.250, 0.500 | 2.00 → 3.00 |"
    assert lines[3] == "| B | 1.00 | - | 5 | - | - |"
    res = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "none")], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 1 and res.stderr.strip().endswith("compare.jsonl: not found; run `mlcap compare "
                                                               f"--out {tmp_path / 'none'}` first")


def test_a_malformed_listing_is_one_line_naming_file_and_line(tmp_path):
    out = _layout(tmp_path)
    listing = out / "compare.jsonl"
    listing.write_text(listing.read_text() + "{not json\n")
    res = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith(f"run_stats: {listing}:5: not valid JSON") and len(res.stderr.splitlines()) == 1
    listing.write_text(json.dumps({"kind": "run", "variant": "A"}) + "\n")
    res = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.strip() == f"run_stats: {listing}:1: a run line without seed, run"
