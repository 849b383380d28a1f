"""A batch's images on their way to the device: uint8 pixels, normalised where the model runs.

The loader's workers decode and resize (and augment) each image to uint8 and ``Collate`` stacks
them, (B, H, W, 3) uint8; ``batch_to_device`` copies that to the device (a quarter of the bytes
of float32, from pinned memory on CUDA) and converts it there: ``x / 255``, ``- mean``,
``/ std`` in float32, the same IEEE operations the loader used to run per image in numpy, bit for
bit (tests/data/test_image_batch.py), in (B, 3, H, W), channels-last with ``--channels-last``.
With ``--decode gpu`` the rows of still-encoded JPEGs are decoded on the device first
(mlcap/data/device_decode.py). Normalising per image in the loader cost as much as decoding
the image (benchmarks/throughput.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mlcap.data.device_decode import decode_into

@dataclass
class PendingImages:
    pixels: torch.Tensor            # (B, H, W, 3) uint8; rows of encoded JPEGs are zero
    mean: torch.Tensor              # (3,) float32
    std: torch.Tensor
    channels_last: bool = False
    encoded: list | None = None     # EncodedImage rows (--decode gpu)

    def pin_memory(self) -> "PendingImages":
        self.pixels = self.pixels.pin_memory()
        return self

    def finish(self, device: torch.device) -> torch.Tensor:
        """The normalised (B, 3, H, W) float32 batch on ``device``."""
        x = self.pixels.to(device, non_blocking=True)
        if self.encoded:
            decode_into(x, self.encoded)
        x = x.permute(0, 3, 1, 2)                       # NHWC memory: channels-last as it stands
        if not self.channels_last:
            x = x.contiguous()
        x = x.float()
        mean = self.mean.to(device).view(1, 3, 1, 1)
        std = self.std.to(device).view(1, 3, 1, 1)
        # a 0-dim tensor, not the number 255: CUDA multiplies by 1/255 for a Python scalar,
        # which differs from x / 255 for 126 of the 256 values
        return x.div_(torch.tensor(255.0, device=device)).sub_(mean).div_(std)


def stack_pixels(rows: list, size: int | None = None) -> torch.Tensor:
    """(B, H, W, 3) uint8 from (H, W, 3) uint8 arrays; None rows (encoded JPEGs) zero."""
    if all(r is not None for r in rows):
        return torch.from_numpy(np.stack(rows))
    present = [r for r in rows if r is not None]
    out = np.zeros((len(rows), *(present[0].shape if present else (size, size, 3))), dtype=np.uint8)
    for b, r in enumerate(rows):
        if r is not None:
            out[b] = r
    return torch.from_numpy(out)
