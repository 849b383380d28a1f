"""The `mlcap` command line. Heavy imports (torch) happen inside the commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from mlcap.errors import MlcapError
from mlcap.shell import removed_on_failure

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
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
prepare_app = typer.Typer(no_args_is_help=True, help="Write a dataset in mlcap's prepared format.")
app.add_typer(prepare_app, name="prepare")

CONFIG = typer.Option(None, "--config", "-c", help="TOML file of options (command-line values win).")


def _finite(value):
    """NaN (e.g. rigidness with no label pairs) becomes null in JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(_finite(obj)) + "\n")
    sys.stdout.flush()


@prepare_app.command("synthetic")
def prepare_synthetic(
    out: Optional[Path] = typer.Option(None, "--out", help="Directory to write."),
    images: Optional[int] = typer.Option(None, help="Number of images (default 2000)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (default 0)."),
    json_output: bool = typer.Option(False, "--json", help="Machine-readable summary."),
    config: Optional[Path] = CONFIG,
):
    """The embedded synthetic dataset: real PNGs, scenes, look-alikes, noisy tags, captions."""
    from mlcap.config import PrepareSyntheticOptions, resolve
    from mlcap.data.prepared import PreparedDataset
    from mlcap.data.synthetic import generate
    from mlcap.datasets.summary import print_summary, summarize
    from mlcap.progress import progress_bar

    opts = resolve(PrepareSyntheticOptions, "prepare", {"out": out, "images": images, "seed": seed}, config)
    with removed_on_failure(opts.out), progress_bar("synthetic", total=opts.images) as advance:
        meta = generate(opts.out, opts.images, opts.seed, progress=advance)
    ds = PreparedDataset(opts.out)
    print_summary(summarize(meta, {s: ds.samples(s) for s in ds.splits}), json_output)


STRICT = typer.Option(False, "--strict", help="Stop at the first malformed row instead of skipping it.")
JSON_SUMMARY = typer.Option(False, "--json", help="Machine-readable summary.")


@prepare_app.command("coco")
def prepare_coco(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    root: Path = typer.Option(..., help="COCO root: annotations/, train2017/, val2017/."),
    year: str = typer.Option("2017", help="2014 or 2017."),
    karpathy: Optional[Path] = typer.Option(None, help="Karpathy split file (dataset_coco.json)."),
    labels: str = typer.Option("categories", help="categories (80) or concepts (frequent caption words)."),
    vocab_size: int = typer.Option(12000, help="Caption word vocabulary size."),
    min_count: Optional[int] = typer.Option(None, help="Instead: every word seen this often."),
    concepts: int = typer.Option(1000, help="Size of the caption concept set."),
    drop_stop_words: bool = typer.Option(False, "--drop-stop-words", help="Leave stop words out of the concepts."),
    check_images: bool = typer.Option(True, "--check-images/--no-check-images", help="Check image files exist."),
    strict: bool = STRICT,
    json_output: bool = JSON_SUMMARY,
):
    """MS-COCO from its official instances/captions JSON (pycocotools)."""
    from mlcap.datasets import coco

    _prepare(lambda report: coco.prepare(root, out, year, karpathy, labels, vocab_size, min_count, concepts,
                                         drop_stop_words, check_images, report), out, strict, json_output)


@prepare_app.command("pa100k")
def prepare_pa100k(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    root: Path = typer.Option(..., help="PA-100K root: annotation.mat and data/."),
    annotation: Optional[Path] = typer.Option(None, help="The .mat file (default ROOT/annotation.mat)."),
    images: Optional[Path] = typer.Option(None, help="Image folder (default ROOT/data)."),
    strict: bool = STRICT,
    json_output: bool = JSON_SUMMARY,
):
    """PA-100K pedestrian attributes from the official annotation.mat."""
    from mlcap.datasets import pa100k

    _prepare(lambda report: pa100k.prepare(root, out, annotation, images, report), out, strict, json_output)


@prepare_app.command("voc")
def prepare_voc(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    root: Path = typer.Option(..., help="VOC root: ImageSets/Main/, JPEGImages/ (e.g. VOCdevkit/VOC2007)."),
    train_split: str = typer.Option("trainval", help="ImageSets split for training."),
    test_split: str = typer.Option("test", help="ImageSets split for testing."),
    strict: bool = STRICT,
    json_output: bool = JSON_SUMMARY,
):
    """PASCAL VOC 2007/2012 (difficult = unknown, masked)."""
    from mlcap.datasets import voc

    _prepare(lambda report: voc.prepare(root, out, train_split, test_split, report), out, strict, json_output)


@prepare_app.command("wider")
def prepare_wider(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    root: Path = typer.Option(..., help="Folder with wider_attribute_{trainval,test}.json and Image/."),
    check_images: bool = typer.Option(True, "--check-images/--no-check-images", help="Check image files exist."),
    strict: bool = STRICT,
    json_output: bool = JSON_SUMMARY,
):
    """WIDER Attribute: one sample per person box (0 = unknown, masked)."""
    from mlcap.datasets import wider

    _prepare(lambda report: wider.prepare(root, out, check_images, report), out, strict, json_output)


