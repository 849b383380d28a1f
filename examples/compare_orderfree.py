"""Order-Free RNN and its ablations against the CNN alone (Chen et al., AAAI 2018, Tables 1-2 rows).

    python examples/compare_orderfree.py [--dataset synthetic|pa100k] [--out /tmp/orderfree-out]
        [--images 800] [--seeds 0,1,2] [--cnn-epochs 8] [--epochs 5] [--hidden 512] [--device auto]
        [--threads 1] [--reuse]

Rows, on the test split, the same backbone, data and budget for each. ``--dataset synthetic``
(default): ``--images`` synthetic images, smallcnn trained by pretrain-cnn. ``--dataset pa100k``:
the 2,000 real PA-100K images of ``--shared`` (official annotation5.mat split 1,600 / 200 / 200)
with frozen EfficientNet-Lite0 ImageNet features cached once (``extract-features``), so every
pretrain-cnn trains θ_R (bce: its linear head) alone, as the paper's fixed ResNet-152:

* ``bce``: the paper's "ResNet-baseline", the CNN alone: ``pretrain-cnn -m bce`` with the
  orderfree ``pretrain-cnn`` recipe given explicitly (Adam 3e-4, constant rate, checkpoint by
  val loss; only the epochs scaled down, ``--cnn-epochs``). Its one threshold for all labels is
  chosen on val (bce's default ``--threshold auto``).
* ``orderfree``: ``pretrain-cnn -m orderfree`` (M_map: smallcnn has no ImageNet weights, so this
  stage trains it with BCE; it is frozen from then on), then ``finetune`` with no ``--order``
  (order-free: per-step BCE against the whole label vector, candidate pool, beam search).
* ``w/o attention``: the same with ``-o attention=false``.
* ``frequent-first`` / ``rare-first`` (w/ attention): ``finetune --order frequent|rare``.

Every orderfree run uses ``-o hidden=512`` (the paper's LSTM of 1800 cells, Show-Attend-Tell's
COCO size, is too slow on CPU here); every other option is the method's default (beam 3,
``stop=label``, its stop threshold chosen on val at the end of each stage and stored in the run).

One encoder per seed. The orderfree pretrain-cnn runs once per seed in ``seedS/cnn``; that run
directory is copied for the order-free, frequent-first and rare-first finetunes. ``attention``
is a structural option fixed by a run's first stage (a copied attention run refuses
``finetune -o attention=false``), so the w/o-attention row has its own pretrain-cnn
(``seedS/cnn-noatt``, ``-o hidden=512 -o attention=false``) and ``bce`` its own. The three are
trained from the same seed, recipe and data order; their encoder weights are compared tensor by
tensor after training and the header says whether they are bit-identical (the decoder is built
after the encoder and never touched by pretrain-cnn, so they are expected to be).

Columns from ``mlcap evaluate --metrics f1,map,duplicates,rigidness --json``: C-P, C-R, C-F1
(per-class averages), O-P, O-R, O-F1 (overall), mAP, dup (share of test images whose sequence
repeats a label) and rigid (order-rigidness), in percent, mean +- sample std over the seeds.
bce emits labels by confidence, not as a sequence: dup and rigid are "-" for it.

The header gives the exact command, the budget, and the stop threshold each orderfree finetune
chose (``RUN/finetune.best.json`` "threshold"); the table is Markdown. Each run's log is
``RUN/log.txt``; ``--reuse`` keeps runs whose predictions already exist under --out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

from comparison import (add_common_arguments, add_dataset_arguments, describe_dataset, encoders_identical, fmt,
                        labels_per_image, log, method_recipes, prepare_dataset, recipe_flags, start_comparison)

COLUMNS = ["C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1", "mAP", "dup", "rigid"]
# row key, label in the table, pretrain-cnn run it starts from, extra finetune flags
VARIANTS = [
    ("orderfree", "orderfree (order-free, w/ attention)", "cnn", []),
    ("noatt", "orderfree w/o attention (`-o attention=false`)", "cnn-noatt", []),
    ("frequent", "frequency-first w/ attention (`--order frequent`)", "cnn", ["--order", "frequent"]),
    ("rare", "rare-first w/ attention (`--order rare`)", "cnn", ["--order", "rare"]),
]
BCE = "bce"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(ap)
    ap.add_argument("--out", type=Path, default=Path("/tmp/orderfree-out"))
    ap.add_argument("--seeds", default="0,1,2", help="comma list of training seeds")
    ap.add_argument("--cnn-epochs", type=int, default=8, help="pretrain-cnn epochs, bce and orderfree (recipe: 10)")
    ap.add_argument("--epochs", type=int, default=5, help="orderfree finetune epochs (recipe: 10)")
    ap.add_argument("--hidden", type=int, default=512, help="orderfree LSTM cells (paper: 1800)")
    add_common_arguments(ap)
    args = ap.parse_args()
    seeds, command, threads, mlcap, out, start = start_comparison(args, "examples/compare_orderfree.py")

    data, summary, inputs, predict_inputs = prepare_dataset(mlcap, out, args)
    splits = summary["splits"]
    if not splits.get("val", {}).get("images"):
        log("note: the dataset has no val split; mlcap holds out --val-fraction (0.1) of train")

    all_recipes = method_recipes(mlcap)
    cnn_recipe, tune_recipe = all_recipes["orderfree"]["pretrain-cnn"], all_recipes["orderfree"]["finetune"]
    bce_flags = recipe_flags(cnn_recipe, all_recipes["bce"]["pretrain-cnn"])
    hidden = ["-o", f"hidden={args.hidden}"]
    pretrains = {  # run name -> (method, extra flags)
        BCE: ("bce", bce_flags),
        "cnn": ("orderfree", hidden),
        "cnn-noatt": ("orderfree", hidden + ["-o", "attention=false"]),
    }

    metrics: dict[str, list[dict]] = {}
    thresholds: dict[str, list[float | None]] = {}
    lengths: dict[str, list[float]] = {}
    identical: list[bool] = []
    seconds: dict[str, float] = {}

    def predict_and_evaluate(key: str, run: Path, preds: Path) -> None:
        if not (args.reuse and preds.is_file() and preds.stat().st_size):
            mlcap("predict", "--run", str(run), "--data", str(data), "--device", args.device, *predict_inputs,
                  stdout_path=preds, log_path=run / "log.txt")
        metrics.setdefault(key, []).append(json.loads(mlcap(
            "evaluate", "--data", str(data), "--metrics", "f1,map,duplicates,rigidness", "--json", str(preds))))
        lengths.setdefault(key, []).append(labels_per_image(preds))

    def timed(name: str, t0: float, seed: int) -> None:
        seconds[name] = seconds.get(name, 0.0) + time.time() - t0
        log(f"seed {seed}: {name} {time.time() - t0:.0f} s (total {time.time() - start:.0f} s)")

    for seed in seeds:
        base = ["--data", str(data), "--seed", str(seed), "--device", args.device, *inputs]
        root = out / f"seed{seed}"
        for name, (method, flags) in pretrains.items():
            run = root / name
            t0 = time.time()
            if not (args.reuse and (run / "pretrain-cnn.json").is_file()
                    and (run / "pretrain-cnn.best.pt").is_file()):
                shutil.rmtree(run, ignore_errors=True)
                run.mkdir(parents=True)
                mlcap("pretrain-cnn", "-m", method, "--run", str(run), *base, *flags,
                      "--epochs", str(args.cnn_epochs), "--no-augment", log_path=run / "log.txt")
            if name == BCE:
                predict_and_evaluate(BCE, run, root / "bce.jsonl")
                thresholds.setdefault(BCE, []).append(
                    json.loads((run / "pretrain-cnn.best.json").read_text()).get("threshold"))
            timed(f"pretrain-cnn {name}", t0, seed)
        identical.append(encoders_identical([root / n / "pretrain-cnn.best.pt" for n in pretrains]))
        log(f"seed {seed}: encoders of {', '.join(pretrains)} bit-identical: {identical[-1]}")
        for key, _, source, flags in VARIANTS:
            run = root / key
            preds = root / f"{key}.jsonl"
            t0 = time.time()
            if not (args.reuse and preds.is_file() and (run / "finetune.best.json").is_file()):
                shutil.rmtree(run, ignore_errors=True)
                preds.unlink(missing_ok=True)
                shutil.copytree(root / source, run)
                (run / "log.txt").write_text(f"# copied from {root / source} (its pretrain-cnn)\n")
                mlcap("finetune", "-m", "orderfree", "--run", str(run), *base, *flags,
                      "--epochs", str(args.epochs), "--no-augment", log_path=run / "log.txt")
            predict_and_evaluate(key, run, preds)
            thresholds.setdefault(key, []).append(
                json.loads((run / "finetune.best.json").read_text()).get("threshold"))
            timed(key, t0, seed)
    wall = time.time() - start

    def cell(key: str, metric: str) -> str:
        if key == BCE and metric in ("dup", "rigid"):
            return "-"
        return fmt([m.get(metric) for m in metrics[key]])

    def th(values: list[float | None]) -> str:
        return ", ".join("-" if v is None else f"{v:.3f}" for v in values)

    r = cnn_recipe
    print(f"`{command}`" + (f" (OMP_NUM_THREADS={threads})" if threads else ""))
    print()
    dataset = describe_dataset(args, summary)
    print(dataset + " "
          f"Budget, every row: pretrain-cnn epochs {args.cnn_epochs} (recipe {r['epochs']}; "
          f"{r['optimizer']} {r['lr']}, {r['schedule']}, best val loss; bce trained with the same recipe "
          f"given as flags), orderfree finetune epochs {args.epochs} (recipe {tune_recipe['epochs']}; "
          f"{tune_recipe['optimizer']} {tune_recipe['lr']}, {tune_recipe['schedule']}, best val loss) on the "
          f"frozen M_map. Orderfree rows: `-o hidden={args.hidden}` (paper 1800: too slow on CPU), beam 3, "
          f"stop=label; one pretrain-cnn per seed copied for order-free / frequency-first / rare-first; "
          f"w/o attention and bce have their own pretrain-cnn (attention is fixed by the first stage) with "
          f"the same seed and recipe; encoders bit-identical across the three: "
          f"{'yes, every seed' if all(identical) else 'NO (seeds ' + ', '.join(str(s) for s, i in zip(seeds, identical) if not i) + ')'}. "
          f"Test split, %, mean ± sample std over seeds {args.seeds} ({len(seeds)}); wall time "
          f"{wall / 60:.1f} min" + (" (--reuse: runs found under --out were not retrained)" if args.reuse else "")
          + ".")
    print()
    print("Thresholds chosen on val, per seed: "
          + "; ".join(f"{key} stop {th(thresholds[key])}" for key, *_ in VARIANTS)
          + f"; bce (one for all labels) {th(thresholds[BCE])}. Predicted labels per test image "
          + ", ".join(f"{key} {statistics.fmean(lengths[key]):.2f}" for key in [k for k, *_ in VARIANTS] + [BCE])
          + f" (ground truth {splits['test'].get('labels_per_image_mean', float('nan')):.2f}).")
    print()
    print("| model | " + " | ".join(COLUMNS) + " |")
    print("| --- " * (len(COLUMNS) + 1) + "|")
    for key, label, *_ in VARIANTS:
        print(f"| {label} | " + " | ".join(cell(key, c) for c in COLUMNS) + " |")
    print("| bce, the CNN alone (ResNet-baseline) | " + " | ".join(cell(BCE, c) for c in COLUMNS) + " |")
    log("seconds per row, all seeds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))


if __name__ == "__main__":
    main()
