"""The documentation cannot drift: MkDocs builds it with --strict (a broken link or a missing page
fails), docs/commands.md is what the command line prints, and the complete method of
docs/writing-a-method.md passes check_method."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_builds_strict(tmp_path):
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "site" / "commands" / "index.html").is_file()


def test_commands_page_is_what_the_cli_prints():
    res = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_commands.py"), "--check"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.slow
def test_the_documented_method_passes_check_method(tmp_path, monkeypatch):
    from mlcap.testing import check_method

    page = (ROOT / "docs" / "writing-a-method.md").read_text()
    code = re.search(r'```python title="my_method.py"\n(.*?)```', page, flags=re.S).group(1)
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "my_method.py").write_text(code)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", f"{folder}:{__import__('os').environ.get('PYTHONPATH', '')}")
    import my_method

    report = check_method(my_method.MyMethod(), tmp_path / "check",
                          checks=["stages", "threshold", "export"])
    assert set(report) >= {"multilabel/stages", "multilabel/threshold", "multilabel/export"}
