"""`mlcap compare`: every variant of every method on one dataset, one table.

``compare(setup, variants, seeds, metrics)`` trains each variant for each seed (``runner``),
predicts the test split, evaluates it, and writes ``OUT/compare.jsonl``, ``OUT/compare.md`` and
``OUT/plots/``; the presets in ``examples/compare/`` are the seed papers' tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlcap.atomic import remove_orphans
from mlcap.compare.runner import Setup, check_variants, ensure_run, learnt_nothing
from mlcap.compare.variants import Variant, check_unique, parse_methods, variant_from_table  # noqa: F401
from mlcap.errors import MlcapError
from mlcap.progress import note

LABEL_DEFAULT = ["f1", "map"]
CAPTION_DEFAULT = ["f1", "bleu", "meteor", "rouge", "cider"]


def _metrics_for(task: str, metrics: list[str] | None) -> tuple[list[str], list[str]]:
    """(label metrics, caption metrics) of a run: caption metrics only for a captioning run."""
    from mlcap.evaluation import CAPTION_GROUPS

    chosen = metrics or (CAPTION_DEFAULT if task == "caption" else LABEL_DEFAULT)
    labels = [m for m in chosen if m not in CAPTION_GROUPS]
    captions = [m for m in chosen if m in CAPTION_GROUPS] if task == "caption" else []
    return labels, captions


def evaluate_run(preds: Path, dataset, split: str, task: str, metrics: list[str] | None, top_k: int | None) -> dict:
    from mlcap.evaluation import evaluate_captions, evaluate_file

    labels, captions = _metrics_for(task, metrics)
    out: dict = {}
    if labels:
        out.update(evaluate_file(str(preds), dataset, split, labels, top_k))
    if captions:
        references = {s.id: s.captions for s in dataset.samples(split) if s.captions}
        if not references:
            raise MlcapError(f"{dataset.root}: the {split} split has no captions for the caption metrics")
        out.update(evaluate_captions(str(preds), references, captions))
    return {k: v for k, v in out.items() if k not in ("predictions", "images", "mode")}


def _truth_and_prediction(preds: Path, dataset, split: str):
    """(truth, emitted labels) of the split; labels None for captions without concepts."""
    from mlcap.evaluation import read_predictions

    samples = dataset.samples(split)
    y_true = np.zeros((len(samples), len(dataset.labels)), bool)
    for i, s in enumerate(samples):
        y_true[i, [dataset.label_index[l] for l in s.labels]] = True
    predictions = read_predictions(str(preds), dataset, [s.id for s in samples])
    return y_true, None if predictions.concept_free else predictions.labels


def _plots(setup: Setup, dataset, summary: list[dict], columns: list[str], first: dict[str, Path]) -> list[Path]:
    """Bars of the main metrics, per-class F1 of the three best variants, training curves, and
    co-occurrence difference heatmaps (the first seed's runs)."""
    from mlcap.compare import plots
    from mlcap.evaluation import write_cooccurrence

    folder = setup.out / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    main = [c for c in ("C-F1", "O-F1", "mAP", "CIDEr", "BLEU-4") if c in columns] or columns[:3]
    written = [plots.metric_bars(summary, main, folder / "metrics.png")]
    key = main[0]
    best = sorted(summary, key=lambda e: -e["mean"].get(key, -1.0))[:3]
    per_class = {}
    for entry in summary:
        y_true, y_pred = _truth_and_prediction(first[entry["variant"]] / f"{setup.split}.jsonl", dataset, setup.split)
        if y_pred is None:                      # a captioner without concepts: no label to plot
            continue
        tp = (y_true & y_pred).sum(0)
        f1 = np.where(y_true.sum(0) + y_pred.sum(0) > 0, 2 * tp / np.maximum(y_true.sum(0) + y_pred.sum(0), 1), 0)
        if entry in best:
            per_class[entry["variant"]] = f1
        write_cooccurrence(folder / "cooccurrence", Variant(entry["variant"], "").slug, y_true, y_pred,
                           dataset.labels, None)
    if per_class:                               # none for captioners without concepts
        written.append(plots.per_class_f1(per_class, dataset.labels, folder / "per_class_f1.png"))
    written.append(plots.training_curves({e["variant"]: first[e["variant"]] for e in summary},
                                         folder / "training_curves.png"))
    return written


def _checked(setup: Setup, variants: list[Variant], seeds: list[int]):
    """The prepared dataset, once every variant is valid (before anything trains)."""
    from mlcap.data.prepared import PreparedDataset

    if not variants:
        raise MlcapError("compare: no variant to run")
    if not seeds:
        raise MlcapError("--seeds: give at least one seed")
    check_unique(variants)
    dataset = PreparedDataset(setup.data)
    check_variants(variants, setup, dataset.name)
    return dataset


def dry_run(setup: Setup, variants: list[Variant], seeds: list[int]) -> list[dict]:
    """Every variant checked and each run's plan (reuse, resume, train, train again: why); nothing trains."""
    from mlcap.compare.plan import plan

    _checked(setup, variants, seeds)
    return plan(setup, variants, seeds)


def compare(setup: Setup, variants: list[Variant], seeds: list[int], metrics: list[str] | None = None,
            top_k: int | None = None) -> tuple[list[dict], list[dict], str]:
    """Train, predict and evaluate every (variant, seed); ``(rows, per-variant summary, table)``. One
    compare at a time in an ``--out``: it holds ``OUT/.lock`` (mlcap/training/lock.py), and a second
    one stops at once (exit 2) naming the first one's pid."""
    from mlcap.training.lock import FileLock

    dataset = _checked(setup, variants, seeds)
    setup.out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(setup.out / ".lock", lambda holder: f"--out {setup.out}: another mlcap compare (pid {holder}) "
                    "is using it; wait for it to finish (a compare run again reuses what it trained) or give another "
                    "--out")
    try:
        remove_orphans(setup.out, note, names=("compare.jsonl", "compare.md"))
        return _compare(setup, variants, seeds, dataset, metrics, top_k)
    finally:
        lock.release()


def _compare(setup: Setup, variants: list[Variant], seeds: list[int], dataset, metrics, top_k):
    from mlcap.compare import report

    rows, first = [], {}
    for seed in seeds:                      # variants in order: init_from names an earlier one
        for variant in variants:
            preds, record = ensure_run(variant, seed, setup, dataset.name)
            result = record["result"]
            rows.append({"variant": variant.name, "method": variant.method, "seed": seed, "run": str(preds.parent),
                         "metrics": evaluate_run(preds, dataset, setup.split, result["task"], metrics, top_k),
                         "train_seconds": result["train_seconds"], "images_per_s": result["images_per_s"],
                         "silent": learnt_nothing(preds.parent, variant)})
            first.setdefault(variant.name, preds.parent)
            note(f"compare: {variant.name} seed {seed} done ({len(rows)} of {len(variants) * len(seeds)})")
    summary = report.summarize(rows)
    columns = report.columns_of(rows)
    table = report.markdown(summary, columns, seeds)
    report.write_outputs(setup.out, rows, summary, table)
    _plots(setup, dataset, summary, columns, first)
    return rows, summary, table
