"""``--decode gpu``: JPEGs decoded on the training device (nvJPEG through
``torchvision.io.decode_jpeg(device="cuda")``), batched, in the main process.

The loader's workers read each JPEG's bytes and check it as the other decoders do (regular file,
pixel limit from the header, and a decode at 1/8 scale with PIL's draft mode, so that a corrupt
file is skipped and counted where every other skip is); ``Collate`` leaves the rows of those
images empty and lists them (``PendingImages.encoded``, mlcap/data/image_batch.py);
``batch_to_device`` decodes them on the device, crops and resizes them (bilinear, antialiased)
into their rows, then normalises the batch there. Other formats are
decoded by PIL in the workers. Without CUDA the same path runs on the CPU (what the tests run).
Augmentation is refused with it: the transforms run on the workers' decoded pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from mlcap.errors import MlcapError


@dataclass
class EncodedImage:
    """One JPEG of a batch, still encoded: its row, its bytes and how to fit it."""
    row: int
    data: torch.Tensor          # uint8 file bytes
    box: list | None
    path: str
    size: int


def read_checked_jpeg(path: Path, box: list | None = None) -> torch.Tensor:
    """The file's bytes, after the checks of the other decoders and a 1/8-scale decode (OSError)."""
    from torchvision.io import read_file

    from mlcap.data.decode import _check_header
    from mlcap.data.loader import MAX_IMAGE_PIXELS

    _check_header(path, MAX_IMAGE_PIXELS)
    try:
        with Image.open(path) as im:
            w, h = im.size
            im.draft("RGB", (max(1, w // 8), max(1, h // 8)))
            im.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise OSError(f"JPEG decoding failed: {str(e)[:100]}") from None
    if box and (box[0] >= w or box[1] >= h or box[0] + box[2] <= 0 or box[1] + box[3] <= 0):
        raise OSError(f"box {box} is outside the image")
    return read_file(str(path))


def decode_into(pixels: torch.Tensor, encoded: list[EncodedImage]) -> None:
    """Decodes ``encoded`` on the device of ``pixels`` ((B, H, W, 3) uint8) and writes each,
    cropped and resized (bilinear, antialiased), into its row."""
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    device = pixels.device
    try:
        decoded = decode_jpeg([e.data for e in encoded], mode=ImageReadMode.RGB, device=device)
    except RuntimeError as err:      # checked in the worker: a file that fails here is an error, never a loss
        raise MlcapError(f"{encoded[0].path} ... ({len(encoded)} JPEGs of a batch): decoding on {device} "
                         f"failed: {str(err).splitlines()[0][:120]}") from None
    for e, img in zip(encoded, decoded):
        if e.box:
            x0, y0, x1, y1 = (int(v) for v in (e.box[0], e.box[1], e.box[0] + e.box[2], e.box[1] + e.box[3]))
            img = img[:, max(y0, 0): max(y1, 0), max(x0, 0): max(x1, 0)]
        if tuple(img.shape[1:]) != (e.size, e.size):
            img = TF.resize(img, [e.size, e.size], interpolation=InterpolationMode.BILINEAR, antialias=True)
        pixels[e.row] = img.permute(1, 2, 0)
