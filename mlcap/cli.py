"""The `mlcap` command line. Heavy imports (torch) happen inside the commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from mlcap.errors import MlcapError

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


def _finite(value):
    """NaN (e.g. rigidness with no label pairs) becomes null in JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _emit(obj: dict) -> None:
    from mlcap.training.distributed import is_main

    if not is_main():           # under torchrun rank 0 alone prints results
        return
    sys.stdout.write(json.dumps(_finite(obj)) + "\n")
    sys.stdout.flush()


# `mlcap prepare KIND` (mlcap/cli_prepare.py)
from mlcap import cli_prepare  # noqa: E402,F401


# the training stages: `pretrain-cnn`, `pretrain-rnn`, `finetune`, `stage NAME` (mlcap/cli_train.py)
from mlcap import cli_train  # noqa: E402,F401  (registers its commands on `app`)


from mlcap import cli_predict  # noqa: E402,F401  (`mlcap predict`)


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
    from mlcap.data.prepared import PreparedDataset
    from mlcap.features import extract
    from mlcap.training.setup import pick_device

    opts = resolve(ExtractOptions, "extract-features", dict(data=data, backbone=backbone, out=out, weights=weights,
                   image_size=image_size, splits=splits, batch_size=batch_size, device=device), config)
    dataset = PreparedDataset(opts.data)
    dataset.check_image_root()
    names = [s.strip() for s in (opts.splits or ",".join(dataset.splits)).split(",") if s.strip()]
    unknown = [s for s in names if s not in dataset.splits]
    if unknown:
        raise MlcapError(f"{opts.data}: no split {unknown[0]!r} (splits: {', '.join(dataset.splits)})")
    stats = extract(dataset, opts.backbone, opts.out, names, opts.weights, opts.image_size, opts.batch_size,
                    str(pick_device(opts.device)))
    _emit({"features": str(opts.out), "backbone": opts.backbone, "splits": stats})


@app.command()
def evaluate(
    predictions: Optional[List[str]] = typer.Argument(None, help="Prediction JSONL files, or - for stdin."),
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared dataset directory. [required unless --coco-captions]"),
    split: Optional[str] = typer.Option(None, help="Split of the ground truth (default test)."),
    metrics: Optional[str] = typer.Option(None, help="Comma list of f1, image, map, nplus, duplicates, rigidness, ma, instance, bleu, meteor, rouge, cider, spice."),
    top_k: Optional[int] = typer.Option(None, help="Score the k highest-scoring labels (3 is customary)."),
    json_output: Optional[bool] = typer.Option(None, "--json", help="Machine-readable output."),
    cooccurrence: Optional[Path] = typer.Option(None, help="Write co-occurrence difference .npy/.png here."),
    groups: Optional[Path] = typer.Option(None, help="JSON {group: [labels]}: one heatmap per group."),
    coco_captions: Optional[Path] = typer.Option(None, help="Reference captions: a COCO captions JSON file."),
    verbose: Optional[bool] = typer.Option(None, "--verbose", help="Show the caption metrics' Java output (PTB tokenizer)."),
    config: Optional[Path] = CONFIG,
):
    """Metrics of prediction files against a prepared split: a table, or JSON with --json."""
    from mlcap.config import EvaluateOptions, resolve
    from mlcap.data.prepared import PreparedDataset
    from mlcap.evaluation import (CAPTION_GROUPS, evaluate_captions, evaluate_file, parse_metrics, read_coco_captions,
                                read_groups)

    opts = resolve(EvaluateOptions, "evaluate", dict(predictions=predictions or None, data=data, split=split,
                                                       metrics=metrics, top_k=top_k, json_output=json_output,
                                                       cooccurrence=cooccurrence, groups=groups,
                                                       coco_captions=coco_captions, verbose=verbose), config)
    names = parse_metrics(opts.metrics)
    caption_names = [m for m in names if m in CAPTION_GROUPS]
    label_names = [m for m in names if m not in CAPTION_GROUPS]
    dataset = PreparedDataset(opts.data) if opts.data is not None else None
    if dataset is None and (label_names or opts.coco_captions is None):
        raise MlcapError("give --data (a prepared dataset)" + ("" if label_names else " or --coco-captions FILE"))
    label_groups = read_groups(opts.groups, dataset.labels) if opts.groups else None
    if label_groups and opts.cooccurrence is None:
        raise MlcapError("--groups selects co-occurrence heatmaps: give --cooccurrence DIR too")
    references = None
    if caption_names:
        references = (read_coco_captions(opts.coco_captions) if opts.coco_captions is not None else
                      {s.id: s.captions for s in dataset.samples(opts.split) if s.captions})
        if not references:
            raise MlcapError(f"{opts.data}: the {opts.split} split has no captions")
    if label_names and caption_names and "-" in opts.predictions:
        raise MlcapError("predictions from - (stdin) are read once: ask for label or caption metrics, "
                         "or give the predictions as a file")
    if opts.predictions.count("-") > 1:
        raise MlcapError("- (stdin) is given twice: it can be read once")
    from mlcap.names import output_stems, row_names

    rows = []
    for p, name, stem in zip(opts.predictions, row_names(opts.predictions), output_stems(opts.predictions)):
        row = {}
        if label_names:
            row.update(evaluate_file(p, dataset, opts.split, label_names, opts.top_k, opts.cooccurrence,
                                     label_groups, name=name, stem=stem))
        if caption_names:
            row.update(evaluate_captions(p, references, caption_names, verbose=opts.verbose, name=name))
        if not set(row) - {"predictions", "images", "mode"}:
            raise MlcapError(f"{p}: none of the metrics {opts.metrics} applies to these predictions")
        rows.append(row)
    if opts.json_output:
        clean = lambda r: {k: v for k, v in r.items() if k not in ("predictions", "images", "mode")}
        _emit(clean(rows[0]) if len(rows) == 1 else {r["predictions"]: clean(r) for r in rows})
        return
    source = f"{dataset.name} / {opts.split}" if dataset is not None else str(opts.coco_captions)
    _print_rows(rows, source + (f" / top-{opts.top_k}" if opts.top_k else ""))


