"""The documentation cannot drift: MkDocs builds it with --strict (a broken link or a missing page
fails), docs/commands.md is what the command line prints, every results page carries the
command that made its tables (a preset in examples/compare/), the pages speak about mlcap and
not about how it was built, and the complete method of docs/writing-a-method.md passes
check_method."""

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


def test_every_results_page_carries_its_command():
    pages = sorted(p for p in (ROOT / "docs" / "results").glob("*.md") if p.name != "index.md")
    assert pages, "docs/results/ has no page"
    for page in pages:
        text = page.read_text()
        presets = re.findall(r"mlcap compare[^\n]*--config (examples/compare/[\w.-]+\.toml)", text)
        assert presets, f"{page.name}: a table without the `mlcap compare --config PRESET` that made it"
        for preset in presets:
            assert (ROOT / preset).is_file(), f"{page.name}: {preset} does not exist"


#: What users read speaks about mlcap and its users, not about how it was built (a word: an API
#: name such as onnxruntime's InferenceSession is not prose).
PROJECT_HISTORY = re.compile(r"\bsessions?\b|15-minute|reference machine|\.\./shared", re.I)


def test_user_facing_text_does_not_speak_of_the_project_history():
    files = [ROOT / "README.md", *[p for top in ("docs", "mlcap", "plugins", "examples", "benchmarks")
                                    for p in (ROOT / top).rglob("*") if p.suffix in {".md", ".py", ".toml", ".sh"}]]
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in files
             for n, line in enumerate(p.read_text().splitlines(), 1) if PROJECT_HISTORY.search(line)]
    assert not found, "\n".join(found[:20])


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
