"""Method plugins, found through the ``mlcap.methods`` entry-point group.

The built-in methods (``plugins/<name>/mlcap_<name>``) ship inside the ``mlcap``
distribution but register exactly like third-party ones, through entry points in
``pyproject.toml``, so the core never imports a method by name. Entry points are
only *loaded* when a command needs the method, which keeps ``mlcap --help`` free
of torch; a method's summary is the first paragraph of its module's docstring,
read from the source without importing it.
"""

import ast
import importlib.util
import os
from importlib.metadata import EntryPoint, entry_points

from mlcap.errors import MlcapError, unknown_name

GROUP = "mlcap.methods"

#: ``NAME=module:object[,NAME=module:object...]``: methods registered without installing a package
#: (a plugin under development, and ``mlcap.testing.check_method`` for a method object); they
#: take the place of an installed method of the same name.
ENV = "MLCAP_METHODS"


def _from_environment() -> dict:
    out = {}
    for item in filter(None, (part.strip() for part in os.environ.get(ENV, "").split(","))):
        name, sep, target = item.partition("=")
        if not sep or ":" not in target or not name.strip():
            raise MlcapError(f"{ENV}: {item!r} is not NAME=module:object")
        out[name.strip()] = EntryPoint(name.strip(), target.strip(), GROUP)
    return out


def _entry_points() -> dict:
    return {**{ep.name: ep for ep in entry_points(group=GROUP)}, **_from_environment()}


def method_names() -> list[str]:
    return sorted(_entry_points())


def _module_summary(module: str) -> str | None:
    """The first paragraph of ``module``'s docstring, from its source file (a top-level module is not
    imported; for a dotted name, ``find_spec`` imports its parent package)."""
    try:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return None
        with open(spec.origin, encoding="utf-8") as f:
            doc = ast.get_docstring(ast.parse(f.read()))
    except (ImportError, OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    return " ".join(doc.split("\n\n")[0].split()) if doc else None


def describe_methods() -> list[dict]:
    """Name, distribution and summary of each installed method, without importing it."""
    rows = []
    for name, ep in sorted(_entry_points().items()):
        dist = ep.dist
        rows.append({
            "name": name,
            "package": dist.name if dist else "?",
            "version": dist.version if dist else "?",
            "summary": _module_summary(ep.module) or ((dist.metadata.get("Summary") or "") if dist else ""),
            "target": ep.value,
        })
    return rows


def load_method(name: str):
    """The method object registered under ``name`` (see ``mlcap.protocol.Method``)."""
    eps = _entry_points()
    if name not in eps:
        raise unknown_name("method", name, sorted(eps), "installed")
    try:
        method = eps[name].load()
    except (ImportError, AttributeError) as e:
        raise MlcapError(f"method plugin {name!r} ({eps[name].value}) cannot be loaded: "
                         f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if isinstance(method, type):
        method = method()
    return checked_method(method, name, eps[name].value)


def checked_method(method, name: str, target: str):
    """``method`` if it is a ``mlcap.protocol.Method`` with a name and the required hooks."""
    from mlcap.protocol import Method

    if not isinstance(method, Method):
        raise MlcapError(f"method plugin {name!r} ({target}) is a {type(method).__name__}, not a "
                         "mlcap.protocol.Method subclass")
    kind = type(method)
    hooks = (("build", kind.build, Method.build), ("recipe", kind.recipe, Method.recipe),
             ("parameter_groups", kind.parameter_groups, Method.parameter_groups),
             ("stage_loss", kind.stage_loss, Method.stage_loss), ("predict", kind.predict, Method.predict))
    missing = ["name"] * (not method.name) + ["summary"] * (not method.summary)
    missing += [hook for hook, own, default in hooks if own is default]
    if missing:
        raise MlcapError(f"method plugin {name!r} ({target}) lacks {', '.join(missing)}")
    return method


def default_beam(method, task: str) -> int:
    """The beam width a method decodes with when ``predict --beam`` is not given: 3 for captions
    (S-CNN-RNN, Sec. 3.3), else the method's ``default_beam`` (1, greedy, when it has no beam search)."""
    return 3 if task == "caption" else (method.default_beam or 1)


def training_stages(method, spec) -> tuple[str, ...]:
    """The stages a full training of ``method`` runs, in order: all of them, less those that learn
    from the noisy tags alone when the run does not use them (``StageInputs.tags_only``)."""
    return tuple(s for s in method.stages if spec.use_tags or not method.stage_inputs(s, spec).tags_only)


def installed_stage_names() -> set[str]:
    """Every stage name of every installed method (a broken plugin contributes none)."""
    names: set[str] = set()
    for name in _entry_points():
        try:
            names.update(load_method(name).stages)
        except Exception:     # noqa: BLE001 -- a config warning must not fail on a broken plugin
            continue
    return names
