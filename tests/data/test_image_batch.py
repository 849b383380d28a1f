"""mlcap/data/image_batch.py: the loader's uint8 batch, normalised by ``batch_to_device``, is bit
for bit the float batch the loader built per image before (``pixels_of``), in both memory formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlcap.data.image_batch import PendingImages, stack_pixels
from mlcap.data.loader import pixels_of


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("norm", [((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), ((0.5,) * 3, (0.25,) * 3)])
def test_finish_is_pixels_of_bit_for_bit(channels_last, norm):
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(5)]
    mean, std = (np.array(v, np.float32).reshape(3, 1, 1) for v in norm)
    expected = torch.from_numpy(np.stack([pixels_of(r, mean, std) for r in rows]))
    pending = PendingImages(stack_pixels(rows), torch.tensor(norm[0]), torch.tensor(norm[1]), channels_last)
    got = pending.finish(torch.device("cpu"))
    assert got.dtype == torch.float32 and got.shape == (5, 3, 20, 20)
    assert got.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert torch.equal(got, expected)


def test_stack_pixels_leaves_encoded_rows_zero():
    row = np.full((4, 4, 3), 7, np.uint8)
    out = stack_pixels([row, None, row])
    assert out.dtype == torch.uint8 and out.shape == (3, 4, 4, 3)
    assert out[1].sum() == 0 and (out[0] == 7).all()
    assert stack_pixels([None, None], size=6).shape == (2, 6, 6, 3)
