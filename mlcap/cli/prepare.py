"""`mlcap prepare KIND`: a dataset from its official layout into the prepared format. Every preparer
takes ``--config FILE.toml``: its ``[prepare]`` table (and the top-level keys that are options of
this preparer) set defaults, which the command line overrides."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional

import click
import typer

from mlcap.cli.app import app
from mlcap.cli.prepare_out import prepared_into
from mlcap.errors import MlcapError

prepare_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Write a dataset in mlcap's prepared format.")
app.add_typer(prepare_app, name="prepare")


def _config_defaults(ctx: click.Context, param: click.Parameter, value: Optional[Path]):
    """``--config``: the file's ``[prepare]`` keys (each must be an option of this preparer) and its
    top-level keys that are, as the defaults of this command's other options."""
    if value is None:
        return value
    from mlcap.config import read_toml_tables

    top, table = read_toml_tables(Path(value), "prepare")
    names = {p.name for p in ctx.command.params if p.name not in ("config", "help")}
    unknown = sorted(k for k in table if k not in names)
    if unknown:
        raise MlcapError(f"{value}: [prepare] key {unknown[0]!r} is not an option of `mlcap prepare "
                         f"{ctx.info_name}` ({', '.join(sorted(names))})")
    ctx.default_map = {**(ctx.default_map or {}), **{k: v for k, v in top.items() if k in names}, **table}
    return value


PREPARE_CONFIG = typer.Option(None, "--config", "-c", is_eager=True, callback=_config_defaults,
                              help="TOML file: its [prepare] table sets these options (command-line values win).")
STRICT = typer.Option(False, "--strict", help="Stop at the first malformed row instead of skipping it.")
JSON_SUMMARY = typer.Option(False, "--json", help="Machine-readable summary.")
OVERWRITE = typer.Option(False, "--overwrite", help="Replace an --out that already holds files, whole (the new "
                         "dataset takes its place in one step once complete).")
VAL_FRACTION = typer.Option(None, "--val-fraction", help="Draw this fraction of the images as the val split "
                            "(stratified by label; default 0.1 when a pool is split, else none).")
TEST_FRACTION = typer.Option(None, "--test-fraction", help="Draw this fraction of the images as the test split "
                             "(stratified by label; default 0.2 when no test file is given).")
SPLIT_SEED = typer.Option(None, "--split-seed", help="Seed of the drawn splits (default 0).")
KEEP_UNLABELLED = typer.Option(False, "--keep-unlabelled", help="Keep images with no label, as all-negative "
                               "(default: drop them, counted per split in the summary).")
#: What every own-data preparer's help says about splits, unlabelled images and unseen labels.
OWN_DATA = ("\n\nSplits not given as files are drawn from the images, stratified by label so that rare labels "
            "reach every split where possible (--val-fraction, --test-fraction, --split-seed; default 70/10/20). "
            "Images with no label are dropped and counted per split, or kept as all-negative with "
            "--keep-unlabelled. A label found only in val/test is kept in the vocabulary (training frequency 0) "
            "with a warning naming it; no label is removed from a test image.")


def _split_options(val_fraction, test_fraction, split_seed, keep_unlabelled):
    from mlcap.datasets.own import SplitOptions

    return SplitOptions(val_fraction, test_fraction, split_seed, keep_unlabelled)


_SPLIT_NAMES = ("val_fraction", "test_fraction", "split_seed", "keep_unlabelled")
_SPLIT_PARAMS = [inspect.Parameter("val_fraction", inspect.Parameter.KEYWORD_ONLY, default=VAL_FRACTION,
                                   annotation=Optional[float]),
                 inspect.Parameter("test_fraction", inspect.Parameter.KEYWORD_ONLY, default=TEST_FRACTION,
                                   annotation=Optional[float]),
                 inspect.Parameter("split_seed", inspect.Parameter.KEYWORD_ONLY, default=SPLIT_SEED,
                                   annotation=Optional[int]),
                 inspect.Parameter("keep_unlabelled", inspect.Parameter.KEYWORD_ONLY, default=KEEP_UNLABELLED,
                                   annotation=bool)]
_COMMON_PARAMS = [inspect.Parameter("overwrite", inspect.Parameter.KEYWORD_ONLY, default=OVERWRITE, annotation=bool),
                  inspect.Parameter("strict", inspect.Parameter.KEYWORD_ONLY, default=STRICT, annotation=bool),
                  inspect.Parameter("json_output", inspect.Parameter.KEYWORD_ONLY, default=JSON_SUMMARY,
                                    annotation=bool),
                  inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=PREPARE_CONFIG,
                                    annotation=Optional[Path])]


