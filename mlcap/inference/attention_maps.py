"""``mlcap predict --attention DIR``: where the model looked for each label it emitted.

A method that has attention declares ``attention_maps(model, batch, spec, decode, decoded)`` (see
``mlcap.protocol``): per image, a tensor (L, h, w) with one map over its feature grid per label
of ``decoded.sequences`` (repeats included, in emitted order). Each map is scaled to [0, 1],
upsampled to the model's input size and laid over the image as the model saw it (crop and
resize, ``mlcap.data.loader.load_image``) with a colour map, one PNG per emitted label:
``DIR/<image id>/<step>_<label>.png`` for a prepared split, ``DIR/<n>_<file stem>/<step>_<label>.png``
for image files (``predict --images``; n: the file's place among them, from 1). Characters other
than letters, digits, ``.``, ``_`` and ``-`` in ids, stems and labels become ``_``. An image whose
file cannot be read (e.g. a run predicted from cached features whose images are gone) is skipped
and counted.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from mlcap.data.decode import fit_image, open_image
from mlcap.data.loader import load_image
from mlcap.data.prepared import PreparedDataset


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)) or "_"


def overlay(image: Image.Image, heat: torch.Tensor, alpha: float = 0.5) -> Image.Image:
    """``heat`` (h, w), any range, scaled to [0, 1] and upsampled onto ``image`` with the jet colours."""
    import matplotlib

    heat = heat.detach().float().cpu()
    low, high = heat.min(), heat.max()
    heat = (heat - low) / (high - low) if high > low else torch.zeros_like(heat)
    w, h = image.size
    heat = F.interpolate(heat[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
    colour = matplotlib.colormaps["jet"](heat)[..., :3]
    base = np.asarray(image, dtype=np.float32) / 255.0
    return Image.fromarray(((1 - alpha) * base * 255 + alpha * colour * 255).clip(0, 255).astype(np.uint8))


class AttentionWriter:
    """Writes the maps of each image under ``out``; ``locate(image_id)`` gives the image's folder name
    and a function opening the image as the model saw it (see ``for_split``, ``for_files``)."""

    def __init__(self, out: Path, image_size: int, locate):
        self.out, self.image_size, self.locate = Path(out), image_size, locate
        self.images = self.maps = 0
        self.unreadable: list[str] = []
        self.out.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_split(cls, out: Path, data: PreparedDataset, split: str, image_size: int) -> "AttentionWriter":
        """A prepared split's images: ``DIR/<image id>/``."""
        samples = {s.id: s for s in data.samples(split)}

        def locate(image_id):
            sample = samples[image_id]
            return safe_name(image_id), str(data.image_path(sample)), lambda: load_image(data, sample, image_size)

        return cls(out, image_size, locate)

    @classmethod
    def for_files(cls, out: Path, paths: list, image_size: int) -> "AttentionWriter":
        """Image files (ids: the paths as given): ``DIR/<n>_<file stem>/``, n its place in ``paths``
        from 1 (zero-padded to the width of the count), so that two files of one stem stay apart."""
        width, places = len(str(len(paths))), {}
        for n, path in enumerate(paths, 1):
            places.setdefault(str(path), []).append(n)

        def locate(image_id):
            n = places[image_id].pop(0) if len(places[image_id]) > 1 else places[image_id][0]
            return (f"{n:0{width}d}_{safe_name(Path(image_id).stem)}", image_id,
                    lambda: fit_image(open_image(image_id), image_size))

        return cls(out, image_size, locate)

    def write(self, image_id: str, labels: list[str], maps: torch.Tensor) -> None:
        name, source, load = self.locate(image_id)
        try:
            image = load()
        except (OSError, UnidentifiedImageError, ValueError):
            self.unreadable.append(source)
            return
        folder = self.out / name
        folder.mkdir(exist_ok=True)
        for step, (label, heat) in enumerate(zip(labels, maps), 1):
            overlay(image, heat).save(folder / f"{step:02d}_{safe_name(label)}.png")
            self.maps += 1
        self.images += 1

    def summary(self) -> str:
        text = f"attention: {self.maps} maps of {self.images} images in {self.out}"
        if self.unreadable:
            text += f"; {len(self.unreadable)} images unreadable, no maps (first: {self.unreadable[0]})"
        return text
