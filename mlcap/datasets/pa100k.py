"""PA-100K pedestrian attributes from the official ``annotation.mat`` (scipy.io).

Keys: ``attributes`` (26 names), ``{train,val,test}_images_name`` and ``{train,val,test}_label``
(0/1 per attribute). Images live in ``ROOT/data/`` (or ``--images``). An empty image name is
reported with its row and dropped. Attribute datasets keep images with no positive attribute:
every attribute is a known negative there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlcap.data.prepared import Sample, write_prepared
from mlcap.datasets.report import PrepareReport
from mlcap.errors import MlcapError


def _strings(cell_array) -> list[str]:
    out = []
    for cell in np.asarray(cell_array).ravel():
        values = np.asarray(cell).ravel()
        out.append(str(values[0]).strip() if values.size else "")
    return out


def prepare(root: Path, out: Path, annotation: Path | None = None, images: Path | None = None,
            report: PrepareReport | None = None) -> tuple[dict, dict]:
    import scipy.io

    report = report or PrepareReport()
    root = Path(root)
    annotation = Path(annotation) if annotation else root / "annotation.mat"
    images = Path(images) if images else root / "data"
    if not annotation.is_file():
        raise MlcapError(f"{annotation}: not found")
    try:
        mat = scipy.io.loadmat(str(annotation))
    except Exception as e:
        raise MlcapError(f"{annotation}: not a MATLAB file ({type(e).__name__}: {e})") from None
    if "attributes" not in mat:
        raise MlcapError(f"{annotation}: no 'attributes' variable")
    attributes = _strings(mat["attributes"])
    samples: dict[str, list[Sample]] = {}
    seen: dict[str, str] = {}
    for split in ("train", "val", "test"):
        names_key, label_key = f"{split}_images_name", f"{split}_label"
        if names_key not in mat or label_key not in mat:
            raise MlcapError(f"{annotation}: missing {names_key} or {label_key}")
        names, labels = _strings(mat[names_key]), np.asarray(mat[label_key])
        if labels.shape != (len(names), len(attributes)):
            raise MlcapError(f"{annotation}: {label_key} is {labels.shape}, expected ({len(names)}, {len(attributes)})")
        kept = []
        for row, (name, values) in enumerate(zip(names, labels), 1):
            where = f"{annotation}[{names_key}]"
            if not name:
                report.problem("empty image name", where, row, "no file name")
                continue
            if not set(np.unique(values)) <= {0, 1}:
                report.problem("label value not 0/1", f"{annotation}[{label_key}]", row, str(sorted(set(values))))
                continue
            if not (images / name).is_file():
                report.problem("image listed but missing", images / name, None, f"{names_key} row {row}")
                continue
            if name in seen:
                report.note(f"{name} is in both {seen[name]} and {split} (as in the release)")
            seen.setdefault(name, split)
            kept.append(Sample(id=Path(name).stem, image=name,
                               labels=[attributes[j] for j in np.nonzero(values)[0]]))
        samples[split] = kept
    meta = write_prepared(out, "pa100k", attributes, samples,
                          extra={"image_root": str(images.resolve()), "source": str(annotation)})
    return meta, samples
