"""Images/s of mlcap's input pipeline and training step against their ceilings.

    python benchmarks/throughput.py [--data DIR | --data-root DIR] [--backbone resnet18] [--image-size 224]
        [--images 256] [--batch-size 32] [--workers 0] [--threads 2] [--amp] [--channels-last]
        [--device cpu|cuda] [--repeats 1] [--json]

Five measurements over the same ``--images`` training images (the first N of the train split),
each warmed up on ``--warmup`` batches first, then timed over all N:

  (a)  raw decode + resize with PIL, as mlcap decodes (open, RGB, bilinear resize), in
       ``--workers`` processes (one when 0); (a') the same with ``torchvision.io.decode_jpeg``
       for the JPEG files (its own line; n/a without JPEGs);
  (b)  mlcap's loader alone: ``mlcap.data.loader.make_loader`` batches, no model; (b') for
       reference, the DataLoader of (d) alone;
  (c)  mlcap's training step: ``prepare_stage("pretrain-cnn", TrainOptions(method="bce", ...))``
       and ``train_one_epoch`` as ``mlcap/training/loop.py`` calls it;
  (d)  a hand-written PyTorch loop with no mlcap code: an ImageFolder-style Dataset (PIL, RGB,
       bilinear resize, to tensor, normalise), DataLoader, the torchvision backbone of the same
       name (smallcnn: an equivalent CNN) with a linear head, BCEWithLogits, Adam
       (benchmarks/handwritten_loop.py, which imports nothing of mlcap).

With ``--repeats R`` every measurement runs R times, odd rounds with (d) before (c) and (b')
before (b), and the median is shown (the machine's load drifts). Targets: loader >= 0.9 x raw
PIL decode; mlcap step >= 0.95 x hand-written step. The decoded-image cache
(``--image-cache-mb``) is off in (b) and (c): every image is decoded, as in (a) and (d).
Default data: PA-100K's real JPEGs from pa100k/ under the data root (see --data-root /
MLCAP_DATA) when it is given and holds them (prepared as benchmarks/pa100k.py does), else
``mlcap prepare synthetic``. Nothing is downloaded (random init).
On a GPU (``--device cuda``) it also prints the mean GPU utilisation during (c) and (d);
``--backbone resnet101 --image-size 448`` is the GPU configuration of docs/performance.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from handwritten_loop import GpuUtilisation, hand_loader_alone, hand_step, read_rows, sync   # beside this file

TARGETS = {"loader": 0.90, "step": 0.95}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="a prepared mlcap dataset (default: PA-100K JPEGs, else synthetic)")
    ap.add_argument("--data-root", type=Path, metavar="DIR", default=os.environ.get("MLCAP_DATA") or None,
                    help="the folder whose pa100k/ is the default data (default: $MLCAP_DATA; neither: synthetic)")
    ap.add_argument("--backbone", default="resnet18", help="smallcnn or a torchvision ResNet (resnet18/34/50/101)")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--images", type=int, default=256, help="images timed per measurement")
    ap.add_argument("--warmup", type=int, default=2, help="batches run before each timed pass")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (and raw-decode processes)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--amp", action="store_true", help="bfloat16 autocast in (c) and (d)")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--decode", default="pil", choices=["pil", "torchvision", "gpu"],
                    help="mlcap's decoder in (b) and (c) (--decode); (b)/(a) divides by the matching raw decode")
    ap.add_argument("--repeats", type=int, default=1, help="rounds of all measurements; the median is shown")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of the tables")
    return ap.parse_args(argv)


# ---------------------------------------------------------------- data


def source_dataset(args, tmp: Path) -> tuple[Path, str]:
    """``(prepared dataset, description)``: ``--data``, else PA-100K, else a synthetic set."""
    if args.data is not None:
        return args.data, f"{args.data}"
    root = Path(args.data_root) / "pa100k" if args.data_root is not None else None
    if root is not None and (root / "annotation5.mat").is_file():
        out = tmp / "pa100k"
        subprocess.run([sys.executable, "-m", "mlcap", "prepare", "pa100k", "--root", str(root), "--annotation",
                        str(root / "annotation5.mat"), "--out", str(out), "--json"], check=True,
                       stdout=subprocess.DEVNULL)
        return out, f"PA-100K real JPEGs ({root}, annotation5.mat train split)"
    from mlcap.data.synthetic import generate

    out = tmp / "synthetic"
    generate(out, images=max(10, math.ceil(args.images / 0.7) + 1), seed=0)
    return out, "mlcap prepare synthetic (PNG), seed 0"


def benchmark_dataset(source: Path, n: int, out: Path) -> Path:
    """A prepared dataset whose train split is the first ``n`` train images of ``source`` (images
    read in place) and which has no other split, so that the stage trains on exactly those."""
    from mlcap.data.prepared import PreparedDataset, write_prepared

    src = PreparedDataset(source)
    train = src.samples("train")
    if len(train) < n:
        sys.exit(f"--images {n}: {source} has only {len(train)} train images")
    write_prepared(out, src.name, src.labels, {"train": train[:n]}, tags=src.tags,
                   extra={"image_root": str(src.image_root.resolve())})
    return out


# ---------------------------------------------------------------- (a) raw decode


def decode_pil(path: Path, size: int) -> int:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR)).shape[0]


def decode_torchvision(path: Path, size: int) -> int:
    from torchvision.io import ImageReadMode, decode_jpeg, read_file
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2.functional import resize

    img = decode_jpeg(read_file(str(path)), mode=ImageReadMode.RGB)
    return resize(img, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=True).shape[1]


def _one_thread() -> None:
    torch.set_num_threads(1)


def raw_decode(decode, paths: list[Path], size: int, workers: int, warm: int) -> tuple[float, int]:
    """``(seconds, images)`` of decoding ``paths`` in ``workers`` processes (in this one when 0);
    the pool is started, and ``warm`` images decoded, before the clock starts."""
    fn = partial(decode, size=size)
    if workers == 0:
        list(map(fn, paths[:warm]))
        tic = time.perf_counter()
        list(map(fn, paths))
        return time.perf_counter() - tic, len(paths)
    with multiprocessing.get_context("fork").Pool(workers, initializer=_one_thread) as pool:
        list(pool.imap(fn, paths[:warm]))
        tic = time.perf_counter()
        list(pool.imap_unordered(fn, paths, chunksize=max(1, len(paths) // (8 * workers))))
        return time.perf_counter() - tic, len(paths)


# ---------------------------------------------------------------- (b), (c) mlcap


def mlcap_loader(data: Path, args, finish: bool = False) -> tuple[float, int]:
    """Batches of ``make_loader`` over the benchmark's train split (shuffled, as training reads
    it): uint8 images, as the loader hands them over. ``finish``: also ``batch_to_device``, which
    normalises them on ``--device`` (and, with ``--decode gpu``, decodes the JPEGs there)."""
    from mlcap.data.loader import batch_to_device, make_loader
    from mlcap.data.prepared import PreparedDataset
    from mlcap.models import backbone_input

    prepared = PreparedDataset(data)
    mean, std, _ = backbone_input(args.backbone)
    device = torch.device(args.device)

    def loader():
        return make_loader(prepared, "train", args.image_size, mean, std, args.batch_size, shuffle=True,
                           generator=torch.Generator().manual_seed(0), num_workers=args.workers,
                           channels_last=args.channels_last, decode=args.decode, device=device)

    for _ in itertools.islice(loader(), args.warmup):
        pass
    tic, n = time.perf_counter(), 0
    for batch, _ in loader():
        if batch is not None and (finish or (batch.pending is not None and batch.pending.encoded)):
            batch_to_device(batch, device)
        n += len(batch.ids) if batch is not None else 0
    sync(args.device)
    return time.perf_counter() - tic, n


def mlcap_stage(data: Path, run: Path, args):
    """The bce pretrain-cnn stage as ``mlcap pretrain-cnn`` builds it, its groups set trainable
    for epoch 0 as the loop sets them (``_one_epoch``)."""
    from mlcap.config import TrainOptions
    from mlcap.training.stage import prepare_stage

    opts = TrainOptions(method="bce", data=data, run=run, backbone=args.backbone, image_size=args.image_size,
                        batch_size=args.batch_size, device=args.device, amp=args.amp,
                        channels_last=args.channels_last, num_workers=args.workers, image_cache_mb=0,
                        decode=args.decode,
                        val_fraction=0, seed=0)
    stage = prepare_stage("pretrain-cnn", opts)
    stage.schedule.apply(stage.optimizer, 0)
    stage.plan.apply(0)
    stage.replicas.follow_trainable()
    return stage


def mlcap_step(data: Path, run: Path, args, gpu) -> tuple[float, int]:
    """``train_one_epoch`` over the stage's train loader: warm-up batches, then one timed epoch."""
    from mlcap.data.loader import SkipLog
    from mlcap.training.engine import EpochLog, train_one_epoch

    stage = mlcap_stage(data, run, args)

    def epoch(loader):
        log = EpochLog(SkipLog(), lambda n=1, **fields: None, lambda loss: f"epoch 1/1 loss {loss:.4f}")
        return train_one_epoch(stage.replicas, loader, stage.optimizer, stage.scaler, log)

    epoch(itertools.islice(stage.train_loader(1), args.warmup))
    sync(args.device)
    with gpu:
        tic = time.perf_counter()
        _, seen = epoch(stage.train_loader(0))
        sync(args.device)
        return time.perf_counter() - tic, seen


