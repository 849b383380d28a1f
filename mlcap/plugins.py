"""Method plugins, found through the ``mlcap.methods`` entry-point group.

The built-in methods (``plugins/bce``, ``plugins/scnnrnn``) are separate
distributions that register exactly like third-party ones, so the core never
imports a method by name. Entry points are only *loaded* when a command needs
the method, which keeps ``mlcap --help`` free of torch.
"""

from importlib.metadata import entry_points

from mlcap.errors import MlcapError

GROUP = "mlcap.methods"


def _entry_points() -> dict:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def method_names() -> list[str]:
    return sorted(_entry_points())


def describe_methods() -> list[dict]:
    """Name, distribution and summary of each installed method, without importing it."""
    rows = []
    for name, ep in sorted(_entry_points().items()):
        dist = ep.dist
        rows.append({
            "name": name,
            "package": dist.name if dist else "?",
            "version": dist.version if dist else "?",
            "summary": (dist.metadata.get("Summary") or "") if dist else "",
            "target": ep.value,
        })
    return rows


def load_method(name: str):
    """The method object registered under ``name`` (see ``mlcap.protocol.Method``)."""
    eps = _entry_points()
    if name not in eps:
        installed = ", ".join(sorted(eps)) or "none"
        raise MlcapError(f"unknown method {name!r} (installed: {installed})")
    method = eps[name].load()
    if isinstance(method, type):
        method = method()
    missing = [a for a in ("name", "stages", "build", "trainable_parameters", "stage_loss", "predict")
               if not hasattr(method, a)]
    if missing:
        raise MlcapError(f"method plugin {name!r} ({eps[name].value}) lacks {', '.join(missing)}")
    return method
