#!/usr/bin/env bash
# The whole pipeline on the embedded synthetic dataset: one multi-label table (bce vs scnnrnn),
# then one captioning row (scnnrnn --task caption: CIDEr, BLEU-4, concept F1).
# Run through `make demo`, which sets up .venv first. Output goes to $OUT (default demo-out/).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-demo-out}
CFG=examples/synthetic.toml
rm -rf "$OUT"

mlcap prepare synthetic --out "$OUT/data" --images 2000 --seed 0

mlcap pretrain-cnn --config "$CFG" --method bce --data "$OUT/data" --run "$OUT/bce"
mlcap predict --run "$OUT/bce" --data "$OUT/data" --split test > "$OUT/bce.jsonl"

for stage in pretrain-cnn pretrain-rnn finetune; do
    mlcap "$stage" --config "$CFG" --method scnnrnn --data "$OUT/data" --run "$OUT/scnnrnn"
done
mlcap predict --run "$OUT/scnnrnn" --data "$OUT/data" --split test > "$OUT/scnnrnn.jsonl"

mlcap evaluate --data "$OUT/data" --split test --metrics f1,map,nplus,duplicates "$OUT/bce.jsonl" "$OUT/scnnrnn.jsonl"

# captioning: the concept CNN of the run above, a word LSTM on top (beam 3)
CAP=(--config "$CFG" --method scnnrnn --task caption --data "$OUT/data" --run "$OUT/captions")
mlcap pretrain-rnn "${CAP[@]}" --init-from "$OUT/scnnrnn/pretrain-cnn.pt" --epochs 5
mlcap finetune "${CAP[@]}" --epochs 2
mlcap predict --run "$OUT/captions" --data "$OUT/data" --split test --beam 3 > "$OUT/captions.jsonl"
mlcap evaluate --data "$OUT/data" --split test --metrics f1,bleu,cider "$OUT/captions.jsonl"
