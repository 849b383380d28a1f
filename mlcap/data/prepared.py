"""Reading and writing the prepared-dataset directory (format documented in docs/formats.md).

    DATA/dataset.json      name, format version, labels, training frequencies, tag vocabulary, split sizes
    DATA/orderings.json    {"rare": [...], "frequent": [...], "dictionary": [...]}
    DATA/<split>.jsonl     one sample per line: {"id", "image", "labels", "unknown"?, "tags"?, "captions"?, "box"?}
    DATA/images/...        image files; "image" paths are relative to DATA, or to
                           dataset.json's "image_root" when the images stay where they are
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mlcap.atomic import write_text_atomic
from mlcap.errors import MlcapError, NothingKept, at
from mlcap.orderings import fixed_orderings
from mlcap.textfile import decode_utf8, expect, expect_list_of, parse_json, read_json

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


def write_prepared(root: Path, name: str, labels: list[str], splits: dict[str, list[Sample]],
                   tags: list[str] | None = None, extra: dict | None = None) -> dict:
    """Write the prepared format; frequencies and orderings come from the ``train`` split."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if "train" not in splits:
        raise MlcapError("a prepared dataset needs a 'train' split")
    if not splits["train"]:
        raise NothingKept(f"{root}: no training sample was kept; nothing written")
    (root / "dataset.json").unlink(missing_ok=True)    # not a dataset until every file is in place
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
        write_text_atomic(root / f"{split}.jsonl", lines, "dataset file")
    write_text_atomic(root / "orderings.json", json.dumps(fixed_orderings(labels, frequencies), indent=1), "dataset file")
    write_text_atomic(root / "dataset.json", json.dumps(meta, indent=1), "dataset file")
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
        self.meta = read_json(meta_path, "dataset.json")
        _check_meta(self.meta, meta_path)
        self.name: str = self.meta["name"]
        self.labels: list[str] = list(self.meta["labels"])
        self.label_index = {l: i for i, l in enumerate(self.labels)}
        self.frequencies: dict[str, int] = self.meta["label_frequencies"]
        self.tags: list[str] = list(self.meta.get("tags", []))
        self.tag_index = {t: i for i, t in enumerate(self.tags)}
        self.splits: list[str] = list(self.meta["splits"])
        self.image_root = Path(self.meta["image_root"]) if self.meta.get("image_root") else self.root
        self._samples: dict[str, list[Sample]] = {}
        orderings_path = self.root / "orderings.json"
        self.orderings: dict[str, list[str]] = (
            _check_orderings(read_json(orderings_path, "orderings.json"), self.labels, orderings_path)
            if orderings_path.exists() else fixed_orderings(self.labels, self.frequencies))

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
                line = decode_utf8(raw, path, lineno)
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
        row = parse_json(line, path, lineno)
        if not isinstance(row, dict) or "id" not in row or "image" not in row:
            raise MlcapError(f"{at(path, lineno)}: expected an object with 'id', 'image' and 'labels'")
        where = at(path, lineno)
        expect(row["id"], (str, int), where, "id")
        expect(row["image"], str, where, "image")
        labels, masked, tags, captions = (expect_list_of(row.get(key, []), str, where, key)
                                          for key in ("labels", "unknown", "tags", "captions"))
        box = row.get("box")
        if box is not None and (not isinstance(box, list) or len(box) != 4
                                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
            raise MlcapError(f"{where}: 'box' must be [x, y, w, h] (numbers) or null")
        unknown = [l for l in labels + masked if l not in self.label_index]
        if unknown:
            raise MlcapError(f"{where}: unknown label {unknown[0]!r}")
        unknown = [t for t in tags if t not in self.tag_index]
        if unknown:
            raise MlcapError(f"{where}: tag {unknown[0]!r} is not in the dataset's tag vocabulary")
        return Sample(id=str(row["id"]), image=row["image"], labels=list(labels), tags=list(tags),
                      captions=list(captions), unknown=list(masked), box=box)

    def check_image_root(self) -> None:
        """The folder image paths are relative to must still exist (moved data: one line, not N skips)."""
        if not self.image_root.is_dir():
            where = "dataset.json's image_root" if self.image_root != self.root else "the dataset folder"
            raise MlcapError(f"{self.image_root}: {where} no longer exists or is not a folder; move the images "
                             f"back, or edit image_root in {self.root / 'dataset.json'}")

    def image_path(self, sample: Sample) -> Path:
        return self.image_root / sample.image

    def ordering(self, name: str) -> list[str]:
        if name not in self.orderings:
            raise MlcapError(f"unknown order {name!r} (available: {', '.join(self.orderings)})")
        return self.orderings[name]


def _check_meta(meta, path: Path) -> None:
    """dataset.json's keys and their JSON types, so that a hand-edited file is one line, not a traceback."""
    where = str(path)
    expect(meta, dict, where, "the top level")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise MlcapError(f"{path}: format_version {version!r}, this mlcap reads {FORMAT_VERSION}")
    for key in ("name", "labels", "label_frequencies", "splits"):
        if key not in meta:
            raise MlcapError(f"{path}: missing key {key!r}")
    expect(meta["name"], str, where, "name")
    labels = expect_list_of(meta["labels"], str, where, "labels")
    if not labels:
        raise MlcapError(f"{path}: 'labels' is empty")
    if len(set(labels)) != len(labels):
        raise MlcapError(f"{path}: duplicate label names")
    frequencies = expect(meta["label_frequencies"], dict, where, "label_frequencies")
    for label, count in frequencies.items():
        expect(count, int, where, f"label_frequencies[{label!r}]")
    missing = [l for l in labels if l not in frequencies]
    if missing:
        raise MlcapError(f"{path}: label_frequencies has no count for label {missing[0]!r}")
    splits = expect(meta["splits"], dict, where, "splits")
    for split, size in splits.items():
        expect(size, int, where, f"splits[{split!r}]")
        if not split or "/" in split or split.startswith("."):
            raise MlcapError(f"{path}: {split!r} is not a split name")
    expect_list_of(meta.get("tags", []), str, where, "tags")
    expect(meta.get("image_root"), (str, type(None)), where, "image_root")
    expect(meta.get("has_captions", False), bool, where, "has_captions")


def _check_orderings(orderings, labels: list[str], path: Path) -> dict[str, list[str]]:
    """Each fixed order must be a permutation of the labels: a missing label could never be emitted."""
    expect(orderings, dict, str(path), "the top level")
    for name, order in orderings.items():
        expect_list_of(order, str, str(path), name)
        if sorted(order) != sorted(labels):
            missing = sorted(set(labels) - set(order))
            extra = sorted(set(order) - set(labels))
            what = (f"misses label {missing[0]!r}" if missing else f"has label {extra[0]!r} not in dataset.json"
                    if extra else "repeats a label")
            raise MlcapError(f"{path}: order {name!r} {what}; each order lists every label once")
    return orderings
