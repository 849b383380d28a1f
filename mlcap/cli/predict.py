"""`mlcap predict`: a prepared split, or the user's own image files (mlcap/inference/records.py); heavy imports inside."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from mlcap.cli.app import CONFIG, app
from mlcap.errors import MlcapError
from mlcap.training import distributed


@app.command()
def predict(
    paths: Optional[List[str]] = typer.Argument(None, show_default=False,
                                                help="With --images: image files, folders, or - (paths on stdin)."),
    run: Optional[Path] = typer.Option(None, "--run", help="Run directory. [required]"),
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared dataset directory. [required unless --images]"),
    images: bool = typer.Option(False, "--images", help="Predict the image files and folders given as arguments "
                                "(no prepared dataset); ids are the paths."),
    glob: Optional[str] = typer.Option(None, "--glob", help="With --images: files of a folder to take, searched "
                                       "recursively (default: the usual image suffixes)."),
    split: Optional[str] = typer.Option(None, help="Split to predict (default test)."),
    stage: Optional[str] = typer.Option(None, help="Checkpoint to use (default: the latest complete stage)."),
    features: Optional[Path] = typer.Option(None, help="Predict from an HDF5 feature cache."),
    features_memory: Optional[float] = typer.Option(None, help="Feature-cache rows held in memory, in GB (2^30 bytes; default: half of MemAvailable in /proc/meminfo); the rest are read from the file per batch."),
    features_dtype: Optional[str] = typer.Option(None, help="float32 (default) or float16: the cached features held (and streamed) at this precision; float16 halves their memory, batches stay float32."),
    beam: Optional[int] = typer.Option(None, help="Beam width (1 = greedy; default: the method's, listed by `mlcap methods`; 3 for captions)."),
    checkpoint: Optional[str] = typer.Option(None, help="best (on validation, default) or last."),
    threshold: Optional[float] = typer.Option(None, help="Override the run's decision threshold (see `mlcap methods`)."),
    coco_results: Optional[Path] = typer.Option(None, help="Captioning: also write [{image_id, caption}] here."),
    attention: Optional[Path] = typer.Option(None, help="Write each emitted label's attention map over the image (PNG) under this folder."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (default 64)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda."),
    num_workers: Optional[int] = typer.Option(None, help="Data-loading worker processes (default: 0 on CPU; on CUDA the cores)."),
    decode: Optional[str] = typer.Option(None, help="Image decoder for --data: pil (default), torchvision or gpu (see pretrain-cnn --help)."),
    config: Optional[Path] = CONFIG,
):
    """Predict labels (or captions): one JSON object per image on stdout, for a prepared split
    (--data) or for image files and folders (--images PATH...)."""
    from mlcap.config import PredictOptions, resolve
    from mlcap.inference.records import image_rows, predict_rows

    opts = resolve(PredictOptions, "predict", dict(run=run, data=data, split=split, stage=stage, features=features,
                                                     features_memory=features_memory, features_dtype=features_dtype,
                                                     beam=beam, coco_results=coco_results, attention=attention,
                                                     checkpoint=checkpoint, threshold=threshold,
                                                     batch_size=batch_size, device=device,
                                                     num_workers=num_workers, decode=decode), config)
    if distributed.world_size() > 1 and (images or opts.attention is not None):
        raise MlcapError("under torchrun, predict takes a prepared split (--data) without --attention; "
                         "--images and --attention run in one process")
    if images:
        rows = image_rows(opts, _image_paths(opts, paths or [], glob))
    else:
        if paths:
            raise MlcapError(f"unexpected argument {paths[0]!r}: image paths need --images")
        if glob is not None:
            raise MlcapError("--glob selects files of --images folders: give --images too")
        if opts.data is None:
            raise MlcapError("missing option --data (a prepared dataset), or give --images PATH...")
        distributed.join(opts.device)
        rows = predict_rows(opts)
    try:
        _write_predictions(rows, opts.coco_results)
    finally:
        distributed.leave()


def _image_paths(opts, paths: list[str], glob: str | None) -> list:
    from mlcap.data.image_files import collect_image_paths

    for flag, value in (("--data", opts.data), ("--features", opts.features), ("--attention", opts.attention),
                        ("--coco-results", opts.coco_results)):
        if value is not None:
            raise MlcapError(f"{flag} does not go with --images (ids are file paths, there is no split)")
    return collect_image_paths(paths, glob)


def _write_predictions(rows, coco_results: Optional[Path]) -> None:
    results = []
    for row in rows:
        sys.stdout.write(json.dumps(row) + "\n")
        if coco_results is not None and "caption" in row:
            image_id = int(row["id"]) if str(row["id"]).isdigit() else row["id"]
            results.append({"image_id": image_id, "caption": row["caption"]})
    if coco_results is not None and distributed.is_main():
        if not results:
            raise MlcapError("--coco-results: this run predicts labels, not captions")
        coco_results.write_text(json.dumps(results))
