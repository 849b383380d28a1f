"""NUS-WIDE (Chua et al., 2009): 81 concepts, 1,000 tags, 269,648 Flickr images.

Layouts read (labels are always mapped to concepts by *name*, never by position):

* **official** (``--root``): ``ConceptsList/Concepts81.txt``, ``ImageList/{Train,Test}Imagelist.txt``,
  ``Groundtruth/TrainTestLabels/Labels_<concept>_{Train,Test}.txt`` (one 0/1 per image, in image-list
  order) and, when present, ``ImageList/Imagelist.txt`` + ``NUS_WID_Tags/{TagList1k,AllTags1k}.txt``
  for per-image tags (the side information);
* **csv** (``--train-csv``/``--test-csv``, plain or a ``.zip`` holding one CSV): a header
  ``image_id,<concept>,...`` and one 0/1 row per image, rows in the official image-list order;
  ``--train-list``/``--test-list`` (official image lists) name the images by row;
* **list** (``--train-labels``/``--test-labels``): lines ``path v1 ... v81`` whose columns follow
  ``--concepts`` (a concept list file).

A value other than 0/1 is reported with file, line and column and read as 0 (its row keeps its
other labels); a non-numeric ``image_id`` is reported and the image is named by its row
(``train-row<N>``). Images without any label are dropped. ``--split paper`` pools the kept
images and draws 150,000 for training with ``--seed`` (the seeds' protocol); ``official``
keeps the official train/test lists.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mlcap.data.prepared import Sample, write_prepared
from mlcap.datasets import nuswide_root
from mlcap.datasets.report import PrepareReport
from mlcap.errors import MlcapError
from mlcap.textfile import decode_utf8, read_text, require_regular_file

PAPER_TRAIN = 150_000


def read_lines(path: Path) -> list[str]:
    if not Path(path).exists():
        raise MlcapError(f"{path}: not found")
    return [l.strip() for l in read_text(Path(path)).splitlines() if l.strip()]


def read_image_list(path: Path) -> list[str]:
    """Official image-list names (``actor\\0001_2124494179.jpg``) as relative paths."""
    return [name.replace("\\", "/") for name in read_lines(path)]


def _open_table(path: Path):
    """The table as a text stream (decoded whole, so that a bad byte is an error naming its line)
    and the name errors use for it."""
    path = require_regular_file(Path(path), "label table")
    if path.suffix != ".zip":
        return io.StringIO(decode_utf8(path.read_bytes(), path), newline=""), str(path)
    try:
        with zipfile.ZipFile(path) as z:
            members = [n for n in z.namelist() if not n.endswith("/")]
            if len(members) != 1:
                raise MlcapError(f"{path}: expected one CSV inside, found {len(members)} files")
            where = f"{path}!{members[0]}"
            data = z.read(members[0])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as e:
        raise MlcapError(f"{path}: not a readable zip file ({e})") from None
    return io.StringIO(decode_utf8(data, where), newline=""), where


class _Split:
    """One split's rows: ids, image paths, a (N, 81) label matrix in concept order."""

    def __init__(self, ids: list[str], images: list[str], labels: np.ndarray):
        self.ids, self.images, self.labels = ids, images, labels


def read_csv_split(path: Path, concepts: list[str], split: str, image_list: list[str] | None,
                   report: PrepareReport) -> _Split:
    stream, where = _open_table(path)
    index = {c: i for i, c in enumerate(concepts)}
    csv.field_size_limit(1 << 24)
    try:
        return _read_csv_rows(stream, where, concepts, index, split, image_list, report)
    except csv.Error as e:
        raise MlcapError(f"{where}: not a readable CSV ({e})") from None


def _read_csv_rows(stream, where: str, concepts: list[str], index: dict[str, int], split: str,
                   image_list: list[str] | None, report: PrepareReport) -> _Split:
    with stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if not header or header[0].strip() != "image_id":
            raise MlcapError(f"{where}:1: expected a header 'image_id,<concept>,...'")
        columns = [h.strip() for h in header[1:]]
        unknown = [c for c in columns if c not in index]
        if unknown:
            raise MlcapError(f"{where}:1: unknown concept column {unknown[0]!r}")
        missing = [c for c in concepts if c not in columns]
        if missing:
            raise MlcapError(f"{where}:1: no column for concept {missing[0]!r}")
        order = np.array([index[c] for c in columns])
        rows, ids = [], []
        for line, row in enumerate(reader, 2):
            values = row[1:]
            if len(values) != len(columns):
                report.problem("bad row", where, line, f"{len(values)} values for {len(columns)} concepts")
                rows.append(None)
                ids.append(None)
                continue
            if not all(v == "0" or v == "1" for v in values):
                for j, v in enumerate(values):
                    if v not in ("0", "1"):
                        report.problem("label value not 0/1", where, line,
                                       f"{columns[j]}={v!r} read as 0", drop=False)
                values = ["1" if v == "1" else "0" for v in values]
            rows.append(values)
            ids.append(row[0].strip() if row else "")
    n = len(rows)
    if image_list is not None and len(image_list) != n:
        raise MlcapError(f"{where}: {n} rows but the image list has {len(image_list)} names")
    labels = np.zeros((n, len(concepts)), bool)
    good = [i for i, r in enumerate(rows) if r is not None]
    if good:
        block = np.array([rows[i] for i in good], dtype="U1") == "1"
        labels[np.array(good)[:, None], order[None, :]] = block
    keep_ids, images = [], []
    corrupt = 0
    for i, image_id in enumerate(ids):
        if image_list is not None:
            name = image_list[i]
            keep_ids.append(Path(name).stem.split("_")[-1] if image_id is None or not image_id.isdigit()
                            else image_id)
            images.append(name)
            continue
        if image_id is not None and not image_id.isdigit():
            corrupt += 1
            image_id = None
        keep_ids.append(image_id or f"{split}-row{i + 1}")
        images.append("")
    if corrupt:
        report.problem("corrupt image_id (named by row)", where, None,
                       f"{corrupt} rows have a non-numeric image_id; named {split}-row<N>", drop=False, count=corrupt)
    dropped = [i for i, r in enumerate(rows) if r is None]
    for i in dropped:
        keep_ids[i] = None
    return _Split(keep_ids, images, labels)


