"""`mlcap predict`: a prepared split, or the user's own image files (mlcap/inference/records.py); heavy imports inside."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from mlcap.cli.app import app
from mlcap.cli.options import model_values, with_options
from mlcap.errors import MlcapError
from mlcap.options import PREDICT_OPTIONS
from mlcap.training import distributed


def predict(paths: Optional[List[str]] = None, **values):
    """Predict labels (or captions): one JSON object per image on stdout, for a prepared split
    (--data) or for image files and folders (--images PATH...)."""
    from mlcap.config import PredictOptions, resolve
    from mlcap.plugins import installed_stage_names
    from mlcap.inference.records import image_rows, predict_rows

    images, glob = values["images"], values["glob"]
    opts = resolve(PredictOptions, "predict", model_values(PREDICT_OPTIONS, values), values["config"],
                   stage_names=installed_stage_names)
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


_PATHS = inspect.Parameter("paths", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Optional[List[str]],
                           default=typer.Argument(None, show_default=False, help="With --images: image files, "
                                                  "folders, or - (paths on stdin)."))
app.command()(with_options(predict, PREDICT_OPTIONS, first=_PATHS))


def _image_paths(opts, paths: list[str], glob: str | None) -> list:
    from mlcap.data.image_files import collect_image_paths

    for flag, value in (("--data", opts.data), ("--features", opts.features), ("--coco-results", opts.coco_results)):
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
