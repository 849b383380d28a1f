"""The out-of-tree toy plugin (tests/methods/toy_plugin), built as a wheel and installed into a
folder of its own, which this test process and its subprocesses then import from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TOY_SOURCE = Path(__file__).parent / "toy_plugin"


def _pip(*args) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *map(str, args)],
                   check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def toy_plugin(tmp_path_factory):
    """The toy plugin installed from its wheel; its entry points are visible while the fixture lives
    (this module's tests: the other tests see the installed methods only)."""
    root = tmp_path_factory.mktemp("toy_plugin")
    source = root / "source"
    import shutil

    shutil.copytree(TOY_SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    _pip("wheel", "--no-build-isolation", "--no-deps", "--wheel-dir", root / "wheels", source)
    (wheel,) = (root / "wheels").glob("mlcap_toy-*.whl")
    _pip("install", "--no-deps", "--no-index", "--target", root / "site", wheel)
    site = str(root / "site")
    saved = os.environ.get("PYTHONPATH")
    sys.path.insert(0, site)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [site, saved]))
    try:
        yield root / "site"
    finally:
        sys.path.remove(site)
        for name in [m for m in sys.modules if m == "mlcap_toy" or m.startswith("mlcap_toy.")]:
            del sys.modules[name]
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
