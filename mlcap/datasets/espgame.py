"""ESP Game in the TagProp-style release (Guillaumin et al., ICCV 2009): 268 words.

Files in ``--root``: ``espgame_dictionary.txt`` (one word per line), ``espgame_{train,test}_list.txt``
(one image path per line, with or without ``.jpg``), and ``espgame_{train,test}_annot.txt`` (one
line per image of the list, the image's words as dictionary words or 0-based indices, space
separated). The TagProp train/test split is the two lists.
"""

from __future__ import annotations

from pathlib import Path

from mlcap.data.prepared import Sample, write_prepared
from mlcap.datasets.report import PrepareReport
from mlcap.errors import MlcapError
from mlcap.textfile import read_text


def _lines(path: Path) -> list[str]:
    if not path.exists():
        raise MlcapError(f"{path}: not found")
    return read_text(path).splitlines()


def prepare(root: Path, out: Path, check_images: bool = True,
            report: PrepareReport | None = None) -> tuple[dict, dict]:
    report = report or PrepareReport()
    root = Path(root)
    words = [w.strip() for w in _lines(root / "espgame_dictionary.txt") if w.strip()]
    index = {w: i for i, w in enumerate(words)}
    samples: dict[str, list[Sample]] = {}
    for split in ("train", "test"):
        images = [l.strip() for l in _lines(root / f"espgame_{split}_list.txt") if l.strip()]
        annot_path = root / f"espgame_{split}_annot.txt"
        annots = _lines(annot_path)
        if len(annots) != len(images):
            raise MlcapError(f"{annot_path}: {len(annots)} lines for {len(images)} images in the list")
        kept = []
        for line, (image, text) in enumerate(zip(images, annots), 1):
            labels = []
            for token in text.split():
                word = words[int(token)] if token.isdigit() and int(token) < len(words) else token
                if word not in index:
                    report.problem("unknown label", annot_path, line, repr(token))
                    labels = None
                    break
                labels.append(word)
            if labels is None:
                continue
            if not labels:
                report.drop("no label")
                continue
            if not Path(image).suffix:
                image += ".jpg"
            if check_images and not (root / image).is_file():
                report.problem("image listed but missing", root / image, None, f"{split} list line {line}")
                continue
            kept.append(Sample(id=Path(image).stem, image=image, labels=sorted(set(labels), key=index.get)))
        samples[split] = kept
    meta = write_prepared(out, "espgame", words, samples, extra={"image_root": str(root.resolve())})
    return meta, samples