# ---------------------------------------------------------------- run and report


def one_round(data: Path, tmp: Path, r: int, args) -> dict:
    """Every measurement once: ``{key: (images/s, seconds, images)}``, GPU utilisation alongside."""
    _, rows = read_rows(data)
    paths = [p for p, _ in rows]
    jpegs = [p for p in paths if p.suffix.lower() in (".jpg", ".jpeg")]
    warm = args.warmup * args.batch_size
    out, gpu = {}, {"mlcap_step": GpuUtilisation(args.device), "hand_step": GpuUtilisation(args.device)}
    timed = {"raw_pil": lambda: raw_decode(decode_pil, paths, args.image_size, args.workers, warm),
             "raw_torchvision": (lambda: raw_decode(decode_torchvision, jpegs, args.image_size, args.workers, warm))
             if jpegs else None,
             "mlcap_loader": lambda: mlcap_loader(data, args),
             "mlcap_loader_finished": lambda: mlcap_loader(data, args, finish=True),
             "hand_loader": lambda: hand_loader_alone(data, args),
             "mlcap_step": lambda: mlcap_step(data, tmp / f"run{r}", args, gpu["mlcap_step"]),
             "hand_step": lambda: hand_step(data, args, gpu["hand_step"])}
    order = list(timed)
    if r % 2:       # odd rounds run (d) before (c), (b') before (b): a load that drifts favours neither
        order = order[:2] + ["hand_loader", "mlcap_loader_finished", "mlcap_loader", "hand_step", "mlcap_step"]
    for key in order:
        fn = timed[key]
        if fn is not None:
            seconds, n = fn()
            out[key] = (n / seconds, seconds, n)
    out["gpu"] = {k: g.mean for k, g in gpu.items()}
    out["jpegs"] = len(jpegs)
    return out


