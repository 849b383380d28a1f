"""Images that are not a prepared dataset: files, folders, paths on stdin, PIL images, tensors.

``mlcap predict --images`` and ``mlcap.load_run(...).predict`` read them here, with the prepared
loader's guarantees (RGB, 16-bit greyscale scaled, the pixel limit, regular files only, an
unreadable file skipped and reported) and its resize and normalisation, so a file gives the
same scores whether it is predicted here or from a prepared split.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from mlcap.data.decode import fit_image, open_image
from mlcap.data.loader import Collate, to_tensor
from mlcap.data.pipeline import loader_settings
from mlcap.errors import MlcapError
from mlcap.textfile import decode_utf8

#: What a folder contributes without ``--glob`` (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def _folder_images(folder: Path, glob: str | None) -> list[Path]:
    try:
        found = folder.rglob(glob) if glob else (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        files = sorted(p for p in found if p.is_file())
    except (NotImplementedError, ValueError) as e:
        raise MlcapError(f"--glob {glob!r}: not a pattern relative to the folder ({e})") from None
    if not files:
        what = f"matching {glob!r}" if glob else f"with an image suffix ({', '.join(IMAGE_SUFFIXES)})"
        raise MlcapError(f"{folder}: no file {what} in the folder or below it (--glob sets the pattern)")
    return files


def _stdin_paths() -> list[Path]:
    if sys.stdin is None:
        raise MlcapError("--images -: stdin is closed; pipe the image paths in, one per line")
    buffer = getattr(sys.stdin, "buffer", None)
    text = decode_utf8(buffer.read(), "stdin") if buffer is not None else sys.stdin.read()
    return [Path(line.strip()) for line in text.splitlines() if line.strip()]


def collect_image_paths(args: list[str], glob: str | None = None) -> list[Path]:
    """Files as given (any suffix), folders searched recursively (``glob`` or the image suffixes),
    ``-``: one path per line on stdin. A path that is not there (an argument or a listed one) is
    kept, to be skipped and counted when it is read, as an unreadable file is; when none of them
    is there, that is an error."""
    if not args:
        raise MlcapError("--images: give image files, folders, or - (paths on stdin)")
    if args.count("-") > 1:
        raise MlcapError("--images: - (stdin) is given twice: it can be read once")
    paths: list[Path] = []
    for arg in args:
        if arg == "-":
            paths.extend(_stdin_paths())
            continue
        path = Path(arg)
        if path.is_dir():
            paths.extend(_folder_images(path, glob))
        else:
            paths.append(path)
    if not paths:
        raise MlcapError("--images: stdin listed no image path")
    if not any(p.exists() or p.is_symlink() for p in paths):
        raise MlcapError(f"{paths[0]}: no such file or folder" if len(paths) == 1 else
                         f"--images: none of the {len(paths)} paths exists (first: {paths[0]})")
    return paths


def _pil_from_tensor(t: torch.Tensor) -> Image.Image:
    """(3, H, W) or (1, H, W) or (H, W): float in [0, 1] or uint8 in [0, 255]."""
    t = t.detach().cpu()
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3 or t.shape[0] not in (1, 3) or t.numel() == 0:
        raise ValueError(f"an image tensor is (3, H, W), (1, H, W) or (H, W), not {tuple(t.shape)}")
    if t.dtype != torch.uint8:
        t = t.float()
        if not bool(torch.isfinite(t).all()) or float(t.min()) < 0 or float(t.max()) > 1:
            raise ValueError("a float image tensor holds values in [0, 1]")
        t = (t * 255).round().to(torch.uint8)
    return Image.fromarray(np.ascontiguousarray(t.expand(3, -1, -1).permute(1, 2, 0).numpy()), "RGB")


def _as_pil(item) -> tuple[str | int | None, Image.Image]:
    if isinstance(item, (str, Path)):
        return str(item), open_image(item)
    if isinstance(item, Image.Image):
        return None, item.convert("RGB")
    if isinstance(item, torch.Tensor):
        return None, _pil_from_tensor(item)
    raise TypeError(f"an image is a path, a PIL image or a tensor, not {type(item).__name__}")


class ImageInputDataset(Dataset):
    """Items as ``ImageLabelDataset`` gives them (no labels); ids are the paths as given, or the
    position in the list for in-memory images."""

    def __init__(self, images: list, image_size: int, mean: tuple, std: tuple):
        self.images, self.image_size = images, image_size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        item = self.images[i]
        try:
            image_id, im = _as_pil(item)
            pixels = to_tensor(fit_image(im, self.image_size))
        except (OSError, UnidentifiedImageError, ValueError) as e:
            return {"skip": f"{item if isinstance(item, (str, Path)) else f'image {i}'}: "
                            f"{type(e).__name__}: {str(e)[:120]}"}
        return {"id": image_id if image_id is not None else i, "image": (pixels - self.mean) / self.std,
                "labels": [], "unknown": [], "tags": [], "captions": []}


def make_image_loader(images: list, num_labels: int, image_size: int, mean, std, batch_size: int,
                      num_workers: int = 0, device=None) -> DataLoader:
    return DataLoader(ImageInputDataset(images, image_size, mean, std), batch_size=batch_size,
                      collate_fn=Collate(num_labels, 0, None), **loader_settings(num_workers, device))
