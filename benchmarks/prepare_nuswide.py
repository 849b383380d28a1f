"""Time and peak memory of `mlcap prepare nuswide` on the real 269,648 NUS-WIDE label rows.

    python benchmarks/prepare_nuswide.py [--data-root DIR]

Uses the official train/test label CSVs from DIR/nuswide (161,789 + 107,859 rows), DIR being
the data root (see --data-root / MLCAP_DATA).
Targets on a 2-core machine: <= 10 s and <= 1 GB peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, metavar="DIR", default=os.environ.get("MLCAP_DATA") or None,
                    help="the folder that holds nuswide/ (default: $MLCAP_DATA)")
    args = ap.parse_args()
    if args.data_root is None:
        sys.exit("benchmarks/prepare_nuswide.py: no data root: give --data-root DIR (the folder that holds "
                 "nuswide/) or set MLCAP_DATA")
    d = Path(args.data_root) / "nuswide"
    if not (d / "brthmas_labels_train.zip").is_file():
        sys.exit(f"{d}: NUS-WIDE label CSVs not found")
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "mlcap", "prepare", "nuswide", "--out", out, "--json",
                                 "--concepts", str(d / "Concepts81.txt"),
                                 "--train-csv", str(d / "brthmas_labels_train.zip"),
                                 "--test-csv", str(d / "brthmas_labels_test.zip")],
                                capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary = json.loads(result.stdout)
    kept = {k: v["images"] for k, v in summary["splits"].items()}
    print(f"rows read: 269,648; kept {kept}")
    print(f"wall time: {seconds:.2f} s (target <= 10 s)")
    print(f"peak resident memory: {peak_mb:.0f} MB (target <= 1024 MB)")


if __name__ == "__main__":
    main()
