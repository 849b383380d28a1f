#!/usr/bin/env bash
# Every installed method's stages for one tiny epoch on CUDA, with bf16 and with fp16 autocast
# (fp16 with a GradScaler), then predict and evaluate; then 2 processes under torchrun when the
# machine has 2 GPUs or more. Run it where a GPU is: `bash benchmarks/gpu_smoke.sh [OUT]`.
# Exit status: 0 when every step passed; the failing command is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/mlcap-gpu-smoke}
rm -rf "$OUT"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
mlcap --version
mlcap prepare synthetic --out "$OUT/data" --images 200 --seed 0 > /dev/null
METHODS=$(mlcap methods --json | python -c "import json, sys; print(' '.join(json.loads(l)['name'] for l in sys.stdin))")
for dtype in bfloat16 float16; do
  for method in $METHODS; do
    STAGES=$(mlcap methods --json | python -c "import json, sys; m = {d['name']: d for d in map(json.loads, sys.stdin)}['$method']; print(' '.join(s for s in m['stages'] if s != 'pretrain-tags'))")
    RUN="$OUT/runs/$method-$dtype"
    for stage in $STAGES; do
      mlcap stage "$stage" --method "$method" --data "$OUT/data" --run "$RUN" --epochs 1 --batch-size 16 \
        --device cuda --amp --amp-dtype "$dtype" > /dev/null 2> "$RUN.$stage.err" \
        || { echo "FAILED: $method $stage ($dtype): $(tail -1 "$RUN.$stage.err")"; exit 1; }
    done
    mlcap predict --run "$RUN" --data "$OUT/data" --split test --device cuda > "$RUN.jsonl" 2> /dev/null
    printf '%-10s %-9s ' "$method" "$dtype"
    mlcap evaluate --data "$OUT/data" --split test --metrics f1,map --json "$RUN.jsonl" \
      | python -c "import json, sys; d = json.load(sys.stdin); print(' '.join(f'{k} {v:.3f}' for k, v in d.items() if k in ('O-F1', 'C-F1', 'mAP')))"
  done
done
# --decode gpu (nvJPEG) and --compile: the synthetic images rewritten as JPEG content (names kept)
python - "$OUT/data" <<'PY'
import sys
from pathlib import Path
from PIL import Image
for p in Path(sys.argv[1], "images").iterdir():
    Image.open(p).convert("RGB").save(p, "JPEG", quality=90)
PY
for decode in torchvision gpu; do
  mlcap pretrain-cnn --method bce --data "$OUT/data" --run "$OUT/runs/decode-$decode" --epochs 1 --device cuda \
    --decode "$decode" --compile --amp > /dev/null 2> "$OUT/runs/decode-$decode.err" \
    || { echo "FAILED: --decode $decode --compile"; tail -5 "$OUT/runs/decode-$decode.err"; exit 1; }
  echo "pretrain-cnn --decode $decode --compile --amp: ok"
done
if [ "$(python -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
  torchrun --nproc-per-node 2 -m mlcap -- pretrain-cnn --method bce --data "$OUT/data" --run "$OUT/runs/ddp" \
    --epochs 1 --device cuda --sync-bn --amp > /dev/null && echo "torchrun 2 GPUs (NCCL, SyncBatchNorm): ok"
fi
echo "gpu smoke: all passed"