@prepare_app.command("espgame")
def prepare_espgame(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    root: Path = typer.Option(..., help="Folder with espgame_dictionary.txt, *_list.txt, *_annot.txt."),
    check_images: bool = typer.Option(True, "--check-images/--no-check-images", help="Check image files exist."),
    strict: bool = STRICT,
    json_output: bool = JSON_SUMMARY,
):
    """ESP Game, TagProp-style release and split (268 words)."""
    from mlcap.datasets import espgame

    _prepare(lambda report: espgame.prepare(root, out, check_images, report), out, strict, json_output)


def _register_generic(kind: str) -> None:
    def command(
        out: Path = typer.Option(..., "--out", help="Directory to write."),
        train: Path = typer.Option(..., help=f"Training {kind.upper()} file."),
        test: Path = typer.Option(..., help=f"Test {kind.upper()} file."),
        val: Optional[Path] = typer.Option(None, help=f"Validation {kind.upper()} file."),
        images: Optional[Path] = typer.Option(None, help="Folder image paths are relative to (default: train's)."),
        name: str = typer.Option("custom", help="Dataset name."),
        strict: bool = STRICT,
        json_output: bool = JSON_SUMMARY,
    ):
        from mlcap.datasets import generic

        _prepare(lambda report: generic.prepare(out, train, test, val, images, name, report), out, strict, json_output)

    command.__doc__ = ("Your own data: CSV rows 'path,label|label|...'." if kind == "csv" else
                       "Your own data: JSONL {path, labels, captions?, tags?}.")
    prepare_app.command(kind)(command)


for _kind in ("csv", "jsonl"):
    _register_generic(_kind)


def _prepare(run, out: Path, strict: bool, json_output: bool) -> None:
    from mlcap.datasets.report import PrepareReport
    from mlcap.datasets.summary import print_summary, summarize

    report = PrepareReport(strict)
    with removed_on_failure(out, report):
        meta, samples = run(report)
    for split, kept in samples.items():
        if not kept:
            report.note(f"split {split!r} is empty: there is nothing to evaluate or validate on it")
    print_summary(summarize(meta, samples, report), json_output)


@prepare_app.command("nuswide")
def prepare_nuswide(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    root: Optional[Path] = typer.Option(None, help="NUS-WIDE root in the official layout."),
    concepts: Optional[Path] = typer.Option(None, help="Concept list (default ROOT/ConceptsList/Concepts81.txt)."),
    train_csv: Optional[Path] = typer.Option(None, help="CSV (or .zip) 'image_id,<concepts>' of the train split."),
    test_csv: Optional[Path] = typer.Option(None, help="The same for the test split."),
    train_list: Optional[Path] = typer.Option(None, help="Official TrainImagelist.txt naming the CSV rows."),
    test_list: Optional[Path] = typer.Option(None, help="Official TestImagelist.txt naming the CSV rows."),
    train_labels: Optional[Path] = typer.Option(None, help="'path v1 ... v81' list of the train split."),
    test_labels: Optional[Path] = typer.Option(None, help="The same for the test split."),
    images: Optional[Path] = typer.Option(None, help="Image directory (checked; image paths relative to it)."),
    split: str = typer.Option("official", help="official (train/test lists) or paper (150,000 train, seeded)."),
    seed: int = typer.Option(0, help="Seed of --split paper."),
    strict: bool = STRICT,
    json_output: bool = JSON_SUMMARY,
):
    """NUS-WIDE from its official files, a per-split CSV, or 'path v1 ... v81' lists."""
    from mlcap.datasets import nuswide

    _prepare(lambda report: nuswide.prepare(out, root, concepts, train_csv, test_csv, train_list, test_list,
                                            train_labels, test_labels, images, split, seed, report),
             out, strict, json_output)


# the training stages: `pretrain-cnn`, `pretrain-rnn`, `finetune`, `stage NAME` (mlcap/cli_train.py)
from mlcap import cli_train  # noqa: E402,F401  (registers its commands on `app`)


