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
from mlcap.textfile import read_text


def _rows(path: Path, report: PrepareReport):
    """(line, path, labels, captions, tags) per usable row."""
    if not path.exists():
        raise MlcapError(f"{path}: not found")
    text_of_file = read_text(path, f"{path.suffix.lstrip('.').upper()} file".strip())   # a UTF-8 BOM is dropped
    if path.suffix == ".jsonl":
        for line, text in enumerate(text_of_file.splitlines(), 1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as e:
                report.problem("bad row", path, line, f"not JSON ({e.msg})")
                continue
            except RecursionError:
                report.problem("bad row", path, line, "JSON nested too deeply")
                continue
            problem = _bad_jsonl_row(row)
            if problem:
                report.problem("bad row", path, line, problem)
                continue
            yield line, row["path"], list(row.get("labels", [])), list(row.get("captions", [])), \
                list(row.get("tags", []))
        return
    import io

    csv.field_size_limit(1 << 24)
    try:
        parsed = list(enumerate(csv.reader(io.StringIO(text_of_file, newline="")), 1))
    except csv.Error as e:
        raise MlcapError(f"{path}: not a readable CSV ({e})") from None
    for line, row in parsed:
        if not row:
            continue
        if line == 1 and row[0].strip().lower() in HEADER_NAMES:
            report.note(f"{path}:1: header row {','.join(row)!r} skipped")
            continue
        if len(row) != 2:
            report.problem("bad row", path, line, f"expected 'path,label|label', got {len(row)} fields")
            continue
        yield line, row[0].strip(), [l.strip() for l in row[1].split("|") if l.strip()], [], []


HEADER_NAMES = {"path", "image", "file", "filename", "img", "image_path"}


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _bad_jsonl_row(row) -> str | None:
    """Why a JSONL row is unusable, or None."""
    if not isinstance(row, dict) or not isinstance(row.get("path"), str) or not row["path"].strip():
        return 'expected {"path": "...", "labels": ["...", ...]}'
    for key in ("labels", "captions", "tags"):
        if key in row and not _strings(row[key]):
            return f"{key!r} must be a list of non-empty strings, not {json.dumps(row[key])[:60]}"
    return None


def prepare(out: Path, train: Path, test: Path, val: Path | None = None, images: Path | None = None,
            name: str = "custom", report: PrepareReport | None = None) -> tuple[dict, dict]:
    report = report or PrepareReport()
    files = {"train": Path(train), "test": Path(test), **({"val": Path(val)} if val else {})}
    images = Path(images) if images else Path(train).parent
    rows = {split: list(_rows(path, report)) for split, path in files.items()}
    # the vocabulary: labels of training rows whose image exists (a header row read as data, or a
    # row of a missing image, adds none)
    labels = sorted({l for _, image, ls, _, _ in rows["train"] if (images / image).is_file() for l in ls})
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
            if image_id != image:
                report.problem("image listed twice", files[split], line, f"kept as id {image_id!r}", drop=False)
            ids.add(image_id)
            kept.append(Sample(id=image_id, image=image, labels=sorted(set(image_labels)), tags=image_tags,
                               captions=captions))
        samples[split] = kept
    if not samples["train"]:
        problems = sum(report.problems.values())
        raise MlcapError(f"{files['train']}: no usable training row ({problems} problem(s); the first: "
                         f"{report.examples[0]})" if report.examples else f"{files['train']}: no training rows")
    meta = write_prepared(out, name, labels, samples, tags=tags, extra={"image_root": str(images.resolve())})
    return meta, samples
