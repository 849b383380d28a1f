"""The `mlcap` command line: ``main`` is its entry point. The typer ``app`` and the helpers its
commands share are in app.py; each command group has its own module, which registers its commands
on ``app`` when imported here. Heavy imports (torch) happen inside the commands."""

from __future__ import annotations

from mlcap.cli.app import app
from mlcap.shell import run_command

# the order of these imports is the order of the commands in `mlcap --help` (the `prepare` group
# comes after the commands)
from mlcap.cli import train  # noqa: F401  (`pretrain-cnn`, `pretrain-rnn`, `finetune`, `stage NAME`)
from mlcap.cli import predict  # noqa: F401  (`predict`)
from mlcap.cli import features  # noqa: F401  (`extract-features`)
from mlcap.cli import evaluate  # noqa: F401  (`evaluate`)
from mlcap.cli import listing  # noqa: F401  (`methods`, `backbones`)
from mlcap.cli import export  # noqa: F401  (`export`)
from mlcap.cli import compare  # noqa: F401  (`compare`)
from mlcap.cli import prepare  # noqa: F401  (`prepare KIND`)

__all__ = ["app", "main"]


def main() -> None:
    """The `mlcap` entry point: every error ends as one line on stderr (see mlcap/shell.py)."""
    run_command(app)
