"""`mlcap <stage> --nproc N`: the same command in N processes on this machine, started by
torchrun's own launcher (``torch.distributed.launcher.api.elastic_launch``) as
``torchrun --standalone --nproc-per-node N -m mlcap -- <stage> ...`` would start it.

Going through the launcher's API, not its command line, keeps torchrun's parser away from
mlcap's options (it would take ``--run`` for an abbreviation of its own ``--run-path``). Each
process gets an equal share of the cores (``OMP_NUM_THREADS``, unless set). A process that
fails has printed its own one-line error; the launcher's exit status is that process's.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid

from mlcap.errors import MlcapError


def without_nproc(argv: list[str]) -> list[str]:
    """``argv`` less ``--nproc N`` / ``--nproc=N``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``mlcap *argv`` in ``nproc`` processes; their exit status (the first failure's)."""
    from mlcap.training import distributed

    if distributed.world_size() > 1:
        raise MlcapError("--nproc: this process is already one of a torchrun group (WORLD_SIZE is set)")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    logging.getLogger("torch.distributed.elastic").setLevel(logging.ERROR)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"mlcap-{uuid.uuid4().hex[:8]}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.1)
    try:
        elastic_launch(config, sys.executable)("-m", "mlcap", *argv)
    except ChildFailedError as e:
        codes = [f.exitcode for _, f in sorted(e.failures.items())]
        return next((c for c in codes if c not in (0, None) and c > 0), 1)
    return 0
