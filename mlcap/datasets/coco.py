"""MS-COCO from its official annotation files (``--root`` with ``annotations/`` and image folders).

* ``annotations/instances_{train,val}YEAR.json`` via pycocotools: image-level labels over the
  80 categories, mapped by category id and named by category name (ids are not contiguous).
* ``annotations/captions_{train,val}YEAR.json``: the captions of each image.
* Splits: ``train`` = trainYEAR, ``test`` = valYEAR; or, with ``--karpathy dataset_coco.json``,
  the Karpathy split (``train`` + ``restval`` -> train, ``val``, ``test``) by COCO id.
* ``--labels concepts`` makes the caption concept set (the most frequent caption words) the
  label vocabulary instead of the categories, for captioning with S-CNN-RNN.

``caption_vocab.json`` holds the word vocabulary (``--vocab-size`` most frequent training words,
or ``--min-count``) and the concept set with its coverage of training word occurrences.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from mlcap.data.prepared import Sample, write_prepared
from mlcap.datasets import captions as text
from mlcap.datasets.own import settled
from mlcap.datasets.report import PrepareReport
from mlcap.errors import MlcapError
from mlcap.textfile import expect, read_json

KARPATHY_SPLITS = ("train", "restval", "val", "test")


def _load_coco(path: Path, report: PrepareReport, instances: bool):
    """A pycocotools ``COCO`` index of ``path``, after checking the layout it assumes: ``images``
    with unique ids, ``annotations`` that name a listed image, and (instances) ``categories``."""
    from pycocotools.coco import COCO

    doc = read_json(path, "COCO annotation file")
    where = str(path)
    expect(doc, dict, where, "the top level")
    required = ("images", "annotations", "categories") if instances else ("images", "annotations")
    for key in required:
        if key not in doc:
            raise MlcapError(f"{path}: no {key!r}; not a COCO {'instances' if instances else 'captions'} file")
        expect(doc[key], list, where, key)
    images, seen = [], set()
    for i, image in enumerate(doc["images"]):
        if not isinstance(image, dict) or not _is_int(image.get("id")) or not isinstance(image.get("file_name"), str):
            report.problem("bad image entry", path, None, f"images[{i}] needs an integer id and a file_name")
            continue
        if image["id"] in seen:
            report.problem("duplicate image id", path, None, f"images[{i}]: id {image['id']} again")
            continue
        seen.add(image["id"])
        images.append(image)
    annotations = []
    for i, a in enumerate(doc["annotations"]):
        if not isinstance(a, dict) or not _is_int(a.get("image_id")) or not _is_int(a.get("id", 0)):
            report.problem("bad annotation", path, None, f"annotations[{i}] needs an integer image_id", drop=False)
        elif a["image_id"] not in seen:
            report.problem("annotation for an unknown image", path, None,
                           f"annotations[{i}]: image_id {a['image_id']}", drop=False)
        elif instances and not _is_int(a.get("category_id")):
            report.problem("bad annotation", path, None, f"annotations[{i}] needs an integer category_id", drop=False)
        elif not instances and not isinstance(a.get("caption"), str):
            report.problem("bad annotation", path, None, f"annotations[{i}] needs a caption string", drop=False)
        else:
            annotations.append(a)
    categories = doc.get("categories", [])
    for i, cat in enumerate(categories):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")) or not isinstance(cat.get("name"), str):
            raise MlcapError(f"{path}: categories[{i}] needs an integer id and a name")
    coco = COCO()
    coco.dataset = {**doc, "images": images, "annotations": annotations}
    if instances:
        coco.dataset["categories"] = categories
    with contextlib.redirect_stdout(io.StringIO()):   # pycocotools prints progress on stdout
        coco.createIndex()
    return coco


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class TextOptions:
    """What becomes the labels (``categories`` or caption ``concepts``) and the caption vocabulary."""
    labels: str = "categories"
    vocab_size: int = 12000
    min_count: int | None = None
    concepts: int = 1000
    drop_stop_words: bool = False


def prepare(root: Path, out: Path, year: str = "2017", karpathy: Path | None = None, labels: str = "categories",
            vocab_size: int = 12000, min_count: int | None = None, concepts: int = 1000,
            drop_stop_words: bool = False, check_images: bool = True,
            report: PrepareReport | None = None, keep_unlabelled: bool = False) -> tuple[dict, dict]:
    report = report or PrepareReport()
    root = Path(root)
    ann = root / "annotations"
    categories: dict[int, str] = {}
    per_split = {split: _read_split(ann, split, year, categories, report) for split in ("train", "val")}
    by_split = _assign_splits(per_split, _karpathy_splits(karpathy) if karpathy is not None else None, report)
    if "train" not in by_split:
        raise MlcapError(f"{root}: no training images found")
    text_options = TextOptions(labels, vocab_size, min_count, concepts, drop_stop_words)
    return finish(out, dict(sorted(by_split.items())), categories, root, f"coco{year}", text_options,
                  check_images, keep_unlabelled, report)


def finish(out: Path, by_split: dict[str, list[tuple[int, dict]]], categories: dict[int, str], image_root: Path,
           source: str, opts: TextOptions, check_images: bool, keep_unlabelled: bool,
           report: PrepareReport) -> tuple[dict, dict]:
    """The labels of each image (categories or concepts), the caption vocabulary, and the
    prepared dataset written."""
    counts = text.word_counts(c for _, rec in by_split.get("train", []) for c in rec["captions"])
    vocab = text.build_vocabulary(counts, opts.vocab_size, opts.min_count) if counts else []
    concept_words, coverage = text.concept_set(counts, opts.concepts, opts.drop_stop_words) if counts else ([], 0.0)
    if opts.labels == "concepts":
        if not concept_words:
            raise MlcapError(f"{image_root}: --labels concepts needs captions of training images")
        label_names, names_of = sorted(concept_words), _concepts_of(set(concept_words))
    elif opts.labels == "categories":
        if not categories:
            raise MlcapError(f"{image_root}: --labels categories needs an instances file")
        label_names, names_of = [categories[i] for i in sorted(categories)], _categories_of(categories)
    else:
        raise MlcapError(f"coco: --labels must be categories or concepts, not {opts.labels!r}")
    samples = {split: _samples(items, names_of, image_root, check_images, report, split, keep_unlabelled)
               for split, items in by_split.items()}
    settled(samples, keep_unlabelled, report)
    extra = {"image_root": str(Path(image_root).resolve()), "source": source, "label_kind": opts.labels}
    meta = write_prepared(out, "coco", label_names, samples, extra=extra)
    if counts:
        (Path(out) / "caption_vocab.json").write_text(json.dumps(
            {"words": vocab, "concepts": concept_words, "concept_coverage": coverage,
             "training_word_occurrences": sum(counts.values())}, indent=1))
        report.note(f"caption concepts: {len(concept_words)} most frequent words cover {coverage:.1%} of the "
                    f"{sum(counts.values())} training word occurrences; vocabulary {len(vocab)} words")
    return meta, samples


def _read_split(ann: Path, split: str, year: str, categories: dict[int, str], report: PrepareReport) -> dict:
    """``{image id: record}`` of one official split, from its instances and captions files."""
    inst_path, cap_path = ann / f"instances_{split}{year}.json", ann / f"captions_{split}{year}.json"
    if not inst_path.exists() and not cap_path.exists():
        raise MlcapError(f"{ann}: neither instances_{split}{year}.json nor captions_{split}{year}.json")
    return read_files(inst_path if inst_path.exists() else None, cap_path if cap_path.exists() else None,
                      f"{split}{year}/", categories, report)


def read_files(inst_path: Path | None, cap_path: Path | None, prefix: str, categories: dict[int, str],
               report: PrepareReport) -> dict:
    """``{image id: {"file": prefix + file_name, "cats", "captions"}}`` from an instances and a
    captions file (either may be None); ``categories`` (id -> name) grows with the instances file's."""
    records: dict[int, dict] = {}
    if inst_path is not None:
        coco = _load_coco(inst_path, report, instances=True)
        for cat in coco.loadCats(coco.getCatIds()):
            if categories.setdefault(cat["id"], cat["name"]) != cat["name"]:
                raise MlcapError(f"{inst_path}: category id {cat['id']} named differently across files")
        for image_id, image in coco.imgs.items():
            cats = {a["category_id"] for a in coco.imgToAnns.get(image_id, [])}
            unknown = cats - set(categories)
            if unknown:
                report.problem("unknown category id", inst_path, None, f"image {image_id}: {sorted(unknown)}")
                continue
            records[image_id] = {"file": prefix + image["file_name"], "cats": cats, "captions": []}
    if cap_path is not None:
        caps = _load_coco(cap_path, report, instances=False)
        for image_id, image in caps.imgs.items():
            rec = records.setdefault(image_id, {"file": prefix + image["file_name"], "cats": set(),
                                                "captions": [], "no_instances": inst_path is None})
            rec["captions"] = [a["caption"].strip() for a in caps.imgToAnns.get(image_id, [])]
    return records


