"""Training from a feature cache larger than its memory budget (``--features-memory``).

Writes a prepared dataset of synthetic labels and, per size, an HDF5 cache laid out as
``mlcap extract-features`` writes it (chunked per image, lzf) with ResNet-50-shaped features:
pooled 2048 + spatial 2048x7x7 float32, 409,600 bytes per image; the values are ReLU'd standard
normals (half zeros, compressible like real activations). A size is the float32 bytes of the
features (GB = 2**30), not the file's size on disk (printed too).

Each size trains one epoch of ``mlcap finetune -m orderless`` (attention over the spatial maps,
so they are read; a small decoder) through the real CLI, in a subprocess, with
``--features-memory 1``; the first size also trains with a budget large enough to hold it all.
Printed per run: the training images/s of the epoch (from the run's history), and the peak RSS
of the training process (``os.wait4``'s ``ru_maxrss``).

    python benchmarks/feature_streaming.py [--sizes-gb 3,5] [--threads 1] [--dir DIR]

The caches are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

POOLED, SPATIAL = 2048, (2048, 7, 7)
ROW_BYTES = (POOLED + int(np.prod(SPATIAL))) * 4
GIB = 1 << 30
LABELS = [f"label{k:02d}" for k in range(20)]
VAL_IMAGES = 64


def write_dataset(root: Path, n_train: int) -> None:
    from mlcap.data.prepared import Sample, write_prepared

    rng = np.random.default_rng(0)

    def samples(prefix: str, n: int) -> list:
        return [Sample(id=f"{prefix}{i:07d}", image=f"images/{prefix}{i:07d}.png",
                       labels=sorted(rng.choice(LABELS, size=int(rng.integers(1, 5)), replace=False).tolist()))
                for i in range(n)]

    write_prepared(root, "synthetic-features", LABELS, {"train": samples("t", n_train), "val": samples("v", VAL_IMAGES)})


def write_cache(path: Path, data: Path, block: int = 256) -> None:
    """The layout of ``mlcap.features.extract.extract``, with random features."""
    import h5py

    from mlcap.data.prepared import PreparedDataset

    ds = PreparedDataset(data)
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        f.attrs.update({"backbone": "resnet50", "weights": "", "image_size": 224, "dataset": ds.name,
                        "labels": json.dumps(ds.labels)})
        for split in ("train", "val"):
            ids = [s.id for s in ds.samples(split)]
            n = len(ids)
            g = f.create_group(split)
            g.create_dataset("ids", data=np.array(ids, dtype=h5py.string_dtype()))
            g.create_dataset("valid", data=np.ones(n, dtype=bool))
            pooled = g.create_dataset("pooled", shape=(n, POOLED), dtype="f4", chunks=(1, POOLED), compression="lzf")
            spatial = g.create_dataset("spatial", shape=(n, *SPATIAL), dtype="f4", chunks=(1, *SPATIAL),
                                       compression="lzf")
            for a in range(0, n, block):
                b = min(a + block, n)
                maps = np.maximum(rng.standard_normal((b - a, *SPATIAL), dtype=np.float32), 0)
                spatial[a:b] = maps
                pooled[a:b] = maps.mean(axis=(2, 3))
            g.attrs["done"] = n


def train(data: Path, cache: Path, run: Path, memory: float, threads: int) -> dict:
    """One epoch in a subprocess: its training images/s and peak RSS."""
    cmd = [sys.executable, "-m", "mlcap", "finetune", "-m", "orderless", "--data", str(data), "--run", str(run),
           "--backbone", "resnet50", "--features", str(cache), "--features-memory", str(memory), "--epochs", "1", "--batch-size", "32",
           "--order", "rare", "--schedule", "constant", "--device", "cpu",
           "-o", "hidden=64", "-o", "embed_dim=32", "-o", "attention=64"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"training failed:\n{err}")
    history = [json.loads(l) for l in (run / "finetune.history.jsonl").read_text().splitlines() if l.strip()]
    return {"images_per_s": history[0]["images_per_s"], "peak_rss_gb": usage.ru_maxrss * 1024 / GIB,
            "wall_s": time.time() - start}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes-gb", default="3,5", help="cache sizes, float32 feature GB (2**30 bytes)")
    ap.add_argument("--memory-gb", type=float, default=1.0, help="--features-memory of the streamed runs")
    ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the training process")
    ap.add_argument("--dir", type=Path, default=None, help="where the caches go (default: a temporary folder)")
    args = ap.parse_args()
    sizes = [float(s) for s in args.sizes_gb.split(",")]
    root = Path(tempfile.mkdtemp(prefix="mlcap-streaming-", dir=args.dir))
    print(f"features per image: pooled {POOLED} + spatial {'x'.join(map(str, SPATIAL))} float32 = {ROW_BYTES} bytes; "
          f"training: orderless finetune, 1 epoch, batch 32, {args.threads} thread(s), cpu")
    try:
        for k, size in enumerate(sizes):
            n = int(size * GIB // ROW_BYTES) - VAL_IMAGES
            data, cache = root / f"data{k}", root / f"cache{k}.h5"
            write_dataset(data, n)
            tic = time.time()
            write_cache(cache, data)
            print(f"{size:g} GB cache: {n} train + {VAL_IMAGES} val images, {cache.stat().st_size / GIB:.2f} GB on "
                  f"disk (lzf), written in {time.time() - tic:.0f} s")
            budgets = [args.memory_gb] + ([2 * size + 1] if k == 0 else [])
            for memory in budgets:
                got = train(data, cache, root / f"run{k}-{memory:g}", memory, args.threads)
                held = "all held in memory" if memory > size else "streamed beyond the budget"
                print(f"  --features-memory {memory:g} ({held}): {got['images_per_s']:.1f} images/s, "
                      f"peak RSS {got['peak_rss_gb']:.2f} GB, wall {got['wall_s']:.0f} s")
            cache.unlink()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
