"""The plan of the house, checked: the import-linter contracts of pyproject.toml; a method imports
the contract and the toolkit alone; no import circle in mlcap; and the core never names a method in
its code (a paper cited in a docstring or comment aside) nor probes a method with getattr/hasattr."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("arnn", "bce", "cnnrnn", "orderfree", "orderless", "ria", "scnnrnn")
PACKAGES = ("mlcap", *(f"mlcap_{m}" for m in METHODS))


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)


def test_import_linter_contracts_are_kept():
    res = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]


def test_methods_import_only_the_contract_and_the_toolkit(graph):
    allowed = ("mlcap.protocol", "mlcap.nn")
    wrong = []
    for package in PACKAGES[1:]:
        for module in graph.find_children(package) | {package}:
            for imported in graph.find_modules_directly_imported_by(module):
                if imported.split(".")[0] == "mlcap" and not imported.startswith(allowed) \
                        or imported.startswith("mlcap_") and imported.split(".")[0] != package:
                    wrong.append(f"{module} -> {imported}")
    assert wrong == []


def test_mlcap_has_no_import_circle(graph):
    modules = sorted(graph.find_descendants("mlcap") | {"mlcap"})
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in modules} for m in modules}
    # a package's __init__ importing its children is not a circle: drop child -> own ancestor package
    edges = {m: {i for i in targets if not m.startswith(i + ".")} for m, targets in edges.items()}
    assert _cycles(edges) == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def _code_strings_and_probes(path: Path):
    """String constants that are not docstrings, and getattr/hasattr calls on a name with "method" in it."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield "string", node.lineno, node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr") \
                and node.args and "method" in ast.unparse(node.args[0]):
            yield "probe", node.lineno, ast.unparse(node)


def test_the_core_names_no_method_and_probes_none():
    import re

    name = re.compile(r"\b(" + "|".join(METHODS) + r")\b")
    found = []
    for path in sorted((ROOT / "mlcap").rglob("*.py")):
        for kind, line, text in _code_strings_and_probes(path):
            if kind == "probe" or name.search(text) and text != "bce":   # "bce": a loss term's name
                found.append(f"{path.relative_to(ROOT)}:{line}: {text[:80]!r}")
    assert found == []
