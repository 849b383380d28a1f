"""Helpers of the older comparison script examples/compare_orderfree.py (kept for its PA-100K table until that is
rerun as a preset): running mlcap, turning a method's recipe into flags, and formatting mean ± std cells."""

from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Mlcap:
    """Runs ``python -m mlcap ...``; a failure ends the script with the tail of its log."""

    def __init__(self, threads: int | None):
        self.env = dict(os.environ)
        if threads:
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                self.env[var] = str(threads)

    def __call__(self, *args: str, stdout_path: Path | None = None, log_path: Path | None = None) -> str:
        cmd = [sys.executable, "-m", "mlcap", *args]
        err = open(log_path, "a") if log_path else subprocess.DEVNULL
        out = open(stdout_path, "w") if stdout_path else subprocess.PIPE
        try:
            if log_path:
                err.write("$ " + shlex.join(cmd[2:]) + "\n")
                err.flush()
            result = subprocess.run(cmd, text=True, stdout=out, stderr=err, env=self.env)
        finally:
            if log_path:
                err.close()
            if stdout_path:
                out.close()
        if result.returncode != 0:
            tail = log_path.read_text()[-3000:] if log_path else ""
            raise SystemExit(f"mlcap {' '.join(args[:1])} failed (exit {result.returncode}):\n{tail}")
        return result.stdout if stdout_path is None else ""


def method_recipes(mlcap: Mlcap) -> dict[str, dict]:
    """``{method: {stage: recipe}}`` of the installed methods (``mlcap methods --json --recipes``)."""
    methods = [json.loads(line) for line in mlcap("methods", "--json", "--recipes").splitlines() if line.strip()]
    return {m["name"]: m.get("recipes", {}) for m in methods}


def recipe_flags(r: dict, default: dict | None = None) -> list[str]:
    """Flags that give the recipe ``r`` (of another method's stage) to a run, e.g. a bce pretrain-cnn
    trained exactly as orderless' or orderfree's encoder; ``default``: the receiving recipe, whose
    Adam betas must match (no flag sets them)."""
    if r["optimizer"] not in ("adam", "adamw", "sgd", "rmsprop") or r["group_lr"] or r["group_start"]:
        raise SystemExit(f"recipe {r}: not expressible as command-line flags here")
    if default is not None and r["optimizer"] in ("adam", "adamw") and r["betas"] != default["betas"]:
        raise SystemExit(f"recipe betas {r['betas']} differ from the receiving recipe's; no flag sets them")
    flags = ["--optimizer", r["optimizer"], "--lr", str(r["lr"]), "--weight-decay", str(r["weight_decay"]),
             "--schedule", r["schedule"], "--select-by", r["select_by"]]
    if r["optimizer"] in ("sgd", "rmsprop"):
        flags += ["--momentum", str(r["momentum"])]
    if r["optimizer"] == "sgd":
        flags += ["--nesterov" if r["nesterov"] else "--no-nesterov"]
    if r["schedule"] == "plateau":
        flags += ["--gamma", str(r["gamma"]), "--plateau-patience", str(r["plateau_patience"])]
    elif r["schedule"] == "step":
        flags += ["--gamma", str(r["gamma"]), "--step-size", str(r["step_size"])]
    elif r["schedule"] in ("cosine", "swa"):
        flags += ["--lr-min", str(r["lr_min"])]
    if r["schedule"] == "swa":
        flags += ["--swa-cycle", str(r["swa_cycle"])]
    return flags


def encoders_identical(checkpoints: list[Path]) -> bool:
    """Whether the ``encoder.*`` tensors of these checkpoints are bit-identical."""
    import torch

    def encoder(path: Path) -> dict:
        state = torch.load(path, map_location="cpu", weights_only=True)["model"]
        return {k: v for k, v in state.items() if k.startswith("encoder.")}

    first = encoder(checkpoints[0])
    for path in checkpoints[1:]:
        other = encoder(path)
        if other.keys() != first.keys() or not all(torch.equal(first[k], other[k]) for k in first):
            return False
    return bool(first)


def fmt(values: list[float | None]) -> str:
    """Percent, mean ± sample std; "(n=k)" when only k of the seeds had a value (e.g. no
    co-occurring predicted pair for rigidness)."""
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    text = f"{statistics.fmean(present) * 100:.1f}"
    if len(present) > 1:
        text += f" ± {statistics.stdev(present) * 100:.1f}"
    return text + (f" (n={len(present)})" if len(present) < len(values) else "")


def add_common_arguments(ap) -> None:
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP/MKL threads of every mlcap process (default: inherit the environment)")
    ap.add_argument("--reuse", action="store_true", help="keep runs under --out whose predictions exist")


