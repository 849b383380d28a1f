"""Label orders compared on the synthetic dataset: one row per order, plus bce.

    python examples/compare_orders.py [--out orders-out] [--epochs 8] [--images 2000]

Same backbone (smallcnn), same seed and the same budget for every row: one
bce encoder (pretrain-cnn, 15 epochs) initialises every orderless run, which
then fine-tunes encoder and attention LSTM for --epochs with the given order.
Prints a Markdown table: C-P/C-R/C-F1/O-P/O-R/O-F1, duplicate ratio,
order-rigidness, and the training loss (RNN cross-entropy) of the last epoch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ORDERS = ["frequent", "rare", "dictionary", "random", "mla", "pla"]
METRICS = ["C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1", "dup", "rigid"]


def mlcap(*args: str, stdout=None) -> str:
    result = subprocess.run([sys.executable, "-m", "mlcap", *args], check=True, text=True,
                            stdout=stdout or subprocess.PIPE)
    return result.stdout if stdout is None else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("orders-out"))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--cnn-epochs", type=int, default=15)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=3e-4)
    args = ap.parse_args()
    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    data = out / "data"
    mlcap("prepare", "synthetic", "--out", str(data), "--images", str(args.images), "--seed", "0", "--json")

    rows = {}
    start = time.time()
    bce = out / "bce"
    summary = json.loads(mlcap("pretrain-cnn", "-m", "bce", "--data", str(data), "--run", str(bce),
                               "--epochs", str(args.cnn_epochs), "--seed", "0"))
    with open(out / "bce.jsonl", "w") as f:
        mlcap("predict", "--run", str(bce), "--data", str(data), stdout=f)
    rows["bce"] = summary["loss"]
    for order in ORDERS:
        run = out / order
        summary = json.loads(mlcap("finetune", "-m", "orderless", "--data", str(data), "--run", str(run),
                                   "--init-from", str(bce / "pretrain-cnn.pt"), "--order", order,
                                   "--epochs", str(args.epochs), "--lr", str(args.lr), "--seed", "0"))
        with open(out / f"{order}.jsonl", "w") as f:
            mlcap("predict", "--run", str(run), "--data", str(data), stdout=f)
        rows[order] = summary["rnn"]

    print(f"\nsynthetic test split, {args.images} images, smallcnn; bce {args.cnn_epochs} epochs, "
          f"orderless +{args.epochs} epochs (lr {args.lr}); {time.time() - start:.0f} s\n")
    print("| order | " + " | ".join(METRICS) + " | train loss |")
    print("| --- " * (len(METRICS) + 2) + "|")
    for name, loss in rows.items():
        m = json.loads(mlcap("evaluate", "--data", str(data), "--metrics", "f1,duplicates,rigidness", "--json",
                             str(out / f"{name}.jsonl")))
        cells = [f"{m[k]:.3f}" if m.get(k) is not None else "-" for k in METRICS]
        label = "bce (CNN only)" if name == "bce" else f"orderless {name}"
        print(f"| {label} | " + " | ".join(cells) + f" | {loss:.4f} |")


if __name__ == "__main__":
    main()
