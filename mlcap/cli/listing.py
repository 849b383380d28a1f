"""`mlcap methods` and `mlcap backbones`: what --method and --backbone accept."""

from __future__ import annotations

import json
import sys

import typer

from mlcap.cli.app import app, emit
from mlcap.errors import MlcapError


@app.command()
def methods(json_output: bool = typer.Option(False, "--json", help="Machine-readable output."),
            recipes: bool = typer.Option(False, "--recipes", help="Also each stage's default recipe.")):
    """Installed method plugins (entry-point group mlcap.methods), their stages and recipes."""
    from mlcap.plugins import describe_methods

    rows = describe_methods()
    if not rows:
        raise MlcapError("no method is installed (entry-point group mlcap.methods): install mlcap "
                         "with its built-in methods (`pip install .` or `make venv` in a clone, or its wheel), or a "
                         "method plugin's package")
    for r in rows:
        r.update(_method_stages(r["name"], recipes))
    if json_output:
        for r in rows:
            emit(r)
        return
    for r in rows:
        sys.stdout.write(f"{r['name']:<12} {r['package']} {r['version']}  {r['summary']}\n")
        orders = f"{', '.join(r['orders'])} (default first)" if r["orders"] else "none"
        sys.stdout.write(f"    {'':<14} orders: {orders}; "
                         f"beam: {r['default_beam'] or 'none'}; threshold: {r['threshold'] or 'none'}; "
                         f"tasks: {', '.join(r['tasks'])}\n")
        for stage in r["stages"]:
            sys.stdout.write(f"    {stage:<14} {r['stage_help'].get(stage, '')}\n")
            if recipes:
                sys.stdout.write(f"    {'':<14} {json.dumps(r['recipes'][stage])}\n")


def _method_stages(name: str, recipes: bool = False) -> dict:
    """A method's stages with their one-line help (and, with ``recipes``, its default recipe per stage
    for a generic dataset)."""
    from mlcap.plugins import load_method
    from mlcap.protocol import ModelSpec

    method = load_method(name)
    spec = ModelSpec(labels=[])
    out = {"stages": list(method.stages), "stage_help": dict(method.stage_help),
           "threshold": method.threshold_kind(spec), "tasks": list(method.tasks), "orders": list(method.orders),
           "default_beam": method.default_beam}
    if recipes:
        from mlcap.training.recipe import recipe_json

        out["recipes"] = {s: recipe_json(method.recipe(s, spec, "")) for s in method.stages}
    return out


@app.command()
def backbones():
    """Backbone names accepted by --backbone."""
    from mlcap.models import backbone_input, backbone_names
    from mlcap.models.registry import OFFLINE_IMAGENET

    for name in backbone_names():
        info = backbone_input(name)
        offline = "--weights imagenet (offline)" if name in OFFLINE_IMAGENET else "--weights PATH only"
        sys.stdout.write(f"{name:<18} input {info.default_size}px  {offline}\n")
