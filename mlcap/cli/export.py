"""`mlcap export`: a run's model as TorchScript or ONNX (mlcap/inference/export.py); heavy imports inside."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mlcap.cli.app import app, emit
from mlcap.errors import MlcapError


@app.command()
def export(
    run: Optional[Path] = typer.Option(None, "--run", help="Run directory. [required]"),
    out: Optional[Path] = typer.Option(None, "--out", help="Model file to write (its .json beside it). [required]"),
    format: str = typer.Option("torchscript", "--format", help="torchscript or onnx (onnx: pip install 'mlcap[export]')."),
    stage: Optional[str] = typer.Option(None, help="Checkpoint to export (default: the latest complete stage)."),
    checkpoint: str = typer.Option("best", help="best (on validation) or last."),
):
    """Export a trained run: images in, per-label scores and the label sequence out (or the
    encoder alone where the decoding cannot be traced: the summary says which)."""
    if run is None or out is None:
        raise MlcapError(f"missing option {'--run' if run is None else '--out'}")
    from mlcap.inference.export import export_run

    emit(export_run(run, format, out, stage, checkpoint))
