"""Reading and writing the prepared-dataset directory (format documented in README).

    DATA/dataset.json      name, format version, labels, training frequencies, tag vocabulary, split sizes
    DATA/orderings.json    {"rare": [...], "frequent": [...], "dictionary": [...]}
    DATA/<split>.jsonl     one sample per line: {"id", "image", "labels", "unknown"?, "tags"?, "captions"?, "box"?}
    DATA/images/...        image files; "image" paths are relative to DATA, or to
                           dataset.json's "image_root" when the images stay where they are
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mlcap.errors import MlcapError, at
from mlcap.orderings import fixed_orderings

FORMAT_VERSION = 1


@dataclass
class Sample:
    id: str
    image: str
    labels: list[str]
    tags: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)   # labels whose value is unknown: masked
    box: list[float] | None = None                     # [x, y, w, h] crop of the image (e.g. a person)

    def to_json(self) -> dict:
        row = {"id": self.id, "image": self.image, "labels": self.labels}
        if self.unknown:
            row["unknown"] = self.unknown
        if self.box:
            row["box"] = self.box
        if self.tags:
            row["tags"] = self.tags
        if self.captions:
            row["captions"] = self.captions
        return row


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_prepared(root: Path, name: str, labels: list[str], splits: dict[str, list[Sample]],
                   tags: list[str] | None = None, extra: dict | None = None) -> dict:
    """Write the prepared format; frequencies and orderings come from the ``train`` split."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if "train" not in splits:
        raise MlcapError("a prepared dataset needs a 'train' split")
    freq = Counter(l for s in splits["train"] for l in s.labels)
    frequencies = {l: freq.get(l, 0) for l in labels}
    meta = {
        "name": name,
        "format_version": FORMAT_VERSION,
        "labels": labels,
        "label_frequencies": frequencies,
        "tags": tags or [],
        "splits": {split: len(samples) for split, samples in splits.items()},
        "has_captions": any(s.captions for samples in splits.values() for s in samples),
    }
    if extra:
        meta.update(extra)
    for split, samples in splits.items():
        lines = "".join(json.dumps(s.to_json(), ensure_ascii=False) + "\n" for s in samples)
        _write_text_atomic(root / f"{split}.jsonl", lines)
    _write_text_atomic(root / "orderings.json", json.dumps(fixed_orderings(labels, frequencies), indent=1))
    _write_text_atomic(root / "dataset.json", json.dumps(meta, indent=1))
    return meta


class PreparedDataset:
    """A prepared-dataset directory, validated on load."""

    def __init__(self, root: Path):
        self.root = Path(root)
        meta_path = self.root / "dataset.json"
        if not self.root.is_dir():
            raise MlcapError(f"{self.root}: no such dataset directory (run `mlcap prepare` first)")
        if not meta_path.is_file():
            raise MlcapError(f"{meta_path}: missing; {self.root} is not a prepared dataset")
        self.meta = _read_json(meta_path)
        version = self.meta.get("format_version")
        if version != FORMAT_VERSION:
            raise MlcapError(f"{meta_path}: format_version {version!r}, this mlcap reads {FORMAT_VERSION}")
        for key in ("name", "labels", "label_frequencies", "splits"):
            if key not in self.meta:
                raise MlcapError(f"{meta_path}: missing key {key!r}")
        self.name: str = self.meta["name"]
        self.labels: list[str] = list(self.meta["labels"])
        if len(set(self.labels)) != len(self.labels):
            raise MlcapError(f"{meta_path}: duplicate label names")
        self.label_index = {l: i for i, l in enumerate(self.labels)}
        self.frequencies: dict[str, int] = self.meta["label_frequencies"]
        self.tags: list[str] = list(self.meta.get("tags", []))
        self.tag_index = {t: i for i, t in enumerate(self.tags)}
        self.splits: list[str] = list(self.meta["splits"])
        self.image_root = Path(self.meta["image_root"]) if self.meta.get("image_root") else self.root
        self._samples: dict[str, list[Sample]] = {}
        orderings_path = self.root / "orderings.json"
        self.orderings: dict[str, list[str]] = (
            _read_json(orderings_path) if orderings_path.is_file()
            else fixed_orderings(self.labels, self.frequencies))

    def samples(self, split: str) -> list[Sample]:
        """The split's samples, parsed once per dataset object (treat as read-only)."""
        if split not in self._samples:
            self._samples[split] = self._read_split(split)
        return self._samples[split]

    def _read_split(self, split: str) -> list[Sample]:
        path = self.root / f"{split}.jsonl"
        if split not in self.splits or not path.is_file():
            raise MlcapError(f"{self.root}: no split {split!r} (splits: {', '.join(self.splits)})")
        samples, first_line = [], {}
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    line = (raw.removeprefix(b"\xef\xbb\xbf") if lineno == 1 else raw).decode("utf-8")
                except UnicodeDecodeError as e:
                    raise MlcapError(f"{at(path, lineno)}: not UTF-8 text ({e.reason} at byte {e.start})") from None
                if not line.strip():
                    continue
                sample = self._parse(line, path, lineno)
                if sample.id in first_line:
                    raise MlcapError(f"{at(path, lineno)}: id {sample.id!r} again (first at line "
                                     f"{first_line[sample.id]}); ids must be unique within a split")
                first_line[sample.id] = lineno
                samples.append(sample)
        return samples

    def _parse(self, line: str, path: Path, lineno: int) -> Sample:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise MlcapError(f"{at(path, lineno)}: not JSON ({e.msg})") from None
        if not isinstance(row, dict) or "id" not in row or "image" not in row:
            raise MlcapError(f"{at(path, lineno)}: expected an object with 'id', 'image' and 'labels'")
        labels = row.get("labels", [])
        masked = row.get("unknown", [])
        unknown = [l for l in list(labels) + list(masked) if l not in self.label_index]
        if unknown:
            raise MlcapError(f"{at(path, lineno)}: unknown label {unknown[0]!r}")
        tags = row.get("tags", [])
        unknown = [t for t in tags if t not in self.tag_index]
        if unknown:
            raise MlcapError(f"{at(path, lineno)}: tag {unknown[0]!r} is not in the dataset's tag vocabulary")
        return Sample(id=str(row["id"]), image=str(row["image"]), labels=list(labels), tags=list(tags),
                      captions=list(row.get("captions", [])), unknown=list(masked), box=row.get("box"))

    def image_path(self, sample: Sample) -> Path:
        return self.image_root / sample.image

    def ordering(self, name: str) -> list[str]:
        if name not in self.orderings:
            raise MlcapError(f"unknown order {name!r} (available: {', '.join(self.orderings)})")
        return self.orderings[name]


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise MlcapError(f"{at(path, e.lineno)}: not valid JSON ({e.msg})") from None
    except OSError as e:
        raise MlcapError(f"{path}: cannot read ({e.strerror})") from None