def read_official_split(root: Path, concepts: list[str], split: str, report: PrepareReport) -> _Split:
    names = read_image_list(root / "ImageList" / f"{split.capitalize()}Imagelist.txt")
    labels = np.zeros((len(names), len(concepts)), bool)
    for j, concept in enumerate(concepts):
        path = root / "Groundtruth" / "TrainTestLabels" / f"Labels_{concept}_{split.capitalize()}.txt"
        if not path.is_file():
            raise MlcapError(f"{path}: not found (one file per concept and split)")
        values = path.read_bytes().split()
        if len(values) != len(names):
            raise MlcapError(f"{path}: {len(values)} values for {len(names)} images in the image list")
        column = np.array(values)
        ok = (column == b"0") | (column == b"1")
        for line in np.nonzero(~ok)[0]:
            report.problem("label value not 0/1", path, int(line) + 1, f"{values[line]!r} read as 0", drop=False)
        labels[:, j] = column == b"1"
    ids = [Path(n).stem.split("_")[-1] for n in names]
    return _Split(ids, names, labels)


def read_list_split(path: Path, concepts: list[str], report: PrepareReport) -> _Split:
    ids, images, rows = [], [], []
    for line, text in enumerate(read_text(Path(path)).splitlines(), 1):
        if not text.strip():
            continue
        parts = text.split()
        if len(parts) != len(concepts) + 1 or not all(v in ("0", "1") for v in parts[1:]):
            report.problem("bad row", path, line, f"expected 'path' and {len(concepts)} 0/1 values")
            continue
        images.append(parts[0])
        ids.append(Path(parts[0]).stem)
        rows.append([v == "1" for v in parts[1:]])
    return _Split(ids, images, np.array(rows, bool).reshape(len(rows), len(concepts)))


def read_tags(root: Path, names_by_split: dict[str, list[str]]) -> tuple[list[str], dict[str, list[list[str]]]] | None:
    taglist = root / "NUS_WID_Tags" / "TagList1k.txt"
    alltags = root / "NUS_WID_Tags" / "AllTags1k.txt"
    imagelist = root / "ImageList" / "Imagelist.txt"
    if not (taglist.is_file() and alltags.is_file() and imagelist.is_file()):
        return None
    tags = read_lines(taglist)
    row_of = {name: i for i, name in enumerate(read_image_list(imagelist))}
    rows = read_text(alltags).splitlines()
    if len(rows) != len(row_of):
        raise MlcapError(f"{alltags}: {len(rows)} rows for {len(row_of)} images in {imagelist}")
    out = {}
    for split, names in names_by_split.items():
        per_image = []
        for name in names:
            i = row_of.get(name)
            if i is None:
                per_image.append([])
                continue
            values = rows[i].split()
            per_image.append([tags[j] for j, v in enumerate(values) if v == "1"])
        out[split] = per_image
    return tags, out


def _unique_ids(samples: list[Sample], split: str, report: PrepareReport) -> list[Sample]:
    """A repeated id keeps its first image; later ones become ``<id>-dup<k>``, reported."""
    seen: dict[str, int] = {}
    for s in samples:
        k = seen.get(s.id, 0)
        seen[s.id] = k + 1
        if k:
            report.problem("duplicate image id", split, None, f"{s.id!r} repeated; renamed {s.id}-dup{k}",
                           drop=False)
            s.id = f"{s.id}-dup{k}"
    return samples


@dataclass
class LabelFiles:
    """Where the labels come from: the flags of ``prepare nuswide``, completed from ``--root``."""

    root: Path | None = None
    concepts: Path | None = None
    train_csv: Path | None = None
    test_csv: Path | None = None
    train_list: Path | None = None
    test_list: Path | None = None
    train_labels: Path | None = None
    test_labels: Path | None = None


