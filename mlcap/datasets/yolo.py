"""A YOLO-format folder (``prepare yolo --root R``), as detection labelling tools export it.

* ``R/images/**``: the images (searched recursively, by suffix);
* ``R/labels/**.txt``: per image, at the same relative path, rows ``class cx cy w h`` (or more
  numbers: a segmentation polygon, keypoints); an image without a label file has no label;
* the class names: ``R/data.yaml`` (or ``dataset.yaml``) ``names:`` list, or ``classes.txt`` in
  ``R`` or ``R/labels`` (one name a line); where both are present they must agree.

An image's labels are the set of classes of its rows (multi-label classification; the boxes are
not kept). The splits are drawn from all images (own.py). YAML is read without a YAML library:
only the ``names:`` key, in the forms YOLO tools write (``[a, b]``, ``{0: a}``, ``- a`` or
``0: a`` lines below it).
"""

from __future__ import annotations

import re
from pathlib import Path

from mlcap.data.prepared import Sample, write_prepared
from mlcap.datasets import own
from mlcap.datasets.report import PrepareReport
from mlcap.errors import MlcapError, at
from mlcap.textfile import read_text

#: The suffixes of image files (as ``predict --images`` without ``--glob``; case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def prepare(root: Path, out: Path, options: own.SplitOptions | None = None,
            report: PrepareReport | None = None) -> tuple[dict, dict]:
    report = report or PrepareReport()
    options = options or own.SplitOptions()
    root = Path(root)
    fractions = options.fractions({"train"})
    names = class_names(root)
    image_dir, label_dir = root / "images", root / "labels"
    if not image_dir.is_dir():
        raise MlcapError(f"{root}: no images/ folder (a YOLO folder holds images/, labels/ and classes.txt or data.yaml)")
    files = sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise MlcapError(f"{image_dir}: no image file ({', '.join(IMAGE_SUFFIXES)}) in it or below it")
    pool = []
    for path in files:
        rel = path.relative_to(image_dir)
        labels = _labels(label_dir / rel.with_suffix(".txt"), names, report)
        pool.append(Sample(id=rel.as_posix(), image=f"images/{rel.as_posix()}", labels=labels))
    _orphans(label_dir, image_dir, {p.relative_to(image_dir).with_suffix("") for p in files}, report)
    samples = own.settle({"train": pool}, fractions, options, report)
    extra = {"image_root": str(root.resolve()), "source": "yolo"}
    meta = write_prepared(out, "yolo", names, samples, extra=extra)
    return meta, samples


def class_names(root: Path) -> list[str]:
    """The class names by id, from data.yaml / dataset.yaml and classes.txt (which must agree)."""
    found = []
    for path in (root / "data.yaml", root / "dataset.yaml", root / "classes.txt", root / "labels" / "classes.txt"):
        if path.is_file():
            found.append((path, yaml_names(path) if path.suffix == ".yaml" else _classes_txt(path)))
    if not found:
        raise MlcapError(f"{root}: no class names: give classes.txt (one name a line) or data.yaml with names:")
    path, names = found[0]
    for other, other_names in found[1:]:
        if other_names != names:
            raise MlcapError(f"{other}: its class names differ from {path}'s ({len(other_names)} vs {len(names)} "
                             f"names, first {other_names[:3]} vs {names[:3]}); keep one of the files")
    if len(set(names)) != len(names):
        raise MlcapError(f"{path}: class name {next(n for n in names if names.count(n) > 1)!r} twice")
    return names


def _classes_txt(path: Path) -> list[str]:
    lines = read_text(path, "class list").rstrip().splitlines()
    for line, name in enumerate(lines, 1):
        if not name.strip():
            raise MlcapError(f"{at(path, line)}: empty class name (class ids count the lines)")
    return [name.strip() for name in lines]


def yaml_names(path: Path) -> list[str]:
    """The ``names:`` of a YOLO data.yaml: a flow list or mapping, or a block of ``- name`` or
    ``id: name`` lines."""
    lines = read_text(path, "YOLO data file").splitlines()
    start = next((i for i, l in enumerate(lines) if re.match(r"names\s*:", l)), None)
    if start is None:
        raise MlcapError(f"{path}: no top-level 'names:' key (the class names)")
    rest = _uncomment(lines[start].split(":", 1)[1]).strip()
    where = at(path, start + 1)
    if rest.startswith(("[", "{")):
        close = "]" if rest[0] == "[" else "}"
        text, i = rest, start
        while not text.endswith(close) and i + 1 < len(lines):
            i += 1
            text += " " + _uncomment(lines[i]).strip()
        if not text.endswith(close):
            raise MlcapError(f"{where}: names: {rest[0]} is never closed by {close}")
        items = [_unquote(item) for item in _split_flow(text[1:-1], where)]
        return items if close == "]" else _by_id([item.split(":", 1) for item in items], where)
    if rest:
        raise MlcapError(f"{where}: names: must be a list of class names, not {rest[:40]!r}")
    block = []
    for i in range(start + 1, len(lines)):
        text = _uncomment(lines[i])
        if not text.strip():
            continue
        if not text[0].isspace() and not text.startswith("-"):
            break
        block.append((i + 1, text.strip()))
    if block and all(t.startswith("-") for _, t in block):
        return [_unquote(t[1:]) for _, t in block]
    return _by_id([t.split(":", 1) for _, t in block], where)


def _by_id(pairs: list[list[str]], where: str) -> list[str]:
    try:
        by_id = {int(_unquote(k)): _unquote(v) for k, v in pairs}
    except ValueError:
        by_id = {}
    if not by_id or sorted(by_id) != list(range(len(by_id))):
        raise MlcapError(f"{where}: names: expected a list, or 'id: name' pairs with ids 0, 1, 2, …")
    return [by_id[i] for i in range(len(by_id))]


def _uncomment(text: str) -> str:
    """``text`` without a ``# comment`` outside quotes."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i]
    return text


def _split_flow(text: str, where: str) -> list[str]:
    items, current, quote = [], "", None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            items.append(current)
            current = ""
            continue
        current += ch
    if quote:
        raise MlcapError(f"{where}: names: a quote is never closed")
    items.append(current)
    return [item for item in items if item.strip()]


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _labels(path: Path, names: list[str], report: PrepareReport) -> list[str]:
    """The class names of a label file's rows; a malformed row is reported and skipped."""
    if not path.is_file():
        return []
    found = set()
    for line, row in enumerate(read_text(path, "YOLO label file").splitlines(), 1):
        parts = row.split()
        if not parts:
            continue
        try:
            coords = [float(v) for v in parts[1:]]
            cls = int(parts[0])
        except ValueError:
            coords, cls = [], -1
        if len(coords) < 4:
            report.problem("bad label row", path, line, "expected 'class cx cy w h' (numbers)", drop=False)
        elif not 0 <= cls < len(names):
            report.problem("class id out of range", path, line, f"{parts[0]} (there are {len(names)} class names)",
                           drop=False)
        else:
            found.add(names[cls])
    return sorted(found)


def _orphans(label_dir: Path, image_dir: Path, stems: set[Path], report: PrepareReport) -> None:
    """Label files with no image: counted, and the first few named."""
    if not label_dir.is_dir():
        return
    for path in sorted(label_dir.rglob("*.txt")):
        rel = path.relative_to(label_dir)
        if rel.with_suffix("") not in stems and rel.as_posix() != "classes.txt":
            report.problem("label file without an image", path, None, f"no image {image_dir / rel.stem}.*", drop=False)
