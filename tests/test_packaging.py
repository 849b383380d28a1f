"""`pip install .` brings every built-in method, through the same entry points a third party uses.

The wheels are built offline (``--no-build-isolation`` with this venv's setuptools) and installed
with ``--no-deps`` into a fresh venv; the dependencies (torch, typer, ...) come from this venv
through a plain path entry, which runs none of its ``.pth`` hooks, so the project's own editable
install stays invisible and every mlcap module is the wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BUILT_IN = {"arnn", "bce", "cnnrnn", "orderfree", "orderless", "ria", "scnnrnn"}
THIRD_PARTY = """\
\"\"\"A third-party method in its own package: bce under another name.\"\"\"

from mlcap_bce import BCEMethod


class EchoMethod(BCEMethod):
    name = "echo"
"""


def _clean_env() -> dict:
    """This environment without what registers methods from elsewhere (another test's plugin folder)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLCAP_METHODS")}


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args],
                   check=True, capture_output=True, text=True)


def _source_copy(dest: Path) -> Path:
    """The files a clone holds (the build writes build/ and *.egg-info next to its sources)."""
    ignore = shutil.ignore_patterns(".git", ".venv", "demo-out", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", "tests", "runs")
    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    return dest


def _third_party_package(dest: Path) -> Path:
    (dest / "mlcap_echo").mkdir(parents=True)
    (dest / "mlcap_echo" / "__init__.py").write_text(THIRD_PARTY)
    (dest / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "mlcap-echo"
        version = "0.3.0"

        [project.entry-points."mlcap.methods"]
        echo = "mlcap_echo:EchoMethod"

        [tool.setuptools]
        packages = ["mlcap_echo"]
        """))
    return dest


def _fresh_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # this venv's packages as a bare path, appended after the fresh venv's own site-packages
    Path(purelib, "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_wheel_install_brings_every_method_and_keeps_third_party_plugins(tmp_path):
    wheels = tmp_path / "wheels"
    src = _source_copy(tmp_path / "src")
    _pip("wheel", "--no-build-isolation", "--no-deps", "--wheel-dir", str(wheels), str(src))
    _pip("wheel", "--no-build-isolation", "--no-deps", "--wheel-dir", str(wheels),
         str(_third_party_package(tmp_path / "echo")))
    built = sorted(p.name for p in wheels.glob("*.whl"))
    assert [n.split("-")[0] for n in built] == ["mlcap", "mlcap_echo"], built

    python = _fresh_venv(tmp_path / "venv")
    _pip("--python", str(python), "install", "--no-deps", "--no-index", *map(str, wheels.glob("*.whl")))
    mlcap = tmp_path / "venv" / "bin" / "mlcap"
    res = subprocess.run([str(mlcap), "methods", "--json"], capture_output=True, text=True, cwd=tmp_path,
                         env=_clean_env())
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in map(json.loads, res.stdout.splitlines())}
    assert set(rows) == BUILT_IN | {"echo"}
    assert {rows[n]["package"] for n in BUILT_IN} == {"mlcap"}
    assert rows["echo"]["package"] == "mlcap-echo" and rows["echo"]["version"] == "0.3.0"
    assert rows["scnnrnn"]["summary"].startswith("Semantic Regularisation")

    # every method's code is importable from the installed wheel, not from this checkout
    code = ("import json, mlcap, mlcap.plugins as p\n"
            "files = {n: __import__(p._entry_points()[n].module).__file__ for n in p.method_names()}\n"
            "[p.load_method(n) for n in p.method_names()]\n"
            "print(json.dumps({'mlcap': mlcap.__file__, **files}))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path, env=_clean_env())
    assert out.returncode == 0, out.stderr
    venv = str(tmp_path / "venv")
    assert all(path.startswith(venv) for path in json.loads(out.stdout).values()), out.stdout
