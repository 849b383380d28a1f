"""Users' own data: CSV ``path,label|label|...`` or JSONL ``{path, labels, captions?, tags?}``.

One file per split (``--train``, ``--test``, optional ``--val``); paths are relative to
``--images`` (default: the file's folder). The label vocabulary is every label of the training
file, in order of first appearance sorted alphabetically; a test label not seen in training is
reported and dropped from that image.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from mlcap.data.prepared import Sample, write_prepared
from mlcap.datasets.report import PrepareReport
from mlcap.errors import MlcapError


def _rows(path: Path, report: PrepareReport):
    """(line, path, labels, captions, tags) per usable row."""
    if not path.is_file():
        raise MlcapError(f"{path}: not found")
    if path.suffix == ".jsonl":
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as e:
                report.problem("bad row", path, line, f"not JSON ({e.msg})")
                continue
            if not isinstance(row, dict) or not isinstance(row.get("path"), str) or \
                    not isinstance(row.get("labels", []), list):
                report.problem("bad row", path, line, "expected {\"path\": ..., \"labels\": [...]}")
                continue
            yield line, row["path"], [str(l) for l in row.get("labels", [])], \
                list(row.get("captions", [])), [str(t) for t in row.get("tags", [])]
        return
    with open(path, encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.reader(f), 1):
            if not row or (line == 1 and row[0].strip().lower() == "path"):
                continue
            if len(row) != 2:
                report.problem("bad row", path, line, f"expected 'path,label|label', got {len(row)} fields")
                continue
            yield line, row[0].strip(), [l.strip() for l in row[1].split("|") if l.strip()], [], []


def prepare(out: Path, train: Path, test: Path, val: Path | None = None, images: Path | None = None,
            name: str = "custom", report: PrepareReport | None = None) -> tuple[dict, dict]:
    report = report or PrepareReport()
    files = {"train": Path(train), "test": Path(test), **({"val": Path(val)} if val else {})}
    images = Path(images) if images else Path(train).parent
    rows = {split: list(_rows(path, report)) for split, path in files.items()}
    labels = sorted({l for _, _, ls, _, _ in rows["train"] for l in ls})
    tags = sorted({t for split_rows in rows.values() for *_, ts in split_rows for t in ts})
    known = set(labels)
    samples: dict[str, list[Sample]] = {}
    for split, split_rows in rows.items():
        kept, ids = [], set()
        for line, image, image_labels, captions, image_tags in split_rows:
            unknown = [l for l in image_labels if l not in known]
            if unknown:
                report.problem("label not in the training vocabulary", files[split], line,
                               f"{unknown[0]!r} dropped from this image", drop=False)
                image_labels = [l for l in image_labels if l in known]
            if not image_labels:
                report.drop("no label")
                continue
            if not (images / image).is_file():
                report.problem("image listed but missing", images / image, None, f"{files[split]}:{line}")
                continue
            image_id = image if image not in ids else f"{image}#{line}"
            ids.add(image_id)
            kept.append(Sample(id=image_id, image=image, labels=sorted(set(image_labels)), tags=image_tags,
                               captions=captions))
        samples[split] = kept
    meta = write_prepared(out, name, labels, samples, tags=tags, extra={"image_root": str(images.resolve())})
    return meta, samples