def summarise(rounds: list[dict], decode: str = "pil") -> dict:
    """Medians over the rounds, the two ratios and their verdicts."""
    keys = [k for k in LINES if k in rounds[0]]
    rates = {k: statistics.median(r[k][0] for r in rounds) for k in keys}
    seconds = {k: statistics.median(r[k][1] for r in rounds) for k in keys}
    raw = "raw_pil" if decode == "pil" or "raw_torchvision" not in rates else "raw_torchvision"
    ratios = {"loader": rates["mlcap_loader"] / rates[raw], "step": rates["mlcap_step"] / rates["hand_step"]}
    return {"images_per_s": {k: round(v, 2) for k, v in rates.items()},
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "images": rounds[0]["mlcap_step"][2],
            "ratios": {k: round(v, 3) for k, v in ratios.items()},
            "targets": TARGETS, "pass": {k: ratios[k] >= TARGETS[k] for k in ratios}, "loader_reference": raw,
            "per_round": [{k: round(r[k][0], 2) for k in keys} for r in rounds],
            "gpu_utilisation_percent": rounds[-1]["gpu"], "jpegs": rounds[0]["jpegs"]}


LINES = {"raw_pil": "(a) raw decode+resize, PIL (as mlcap decodes)",
         "raw_torchvision": "(a') raw decode+resize, torchvision.io.decode_jpeg",
         "mlcap_loader": "(b) mlcap loader (make_loader, no model; uint8 batches)",
         "mlcap_loader_finished": "(b'') mlcap loader + batch_to_device (normalised on the device)",
         "hand_loader": "(b') hand-written DataLoader of (d), no model (reference)",
         "mlcap_step": "(c) mlcap training step (prepare_stage + train_one_epoch)",
         "hand_step": "(d) hand-written PyTorch step"}


