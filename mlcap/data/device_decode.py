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

import numpy as np
import torch
from PIL import Image

from mlcap.data import decode
from mlcap.data.decode import box_bounds, check_header
from mlcap.errors import MlcapError


@dataclass
class EncodedImage:
    """One JPEG of a batch, still encoded: its row, its bytes and how to fit it."""
    row: int
    data: np.ndarray            # uint8 file bytes (numpy: pickled through the worker queue, where a
                                # tensor would hold a shared-memory file descriptor per JPEG)
    box: list | None
    path: str
    size: int


def read_checked_jpeg(path: Path, box: list | None = None) -> np.ndarray:
    """The file's bytes, after the checks of the other decoders and a 1/8-scale decode (OSError)."""
    check_header(path, decode.MAX_IMAGE_PIXELS)        # read here, not bound at import (MLCAP_MAX_IMAGE_PIXELS)
    try:
        with Image.open(path) as im:
            w, h = im.size
            im.draft("RGB", (max(1, w // 8), max(1, h // 8)))
            im.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise OSError(f"JPEG decoding failed: {str(e)[:100]}") from None
    if box:
        box_bounds(box, w, h)
    return np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)


def decode_into(pixels: torch.Tensor, encoded: list[EncodedImage]) -> None:
    """Decodes ``encoded`` on the device of ``pixels`` ((B, H, W, 3) uint8) and writes each,
    cropped and resized (bilinear, antialiased), into its row."""
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    device = pixels.device
    data = [torch.from_numpy(e.data.copy()) for e in encoded]
    try:
        decoded = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:            # one file the device's decoder refuses: each on its own, see below
        decoded = [_one(e, d, device) for e, d in zip(encoded, data)]
    for e, img in zip(encoded, decoded):
        if e.box:
            x0, y0, x1, y1 = box_bounds(e.box, img.shape[2], img.shape[1])
            img = img[:, y0:y1, x0:x1]
        if tuple(img.shape[1:]) != (e.size, e.size):
            img = TF.resize(img, [e.size, e.size], interpolation=InterpolationMode.BILINEAR, antialias=True)
        pixels[e.row] = img.permute(1, 2, 0)


def _one(e: EncodedImage, data: torch.Tensor, device) -> torch.Tensor:
    """One JPEG on the device, else on the CPU (a file that passed the worker's checks but that the
    device's decoder refuses); a file neither decodes is an error naming it, never a silent loss."""
    from torchvision.io import ImageReadMode, decode_jpeg

    try:
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:
        pass
    try:
        return decode_jpeg(data, mode=ImageReadMode.RGB).to(device)
    except RuntimeError as err:
        raise MlcapError(f"{e.path}: JPEG decoding failed on {device} and on the CPU after the loader's check "
                         f"passed: {str(err).splitlines()[0][:120]}") from None
