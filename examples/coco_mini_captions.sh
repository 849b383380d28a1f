#!/usr/bin/env bash
# S-CNN-RNN captioning on real images: COCO-mini (coco/coco_mini under the data root: DATA_ROOT,
# default $MLCAP_DATA; or ROOT=the coco_mini folder itself), frozen EfficientNet-Lite0 ImageNet
# features (offline weights), scored on the 79 val2017 images.
# Prints one table of concept F1 and the COCO caption metrics (the COCO-mini figures of docs/results/captioning.md).
set -euo pipefail
DATA_ROOT=${DATA_ROOT:-${MLCAP_DATA:-}}
if [[ -z ${ROOT:-} ]]; then
    if [[ -z $DATA_ROOT ]]; then
        echo "$0: no data root: set DATA_ROOT (the folder that holds coco/coco_mini) or MLCAP_DATA" >&2
        exit 2
    fi
    ROOT=$DATA_ROOT/coco/coco_mini
fi
[[ $ROOT == /* ]] || ROOT=$PWD/$ROOT        # relative to where the script was started
cd "$(dirname "$0")/.."
OUT=${OUT:-coco-mini-out}
rm -rf "$OUT"
mlcap prepare coco --root "$ROOT" --out "$OUT/data" --labels concepts --concepts 200 --json > /dev/null
mlcap extract-features --data "$OUT/data" --backbone efficientnet_lite0 --weights imagenet --out "$OUT/features.h5" > /dev/null
RUN=(--method scnnrnn --task caption --data "$OUT/data" --run "$OUT/run" --backbone efficientnet_lite0
     --weights imagenet --features "$OUT/features.h5" --batch-size 16 --seed 0)
mlcap pretrain-cnn "${RUN[@]}" --epochs 10 > /dev/null
mlcap pretrain-rnn "${RUN[@]}" --epochs 10 > /dev/null
mlcap finetune "${RUN[@]}" --epochs 5 > /dev/null
mlcap predict --run "$OUT/run" --data "$OUT/data" --features "$OUT/features.h5" --beam 3 > "$OUT/captions.jsonl"
mlcap evaluate --data "$OUT/data" --split test --metrics f1,bleu,meteor,rouge,cider "$OUT/captions.jsonl"
