"""The typer ``app`` of the `mlcap` command line and what its command modules share: ``CONFIG``
(the ``--config`` option) and ``emit`` (one JSON line of results). The commands register on
``app`` from their own modules (mlcap/cli/__init__.py imports them); heavy imports (torch) happen
inside the commands."""

from __future__ import annotations

import json
import sys

import typer

from mlcap.training import distributed

# plain (click) help: rich markup would eat "[labels]"-like text and tag every flag <bool>
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="CNN-RNN image annotation: prepare, train stage by stage, predict, evaluate.")


def _version(value: bool) -> None:
    """``mlcap --version``: mlcap's, each installed method's, torch's and CUDA's (torch imported only here)."""
    if not value:
        return
    import mlcap
    from mlcap.plugins import describe_methods

    lines = [f"mlcap {mlcap.__version__}"]
    lines += [f"method {r['name']} {r['package']} {r['version']}" for r in describe_methods()]
    import torch

    lines.append(f"torch {torch.__version__}, CUDA {torch.version.cuda or 'none'}"
                 f" ({'available' if torch.cuda.is_available() else 'not available'})")
    sys.stdout.write("\n".join(lines) + "\n")
    raise typer.Exit()


@app.callback()
def _main_options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                               help="Versions of mlcap, its methods, torch and CUDA.")):
    """CNN-RNN image annotation: prepare, train stage by stage, predict, evaluate."""


CONFIG = typer.Option(None, "--config", "-c", help="TOML file of options (command-line values win).")


def finite(value):
    """NaN (e.g. rigidness with no label pairs) becomes null in JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    return value


def emit(obj: dict) -> None:
    """One JSON line of results on stdout (NaN as null); under torchrun rank 0 alone prints."""
    if not distributed.is_main():
        return
    sys.stdout.write(json.dumps(finite(obj)) + "\n")
    sys.stdout.flush()