def _karpathy_splits(karpathy: Path) -> dict[int, str]:
    """Image id -> train/val/test from a Karpathy split file (restval trains)."""
    doc = read_json(Path(karpathy), "Karpathy split file")
    entries = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and _is_int(e.get("cocoid")) and e.get("split") in KARPATHY_SPLITS
            for e in entries):
        raise MlcapError(f"{karpathy}: not a Karpathy split file (dataset_coco.json: images with "
                         f"cocoid and split {'|'.join(KARPATHY_SPLITS)})")
    return {e["cocoid"]: {"restval": "train"}.get(e["split"], e["split"]) for e in entries}


def _assign_splits(per_split: dict[str, dict], karpathy: dict[int, str] | None,
                   report: PrepareReport) -> dict[str, list[tuple[int, dict]]]:
    """The prepared splits: official train -> train and val -> test, or the Karpathy split's."""
    assignment = {"train": "train", "val": "test"}
    by_split: dict[str, list[tuple[int, dict]]] = {}
    for coco_split, records in per_split.items():
        for image_id, rec in records.items():
            target = karpathy.get(image_id) if karpathy is not None else assignment[coco_split]
            if target is None:
                report.drop("not in the Karpathy split")
                continue
            by_split.setdefault(target, []).append((image_id, rec))
    return by_split


def _concepts_of(lookup: set[str]):
    return lambda rec: text.concepts_of(rec["captions"], lookup)


def _categories_of(categories: dict[int, str]):
    return lambda rec: [categories[c] for c in sorted(rec["cats"])]


def _samples(items: list[tuple[int, dict]], names_of, root: Path, check_images: bool,
             report: PrepareReport, split: str, keep_unlabelled: bool) -> list[Sample]:
    kept = []
    for image_id, rec in sorted(items, key=lambda item: item[0]):
        names = names_of(rec)
        if not names and not keep_unlabelled:
            report.drop("no label", split=split)
            continue
        if check_images and not (root / rec["file"]).is_file():
            report.problem("image listed but missing", root / rec["file"], None, "file not found", split=split)
            continue
        kept.append(Sample(id=str(image_id), image=rec["file"], labels=names, captions=rec["captions"]))
    return kept