def preparer(name: str, *, splits: bool = False, doc: str | None = None):
    """Register ``reader`` as ``mlcap prepare NAME``: its own options, then (``splits``) the split
    options, then ``--strict``, ``--json`` and ``--config``. ``reader(**options, report[, split])``
    returns ``(meta, samples)``; a failure leaves no half-written ``--out``."""
    def register(reader):
        own = [p for p in inspect.signature(reader, eval_str=True).parameters.values()
               if p.name not in ("report", "split")]

        def command(**values):
            strict, json_output, overwrite = values.pop("strict"), values.pop("json_output"), values.pop("overwrite")
            values.pop("config")
            if splits:
                values["split"] = _split_options(*(values.pop(k) for k in _SPLIT_NAMES))
            _prepare(lambda report, out: reader(report=report, **{**values, "out": out}), values["out"], strict,
                     json_output, overwrite)

        command.__signature__ = inspect.Signature(own + (_SPLIT_PARAMS if splits else []) + _COMMON_PARAMS)
        command.__doc__ = doc or reader.__doc__
        prepare_app.command(name)(command)
        return reader
    return register


@prepare_app.command("synthetic")
def prepare_synthetic(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    images: int = typer.Option(2000, help="Number of images."),
    seed: int = typer.Option(0, help="Random seed."),
    overwrite: bool = OVERWRITE,
    json_output: bool = JSON_SUMMARY,
    config: Optional[Path] = PREPARE_CONFIG,
):
    """The embedded synthetic dataset: real PNGs, scenes, look-alikes, noisy tags, captions."""
    from mlcap.config import PrepareSyntheticOptions, validated
    from mlcap.data.prepared import PreparedDataset
    from mlcap.data.synthetic import generate
    from mlcap.datasets.summary import print_summary, summarize
    from mlcap.progress import progress_bar

    opts = validated(PrepareSyntheticOptions, {"out": out, "images": images, "seed": seed}, config)
    with prepared_into(opts.out, overwrite) as folder, progress_bar("synthetic", total=opts.images) as advance:
        meta = generate(folder, opts.images, opts.seed, progress=advance)
    ds = PreparedDataset(opts.out)
    print_summary(summarize(meta, {s: ds.samples(s) for s in ds.splits}), json_output)




@prepare_app.command("coco")
def prepare_coco(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    root: Optional[Path] = typer.Option(None, help="COCO root: annotations/, train2017/, val2017/. "
                                        "[required unless --instances]"),
    instances: Optional[Path] = typer.Option(None, help="Instead of --root: one COCO instances JSON (a "
                                             "labelling tool's export); its splits are drawn."),
    images: Optional[Path] = typer.Option(None, help="The folder the file_names of --instances are relative "
                                          "to. [required with --instances]"),
    captions: Optional[Path] = typer.Option(None, help="With --instances: a COCO captions JSON of the same images."),
    year: str = typer.Option("2017", help="2014 or 2017."),
    karpathy: Optional[Path] = typer.Option(None, help="Karpathy split file (dataset_coco.json)."),
    labels: str = typer.Option("categories", help="categories (80) or concepts (frequent caption words)."),
    vocab_size: int = typer.Option(12000, help="Caption word vocabulary size."),
    min_count: Optional[int] = typer.Option(None, help="Instead: every word seen this often."),
    concepts: int = typer.Option(1000, help="Size of the caption concept set."),
    drop_stop_words: bool = typer.Option(False, "--drop-stop-words", help="Leave stop words out of the concepts."),
    check_images: bool = typer.Option(True, "--check-images/--no-check-images", help="Check image files exist."),
    val_fraction: Optional[float] = VAL_FRACTION,
    test_fraction: Optional[float] = TEST_FRACTION,
    split_seed: Optional[int] = SPLIT_SEED,
    keep_unlabelled: bool = KEEP_UNLABELLED,
    overwrite: bool = OVERWRITE,
    strict: bool = STRICT,
    json_output: bool = JSON_SUMMARY,
    config: Optional[Path] = PREPARE_CONFIG,
):
    from mlcap.datasets import coco, coco_file

    split = _split_options(val_fraction, test_fraction, split_seed, keep_unlabelled)
    text_options = coco.TextOptions(labels, vocab_size, min_count, concepts, drop_stop_words)
    if (root is None) == (instances is None):
        raise MlcapError("prepare coco: give --root (the official layout) or --instances FILE.json (one file)")
    if instances is None:
        _refuse_with_root({"--images": images, "--captions": captions, "--val-fraction": val_fraction,
                           "--test-fraction": test_fraction, "--split-seed": split_seed})
        run = lambda report, folder: coco.prepare(root, folder, year, karpathy, labels, vocab_size,  # noqa: E731
                                                  min_count, concepts, drop_stop_words, check_images, report,
                                                  keep_unlabelled)
    else:
        if images is None:
            raise MlcapError("prepare coco --instances: give --images DIR, the folder its file_names are relative to")
        if karpathy is not None:
            raise MlcapError("prepare coco: --karpathy splits the official files (--root), not --instances")
        run = lambda report, folder: coco_file.prepare(instances, images, folder, captions, split,  # noqa: E731
                                                       text_options, check_images, report)
    _prepare(run, out, strict, json_output, overwrite)


