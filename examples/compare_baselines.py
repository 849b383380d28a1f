"""The seeds' comparison baselines next to S-CNN-RNN, same backbone, data and budget (S-CNN-RNN, Table 1).

    python examples/compare_baselines.py [--dataset synthetic|pa100k] [--out /tmp/baselines-out]
        [--images 1000] [--seeds 0,1,2] [--cnn-epochs 15] [--rnn-epochs 10] [--epochs 6]
        [--device auto] [--threads 1] [--reuse]

Rows, each with its method's paper recipe (``mlcap methods --recipes``) and only the epochs set:

* ``bce``, ``bce (softmax)``, ``bce (warp)``: the CNN alone, ``pretrain-cnn -m bce -o loss=...``
  for ``--cnn-epochs``; softmax and warp predict their top 3 labels, as the seed tables score them.
* ``scnnrnn``: ``pretrain-cnn`` (``--cnn-epochs``), ``pretrain-rnn`` (``--rnn-epochs``), ``finetune``
  (``--epochs``), rare-first, greedy.
* ``cnnrnn`` (frequent-first, beam 3) and ``ria`` (rare-first, greedy): ``finetune --init-from`` the
  scnnrnn run's own ``pretrain-cnn`` checkpoint (the stage is the same model and recipe in all
  three methods), for ``--rnn-epochs + --epochs`` epochs: as many epochs of label-RNN training as
  scnnrnn's two RNN stages.

``--equal-joint`` adds the row ``scnnrnn (equal joint epochs)``: the scnnrnn run's ``pretrain-cnn``
and ``pretrain-rnn`` checkpoints, then ``finetune`` for ``--rnn-epochs + --epochs`` epochs, so its
CNN gets as many joint updates as cnnrnn's and ria's.

Metrics: ``mlcap evaluate --metrics f1,map --json`` on the test split, in percent, mean ± sample
std over the seeds. The command and the budget are printed above the table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from comparison import (add_common_arguments, add_dataset_arguments, describe_dataset, fmt, log, prepare_dataset,
                        start_comparison)

CNN_ROWS = [("bce", "bce", []), ("bce-softmax", "bce (softmax)", ["-o", "loss=softmax"]),
            ("bce-warp", "bce (warp)", ["-o", "loss=warp"])]
RNN_ROWS = [("cnnrnn", "cnnrnn (frequent-first, beam 3)"), ("ria", "ria (rare-first, greedy)")]
COLUMNS = ["C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1", "mAP"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(ap, default_images=1000)
    ap.add_argument("--out", type=Path, default=Path("/tmp/baselines-out"))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--cnn-epochs", type=int, default=15)
    ap.add_argument("--rnn-epochs", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--equal-joint", action="store_true", help="add scnnrnn with rnn-epochs + epochs joint epochs")
    add_common_arguments(ap)
    args = ap.parse_args()
    seeds, command, threads, mlcap, out, start = start_comparison(args, "examples/compare_baselines.py")
    data, summary, inputs, predict_inputs = prepare_dataset(mlcap, out, args)
    metrics: dict[str, list[dict]] = {}

    def run_stages(run: Path, stages: list[tuple[str, list[str]]], seed: int) -> None:
        preds = run / "test.jsonl"
        if args.reuse and preds.is_file() and preds.stat().st_size:
            return
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        t0 = time.time()
        for stage, flags in stages:
            mlcap(stage, "--run", str(run), "--data", str(data), "--seed", str(seed), "--device", args.device,
                  *inputs, *flags, log_path=run / "log.txt")
        mlcap("predict", "--run", str(run), "--data", str(data), "--device", args.device, *predict_inputs,
              stdout_path=preds, log_path=run / "log.txt")
        log(f"seed {seed}: {run.name} {time.time() - t0:.0f} s (total {time.time() - start:.0f} s)")

    def equal_joint(root: Path, seed: int) -> None:
        run = root / "scnnrnn-equal"
        if args.reuse and (run / "test.jsonl").is_file() and (run / "test.jsonl").stat().st_size:
            return
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        for path in (root / "scnnrnn").iterdir():
            if path.name == "run.json" or path.name.startswith(("pretrain-cnn.", "pretrain-rnn.")):
                shutil.copy2(path, run / path.name)
        mlcap("finetune", "-m", "scnnrnn", "--run", str(run), "--data", str(data), "--seed", str(seed), "--device",
              args.device, *inputs, "--epochs", str(args.rnn_epochs + args.epochs), log_path=run / "log.txt")
        mlcap("predict", "--run", str(run), "--data", str(data), "--device", args.device, *predict_inputs,
              stdout_path=run / "test.jsonl", log_path=run / "log.txt")

    def evaluate(key: str, run: Path) -> None:
        metrics.setdefault(key, []).append(json.loads(mlcap(
            "evaluate", "--data", str(data), "--metrics", "f1,map", "--json", str(run / "test.jsonl"))))

    for seed in seeds:
        root = out / f"seed{seed}"
        for key, _, flags in CNN_ROWS:
            run_stages(root / key, [("pretrain-cnn", ["-m", "bce", *flags, "--epochs", str(args.cnn_epochs)])], seed)
            evaluate(key, root / key)
        scnnrnn = ["-m", "scnnrnn"]
        run_stages(root / "scnnrnn", [("pretrain-cnn", [*scnnrnn, "--epochs", str(args.cnn_epochs)]),
                                      ("pretrain-rnn", [*scnnrnn, "--epochs", str(args.rnn_epochs)]),
                                      ("finetune", [*scnnrnn, "--epochs", str(args.epochs)])], seed)
        evaluate("scnnrnn", root / "scnnrnn")
        if args.equal_joint:
            equal_joint(root, seed)
            evaluate("scnnrnn-equal", root / "scnnrnn-equal")
        cnn = root / "scnnrnn" / "pretrain-cnn.best.pt"
        for key, _ in RNN_ROWS:
            run_stages(root / key, [("finetune", ["-m", key, "--init-from", str(cnn),
                                                  "--epochs", str(args.rnn_epochs + args.epochs)])], seed)
            evaluate(key, root / key)

    print(f"`{command}` ({threads or 'default'} threads; {time.time() - start:.0f} s)\n")
    print(describe_dataset(args, summary) + f" Budget: CNN {args.cnn_epochs} epochs; scnnrnn LSTM "
          f"{args.rnn_epochs} + joint {args.epochs}; cnnrnn and ria {args.rnn_epochs + args.epochs} joint epochs "
          f"from scnnrnn's CNN. Seeds {','.join(map(str, seeds))}: mean ± std, percent.\n")
    print("| method | " + " | ".join(COLUMNS) + " |")
    print("| --- |" + " --- |" * len(COLUMNS))
    names = {k: n for k, n, _ in CNN_ROWS} | dict(RNN_ROWS) | {
        "scnnrnn": "scnnrnn (rare-first, greedy)",
        "scnnrnn-equal": f"scnnrnn, {args.rnn_epochs + args.epochs} joint epochs (`--equal-joint`)"}
    equal = ["scnnrnn-equal"] if args.equal_joint else []
    for key in [k for k, _, _ in CNN_ROWS] + ["scnnrnn"] + equal + [k for k, _ in RNN_ROWS]:
        print(f"| {names[key]} | " + " | ".join(fmt([m.get(c) for m in metrics[key]]) for c in COLUMNS) + " |")


if __name__ == "__main__":
    main()