def _print_rows(rows: list[dict], title: str) -> None:
    """``evaluate``'s table: one row per predictions input, one column per metric."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    columns = [k for k in rows[0] if k not in ("mode",)]
    for c in columns:
        table.add_column(c, justify="left" if c == "predictions" else "right")
    for r in rows:
        table.add_row(*["-" if _finite(r[c]) is None else f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c])
                        for c in columns])
    Console(width=200).print(table)


@app.command()
def methods(json_output: bool = typer.Option(False, "--json", help="Machine-readable output."),
            recipes: bool = typer.Option(False, "--recipes", help="Also each stage's default recipe.")):
    """Installed method plugins (entry-point group mlcap.methods), their stages and recipes."""
    from mlcap.plugins import describe_methods, method_stages

    rows = describe_methods()
    if not rows:
        raise MlcapError("no method is installed (entry-point group mlcap.methods): install mlcap "
                         "with its built-in methods (`pip install .` or `make venv` in a clone, or its wheel), or a "
                         "method plugin's package")
    for r in rows:
        r.update(method_stages(r["name"], recipes))
    if json_output:
        for r in rows:
            _emit(r)
        return
    for r in rows:
        sys.stdout.write(f"{r['name']:<12} {r['package']} {r['version']}  {r['summary']}\n")
        for stage in r["stages"]:
            sys.stdout.write(f"    {stage:<14} {r['stage_help'].get(stage, '')}\n")
            if recipes:
                sys.stdout.write(f"    {'':<14} {json.dumps(r['recipes'][stage])}\n")


@app.command()
def backbones():
    """Backbone names accepted by --backbone."""
    from mlcap.models import backbone_input, backbone_names
    from mlcap.models.registry import OFFLINE_IMAGENET

    for name in backbone_names():
        info = backbone_input(name)
        offline = "--weights imagenet (offline)" if name in OFFLINE_IMAGENET else "--weights PATH only"
        sys.stdout.write(f"{name:<18} input {info.default_size}px  {offline}\n")


from mlcap import cli_export  # noqa: E402,F401  (`mlcap export`)
from mlcap import cli_compare  # noqa: E402,F401  (`mlcap compare`)


def main() -> None:
    """The `mlcap` entry point: every error ends as one line on stderr (see mlcap/shell.py)."""
    from mlcap.shell import run_command

    run_command(app)


if __name__ == "__main__":
    main()
