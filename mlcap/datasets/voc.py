"""PASCAL VOC 2007/2012 classification from ``ImageSets/Main/<class>_<split>.txt``.

Each line is ``<image id> <value>``: 1 present, -1 absent, 0 "difficult" (present but
hard; its value is treated as unknown and masked from losses and metrics). Images are
``JPEGImages/<id>.jpg``. Splits: ``--train-split`` (default trainval) -> train,
``--test-split`` (default test) -> test.
"""

from __future__ import annotations

from pathlib import Path

from mlcap.data.prepared import Sample, write_prepared
from mlcap.datasets.report import PrepareReport
from mlcap.errors import MlcapError
from mlcap.textfile import read_text

CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
           "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
           "tvmonitor"]


def read_split(root: Path, split: str, report: PrepareReport) -> dict[str, dict[str, int]]:
    values: dict[str, dict[str, int]] = {}
    main = root / "ImageSets" / "Main"
    for cls in CLASSES:
        path = main / f"{cls}_{split}.txt"
        if not path.exists():
            raise MlcapError(f"{path}: not found")
        rows = read_text(path, "VOC class file").splitlines()
        if not any(r.strip() for r in rows):
            raise MlcapError(f"{path}: empty; a class file lists every image of the split with 1, -1 or 0")
        present = 0
        for line, text in enumerate(rows, 1):
            parts = text.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("1", "-1", "0"):
                report.problem("bad row", path, line, f"expected '<id> 1|-1|0', got {text.strip()!r}", drop=False)
                continue
            values.setdefault(parts[0], {})[cls] = int(parts[1])
            present += parts[1] != "-1"
        if not present:
            report.problem("class with no positive image", path, None,
                           f"every image is -1: {cls!r} could never be learnt or scored", drop=False)
    return values


def prepare(root: Path, out: Path, train_split: str = "trainval", test_split: str = "test",
            report: PrepareReport | None = None) -> tuple[dict, dict]:
    report = report or PrepareReport()
    root = Path(root)
    samples: dict[str, list[Sample]] = {}
    for name, split in (("train", train_split), ("test", test_split)):
        kept = []
        for image_id, per_class in sorted(read_split(root, split, report).items()):
            missing = [c for c in CLASSES if c not in per_class]
            if missing:
                report.problem("image missing from a class file", root / "ImageSets" / "Main" /
                               f"{missing[0]}_{split}.txt", None, image_id)
                continue
            positive = [c for c in CLASSES if per_class[c] == 1]
            difficult = [c for c in CLASSES if per_class[c] == 0]
            if not positive and not difficult:
                report.drop("no label")
                continue
            image = f"JPEGImages/{image_id}.jpg"
            if not (root / image).is_file():
                report.problem("image listed but missing", root / image, None, f"{split}")
                continue
            kept.append(Sample(id=image_id, image=image, labels=positive, unknown=difficult))
        samples[name] = kept
    meta = write_prepared(out, "voc", CLASSES, samples, extra={"image_root": str(root.resolve())})
    return meta, samples
