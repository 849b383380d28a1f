"""The hand-written PyTorch training loop of benchmarks/throughput.py, (d): no mlcap code at all
(nothing here imports mlcap), so that (c)/(d) is mlcap's overhead over plain PyTorch. Also the
plain-torch helpers both measurements share: ``sync`` and ``GpuUtilisation``."""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import threading
import time
from pathlib import Path

import torch
from PIL import Image

#: the normalisation (d) uses, written out (mlcap's backbone_input gives the same)
NORMALISE = {"smallcnn": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))}
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def read_rows(data: Path) -> tuple[list[str], list[tuple[Path, list[int]]]]:
    """The labels and ``(image path, label ids)`` of the train split, read as plain JSON (for (a), (d))."""
    meta = json.loads((data / "dataset.json").read_text())
    index = {l: i for i, l in enumerate(meta["labels"])}
    root = Path(meta.get("image_root") or data)
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines() if line.strip()]
    return meta["labels"], [(root / r["image"], [index[l] for l in r["labels"]]) for r in rows]


# ---------------------------------------------------------------- (d) hand-written


class FolderDataset(torch.utils.data.Dataset):
    """ImageFolder-style: a path and a multi-hot target per item, torchvision transforms."""

    def __init__(self, rows, num_labels: int, size: int, mean, std):
        from torchvision import transforms as T

        self.rows, self.num_labels = rows, num_labels
        self.transform = T.Compose([T.Resize((size, size), interpolation=T.InterpolationMode.BILINEAR),
                                    T.ToTensor(), T.Normalize(mean, std)])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        path, labels = self.rows[i]
        with Image.open(path) as im:
            x = self.transform(im.convert("RGB"))
        y = torch.zeros(self.num_labels)
        y[labels] = 1.0
        return x, y


def small_cnn(num_labels: int, width: int = 32) -> torch.nn.Module:
    """A CNN equivalent to mlcap's smallcnn (conv-BN-ReLU blocks, 3 max-pools, mean pooling)."""
    from torch import nn

    def block(cin, cout, convs):
        return [m for i in range(convs) for m in (nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False),
                                                  nn.BatchNorm2d(cout), nn.ReLU(inplace=True))]

    w = width
    return nn.Sequential(*block(3, w, 1), nn.MaxPool2d(2), *block(w, 2 * w, 2), nn.MaxPool2d(2),
                         *block(2 * w, 4 * w, 2), nn.MaxPool2d(2), *block(4 * w, 4 * w, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, num_labels))


def hand_model(backbone: str, num_labels: int) -> torch.nn.Module:
    if backbone == "smallcnn":
        return small_cnn(num_labels)
    import torchvision

    model = torchvision.models.get_model(backbone, weights=None)
    model.fc = torch.nn.Linear(model.fc.in_features, num_labels)
    return model


def hand_loader(data: Path, args, seed: int) -> torch.utils.data.DataLoader:
    """The plain PyTorch DataLoader of (d): shuffled, ``--batch-size``, ``--workers``."""
    labels, rows = read_rows(data)
    mean, std = NORMALISE.get(args.backbone, IMAGENET)
    dataset = FolderDataset(rows, len(labels), args.image_size, mean, std)
    return torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                                       pin_memory=args.device == "cuda",
                                       generator=torch.Generator().manual_seed(seed))


def hand_loader_alone(data: Path, args) -> tuple[float, int]:
    """(d)'s DataLoader without the model: what a plain PyTorch input pipeline gives, for (b)."""
    for _ in itertools.islice(hand_loader(data, args, 1), args.warmup):
        pass
    tic, n = time.perf_counter(), 0
    for x, _ in hand_loader(data, args, 0):
        n += len(x)
    return time.perf_counter() - tic, n


def hand_step(data: Path, args, gpu) -> tuple[float, int]:
    """The same step with plain PyTorch: warm-up batches, then one timed epoch."""
    labels, _ = read_rows(data)
    device = torch.device(args.device)
    torch.manual_seed(0)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = hand_model(args.backbone, len(labels)).to(device, memory_format=fmt)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = torch.nn.BCEWithLogitsLoss()

    def epoch(batches):
        model.train()
        n, total = 0, torch.zeros((), device=device)
        for x, y in batches:
            x = x.to(device, non_blocking=True, memory_format=fmt)
            y = y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
                loss = criterion(model(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
            n += len(x)
        return n

    epoch(itertools.islice(hand_loader(data, args, 1), args.warmup))
    sync(args.device)
    with gpu:
        tic = time.perf_counter()
        n = epoch(hand_loader(data, args, 0))
        sync(args.device)
        return time.perf_counter() - tic, n


# ---------------------------------------------------------------- GPU


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class GpuUtilisation:
    """Mean GPU utilisation (%) while the ``with`` block runs, sampled every 0.1 s: through
    ``torch.cuda.utilization()`` (needs pynvml), else ``nvidia-smi``; a no-op on CPU."""

    def __init__(self, device: str):
        self.enabled, self.samples, self._stop = device == "cuda", [], threading.Event()

    def _sample(self) -> float | None:
        try:
            return float(torch.cuda.utilization())
        except Exception:
            pass
        try:
            index = torch.cuda.current_device()
            out = subprocess.run(["nvidia-smi", f"--id={index}", "--query-gpu=utilization.gpu",
                                  "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5)
            return float(out.stdout.strip().splitlines()[0])
        except Exception:
            return None

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            value = self._sample()
            if value is not None:
                self.samples.append(value)

    def __enter__(self):
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._stop.set()
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return round(statistics.fmean(self.samples), 1) if self.samples else None
