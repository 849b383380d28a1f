"""benchmarks/throughput.py runs end to end on a tiny synthetic set and prints every measurement,
both ratios with their targets, and the same as JSON. No timing is asserted."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"
TINY = ["--backbone", "smallcnn", "--image-size", "32", "--images", "16", "--batch-size", "8", "--warmup", "1",
        "--threads", "1"]
MEASUREMENTS = ["(a) raw decode+resize, PIL", "(a') raw decode+resize, torchvision.io.decode_jpeg",
                "(b) mlcap loader", "(b'') mlcap loader + batch_to_device", "(b') hand-written DataLoader", "(c) mlcap training step",
                "(d) hand-written PyTorch step"]


def _run(*args) -> str:
    res = subprocess.run([sys.executable, str(SCRIPT), *TINY, *map(str, args)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_table_has_every_measurement_and_both_ratios(tiny_data):
    out = _run("--data", tiny_data)
    assert "smallcnn at 32 px, 16 images timed" in out and "1 torch threads" in out
    rows = {line.split(" | ")[0].lstrip("| "): line for line in out.splitlines() if line.startswith("| (")}
    for name in MEASUREMENTS:
        row = next((line for label, line in rows.items() if label.startswith(name)), None)
        assert row is not None, f"{name} missing from:\n{out}"
        if name.startswith("(a')"):     # the synthetic set is PNG: no JPEG to decode
            assert "n/a (no JPEG files)" in row
        else:
            assert float(row.split(" | ")[1]) > 0
    for ratio, target in (("loader / raw decode (b/a)", "0.90"), ("mlcap step / hand-written step (c/d)", "0.95")):
        line = next(line for line in out.splitlines() if line.startswith(f"| {ratio} |"))
        assert re.fullmatch(rf"\| {re.escape(ratio)} \| \d+\.\d{{3}} \| >= {target} \| (PASS|MISS) \|", line), line


def test_json_output(tiny_data):
    got = json.loads(_run("--data", tiny_data, "--json"))
    assert set(got["images_per_s"]) == {"raw_pil", "mlcap_loader", "mlcap_loader_finished", "hand_loader",
                                      "mlcap_step", "hand_step"}
    assert got["images"] == 16 and got["jpegs"] == 0 and got["setting"]["threads"] == 1
    assert set(got["ratios"]) == set(got["pass"]) == {"loader", "step"}
    rates = got["images_per_s"]
    assert abs(got["ratios"]["step"] / (rates["mlcap_step"] / rates["hand_step"]) - 1) < 0.01
    assert abs(got["ratios"]["loader"] / (rates["mlcap_loader"] / rates["raw_pil"]) - 1) < 0.01