@app.command()
def predict(
    run: Optional[Path] = typer.Option(None, "--run", help="Run directory."),
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared dataset directory."),
    split: Optional[str] = typer.Option(None, help="Split to predict (default test)."),
    stage: Optional[str] = typer.Option(None, help="Checkpoint to use (default: the latest complete stage)."),
    features: Optional[Path] = typer.Option(None, help="Predict from an HDF5 feature cache."),
    beam: Optional[int] = typer.Option(None, help="Beam width (1 = greedy; default: the method's, 3 for captions, cnnrnn and orderfree)."),
    checkpoint: Optional[str] = typer.Option(None, help="best (on validation, default) or last."),
    threshold: Optional[float] = typer.Option(None, help="Override the run's decision threshold (see `mlcap methods`)."),
    coco_results: Optional[Path] = typer.Option(None, help="Captioning: also write [{image_id, caption}] here."),
    attention: Optional[Path] = typer.Option(None, help="Write each emitted label's attention map over the image (PNG) under this folder."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (default 64)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda."),
    num_workers: Optional[int] = typer.Option(None, help="Data-loading worker processes."),
    config: Optional[Path] = CONFIG,
):
    """Predict labels for a split: one JSON object per image on stdout."""
    from mlcap.config import PredictOptions, resolve
    from mlcap.predict import predict_rows

    opts = resolve(PredictOptions, "predict", dict(run=run, data=data, split=split, stage=stage, features=features,
                                                     beam=beam, coco_results=coco_results, attention=attention,
                                                     checkpoint=checkpoint, threshold=threshold,
                                                     batch_size=batch_size, device=device,
                                                     num_workers=num_workers), config)
    results = []
    for row in predict_rows(opts):
        sys.stdout.write(json.dumps(row) + "\n")
        if opts.coco_results is not None and "caption" in row:
            image_id = int(row["id"]) if str(row["id"]).isdigit() else row["id"]
            results.append({"image_id": image_id, "caption": row["caption"]})
    if opts.coco_results is not None:
        if not results:
            raise MlcapError("--coco-results: this run predicts labels, not captions")
        opts.coco_results.write_text(json.dumps(results))


@app.command("extract-features")
def extract_features(
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared dataset directory."),
    backbone: Optional[str] = typer.Option(None, help="Backbone name (see `mlcap backbones`)."),
    out: Optional[Path] = typer.Option(None, "--out", help="HDF5 file to write (resumed if present)."),
    weights: Optional[str] = typer.Option(None, help="Local state dict, or imagenet (offline, efficientnet_lite0)."),
    image_size: Optional[int] = typer.Option(None, help="Input side in pixels (default: the backbone's)."),
    splits: Optional[str] = typer.Option(None, help="Comma list of splits (default: all of the dataset's)."),
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
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared dataset directory."),
    split: Optional[str] = typer.Option(None, help="Split of the ground truth (default test)."),
    metrics: Optional[str] = typer.Option(None, help="Comma list of f1, image, map, nplus, duplicates, rigidness, ma, instance, bleu, meteor, rouge, cider, spice."),
    top_k: Optional[int] = typer.Option(None, help="Score the k highest-scoring labels (3 is customary)."),
    json_output: Optional[bool] = typer.Option(None, "--json", help="Machine-readable output."),
    cooccurrence: Optional[Path] = typer.Option(None, help="Write co-occurrence difference .npy/.png here."),
    groups: Optional[Path] = typer.Option(None, help="JSON {group: [labels]}: one heatmap per group."),
    coco_captions: Optional[Path] = typer.Option(None, help="Reference captions: a COCO captions JSON file."),
    config: Optional[Path] = CONFIG,
):
    """Metrics of prediction files against a prepared split: a table, or JSON with --json."""
    from mlcap.config import EvaluateOptions, resolve
    from mlcap.data.prepared import PreparedDataset
    from mlcap.evaluate import (CAPTION_GROUPS, evaluate_captions, evaluate_file, parse_metrics, read_coco_captions,
                                read_groups)

    opts = resolve(EvaluateOptions, "evaluate", dict(predictions=predictions or None, data=data, split=split,
                                                       metrics=metrics, top_k=top_k, json_output=json_output,
                                                       cooccurrence=cooccurrence, groups=groups,
                                                       coco_captions=coco_captions), config)
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
    rows = []
    for p in opts.predictions:
        row = {}
        if label_names:
            row.update(evaluate_file(p, dataset, opts.split, label_names, opts.top_k, opts.cooccurrence,
                                     label_groups))
        if caption_names:
            row.update(evaluate_captions(p, references, caption_names))
        rows.append(row)
    if opts.json_output:
        clean = lambda r: {k: v for k, v in r.items() if k not in ("predictions", "images", "mode")}
        _emit(clean(rows[0]) if len(rows) == 1 else {r["predictions"]: clean(r) for r in rows})
        return
    from rich.console import Console
    from rich.table import Table

    source = f"{dataset.name} / {opts.split}" if dataset is not None else str(opts.coco_captions)
    table = Table(title=source + (f" / top-{opts.top_k}" if opts.top_k else ""))
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

    for name in backbone_names():
        info = backbone_input(name)
        sys.stdout.write(f"{name:<14} input {info.default_size}px\n")


def main() -> None:
    """The `mlcap` entry point: every error ends as one line on stderr (see mlcap/shell.py)."""
    from mlcap.shell import run_command

    run_command(app)


if __name__ == "__main__":
    main()
