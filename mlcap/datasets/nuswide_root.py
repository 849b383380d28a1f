"""What ``prepare nuswide --root DIR`` reads from DIR: the official layout or its derived forms.

* the concept list: ``ConceptsList/Concepts81.txt`` (official) or ``Concepts81.txt`` at the top
  (the form repositories copy it in, e.g. akshitac8/BiAM);
* the labels: ``Groundtruth/TrainTestLabels/`` (official: one file per concept and split) or one
  table per split, ``*labels_train.zip|csv`` and ``*labels_test.zip|csv`` (the official
  TrainTestLabels as one CSV ``image_id,<concept>,...``, e.g. brthmas/Fast-Zero-Shot-Image-Tagging's
  ``labels_train.zip``), read as ``--train-csv``/``--test-csv``;
* with the tables, the image lists naming their rows: ``ImageList/{Train,Test}Imagelist.txt`` or
  the same names at the top, read as ``--train-list``/``--test-list``.

A pickle of image names (BiAM's ``test_img_names.pkl``) is never read: unpickling can run code.
Files given by flag win over what is found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlcap.errors import MlcapError

OFFICIAL_CONCEPTS = Path("ConceptsList") / "Concepts81.txt"
OFFICIAL_LABELS = Path("Groundtruth") / "TrainTestLabels"
FLAGS = ("give --concepts FILE with --train-csv/--test-csv (one 'image_id,<concept>,...' table per split) "
         "or --train-labels/--test-labels ('path v1 ... v81' lists)")


@dataclass
class RootFiles:
    concepts: Path | None = None
    official_labels: bool = False           # Groundtruth/TrainTestLabels/ is there
    train_csv: Path | None = None
    test_csv: Path | None = None
    train_list: Path | None = None
    test_list: Path | None = None
    pickles: tuple[Path, ...] = ()          # image-name pickles found (not read)


def _table(root: Path, split: str) -> Path | None:
    found = sorted(p for ext in ("zip", "csv") for p in root.glob(f"*labels_{split}.{ext}") if p.is_file())
    if len(found) > 1:
        raise MlcapError(f"{root}: {len(found)} {split} label tables ({', '.join(p.name for p in found)}): "
                         f"give the one to read as --{split}-csv")
    return found[0] if found else None


def _first_file(*paths: Path) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def find_root_files(root: Path) -> RootFiles:
    """The files of ``root`` in the official layout or a derived form (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise MlcapError(f"{root}: not found or not a directory (--root names the NUS-WIDE folder)")
    found = RootFiles(concepts=_first_file(root / OFFICIAL_CONCEPTS, root / "Concepts81.txt"),
                      official_labels=(root / OFFICIAL_LABELS).is_dir(),
                      pickles=tuple(sorted(root.glob("*img_names.pkl"))))
    if not found.official_labels:
        found.train_csv, found.test_csv = _table(root, "train"), _table(root, "test")
        found.train_list = _first_file(root / "ImageList" / "TrainImagelist.txt", root / "TrainImagelist.txt")
        found.test_list = _first_file(root / "ImageList" / "TestImagelist.txt", root / "TestImagelist.txt")
    return found


def missing_concepts(root: Path) -> MlcapError:
    return MlcapError(f"{root}: no concept list ({OFFICIAL_CONCEPTS} or Concepts81.txt): give --concepts FILE")


def missing_labels(root: Path, found: RootFiles) -> MlcapError:
    have = [f"{name} {p.name}" for name, p in (("train table", found.train_csv), ("test table", found.test_csv)) if p]
    return MlcapError(f"{root}: no label files ({OFFICIAL_LABELS}/ or both *labels_train.zip|csv and "
                      f"*labels_test.zip|csv{'; found only ' + ', '.join(have) if have else ''}): {FLAGS}")
