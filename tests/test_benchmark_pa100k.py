"""benchmarks/pa100k.py: the preparation it keeps, and the `mlcap compare` call it makes of the preset."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pa100k.py"


def _module():
    spec = importlib.util.spec_from_file_location("pa100k_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_compare_call_uses_the_preset_on_the_prepared_data_and_cache(tmp_path):
    bench = _module()
    assert bench.PRESET.is_file()
    command = bench.compare_command(tmp_path, bench.PRESET, "0", "bce")
    assert command == ["compare", "--config", str(bench.PRESET), "--data", str(tmp_path / "data"), "--features",
                       str(tmp_path / "features.h5"), "--out", str(tmp_path / "compare"), "--seeds", "0",
                       "--methods", "bce"]
    assert "--seeds" not in bench.compare_command(tmp_path, bench.PRESET, None, None)
    other = bench.ROOT / "examples" / "compare" / "arnn_pa100k.toml"
    command = bench.compare_command(tmp_path, other, None, None)
    assert command[command.index("--out") + 1] == str(tmp_path / "arnn_pa100k")


def test_without_the_data_it_says_so_in_one_line(tmp_path):
    res = subprocess.run([sys.executable, str(SCRIPT), "--data-root", str(tmp_path), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stderr.strip() == f"{tmp_path / 'pa100k'}: PA-100K subset not found"
    assert not (tmp_path / "o").exists()


def test_the_data_root_comes_from_mlcap_data_and_is_asked_for_without_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLCAP_DATA"}
    res = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "o")], capture_output=True,
                         text=True, timeout=60, env=env)
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1
    assert "--data-root" in res.stderr and "MLCAP_DATA" in res.stderr
    res = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "o")], capture_output=True,
                         text=True, timeout=60, env={**env, "MLCAP_DATA": str(tmp_path)})
    assert res.returncode == 1 and res.stderr.strip() == f"{tmp_path / 'pa100k'}: PA-100K subset not found"
    assert not (tmp_path / "o").exists()


def test_preparation_is_kept_for_a_rerun(tmp_path, monkeypatch):
    """The prepared data is kept unless --fresh; extract-features always runs (it resumes or returns)."""
    bench = _module()
    calls = []
    monkeypatch.setattr(bench, "mlcap", lambda *args, **kw: calls.append(args[0]) or 1.0)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dataset.json").write_text("{}")
    steps = bench.prepare(tmp_path / "pa100k", tmp_path, fresh=False)
    assert calls == ["extract-features"] and [s for s, _ in steps] == [
        "extract-features (efficientnet_lite0, 224 px, 3 splits)"]
    calls.clear()
    bench.prepare(tmp_path / "pa100k", tmp_path, fresh=True)
    assert calls == ["prepare", "extract-features"] and not (tmp_path / "data").exists()
