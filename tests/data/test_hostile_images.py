"""Hostile image files are skipped and reported, never fatal or hanging: a decompression bomb (a
20000 x 20000 PNG of a few hundred bytes, made here), a FIFO named as an image; 16-bit PNGs are
scaled to 8 bits instead of turning white."""

from __future__ import annotations

import json
import os
import struct
import zlib

import numpy as np
from PIL import Image

from helpers import TINY_TRAIN, run_cli
from mlcap.data.loader import load_image
from mlcap.data.prepared import PreparedDataset


def bomb_png(path, side=20000):
    """A valid PNG header claiming side x side pixels, with one tiny compressed row."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 8))
                     + chunk(b"IEND", b""))


def _rows(data):
    return [json.loads(line) for line in (data / "test.jsonl").read_text().splitlines()]


def test_bomb_and_fifo_are_skipped_and_reported(tiny_data, tmp_path):
    run = tmp_path / "run"
    assert run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN).code == 0
    rows = _rows(tiny_data)
    bomb_png(tiny_data / rows[0]["image"])
    assert (tiny_data / rows[0]["image"]).stat().st_size < 1000
    fifo = tiny_data / rows[1]["image"]
    fifo.unlink()
    os.mkfifo(fifo)
    res = run_cli("predict", "--run", run, "--data", tiny_data)
    assert res.code == 0 and "Traceback" not in res.err
    assert len(res.out.splitlines()) == len(rows) - 2
    assert "skipped 2 unreadable image(s)" in res.err and "MLCAP_MAX_IMAGE_PIXELS" in res.err
    assert "not a regular file" in res.err


def test_16_bit_png_is_scaled_not_white(tiny_data):
    data = PreparedDataset(tiny_data)
    sample = data.samples("test")[0]
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)   # 0 .. 65520
    Image.fromarray(ramp).save(data.image_path(sample))
    assert Image.open(data.image_path(sample)).mode.startswith("I")
    pixels = np.asarray(load_image(data, sample, 64))
    assert pixels.shape == (64, 64, 3) and pixels.min() == 0 and pixels.max() >= 254
    assert abs(float(pixels.mean()) - 127.0) < 2                      # a ramp, not all white
