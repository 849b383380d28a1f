"""Label orders of the orderless recurrent model, the protocol of Yazici et al. (CVPR 2020), Table 2.

    python examples/compare_orders.py [--out /tmp/orders-out] [--images 800] [--seeds 0,1,2]
        [--cnn-epochs 10] [--epochs 6] [--duplicates] [--device auto] [--threads 1]

Table 2's protocol (paper, Sec. 4.3): no augmentation, hyperparameters tuned on a part of
the training data held out as validation, fewer epochs than the main tables. Here:

* data: ``mlcap prepare synthetic --images N --seed 0``, the same for every seed. Its ``val``
  split (10%, disjoint from train) is what validates: the best checkpoint on it is what
  ``predict`` uses. A dataset without a val split gets ``--val-fraction`` (default 0.1) of
  train held out by mlcap itself (RUN/val_ids.json). Metrics are on the ``test`` split.
* no ``--augment``; every optimiser/schedule setting is the orderless recipe, read from
  ``mlcap methods --json --recipes``; only the epochs are scaled down. The encoder: the
  orderless ``pretrain-cnn`` recipe (SGD 0.01, momentum 0.9, x0.1 after 3 epochs without
  improvement of the val loss; 40 epochs, here ``--cnn-epochs``), trained as a ``bce`` run
  with that recipe given explicitly (``pretrain-cnn -m bce --optimizer sgd --lr 0.01 ...``).
  That is the same model, loss, groups and initialisation as ``pretrain-cnn -m orderless``
  (identical weights, checked), but its predictions are the BCE baseline's (labels over a
  threshold chosen on val), where an orderless pretrain-cnn checkpoint would emit its
  untrained decoder's labels. Then ``finetune -m orderless --order X --init-from`` that
  run's best checkpoint (the paper: "we fine-tune from the best BCE model"): encoder and
  attention LSTM, Adam, SWA with the cyclical rate 1e-3 -> 1e-6 over 3-epoch cycles
  (30 epochs, here ``--epochs``, best a multiple of 3).
* one encoder per seed, shared by every row of that seed: the rows differ only by the order.
  ``--seed`` seeds the encoder's and the decoder's initialisation and the shuffling.
* fixed orders (frequent, rare, dictionary; random re-drawn per mini-batch) run free, as in
  the paper: each step is fed the decoder's own previous prediction. pla and mla align the
  ground truth to the predictions.

Rows: the fixed orders, pla, mla, and the shared encoder alone (the paper's BCE row). Columns from ``mlcap evaluate --metrics
f1,map,duplicates,rigidness --json``: C-F1, O-F1, mAP (decoder scores), the share of test
images whose greedy sequence repeated a label (dup) and order-rigidness (rigid), in percent,
mean +- sample std over the seeds.

``--duplicates`` adds the Table 1 direction: every fixed order is also fine-tuned with
``--option teacher_forcing=true`` (the previous *ground-truth* label is fed at training time;
prediction is greedy and free in both cases), and a second table compares the duplicate
share (and rigidness, O-F1) free-running vs teacher-forced, against pla and mla.

Both tables are printed as Markdown, the exact command and the budget above them. Each run's
log is RUN/log.txt; ``--reuse`` keeps runs whose predictions already exist under --out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from comparison import (add_common_arguments, fmt, log, method_recipes, prepare_synthetic, recipe_flags,
                        start_comparison)

FIXED = ["frequent", "rare", "dictionary", "random"]
ALIGNED = ["pla", "mla"]
ORDERS = FIXED + ALIGNED
ENCODER = "encoder"      # the shared bce run's own predictions (the BCE row)
TABLE2 = [("C-F1", "C-F1"), ("O-F1", "O-F1"), ("mAP", "mAP"), ("dup", "dup %"), ("rigid", "rigid")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/orders-out"))
    ap.add_argument("--images", type=int, default=800, help="synthetic images (70/10/20 train/val/test)")
    ap.add_argument("--seeds", default="0,1,2", help="comma list of training seeds")
    ap.add_argument("--cnn-epochs", type=int, default=10, help="pretrain-cnn epochs (recipe: 40)")
    ap.add_argument("--epochs", type=int, default=6, help="finetune epochs (recipe: 30; SWA cycle 3)")
    ap.add_argument("--duplicates", action="store_true",
                    help="also train the fixed orders with teacher forcing; print the Table 1 direction")
    add_common_arguments(ap)
    args = ap.parse_args()
    seeds, command, threads, mlcap, out, start = start_comparison(args, "examples/compare_orders.py")

    data, summary_path = prepare_synthetic(mlcap, out, args.images, args.reuse)
    splits = json.loads(summary_path.read_text())["splits"]
    if not splits.get("val", {}).get("images"):
        log("note: the dataset has no val split; mlcap holds out --val-fraction (0.1) of train")

    variants = [(o, False) for o in ORDERS] + ([(o, True) for o in FIXED] if args.duplicates else [])
    metrics: dict[tuple[str, bool], list[dict]] = {}
    seconds: dict[str, float] = {}

    def predict_and_evaluate(run: Path, preds: Path) -> dict:
        if not (args.reuse and preds.is_file() and preds.stat().st_size):
            mlcap("predict", "--run", str(run), "--data", str(data), "--device", args.device,
                  stdout_path=preds, log_path=run / "log.txt")
        return json.loads(mlcap("evaluate", "--data", str(data), "--metrics", "f1,map,duplicates,rigidness",
                                "--json", str(preds)))

    recipes = method_recipes(mlcap)["orderless"]
    recipe, tune = recipes["pretrain-cnn"], recipes["finetune"]
    encoder_flags = recipe_flags(recipe)
    common = ["--data", str(data), "--seed", None, "--device", args.device]
    for seed in seeds:
        base = [str(seed) if a is None else a for a in common]
        cnn = out / f"seed{seed}" / "cnn"
        ckpt = cnn / "pretrain-cnn.best.pt"
        t0 = time.time()
        if not (args.reuse and (cnn / "pretrain-cnn.json").is_file() and ckpt.is_file()):
            shutil.rmtree(cnn, ignore_errors=True)
            cnn.mkdir(parents=True)
            mlcap("pretrain-cnn", "-m", "bce", "--run", str(cnn), *base, *encoder_flags,
                  "--epochs", str(args.cnn_epochs), "--no-augment", log_path=cnn / "log.txt")
        metrics.setdefault((ENCODER, False), []).append(predict_and_evaluate(cnn, cnn.parent / "cnn.jsonl"))
        seconds["pretrain-cnn"] = seconds.get("pretrain-cnn", 0.0) + time.time() - t0
        log(f"seed {seed}: pretrain-cnn {time.time() - t0:.0f} s (total {time.time() - start:.0f} s)")
        for order, tf in variants:
            name = f"{order}-tf" if tf else order
            run = out / f"seed{seed}" / name
            preds = out / f"seed{seed}" / f"{name}.jsonl"
            t0 = time.time()
            if not (args.reuse and preds.is_file() and (run / "finetune.json").is_file()):
                shutil.rmtree(run, ignore_errors=True)
                preds.unlink(missing_ok=True)
                run.mkdir(parents=True)
                mlcap("finetune", "-m", "orderless", "--run", str(run), *base, "--init-from", str(ckpt),
                      "--order", order, "--epochs", str(args.epochs), "--no-augment",
                      *(["--option", "teacher_forcing=true"] if tf else []), log_path=run / "log.txt")
            metrics.setdefault((order, tf), []).append(predict_and_evaluate(run, preds))
            seconds[name] = seconds.get(name, 0.0) + time.time() - t0
            log(f"seed {seed}: {name} {time.time() - t0:.0f} s (total {time.time() - start:.0f} s)")
    wall = time.time() - start

    def cell(key: tuple[str, bool], metric: str) -> str:
        if key[0] == ENCODER and metric in ("dup", "rigid"):
            return "-"
        return fmt([m.get(metric) for m in metrics[key]])

    n_seeds = len(seeds)
    print(f"`{command}`" + (f" (OMP_NUM_THREADS={threads})" if threads else ""))
    print()
    print(f"Synthetic dataset, {args.images} images (train {splits['train']['images']}, validation on its "
          f"held-out val split of {splits.get('val', {}).get('images', 0)}, test {splits['test']['images']}); "
          f"smallcnn; no augmentation; orderless recipe with epochs scaled down: pretrain-cnn "
          f"{args.cnn_epochs} (recipe {recipe['epochs']}; {recipe['optimizer']} {recipe['lr']}, {recipe['schedule']}), "
          f"finetune {args.epochs} (recipe {tune['epochs']}; {tune['optimizer']} {tune['lr']}, {tune['schedule']}"
          + (f" cycles of {tune['swa_cycle']} epochs" if tune['schedule'] == 'swa' else "") + ") from the "
          f"seed's shared encoder; fixed orders free-running. Test split, %, mean ± sample std over seeds "
          f"{args.seeds} ({n_seeds}); wall time {wall / 60:.1f} min"
          + (" for both tables" if args.duplicates else "")
          + (" (--reuse: runs found under --out were not retrained)" if args.reuse else "") + ".")
    print()
    print("| order | " + " | ".join(h for _, h in TABLE2) + " |")
    print("| --- " * (len(TABLE2) + 1) + "|")
    for order in ORDERS:
        print(f"| {order} | " + " | ".join(cell((order, False), k) for k, _ in TABLE2) + " |")
    print("| encoder alone (BCE) | " + " | ".join(cell((ENCODER, False), k) for k, _ in TABLE2) + " |")

    if args.duplicates:
        print()
        print("Duplicates (Table 1 direction): share of test images whose greedy sequence repeats a label, "
              "fixed orders trained free-running (the paper) vs with `--option teacher_forcing=true`; pla/mla "
              "align the targets, so teacher forcing does not apply. Same runs, encoders and budget as above.")
        print()
        cols = ["dup % free-running", "dup % teacher-forced", "rigid free-running", "rigid teacher-forced",
                "O-F1 free-running", "O-F1 teacher-forced"]
        print("| order | " + " | ".join(cols) + " |")
        print("| --- " * (len(cols) + 1) + "|")
        for order in ORDERS:
            row = []
            for metric in ("dup", "rigid", "O-F1"):
                row.append(cell((order, False), metric))
                row.append(cell((order, True), metric) if order in FIXED else "n/a")
            print(f"| {order} | " + " | ".join(row) + " |")
    log("seconds per row, all seeds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))


if __name__ == "__main__":
    main()