def complete_from_root(files: LabelFiles, report: PrepareReport) -> LabelFiles:
    """Fill what the flags leave open from ``--root``: its official layout, or the derived forms
    of ``mlcap.datasets.nuswide_root`` (a flat Concepts81.txt, per-split label CSVs)."""
    if files.root is None:
        return files
    found = nuswide_root.find_root_files(files.root)
    given_tables = files.train_csv or files.test_csv or files.train_labels or files.test_labels
    out = replace(files, concepts=files.concepts or found.concepts)
    if out.concepts is None:
        raise nuswide_root.missing_concepts(files.root)
    if given_tables or found.official_labels:
        return out
    if not (found.train_csv and found.test_csv):
        raise nuswide_root.missing_labels(files.root, found)
    out = replace(out, train_csv=found.train_csv, test_csv=found.test_csv,
                  train_list=files.train_list or found.train_list, test_list=files.test_list or found.test_list)
    read = [p for p in (out.concepts, out.train_csv, out.test_csv, out.train_list, out.test_list) if p]
    report.note(f"{files.root}: no official Groundtruth/; read the derived files {', '.join(str(p) for p in read)}")
    for pickle_file in found.pickles:
        report.note(f"{pickle_file}: not read (unpickling can run code); to name the rows, write its image names "
                    "one per line and give --train-list/--test-list")
    return out


def read_splits(files: LabelFiles, concepts: list[str], report: PrepareReport) -> dict[str, _Split]:
    if files.train_csv or files.test_csv:
        if not (files.train_csv and files.test_csv):
            raise MlcapError("nuswide: give both --train-csv and --test-csv")
        lists = {"train": files.train_list, "test": files.test_list}
        tables = {"train": files.train_csv, "test": files.test_csv}
        return {s: read_csv_split(tables[s], concepts, s, read_image_list(lists[s]) if lists[s] else None, report)
                for s in ("train", "test")}
    if files.train_labels or files.test_labels:
        if not (files.train_labels and files.test_labels):
            raise MlcapError("nuswide: give both --train-labels and --test-labels")
        return {"train": read_list_split(files.train_labels, concepts, report),
                "test": read_list_split(files.test_labels, concepts, report)}
    if files.root is not None:
        return {s: read_official_split(files.root, concepts, s, report) for s in ("train", "test")}
    raise MlcapError("nuswide: no label files given")


def prepare(out: Path, root: Path | None = None, concepts_file: Path | None = None,
            train_csv: Path | None = None, test_csv: Path | None = None,
            train_list: Path | None = None, test_list: Path | None = None,
            train_labels: Path | None = None, test_labels: Path | None = None,
            images: Path | None = None, split: str = "official", seed: int = 0,
            report: PrepareReport | None = None) -> tuple[dict, dict]:
    report = report or PrepareReport()
    files = complete_from_root(LabelFiles(root, concepts_file, train_csv, test_csv, train_list, test_list,
                                          train_labels, test_labels), report)
    if files.concepts is None:
        raise MlcapError("nuswide: give --root (official layout) or --concepts with the CSV/list files")
    concepts = read_lines(files.concepts)
    if not concepts:
        raise MlcapError(f"{files.concepts}: empty; the concept list names one concept per line")
    splits = read_splits(files, concepts, report)

    tag_info = read_tags(root, {s: v.images for s, v in splits.items()}) if root is not None else None
    samples: dict[str, list[Sample]] = {}
    for name, data in splits.items():
        kept = []
        for i, image_id in enumerate(data.ids):
            if image_id is None:
                continue
            positive = np.nonzero(data.labels[i])[0]
            if positive.size == 0:
                report.drop("no label")
                continue
            image = data.images[i]
            if images is not None and image and not (Path(images) / image).is_file():
                report.problem("image listed but missing", Path(images) / image, None, "file not found")
                continue
            tags = tag_info[1][name][i] if tag_info else []
            kept.append(Sample(id=image_id, image=image, labels=[concepts[j] for j in positive], tags=tags))
        samples[name] = _unique_ids(kept, name, report)
    if split == "paper":
        pool = samples["train"] + samples["test"]
        random.Random(seed).shuffle(pool)
        samples = {"train": pool[:PAPER_TRAIN], "test": pool[PAPER_TRAIN:]}
    elif split != "official":
        raise MlcapError(f"nuswide: --split must be official or paper, not {split!r}")
    extra = {"image_root": str(Path(images).resolve()) if images else None, "source": "nuswide",
             "split_protocol": split}
    meta = write_prepared(out, "nuswide", concepts, samples, tags=tag_info[0] if tag_info else [], extra=extra)
    if images is None:
        report.note("no --images directory given: image files were not checked")
    pathless = sum(1 for split_samples in samples.values() for sample in split_samples if not sample.image)
    if pathless:
        report.note(f"{pathless} images have no image path (label CSVs without image lists): this dataset can "
                    f"be evaluated against, but training on images needs `prepare nuswide --images DIR` with "
                    f"--train-list/--test-list")
    return meta, samples
