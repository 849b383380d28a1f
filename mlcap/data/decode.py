"""``--decode torchvision``: JPEG files decoded by ``torchvision.io.decode_jpeg`` (libjpeg-turbo)
and resized on tensors, instead of PIL.

The PIL path's guarantees hold here too: only regular files are read; an image over the pixel
limit (``MLCAP_MAX_IMAGE_PIXELS``) is refused from its header before any pixel is decoded;
greyscale and CMYK JPEGs come out RGB; a file that is not a JPEG (PNG, 16-bit PNG included, GIF,
...) goes the PIL way; a corrupt file raises OSError, so the loader skips and counts it. The
pixels differ from PIL's by rounding (another IDCT and torch's antialiased bilinear resize), so a
run keeps the decoder of its first stage in mind: predict with the same ``--decode``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

#: Largest image opened, in pixels (PIL's decompression-bomb guard); ``MLCAP_MAX_IMAGE_PIXELS`` raises it.
MAX_IMAGE_PIXELS = int(os.environ.get("MLCAP_MAX_IMAGE_PIXELS", 178_956_970))


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB; 16- and 32-bit greyscale (``I;16``, ``I``) scaled to 8 bits, not clipped to white."""
    if im.mode.startswith("I;16") or im.mode == "I":
        pixels = np.asarray(im).astype(np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or pixels.max() > 255 else 255.0
        im = Image.fromarray((pixels / top * 255.0).round().clip(0, 255).astype(np.uint8), "L")
    return im.convert("RGB")


def open_image(path) -> Image.Image:
    """An image file as RGB. Raises OSError (also for what is not a regular file, e.g. a FIFO, which
    is never opened) and PIL's errors, a decompression bomb included, for an unreadable one."""
    path = Path(path)
    if not path.is_file():
        raise OSError("not a regular file" if path.exists() else "no such file")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
        try:
            with Image.open(path) as im:
                return _to_rgb(im)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise OSError(f"over the pixel limit {MAX_IMAGE_PIXELS} (raise MLCAP_MAX_IMAGE_PIXELS to open it): "
                          f"{e}") from None


def fit_image(im: Image.Image, size: int, box: list[float] | None = None) -> Image.Image:
    """Cropped to ``box`` ([x, y, w, h]) when given, then resized to size x size (bilinear)."""
    if box:
        x, y, w, h = box
        im = im.crop((int(x), int(y), int(x + w), int(y + h)))
    if im.size != (size, size):
        im = im.resize((size, size), Image.BILINEAR)
    return im


JPEG_MAGIC = b"\xff\xd8\xff"


def is_jpeg(path: Path) -> bool:
    """By content (the JPEG start-of-image marker), not by suffix."""
    with open(path, "rb") as f:
        return f.read(3) == JPEG_MAGIC


#: Start-of-frame markers (baseline, progressive, lossless, ...): they carry the image's size.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a JPEG's start-of-frame segment, walking the marker segments
    (a few bytes read per segment: far cheaper than PIL's parser); None if there is none."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:                      # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2: i + 4], "big")
        if marker in _SOF and i + 9 <= n:
            return int.from_bytes(data[i + 7: i + 9], "big"), int.from_bytes(data[i + 5: i + 7], "big")
        if marker == 0xDA or length < 2:        # scan data before any frame header
            return None
        i += 2 + length
    return None


def check_jpeg_size(data: bytes, limit: int) -> None:
    """The pixel limit, from the frame header (OSError without one or over the limit)."""
    size = jpeg_size(data)
    if size is None:
        raise OSError("JPEG without a frame header")
    w, h = size
    if w * h > limit:
        raise OSError(f"over the pixel limit {limit} (raise MLCAP_MAX_IMAGE_PIXELS to open it): {w}x{h} pixels")


def box_bounds(box: list, w: int, h: int) -> tuple[int, int, int, int]:
    """``box`` [x, y, w, h] as integer (x0, y0, x1, y1) clipped to a w x h image (OSError if empty)."""
    x0, y0, x1, y1 = (int(v) for v in (box[0], box[1], box[0] + box[2], box[1] + box[3]))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        raise OSError(f"box {box} is outside the image or empty")
    return x0, y0, x1, y1


def check_header(path: Path, limit: int) -> None:
    """The pixel limit, from the header alone (PIL reads no pixel data on open)."""
    Image.MAX_IMAGE_PIXELS = None          # this check replaces PIL's for the size; restored below
    try:
        with Image.open(path) as im:
            w, h = im.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    if w * h > limit:
        raise OSError(f"over the pixel limit {limit} (raise MLCAP_MAX_IMAGE_PIXELS to open it): {w}x{h} pixels")


def decode_jpeg_bytes(data: bytes, path: Path, size: int, box: list[float] | None = None) -> np.ndarray:
    """A JPEG file's bytes as (size, size, 3) uint8: decoded by torchvision, cropped to ``box``
    ([x, y, w, h], clipped to the image), resized (bilinear, antialiased)."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    if jpeg_size(data) is None:         # a layout the quick parser does not follow: PIL's parser
        check_header(path, MAX_IMAGE_PIXELS)
    else:
        check_jpeg_size(data, MAX_IMAGE_PIXELS)
    try:
        img = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
    except RuntimeError as e:
        raise OSError(f"JPEG decoding failed: {str(e).splitlines()[0][:100]}") from None
    if box:
        x0, y0, x1, y1 = box_bounds(box, img.shape[2], img.shape[1])
        img = img[:, y0:y1, x0:x1]
    if tuple(img.shape[1:]) != (size, size):
        with torch.inference_mode():
            img = TF.resize(img, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=True)
    return np.ascontiguousarray(img.permute(1, 2, 0).numpy())


def decode_file(path: Path, size: int, box: list[float] | None, decoder: str) -> np.ndarray:
    """(size, size, 3) uint8 of an image file by ``decoder`` (see the module docstring); the file
    is read once."""
    path = Path(path)
    if decoder == "torchvision":
        if not path.is_file():
            raise OSError("not a regular file" if path.exists() else "no such file")
        data = path.read_bytes()
        if data[:3] == JPEG_MAGIC:
            return decode_jpeg_bytes(data, path, size, box)
    with fit_image(open_image(path), size, box) as im:
        return np.array(im, dtype=np.uint8)
