"""Users' own data: CSV ``path,label|label|...`` or JSONL ``{path, labels, captions?, tags?}``.

One file per split (``--train``, ``--test``, optional ``--val``), or one file (``--train``) whose
rows are split by ``--test-fraction`` / ``--val-fraction`` (own.py); paths are relative to
``--images`` (default: the train file's folder). The label vocabulary is every label of the kept
images, sorted; one that only val or test holds is kept with a warning (own.py).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from mlcap.data.prepared import Sample, write_prepared
from mlcap.datasets.own import SplitOptions, settle
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


def prepare(out: Path, train: Path, test: Path | None = None, val: Path | None = None, images: Path | None = None,
            name: str = "custom", report: PrepareReport | None = None,
            options: SplitOptions | None = None) -> tuple[dict, dict]:
    report = report or PrepareReport()
    options = options or SplitOptions()
    files = {"train": Path(train), **({"val": Path(val)} if val else {}), **({"test": Path(test)} if test else {})}
    fractions = options.fractions(set(files))
    images = Path(images) if images else Path(train).parent
    rows = {split: list(_rows(path, report)) for split, path in files.items()}   # malformed rows first
    read = {split: _samples(rows[split], files[split], split, images, report) for split in files}
    if not read["train"]:
        problems = sum(report.problems.values())
        first = f" ({problems} problem(s); the first: {report.examples[0]})" if report.examples else ""
        raise MlcapError(f"{files['train']}: no usable training row{first}")
    samples = settle(read, fractions, options, report)
    labels = sorted({l for kept in samples.values() for s in kept for l in s.labels})
    tags = sorted({t for kept in samples.values() for s in kept for t in s.tags})
    meta = write_prepared(out, name, labels, samples, tags=tags, extra={"image_root": str(images.resolve())})
    return meta, samples


def _samples(rows: list, path: Path, split: str, images: Path, report: PrepareReport) -> list[Sample]:
    """The rows (of file ``path``) whose image exists, ids made unique (a repeated path: ``path#line``)."""
    kept, ids = [], set()
    for line, image, image_labels, captions, image_tags in rows:
        if not (images / image).is_file():
            report.problem("image listed but missing", images / image, None, f"{path}:{line}", split=split)
            continue
        image_id = image if image not in ids else f"{image}#{line}"
        if image_id != image:
            report.problem("image listed twice", path, line, f"kept as id {image_id!r}", drop=False)
        ids.add(image_id)
        kept.append(Sample(id=image_id, image=image, labels=sorted(set(image_labels)), tags=image_tags,
                           captions=captions))
    return kept
