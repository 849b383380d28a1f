"""One COCO-format annotation file, as labelling tools export it (CVAT, Label Studio, Roboflow…),
with any image folder: ``prepare coco --instances FILE.json --images DIR [--captions FILE.json]``.

``file_name`` of each image is relative to ``--images``. Labels: the file's categories (by id,
named by name), or ``--labels concepts`` from the captions. One file has no split: train, val
and test are drawn from its images, stratified by category (own.py, splitting.py).
"""

from __future__ import annotations

from pathlib import Path

from mlcap.datasets import coco, own
from mlcap.datasets.report import PrepareReport
from mlcap.errors import MlcapError


def prepare(instances: Path, images: Path, out: Path, captions: Path | None = None,
            options: own.SplitOptions | None = None, text_options: coco.TextOptions | None = None,
            check_images: bool = True, report: PrepareReport | None = None) -> tuple[dict, dict]:
    report = report or PrepareReport()
    options = options or own.SplitOptions()
    text_options = text_options or coco.TextOptions()
    images = Path(images)
    if not images.is_dir():
        raise MlcapError(f"{images}: --images is not a folder")
    fractions = options.fractions({"train"})
    categories: dict[int, str] = {}
    records = coco.read_files(Path(instances), Path(captions) if captions else None, "", categories, report)
    pool = []
    for image_id, rec in sorted(records.items()):
        if check_images and not (images / rec["file"]).is_file():
            report.problem("image listed but missing", images / rec["file"], None, f"{instances}: image id {image_id}")
        elif not rec["cats"] and text_options.labels == "categories" and not options.keep_unlabelled:
            report.drop("no label")           # before splitting: it takes no place in a split
        else:
            pool.append((image_id, rec))
    if not pool:
        raise MlcapError(f"{instances}: no image with a label and an image file under {images} "
                         f"({len(records)} image(s) listed)")
    by_split = own.draw(pool, fractions, options.seed or 0, report,
                        labels=lambda item: [categories[c] for c in item[1]["cats"]])
    source = f"coco file {Path(instances).name}"
    return coco.finish(out, by_split, categories, images, source, text_options, False, options.keep_unlabelled,
                       report)
