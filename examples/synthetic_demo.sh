#!/usr/bin/env bash
# The whole pipeline on the embedded synthetic dataset: one multi-label table (bce vs scnnrnn),
# then one captioning row (scnnrnn --task caption: CIDEr, BLEU-4, concept F1).
# Run through `make demo`, which sets up .venv first. Output goes to $OUT (default demo-out/).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-demo-out}
CFG=examples/synthetic.toml
rm -rf "$OUT"

# examples/synthetic.toml asks for bfloat16 autocast with channels-last convolutions (1.6x faster
# on a CPU with bf16 units, and on a GPU). A CPU without them emulates bf16 many times slower, so
# there the demo runs in float32: same steps, slightly different figures from README's.
PRECISION=()
if ! python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() or torch.cpu._is_avx512_bf16_supported() \
    or torch.cpu._is_amx_tile_supported() else 1)"; then
    PRECISION=(--no-amp --no-channels-last)
    echo "demo: this CPU has no bf16 units: training in float32 (--no-amp --no-channels-last)" >&2
fi

mlcap prepare synthetic --out "$OUT/data" --images 2000 --seed 0

# The CNN is trained once. bce and scnnrnn's stage 1 share the recipe (Adam 1e-3, BCE on the
# concepts, selected by val loss); bce's run is bit for bit `scnnrnn pretrain-cnn -o
# loss_reduction=mean` (L_u averaged over the concepts, not summed as in eq. 5), so it is both
# the bce row and the CNN that scnnrnn's LSTM stages and the captioner start from.
mlcap pretrain-cnn --config "$CFG" "${PRECISION[@]}" --method bce --data "$OUT/data" --run "$OUT/bce"
mlcap predict --run "$OUT/bce" --data "$OUT/data" --split test > "$OUT/bce.jsonl"
CNN="$OUT/bce/pretrain-cnn.best.pt"

mlcap pretrain-rnn --config "$CFG" "${PRECISION[@]}" --method scnnrnn --data "$OUT/data" --run "$OUT/scnnrnn" --init-from "$CNN"
mlcap finetune --config "$CFG" "${PRECISION[@]}" --method scnnrnn --data "$OUT/data" --run "$OUT/scnnrnn"
mlcap predict --run "$OUT/scnnrnn" --data "$OUT/data" --split test > "$OUT/scnnrnn.jsonl"

mlcap evaluate --data "$OUT/data" --split test --metrics f1,map,nplus,duplicates "$OUT/bce.jsonl" "$OUT/scnnrnn.jsonl"

# captioning: the same concept CNN, a word LSTM on top (beam 3)
CAP=(--config "$CFG" "${PRECISION[@]}" --method scnnrnn --task caption --data "$OUT/data" --run "$OUT/captions")
mlcap pretrain-rnn "${CAP[@]}" --init-from "$CNN" --epochs 5 --val-every 1
mlcap finetune "${CAP[@]}" --epochs 1
mlcap predict --run "$OUT/captions" --data "$OUT/data" --split test --beam 3 > "$OUT/captions.jsonl"
mlcap evaluate --data "$OUT/data" --split test --metrics f1,bleu,cider "$OUT/captions.jsonl"

echo "demo: $((SECONDS / 60)) min $((SECONDS % 60)) s (after set-up)" >&2
