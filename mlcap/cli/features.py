"""`mlcap extract-features`: a backbone's features of a prepared dataset cached in HDF5
(mlcap/features/extract.py); heavy imports inside."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mlcap.cli.app import CONFIG, app, emit
from mlcap.errors import MlcapError


@app.command("extract-features")
def extract_features(
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared dataset directory. [required]"),
    backbone: Optional[str] = typer.Option(None, help="Backbone name (see `mlcap backbones`). [required]"),
    out: Optional[Path] = typer.Option(None, "--out", help="HDF5 file to write (resumed if present). [required]"),
    weights: Optional[str] = typer.Option(None, help="Local state dict, or imagenet (offline, efficientnet_lite0)."),
    image_size: Optional[int] = typer.Option(None, help="Input side in pixels (default: the backbone's)."),
    splits: Optional[str] = typer.Option(None, "--splits", "--split", help="Comma list of splits (default: all of the dataset's)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (default 64)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda."),
    config: Optional[Path] = CONFIG,
):
    """Cache pooled and spatial backbone features per split in HDF5 (resumable)."""
    from mlcap.config import ExtractOptions, resolve
    from mlcap.plugins import installed_stage_names
    from mlcap.data.prepared import PreparedDataset
    from mlcap.features.extract import extract
    from mlcap.training.setup import pick_device

    opts = resolve(ExtractOptions, "extract-features", dict(data=data, backbone=backbone, out=out, weights=weights,
                   image_size=image_size, splits=splits, batch_size=batch_size, device=device), config,
                   stage_names=installed_stage_names)
    dataset = PreparedDataset(opts.data)
    dataset.check_image_root()
    names = [s.strip() for s in (opts.splits or ",".join(dataset.splits)).split(",") if s.strip()]
    unknown = [s for s in names if s not in dataset.splits]
    if unknown:
        raise MlcapError(f"{opts.data}: no split {unknown[0]!r} (splits: {', '.join(dataset.splits)})")
    stats = extract(dataset, opts.backbone, opts.out, names, opts.weights, opts.image_size, opts.batch_size,
                    str(pick_device(opts.device)))
    emit({"features": str(opts.out), "backbone": opts.backbone, "splits": stats})
