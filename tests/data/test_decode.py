"""``--decode torchvision`` (mlcap/data/decode.py) keeps every guarantee of the PIL path: JPEGs
decoded close to PIL, other formats (16-bit PNG included) through PIL itself, a header over the
pixel limit or a FIFO refused before decoding, a corrupt JPEG skipped and counted."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from mlcap.data import decode
from mlcap.data.loader import ImageLabelDataset, load_image
from mlcap.data.prepared import PreparedDataset


def _jpeg_bytes(rgb: np.ndarray, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _as_jpeg(data: PreparedDataset, sample) -> None:
    """The sample's file rewritten with JPEG content (its name kept: decoders go by content)."""
    path = data.image_path(sample)
    path.write_bytes(_jpeg_bytes(np.asarray(Image.open(path).convert("RGB"))))


def test_jpeg_close_to_pil_and_png_identical(tiny_data):
    data = PreparedDataset(tiny_data)
    jpeg, png = data.samples("train")[:2]
    _as_jpeg(data, jpeg)
    for sample, tolerance in ((jpeg, 4.0), (png, 0.0)):
        path = data.image_path(sample)
        pil = np.asarray(load_image(data, sample, 48), dtype=np.float64)
        tv = decode.decode_file(path, 48, None, "torchvision")
        assert tv.shape == (48, 48, 3) and tv.dtype == np.uint8
        assert np.abs(tv - pil).mean() <= tolerance, sample
    assert decode.is_jpeg(data.image_path(jpeg)) and not decode.is_jpeg(data.image_path(png))


def test_box_crop_and_greyscale_jpeg(tmp_path):
    grey = (np.arange(40 * 60) % 251).astype(np.uint8).reshape(40, 60)
    path = tmp_path / "g.jpg"
    Image.fromarray(grey, "L").save(path, quality=98)
    out = decode.decode_file(path, 20, [10, 5, 20, 20], "torchvision")
    assert out.shape == (20, 20, 3) and (out[..., 0] == out[..., 2]).all()     # grey as RGB
    expected = np.asarray(Image.open(path).convert("RGB").crop((10, 5, 30, 25)), dtype=np.float64)
    assert np.abs(out - expected).mean() < 2.0
    with pytest.raises(OSError, match="outside the image"):
        decode.decode_file(path, 20, [100, 100, 5, 5], "torchvision")


def test_header_over_the_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "big.jpg"
    path.write_bytes(_jpeg_bytes(np.zeros((30, 40, 3), np.uint8)))
    monkeypatch.setattr(decode, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(OSError, match="over the pixel limit 1000.*40x30"):
        decode.decode_file(path, 16, None, "torchvision")
    monkeypatch.setattr(decode, "MAX_IMAGE_PIXELS", 1200)
    assert decode.decode_file(path, 16, None, "torchvision").shape == (16, 16, 3)


def test_fifo_corrupt_jpeg_and_16_bit_png(tiny_data):
    data = PreparedDataset(tiny_data)
    samples = data.samples("train")[:3]
    fifo = data.image_path(samples[0])
    fifo.unlink()
    os.mkfifo(fifo)
    data.image_path(samples[1]).write_bytes(decode.JPEG_MAGIC + b"\xe0 not a jpeg at all" * 5)
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(ramp).save(data.image_path(samples[2]))
    ds = ImageLabelDataset(data, samples, 64, decode="torchvision")
    assert "not a regular file" in ds[0]["skip"]
    assert "OSError" in ds[1]["skip"]          # PIL refuses its header, or decode_jpeg its data
    pixels = ds[2]["pixels"]                                          # (H, W, 3) uint8
    assert pixels.max() >= 254 and abs(float(pixels.mean()) - 127.0) < 2


def test_gpu_decode_path_on_the_cpu_matches_torchvision(tiny_data):
    """``--decode gpu`` without CUDA: JPEG rows decoded batched in ``batch_to_device`` (on the CPU),
    the same pixels as ``--decode torchvision``; a PNG row decoded in the loader; a corrupt JPEG
    skipped in the loader as on every path."""
    import torch

    from mlcap.data.loader import batch_to_device, make_loader

    data = PreparedDataset(tiny_data)
    samples = data.samples("train")[:4]
    for s in samples[:3]:
        _as_jpeg(data, s)
    data.image_path(samples[2]).write_bytes(decode.JPEG_MAGIC + b"\xe0 broken" * 20)
    batches = {}
    for decoder in ("torchvision", "gpu"):
        loader = make_loader(data, "train", 40, (0.5,) * 3, (0.25,) * 3, 4, indices=[0, 1, 2, 3], decode=decoder)
        batch, skipped = next(iter(loader))
        assert len(skipped) == 1 and str(data.image_path(samples[2])) in skipped[0]
        assert (batch.pending.encoded is not None) == (decoder == "gpu")
        batches[decoder] = batch_to_device(batch, torch.device("cpu"))
    assert batches["gpu"].pending is None and batches["gpu"].ids == batches["torchvision"].ids
    torch.testing.assert_close(batches["gpu"].images, batches["torchvision"].images, atol=1e-6, rtol=0)


def test_gpu_decode_refuses_augmentation(tiny_data, tmp_path):
    from helpers import TINY_TRAIN, run_cli

    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", *TINY_TRAIN,
                  "--decode", "gpu", "--augment")
    assert res.code == 2 and "--decode gpu cannot be used with augmentation" in res.err
    ok = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "g", *TINY_TRAIN,
                 "--decode", "gpu")
    assert ok.code == 0, ok.err


@pytest.mark.parametrize("options", [{}, {"progressive": True}, {"exif": b"Exif\x00\x00" + b"\x00" * 64}])
def test_jpeg_size_reads_the_frame_header(options):
    buf = io.BytesIO()
    Image.fromarray(np.zeros((23, 57, 3), np.uint8)).save(buf, "JPEG", **options)
    assert decode.jpeg_size(buf.getvalue()) == (57, 23)
    assert decode.jpeg_size(decode.JPEG_MAGIC + b"\xe0\x00\x04ab\xff\xda\x00\x02") is None
    with pytest.raises(OSError, match="without a frame header"):
        decode.check_jpeg_size(b"\xff\xd8\xff\xd9", 100)


def test_torchvision_path_takes_a_jpeg_the_quick_parser_cannot_follow(tmp_path):
    """Two stray bytes after APP0: libjpeg and PIL decode it; the pixel limit then comes from PIL's header."""
    data = _jpeg_bytes(np.full((16, 24, 3), 90, np.uint8))
    app0_end = 4 + int.from_bytes(data[4:6], "big")
    path = tmp_path / "odd.jpg"
    path.write_bytes(data[:app0_end] + b"\x00\x00" + data[app0_end:])
    assert decode.jpeg_size(path.read_bytes()) is None
    out = decode.decode_file(path, 8, None, "torchvision")
    assert out.shape == (8, 8, 3) and abs(float(out.mean()) - 90) < 4


def test_gpu_path_refuses_an_empty_box_in_the_worker(tmp_path):
    from mlcap.data.device_decode import read_checked_jpeg

    path = tmp_path / "a.jpg"
    path.write_bytes(_jpeg_bytes(np.zeros((20, 30, 3), np.uint8)))
    assert read_checked_jpeg(path, [2, 2, 10, 10]).dtype == np.uint8
    for box in ([40, 0, 5, 5], [3, 3, 0.5, 10], [5, 5, -4, 4]):
        with pytest.raises(OSError, match="outside the image or empty"):
            read_checked_jpeg(path, box)