def print_report(s: dict, setting: dict) -> None:
    print(f"throughput: {setting['backbone']} at {setting['image_size']} px, {setting['images']} images timed "
          f"(after {setting['warmup']} warm-up batches), batch {setting['batch_size']}, {setting['workers']} "
          f"workers, {setting['threads']} torch threads, amp {'on' if setting['amp'] else 'off'}, channels-last "
          f"{'on' if setting['channels_last'] else 'off'}, device {setting['device']}, decode {setting['decode']}, "
          f"{setting['repeats']} round(s)")
    print(f"data: {setting['data']}; torch {setting['torch']}, {setting['cpus']} CPUs, load average "
          f"{setting['load_before']} before, {setting['load_after']} after\n")
    print("| measurement | images/s | seconds |\n| --- | --- | --- |")
    for key, label in LINES.items():
        if key in s["images_per_s"]:
            print(f"| {label} | {s['images_per_s'][key]:.1f} | {s['seconds'][key]:.2f} |")
        else:
            print(f"| {label} | n/a (no JPEG files) | |")
    names = {"loader": "loader / raw decode (b/a)" if s["loader_reference"] == "raw_pil" else "loader / raw decode (b/a')",
             "step": "mlcap step / hand-written step (c/d)"}
    print("\n| ratio | value | target | result |\n| --- | --- | --- | --- |")
    for key, label in names.items():
        print(f"| {label} | {s['ratios'][key]:.3f} | >= {TARGETS[key]:.2f} | "
              f"{'PASS' if s['pass'][key] else 'MISS'} |")
    gpu = s["gpu_utilisation_percent"]
    if setting["device"] == "cuda":
        shown = {k: "n/a (neither pynvml nor nvidia-smi answered)" if v is None else f"{v:.1f} %" for k, v in gpu.items()}
        print(f"\nGPU utilisation (mean): (c) {shown['mlcap_step']}, (d) {shown['hand_step']}")
    if len(s["per_round"]) > 1:
        print("\nper round (images/s): " + json.dumps(s["per_round"]))


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device is available")
    load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="mlcap-throughput-") as tmp:
        tmp = Path(tmp)
        source, described = source_dataset(args, tmp)
        data = benchmark_dataset(source, args.images, tmp / "bench")
        for path, _ in read_rows(data)[1]:      # every file in the page cache before the first measurement
            path.read_bytes()
        rounds = [one_round(data, tmp, r, args) for r in range(args.repeats)]
    summary = summarise(rounds, args.decode)
    setting = {**{k: getattr(args, k) for k in ("backbone", "image_size", "images", "warmup", "batch_size", "workers",
                                                "amp", "channels_last", "device", "repeats", "decode")},
               "threads": torch.get_num_threads(), "data": described, "torch": torch.__version__,
               "cpus": os.cpu_count(), "load_before": load_before,
               "load_after": " ".join(f"{v:.2f}" for v in os.getloadavg())}
    if args.json:
        print(json.dumps({"setting": setting, **summary}, indent=1))
    else:
        print_report(summary, setting)


if __name__ == "__main__":
    main()
