"""The `mlcap` command line. Heavy imports (torch) happen inside the commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from mlcap.errors import MlcapError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="CNN-RNN image annotation: prepare, train stage by stage, predict, evaluate.")
prepare_app = typer.Typer(no_args_is_help=True, help="Write a dataset in mlcap's prepared format.")
app.add_typer(prepare_app, name="prepare")

CONFIG = typer.Option(None, "--config", "-c", help="TOML file of options (command-line values win).")


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


@prepare_app.command("synthetic")
def prepare_synthetic(
    out: Optional[Path] = typer.Option(None, "--out", help="Directory to write."),
    images: Optional[int] = typer.Option(None, help="Number of images (default 2000)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (default 0)."),
    config: Optional[Path] = CONFIG,
):
    """The embedded synthetic dataset: real PNGs, scenes, look-alikes, noisy tags, captions."""
    from mlcap.config import PrepareSyntheticOptions, resolve
    from mlcap.data.synthetic import generate
    from mlcap.progress import progress_bar

    opts = resolve(PrepareSyntheticOptions, "prepare", {"out": out, "images": images, "seed": seed}, config)
    with progress_bar("synthetic", total=opts.images) as advance:
        meta = generate(opts.out, opts.images, opts.seed, progress=advance)
    _emit({"dataset": str(opts.out), "name": meta["name"], "labels": len(meta["labels"]),
           "tags": len(meta["tags"]), "splits": meta["splits"]})


STAGE_HELP = {
    "pretrain-cnn": "Stage 1: train the CNN (concept head, BCE).",
    "pretrain-rnn": "Stage 2: train the RNN on ground-truth concepts (teacher forcing).",
    "finetune": "Stage 3: train CNN and RNN jointly (or the RNN alone with --freeze-cnn).",
}


TRAIN_OPTION_NAMES = {
    "method", "data", "run", "backbone", "weights", "image_size", "use_tags", "epochs", "batch_size", "lr",
    "weight_decay", "seed", "device", "amp", "order", "freeze_cnn", "max_len", "num_workers", "resume"}


def _register_stage(stage: str) -> None:
    def command(
        method: Optional[str] = typer.Option(None, "--method", "-m", help="Method plugin (see `mlcap methods`)."),
        data: Optional[Path] = typer.Option(None, "--data", help="Prepared dataset directory."),
        run: Optional[Path] = typer.Option(None, "--run", help="Run directory (checkpoints, configs)."),
        backbone: Optional[str] = typer.Option(None, help="smallcnn, resnet18/34/50/101, vgg16, inception_v3."),
        weights: Optional[Path] = typer.Option(None, help="Local backbone state dict (.pth/.safetensors)."),
        image_size: Optional[int] = typer.Option(None, help="Input side in pixels (default: the backbone's)."),
        use_tags: Optional[bool] = typer.Option(None, "--use-tags/--no-tags", help="Noisy tags as side information."),
        epochs: Optional[int] = typer.Option(None, help="Epochs (default 10)."),
        batch_size: Optional[int] = typer.Option(None, help="Batch size (default 32)."),
        lr: Optional[float] = typer.Option(None, help="Adam learning rate (default 1e-3)."),
        weight_decay: Optional[float] = typer.Option(None, help="Weight decay (default 0)."),
        seed: Optional[int] = typer.Option(None, help="Seed of shuffling and initialisation (default 0)."),
        device: Optional[str] = typer.Option(None, help="auto, cpu or cuda (default auto)."),
        amp: Optional[bool] = typer.Option(None, "--amp/--no-amp", help="bfloat16 mixed precision."),
        order: Optional[str] = typer.Option(None, help="Label order: rare, frequent, dictionary, random."),
        freeze_cnn: Optional[bool] = typer.Option(None, "--freeze-cnn/--train-cnn", help="Keep the CNN fixed."),
        max_len: Optional[int] = typer.Option(None, help="Longest emitted label sequence."),
        num_workers: Optional[int] = typer.Option(None, help="Data-loading worker processes (default 0)."),
        resume: Optional[bool] = typer.Option(None, "--resume/--restart", help="Continue from this stage's checkpoint."),
        config: Optional[Path] = CONFIG,
    ):
        cli = {k: v for k, v in locals().items() if k in TRAIN_OPTION_NAMES}
        from mlcap.config import TrainOptions, resolve
        from mlcap.training.loop import train_stage

        opts = resolve(TrainOptions, stage, cli, config)
        _emit(train_stage(stage, opts))

    command.__doc__ = STAGE_HELP[stage]
    app.command(stage)(command)


for _stage in STAGE_HELP:
    _register_stage(_stage)


@app.command()
def predict(
    run: Optional[Path] = typer.Option(None, "--run", help="Run directory."),
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared dataset directory."),
    split: Optional[str] = typer.Option(None, help="Split to predict (default test)."),
    stage: Optional[str] = typer.Option(None, help="Checkpoint to use (default: the latest complete stage)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (default 64)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda."),
    num_workers: Optional[int] = typer.Option(None, help="Data-loading worker processes."),
    config: Optional[Path] = CONFIG,
):
    """Predict labels for a split: one JSON object per image on stdout."""
    from mlcap.config import PredictOptions, resolve
    from mlcap.predict import predict_rows

    opts = resolve(PredictOptions, "predict", dict(run=run, data=data, split=split, stage=stage,
                                                     batch_size=batch_size, device=device,
                                                     num_workers=num_workers), config)
    for row in predict_rows(opts):
        sys.stdout.write(json.dumps(row) + "\n")


@app.command()
def evaluate(
    predictions: Optional[List[str]] = typer.Argument(None, help="Prediction JSONL files, or - for stdin."),
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared dataset directory."),
    split: Optional[str] = typer.Option(None, help="Split of the ground truth (default test)."),
    metrics: Optional[str] = typer.Option(None, help="Comma list of f1, image, map, nplus, duplicates."),
    top_k: Optional[int] = typer.Option(None, help="Score the k highest-scoring labels (3 is customary)."),
    json_output: Optional[bool] = typer.Option(None, "--json", help="Machine-readable output."),
    config: Optional[Path] = CONFIG,
):
    """Metrics of prediction files against a prepared split: a table, or JSON with --json."""
    from mlcap.config import EvaluateOptions, resolve
    from mlcap.data.prepared import PreparedDataset
    from mlcap.evaluate import evaluate_file, parse_metrics

    opts = resolve(EvaluateOptions, "evaluate", dict(predictions=predictions or None, data=data, split=split,
                                                       metrics=metrics, top_k=top_k, json_output=json_output),
                   config)
    names = parse_metrics(opts.metrics)
    dataset = PreparedDataset(opts.data)
    rows = [evaluate_file(p, dataset, opts.split, names, opts.top_k) for p in opts.predictions]
    if opts.json_output:
        clean = lambda r: {k: v for k, v in r.items() if k not in ("predictions", "images", "mode")}
        _emit(clean(rows[0]) if len(rows) == 1 else {r["predictions"]: clean(r) for r in rows})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{dataset.name} / {opts.split}" + (f" / top-{opts.top_k}" if opts.top_k else ""))
    columns = [k for k in rows[0] if k not in ("mode",)]
    for c in columns:
        table.add_column(c, justify="left" if c == "predictions" else "right")
    for r in rows:
        table.add_row(*[f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in columns])
    Console(width=200).print(table)


@app.command()
def methods(json_output: bool = typer.Option(False, "--json", help="Machine-readable output.")):
    """Installed method plugins (entry-point group mlcap.methods)."""
    from mlcap.plugins import describe_methods

    rows = describe_methods()
    if json_output:
        for r in rows:
            _emit(r)
        return
    for r in rows:
        sys.stdout.write(f"{r['name']:<12} {r['package']} {r['version']}  {r['summary']}\n")


@app.command()
def backbones():
    """Backbone names accepted by --backbone."""
    from mlcap.models import backbone_input, backbone_names

    for name in backbone_names():
        info = backbone_input(name)
        sys.stdout.write(f"{name:<14} input {info.default_size}px\n")


def main() -> None:
    """Usage errors are click's (exit 2); ``MlcapError`` is one line on stderr with its exit code."""
    try:
        app()
    except MlcapError as e:
        sys.stderr.write(f"mlcap: error: {e}\n")
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("mlcap: interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
