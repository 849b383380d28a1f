"""S-CNN-RNN captioning vs its NIC ablations on the synthetic dataset (the seed's Table 4 rows).

    python examples/compare_captioning.py [--out captions-out]

Same smallcnn backbone, seed and epoch budget for every row. scnnrnn and nic-deeply start from
one concept-supervised CNN (bce, --cnn-epochs) and train the word LSTM (--rnn-epochs, CNN fixed),
then fine-tune jointly (--epochs). nic-f has no concept supervision: its CNN learns only from the
caption loss, jointly from scratch, for the same total number of epochs. Beam 3.
Prints a Markdown table: CIDEr, BLEU-4, METEOR, ROUGE-L and concept F1 (C-F1, O-F1).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

COLUMNS = ["CIDEr", "BLEU-4", "METEOR", "ROUGE-L", "C-F1", "O-F1"]


def mlcap(*args) -> str:
    return subprocess.run([sys.executable, "-m", "mlcap", *map(str, args)], check=True, text=True,
                          stdout=subprocess.PIPE).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("captions-out"))
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--cnn-epochs", type=int, default=15)
    ap.add_argument("--rnn-epochs", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    data = out / "data"
    start = time.time()
    mlcap("prepare", "synthetic", "--out", data, "--images", args.images, "--seed", 0, "--json")
    mlcap("pretrain-cnn", "-m", "bce", "--data", data, "--run", out / "cnn", "--epochs", args.cnn_epochs)
    cnn = out / "cnn" / "pretrain-cnn.pt"
    common = ["-m", "scnnrnn", "--task", "caption", "--data", data, "--seed", 0]
    rows = {}
    for variant in ("nic-f", "nic-deeply", "scnnrnn"):
        run = out / variant
        opts = [*common, "--run", run, "--option", f"variant={variant}"]
        if variant == "nic-f":
            total = args.cnn_epochs + args.rnn_epochs + args.epochs
            mlcap("finetune", *opts, "--epochs", total)
        else:
            mlcap("pretrain-rnn", *opts, "--init-from", cnn, "--epochs", args.rnn_epochs)
            mlcap("finetune", *opts, "--epochs", args.epochs, "--lr", 3e-4)
        (out / f"{variant}.jsonl").write_text(mlcap("predict", "--run", run, "--data", data, "--beam", 3))
        rows[variant] = json.loads(mlcap("evaluate", "--data", data, "--metrics", "f1,bleu,meteor,rouge,cider",
                                         "--json", out / f"{variant}.jsonl"))
    print(f"\nsynthetic test split ({args.images} images, seed 0), smallcnn, beam 3; {time.time() - start:.0f} s\n")
    print("| method | " + " | ".join(COLUMNS) + " |")
    print("| --- " * (len(COLUMNS) + 1) + "|")
    for name, m in rows.items():
        print(f"| {name} | " + " | ".join(f"{m[c]:.3f}" for c in COLUMNS) + " |")


if __name__ == "__main__":
    main()
