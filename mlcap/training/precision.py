"""Mixed precision: the autocast context of ``--amp``."""

from __future__ import annotations

import torch


def autocast(device: torch.device, amp):
    """``amp``: False, True (bfloat16) or the autocast dtype."""
    dtype = amp if isinstance(amp, torch.dtype) else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=bool(amp))
