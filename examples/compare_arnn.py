"""ARNN and its ablations against the CNN alone (Li et al., ACM MM 2018, Table 1 rows).

    python examples/compare_arnn.py [--dataset synthetic|pa100k] [--out /tmp/arnn-out] [--images 800]
        [--seeds 0,1,2] [--cnn-epochs 8] [--epochs 12] [--step-size 4] [--backbone-start 8] [--dim 128]
        [--top-k 3] [--option KEY=VALUE ...] [--device auto] [--threads 1] [--reuse]

Per seed, one ``pretrain-cnn -m arnn`` (the backbone and a BCE concept head; on PA-100K's cached
features the head alone) gives the encoder every row starts from. Rows, on the test split:

* ``arnn``: ``finetune -m arnn`` from that encoder (``--init-from``): RHN, emission indicator
  (REINFORCE), context extractor, GRRE;
* the ablations, each its own finetune from the same encoder (they are structural options):
  ``ce=false``, ``ei=false``, ``grre=false``, ``grre=rnn``, ``ce=false grre=false``;
* the CNN alone: the pretrain-cnn checkpoint itself (``predict --stage pretrain-cnn``), i.e. the
  backbone with a sigmoid head trained by BCE, what ``bce`` trains.

Budget: the paper's recipe (Adam 1e-3, betas 0.8/0.999, lr x 0.1 every 10 epochs, backbone
trained from epoch 20, 30 epochs) scaled to ``--epochs`` with ``--step-size`` and
``--backbone-start`` (default 12 / 4 / 8: the paper's 30 / 10 / 20 x 0.4); ``-o dim`` (X_t, O_i;
paper 512) and ``glimpses`` 10, K = 4 samples.

Columns from ``mlcap evaluate --top-k K --metrics f1,map,nplus --json`` (the paper's protocol,
top-3 on NUS-WIDE): P_L/R_L/F_L (per-label averages, mlcap's C-P/C-R/C-F1), P_I/R_I/F_I (overall,
O-P/O-R/O-F1), mAP, N+ (labels with non-zero recall), in percent (N+ a count), mean +- sample
std over the seeds. The line after the table gives, per row, the glimpses emitted and the distinct
labels they name per image (before top-k; their difference is how often glimpses repeat a label) and, for the rows with REINFORCE, the mean training reward and the value
network's squared error at the first and last epoch. ``--reuse`` keeps runs whose predictions
exist under --out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

from comparison import (add_common_arguments, add_dataset_arguments, describe_dataset, fmt, labels_per_image, log,
                        prepare_dataset, start_comparison)

# row key, label, --option values of its finetune
VARIANTS = [
    ("arnn", "arnn (ours)", []),
    ("noce", "w/o CE (`ce=false`)", ["ce=false"]),
    ("noei", "w/o EI (`ei=false`)", ["ei=false"]),
    ("nogrre", "w/o GRRE (`grre=false`)", ["grre=false"]),
    ("rnn", "w/o GRRE w. RNN (`grre=rnn`)", ["grre=rnn"]),
    ("noce-nogrre", "w/o CE w/o GRRE", ["ce=false", "grre=false"]),
]
CNN = "cnn"
COLUMNS = [("P_L", "C-P"), ("R_L", "C-R"), ("F_L", "C-F1"), ("P_I", "O-P"), ("R_I", "O-R"), ("F_I", "O-F1"),
           ("mAP", "mAP"), ("N+", "N+")]


def glimpses_per_image(preds: Path) -> float:
    """Emitted glimpses per image: the distinct labels plus the repeats predict removed."""
    rows = [json.loads(line) for line in preds.read_text().splitlines() if line.strip()]
    return statistics.fmean(len(r["labels"]) + r["duplicates"] for r in rows) if rows else 0.0


def history_trend(run: Path) -> dict:
    rows = [json.loads(line) for line in (run / "finetune.history.jsonl").read_text().splitlines() if line.strip()]
    if "train/reward" not in rows[0]:
        return {}
    return {k: (rows[0][f"train/{k}"], rows[-1][f"train/{k}"]) for k in ("reward", "value")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(ap)
    ap.add_argument("--out", type=Path, default=Path("/tmp/arnn-out"))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--cnn-epochs", type=int, default=8, help="pretrain-cnn epochs (recipe: 10)")
    ap.add_argument("--epochs", type=int, default=12, help="finetune epochs (paper: 30, our reading)")
    ap.add_argument("--step-size", type=int, default=4, help="lr x 0.1 every N epochs (paper: 10)")
    ap.add_argument("--backbone-start", type=int, default=8, help="epoch the backbone starts training (paper: 20)")
    ap.add_argument("--dim", type=int, default=128, help="X_t and O_i size (paper: 512)")
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="another arnn option for every run (e.g. channels=128 context_width=64 on PA-100K)")
    add_common_arguments(ap)
    args = ap.parse_args()
    seeds, command, threads, mlcap, out, start = start_comparison(args, "examples/compare_arnn.py")
    data, summary, inputs, predict_inputs = prepare_dataset(mlcap, out, args)
    metrics: dict[str, list[dict]] = {}
    lengths: dict[str, list[float]] = {}
    trends: dict[str, list[dict]] = {}
    glimpses: dict[str, list[float]] = {}

    def predict_and_evaluate(key: str, run: Path, preds: Path, *extra: str) -> None:
        if not (args.reuse and preds.is_file() and preds.stat().st_size):
            mlcap("predict", "--run", str(run), "--data", str(data), "--device", args.device, *predict_inputs,
                  *extra, stdout_path=preds, log_path=run / "log.txt")
        metrics.setdefault(key, []).append(json.loads(mlcap(
            "evaluate", "--data", str(data), "--metrics", "f1,map,nplus", "--top-k", str(args.top_k), "--json",
            str(preds))))
        lengths.setdefault(key, []).append(labels_per_image(preds))
        glimpses.setdefault(key, []).append(glimpses_per_image(preds))

    dim = ["-o", f"dim={args.dim}"] + [x for o in args.option for x in ("-o", o)]
    for seed in seeds:
        base = ["--data", str(data), "--seed", str(seed), "--device", args.device, *inputs, "--no-augment"]
        root = out / f"seed{seed}"
        cnn = root / CNN
        t0 = time.time()
        if not (args.reuse and (cnn / "pretrain-cnn.best.pt").is_file()):
            shutil.rmtree(cnn, ignore_errors=True)
            cnn.mkdir(parents=True)
            mlcap("pretrain-cnn", "-m", "arnn", "--run", str(cnn), *base, *dim, "--epochs", str(args.cnn_epochs),
                  log_path=cnn / "log.txt")
        predict_and_evaluate(CNN, cnn, root / "cnn.jsonl", "--stage", "pretrain-cnn")
        log(f"seed {seed}: pretrain-cnn {time.time() - t0:.0f} s (total {time.time() - start:.0f} s)")
        for key, _, opts in VARIANTS:
            run, preds = root / key, root / f"{key}.jsonl"
            t0 = time.time()
            if not (args.reuse and preds.is_file() and (run / "finetune.best.json").is_file()):
                shutil.rmtree(run, ignore_errors=True)
                preds.unlink(missing_ok=True)
                run.mkdir(parents=True)
                flags = [x for o in opts for x in ("-o", o)]
                mlcap("finetune", "-m", "arnn", "--run", str(run), *base, *dim, *flags,
                      "--init-from", str(cnn / "pretrain-cnn.best.pt"), "--epochs", str(args.epochs),
                      "--step-size", str(args.step_size), "--group-start", f"backbone={args.backbone_start}",
                      log_path=run / "log.txt")
            predict_and_evaluate(key, run, preds)
            trends.setdefault(key, []).append(history_trend(run))
            log(f"seed {seed}: {key} {time.time() - t0:.0f} s (total {time.time() - start:.0f} s)")
    wall = time.time() - start

    def cell(key: str, metric: str) -> str:
        values = [m.get(metric) for m in metrics[key]]
        if metric == "N+":
            mean = statistics.fmean(values)
            return f"{mean:.1f}" + (f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else "")
        return fmt(values)

    def trend(key: str) -> str:
        ts = [t for t in trends[key] if t]
        if not ts:
            return "no REINFORCE"
        mean = lambda name, i: statistics.fmean(t[name][i] for t in ts)
        return (f"reward {mean('reward', 0):.2f} -> {mean('reward', 1):.2f}, value error "
                f"{mean('value', 0):.2f} -> {mean('value', 1):.2f}")

    print(f"`{command}`" + (f" (OMP_NUM_THREADS={threads})" if threads else ""))
    print()
    print(describe_dataset(args, summary) + f" pretrain-cnn {args.cnn_epochs} epochs; finetune {args.epochs} "
          f"epochs, lr x 0.1 every {args.step_size}, backbone trained from epoch {args.backbone_start}"
          f"{' (frozen: cached features)' if args.dataset == 'pa100k' else ''}; `-o dim={args.dim}`"
          + "".join(f" `-o {o}`" for o in args.option) + ", "
          f"T = 10, K = 4. Test split, top-{args.top_k}, %, mean ± sample std over seeds {args.seeds}; wall time "
          f"{wall / 60:.1f} min" + (" (--reuse: runs found under --out were not retrained)" if args.reuse else "")
          + ".")
    print()
    print("| model | " + " | ".join(name for name, _ in COLUMNS) + " |")
    print("| --- " * (len(COLUMNS) + 1) + "|")
    for key, label, _ in VARIANTS:
        print(f"| {label} | " + " | ".join(cell(key, m) for _, m in COLUMNS) + " |")
    print("| CNN alone (pretrain-cnn, BCE) | " + " | ".join(cell(CNN, m) for _, m in COLUMNS) + " |")
    print()
    print("Per test image (before top-k), emitted glimpses / distinct labels: "
          + ", ".join(f"{key} {statistics.fmean(glimpses[key]):.2f} / {statistics.fmean(lengths[key]):.2f}"
                      for key, *_ in VARIANTS)
          + f" (ground truth {summary['splits']['test'].get('labels_per_image_mean', float('nan')):.2f}). "
          + "Training, first -> last epoch, mean over seeds: "
          + "; ".join(f"{key} {trend(key)}" for key, *_ in VARIANTS) + ".")


if __name__ == "__main__":
    main()
