"""Alignment cost per image on COCO-like label sets, next to the paper's figures.

COCO-like: 80 classes, 1-18 labels per image, mean about 2.9 (COCO train2014:
2.9). Costs are random -log p over 19 decoding steps; batches of 32 images, as
in training. Prints ms per image for MLA and PLA.

    python benchmarks/alignment_speed.py [--images 20000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mlcap.nn.alignment import align

PAPER_MS = {"mla": 0.80, "pla": 0.25}   # Yazici et al., CVPR 2020, per image


def coco_like_sets(rng, n_images: int, K: int = 80) -> list[list[int]]:
    counts = np.clip(rng.geometric(1 / 2.9, n_images), 1, 18)
    return [rng.choice(K, size=int(c), replace=False).tolist() for c in counts]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    sets = coco_like_sets(rng, args.images)
    counts = np.array([len(s) for s in sets])
    T, K = 19, 80
    logits = rng.normal(size=(args.images, T, K + 1)).astype(np.float32)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    cost, predicted = -logp[..., :K], logp.argmax(-1)
    print(f"{args.images} images, labels per image: mean {counts.mean():.2f}, max {counts.max()}, "
          f"{T} steps, {K} classes, batches of {args.batch}")
    print(f"{'mode':<5} {'ms/image':>9} {'paper':>7} {'speed-up':>9}")
    for mode in ("mla", "pla"):
        start = time.perf_counter()
        for i in range(0, args.images, args.batch):
            sl = slice(i, i + args.batch)
            align(cost[sl], sets[sl], end=K, mode=mode, predicted=predicted[sl])
        ms = (time.perf_counter() - start) * 1000 / args.images
        print(f"{mode:<5} {ms:>9.4f} {PAPER_MS[mode]:>7.2f} {PAPER_MS[mode] / ms:>8.1f}x")


if __name__ == "__main__":
    main()