def prepare_synthetic(mlcap: Mlcap, out: Path, images: int, reuse: bool) -> tuple[Path, Path]:
    """``OUT/data`` (the synthetic set, seed 0) and ``OUT/data.json`` (its summary), made unless reused."""
    import shutil

    data, summary_path = out / "data", out / "data.json"
    if not (reuse and summary_path.is_file()):
        shutil.rmtree(data, ignore_errors=True)
        summary_path.write_text(mlcap("prepare", "synthetic", "--out", str(data), "--images", str(images),
                                      "--seed", "0", "--json"))
    return data, summary_path


PA100K_BACKBONE = ["--backbone", "efficientnet_lite0", "--weights", "imagenet"]


def prepare_pa100k(mlcap: Mlcap, out: Path, shared: Path, reuse: bool) -> tuple[Path, Path, Path]:
    """``OUT/data`` (the 2,000 real PA-100K images, official annotation5.mat split), its summary
    ``OUT/data.json`` and ``OUT/features.h5`` (frozen EfficientNet-Lite0 ImageNet features at 224 px,
    every split), made unless reused. Runs on it take ``PA100K_BACKBONE`` and ``--features``."""
    import shutil

    root = shared / "pa100k"
    if not (root / "annotation5.mat").is_file():
        raise SystemExit(f"{root}: PA-100K subset not found (see ../shared/data/SOURCES.md)")
    data, summary_path, cache = out / "data", out / "data.json", out / "features.h5"
    if not (reuse and summary_path.is_file()):
        shutil.rmtree(data, ignore_errors=True)
        summary_path.write_text(mlcap("prepare", "pa100k", "--root", str(root), "--annotation",
                                      str(root / "annotation5.mat"), "--out", str(data), "--json"))
    if not (reuse and cache.is_file()):
        cache.unlink(missing_ok=True)
    mlcap("extract-features", "--data", str(data), *PA100K_BACKBONE, "--out", str(cache), "--batch-size", "32",
          log_path=out / "extract.log")  # continues an interrupted extraction; a complete one is kept
    return data, summary_path, cache


def add_dataset_arguments(ap, default_images: int = 800) -> None:
    ap.add_argument("--dataset", choices=["synthetic", "pa100k"], default="synthetic")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data",
                    help="the shared data folder (--dataset pa100k)")
    ap.add_argument("--images", type=int, default=default_images,
                    help="synthetic images (70/10/20 train/val/test)")


def prepare_dataset(mlcap: Mlcap, out: Path, args) -> tuple[Path, dict, list[str], list[str]]:
    """``(data, summary, training inputs, prediction inputs)`` for ``--dataset``: the synthetic set
    (smallcnn on the images), or PA-100K (frozen EfficientNet-Lite0 features from the cache)."""
    if args.dataset == "pa100k":
        data, summary_path, cache = prepare_pa100k(mlcap, out, args.shared, args.reuse)
        inputs, predict_inputs = [*PA100K_BACKBONE, "--features", str(cache)], ["--features", str(cache)]
    else:
        data, summary_path = prepare_synthetic(mlcap, out, args.images, args.reuse)
        inputs, predict_inputs = [], []
    return data, json.loads(summary_path.read_text()), inputs, predict_inputs


def describe_dataset(args, summary: dict) -> str:
    splits = summary["splits"]
    if args.dataset == "pa100k":
        return (f"PA-100K, the 2,000 real images of {args.shared / 'pa100k'} (annotation5.mat: train "
                f"{splits['train']['images']}, val {splits['val']['images']}, test {splits['test']['images']} "
                f"images, {summary['labels']} attributes); frozen EfficientNet-Lite0 ImageNet features "
                f"(224 px, cached), so pretrain-cnn trains the heads alone.")
    return (f"Synthetic dataset (`mlcap prepare synthetic --images {args.images} --seed 0`: train "
            f"{splits['train']['images']}, val {splits.get('val', {}).get('images', 0)}, test "
            f"{splits['test']['images']} images, {summary['labels']} labels); smallcnn; no augmentation.")


def labels_per_image(preds: Path) -> float:
    rows = [json.loads(line) for line in preds.read_text().splitlines() if line.strip()]
    return statistics.fmean(len(r["labels"]) for r in rows) if rows else 0.0


def start_comparison(args, script: str):
    """What every comparison script begins with: ``(seeds, the command line as typed, the thread
    count shown, the mlcap runner, the output folder emptied unless --reuse, the start time)``."""
    import shutil
    import time

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    command = shlex.join(["python", script, *sys.argv[1:]])
    threads = args.threads or os.environ.get("OMP_NUM_THREADS")
    out = args.out
    if not args.reuse:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    return seeds, command, threads, Mlcap(args.threads), out, time.time()