prepare_coco.__doc__ = ("MS-COCO from its official instances/captions JSON (pycocotools), or one COCO-format "
                        "file with any image folder (--instances, --images)." + OWN_DATA)


def _refuse_with_root(given: dict) -> None:
    for flag, value in given.items():
        if value is not None:
            raise MlcapError(f"prepare coco: {flag} goes with --instances (one file); --root has the official "
                             "files and split")


@preparer("pa100k")
def prepare_pa100k(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    root: Path = typer.Option(..., help="PA-100K root: annotation.mat and data/."),
    annotation: Optional[Path] = typer.Option(None, help="The .mat file (default ROOT/annotation.mat)."),
    images: Optional[Path] = typer.Option(None, help="Image folder (default ROOT/data)."),
    report=None,
):
    """PA-100K pedestrian attributes from the official annotation.mat."""
    from mlcap.datasets import pa100k

    return pa100k.prepare(root, out, annotation, images, report)


@preparer("voc")
def prepare_voc(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    root: Path = typer.Option(..., help="VOC root: ImageSets/Main/, JPEGImages/ (e.g. VOCdevkit/VOC2007)."),
    train_split: str = typer.Option("trainval", help="ImageSets split for training."),
    test_split: str = typer.Option("test", help="ImageSets split for testing."),
    report=None,
):
    """PASCAL VOC 2007/2012 (difficult = unknown, masked)."""
    from mlcap.datasets import voc

    return voc.prepare(root, out, train_split, test_split, report)


@preparer("wider")
def prepare_wider(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    root: Path = typer.Option(..., help="Folder with wider_attribute_{trainval,test}.json and Image/."),
    check_images: bool = typer.Option(True, "--check-images/--no-check-images", help="Check image files exist."),
    report=None,
):
    """WIDER Attribute: one sample per person box (0 = unknown, masked)."""
    from mlcap.datasets import wider

    return wider.prepare(root, out, check_images, report)


@preparer("espgame")
def prepare_espgame(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    root: Path = typer.Option(..., help="Folder with espgame_dictionary.txt, *_list.txt, *_annot.txt."),
    check_images: bool = typer.Option(True, "--check-images/--no-check-images", help="Check image files exist."),
    report=None,
):
    """ESP Game, TagProp-style release and split (268 words)."""
    from mlcap.datasets import espgame

    return espgame.prepare(root, out, check_images, report)


def _register_generic(kind: str) -> None:
    doc = ("Your own data: CSV rows 'path,label|label|...'." if kind == "csv" else
           "Your own data: JSONL {path, labels, captions?, tags?}.") + OWN_DATA

    @preparer(kind, splits=True, doc=doc)
    def command(
        out: Path = typer.Option(..., "--out", help="Directory to write."),
        train: Path = typer.Option(..., help=f"Training {kind.upper()} file (without --test: every image, split)."),
        test: Optional[Path] = typer.Option(None, help=f"Test {kind.upper()} file (default: drawn from --train)."),
        val: Optional[Path] = typer.Option(None, help=f"Validation {kind.upper()} file."),
        images: Optional[Path] = typer.Option(None, help="Folder image paths are relative to (default: train's)."),
        name: str = typer.Option("custom", help="Dataset name."),
        report=None,
        split=None,
    ):
        from mlcap.datasets import generic

        return generic.prepare(out, train, test, val, images, name, report, split)


for _kind in ("csv", "jsonl"):
    _register_generic(_kind)


@preparer("yolo", splits=True, doc="Your own data: a YOLO folder (rows 'class cx cy w h'); an image's labels are "
                                     "the classes of its boxes." + OWN_DATA)
def prepare_yolo(
    out: Path = typer.Option(..., "--out", help="Directory to write."),
    root: Path = typer.Option(..., help="YOLO folder: images/, labels/*.txt, classes.txt or data.yaml."),
    report=None,
    split=None,
):
    from mlcap.datasets import yolo

    return yolo.prepare(root, out, split, report)


def _prepare(run, out: Path, strict: bool, json_output: bool, overwrite: bool) -> None:
    """``run(report, folder)`` writes the dataset into ``folder``, which becomes ``out`` when it is
    complete (mlcap/cli/prepare_out.py)."""
    from mlcap.datasets.report import PrepareReport
    from mlcap.datasets.summary import print_summary, summarize

    report = PrepareReport(strict)
    with prepared_into(out, overwrite, report) as folder:
        meta, samples = run(report, folder)
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
    overwrite: bool = OVERWRITE,
    strict: bool = STRICT,
    json_output: bool = JSON_SUMMARY,
    config: Optional[Path] = PREPARE_CONFIG,
):
    """NUS-WIDE from its official files, a per-split CSV, or 'path v1 ... v81' lists."""
    from mlcap.datasets import nuswide

    _prepare(lambda report, folder: nuswide.prepare(folder, root, concepts, train_csv, test_csv, train_list,
                                                    test_list, train_labels, test_labels, images, split, seed,
                                                    report),
             out, strict, json_output, overwrite)
