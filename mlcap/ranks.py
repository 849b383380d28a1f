"""Which process this is under torchrun, from its environment (one process: rank 0 of 1).

Low in the package so that anything may ask (the progress bar and notes, mlcap/progress.py);
the rest of multi-process training is mlcap/training/distributed.py.
"""

from __future__ import annotations

import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """True in a single process and in rank 0: the process that writes."""
    return rank() == 0
