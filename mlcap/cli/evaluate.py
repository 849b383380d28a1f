"""`mlcap evaluate`: metrics of prediction files (mlcap/evaluation.py), as a table or JSON;
heavy imports inside."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from mlcap.cli.app import CONFIG, app, emit, finite
from mlcap.errors import MlcapError
from mlcap.metric_groups import METRICS
from mlcap.names import output_stems, row_names


@app.command()
def evaluate(
    predictions: Optional[List[str]] = typer.Argument(None, help="Prediction JSONL files, or - for stdin."),
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared dataset directory. [required unless --coco-captions]"),
    split: Optional[str] = typer.Option(None, help="Split of the ground truth (default test)."),
    metrics: Optional[str] = typer.Option(None, help=f"Comma list of {', '.join(METRICS)} (any case; "
                                          "default f1,map)."),
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
    from mlcap.plugins import installed_stage_names
    from mlcap.evaluation import CAPTION_GROUPS, evaluate_captions, evaluate_file, parse_metrics

    opts = resolve(EvaluateOptions, "evaluate", dict(predictions=predictions or None, data=data, split=split,
                                                       metrics=metrics, top_k=top_k, json_output=json_output,
                                                       cooccurrence=cooccurrence, groups=groups,
                                                       coco_captions=coco_captions, verbose=verbose), config,
                   stage_names=installed_stage_names)
    names = parse_metrics(opts.metrics)
    caption_names = [m for m in names if m in CAPTION_GROUPS]
    label_names = [m for m in names if m not in CAPTION_GROUPS]
    dataset, label_groups, references = _inputs(opts, label_names, caption_names)
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
        emit(clean(rows[0]) if len(rows) == 1 else {r["predictions"]: clean(r) for r in rows})
        return
    source = f"{dataset.name} / {opts.split}" if dataset is not None else str(opts.coco_captions)
    _print_rows(rows, source + (f" / top-{opts.top_k}" if opts.top_k else ""))


def _inputs(opts, label_names: list[str], caption_names: list[str]):
    """``evaluate``'s dataset, label groups and reference captions; refuses inputs that do not go together."""
    from mlcap.data.prepared import PreparedDataset
    from mlcap.evaluation import read_coco_captions, read_groups

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
    return dataset, label_groups, references


def _print_rows(rows: list[dict], title: str) -> None:
    """``evaluate``'s table: one row per predictions input, one column per metric."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    columns = [k for k in rows[0] if k not in ("mode",)]
    for c in columns:
        table.add_column(c, justify="left" if c == "predictions" else "right")
    for r in rows:
        table.add_row(*["-" if finite(r[c]) is None else f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c])
                        for c in columns])
    Console(width=200).print(table)
