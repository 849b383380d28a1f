"""WIDER Attribute from ``wider_attribute_{trainval,test}.json``.

Format (Li et al., ECCV 2016 release): ``{"images": [{"file_name", "targets": [{"bbox": [x, y, w, h],
"attribute": [14 values]}]}], "attribute_id_map": {"0": "Male", ...}}``. One sample per person box
(the loader crops the box); attribute 1 -> positive, -1 -> negative, 0 -> unknown (masked from
losses and metrics). Images live under ``ROOT/Image/``.
"""

from __future__ import annotations

from pathlib import Path

from mlcap.data.prepared import Sample, write_prepared
from mlcap.datasets.report import PrepareReport
from mlcap.errors import MlcapError
from mlcap.textfile import read_json


def _load(path: Path) -> dict:
    if not path.exists():
        raise MlcapError(f"{path}: not found")
    doc = read_json(path, "WIDER Attribute file")
    if not isinstance(doc, dict):
        raise MlcapError(f"{path}: expected an object with images and attribute_id_map")
    return doc


def prepare(root: Path, out: Path, check_images: bool = True,
            report: PrepareReport | None = None) -> tuple[dict, dict]:
    report = report or PrepareReport()
    root = Path(root)
    attributes: list[str] | None = None
    samples: dict[str, list[Sample]] = {}
    for split, name in (("train", "trainval"), ("test", "test")):
        path = root / f"wider_attribute_{name}.json"
        doc = _load(path)
        try:
            id_map = doc["attribute_id_map"]
            names = [id_map[str(i)] for i in range(len(id_map))]
            images = doc["images"]
        except (KeyError, TypeError):
            raise MlcapError(f"{path}: not a WIDER Attribute file (needs images and attribute_id_map)") from None
        if attributes is None:
            attributes = names
        elif names != attributes:
            raise MlcapError(f"{path}: attribute_id_map differs from the trainval file's")
        kept = []
        for i, image in enumerate(images):
            file_name = f"Image/{image.get('file_name', '')}"
            if check_images and not (root / file_name).is_file():
                report.problem("image listed but missing", root / file_name, None, f"images[{i}]")
                continue
            for j, target in enumerate(image.get("targets", [])):
                values, box = target.get("attribute"), target.get("bbox")
                if (not isinstance(values, list) or len(values) != len(attributes)
                        or not all(type(v) is int and v in (1, -1, 0) for v in values)
                        or not isinstance(box, list) or len(box) != 4
                        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
                    report.problem("bad person box", path, None, f"images[{i}].targets[{j}]")
                    continue
                kept.append(Sample(id=f"{Path(file_name).stem}#{j}", image=file_name,
                                   labels=[a for a, v in zip(attributes, values) if v == 1],
                                   unknown=[a for a, v in zip(attributes, values) if v == 0],
                                   box=[float(v) for v in box]))
        samples[split] = kept
    meta = write_prepared(out, "wider", attributes or [], samples, extra={"image_root": str(root.resolve())})
    return meta, samples
