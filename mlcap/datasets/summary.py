"""The summary `prepare` prints: per split and overall, plus what was dropped and why."""

from __future__ import annotations

import json
import sys

from mlcap.data.prepared import Sample
from mlcap.datasets.report import PrepareReport


def summarize(meta: dict, splits: dict[str, list[Sample]], report: PrepareReport | None = None,
              extra: dict | None = None) -> dict:
    freq = [f for f in meta["label_frequencies"].values()]
    out = {
        "dataset": meta["name"],
        "labels": len(meta["labels"]),
        "tags": len(meta.get("tags", [])),
        "splits": {},
        "label_frequency_range": [min(freq), max(freq)] if freq else [0, 0],
    }
    for name, samples in splits.items():
        n = len(samples)
        counts = [len(s.labels) for s in samples]
        out["splits"][name] = {
            "images": n,
            "labels_per_image_mean": round(sum(counts) / n, 3) if n else 0.0,
            "labels_per_image_max": max(counts, default=0),
            "tags_per_image_mean": round(sum(len(s.tags) for s in samples) / n, 3) if n else 0.0,
            "captions": sum(len(s.captions) for s in samples),
        }
    if report is not None:
        out["dropped"] = dict(report.dropped)
        if report.dropped_in:
            out["dropped_by_split"] = {split: dict(reasons) for split, reasons in report.dropped_in.items()}
        out["problems"] = dict(report.problems)
        if report.examples:
            out["problem_examples"] = report.examples
        if report.notes:
            out["notes"] = report.notes
    if extra:
        out.update(extra)
    return out


def print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    table = Table(title=f"{summary['dataset']}: {summary['labels']} labels, {summary['tags']} tags, "
                        f"training label frequency {summary['label_frequency_range'][0]}"
                        f"–{summary['label_frequency_range'][1]}")
    for col in ("split", "images", "labels/image (mean)", "labels/image (max)", "tags/image", "captions"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for name, s in summary["splits"].items():
        table.add_row(name, str(s["images"]), f"{s['labels_per_image_mean']:.2f}", str(s["labels_per_image_max"]),
                      f"{s['tags_per_image_mean']:.2f}", str(s["captions"]))
    console.print(table)
    for reason, n in summary.get("dropped", {}).items():
        console.print(f"dropped {n} image(s): {reason}", markup=False, highlight=False)
    for split, reasons in summary.get("dropped_by_split", {}).items():
        why = ", ".join(f"{reason} {n}" for reason, n in reasons.items())
        console.print(f"  of them from the {split} split: {sum(reasons.values())} ({why})", markup=False,
                      highlight=False)
    for reason, n in summary.get("problems", {}).items():
        console.print(f"{n} problem(s): {reason}", markup=False, highlight=False)
    for example in summary.get("problem_examples", []):
        console.print(f"  e.g. {example}", markup=False, highlight=False, soft_wrap=True)
    for note in summary.get("notes", []):
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    for key, value in summary.items():
        if key not in ("dataset", "labels", "tags", "splits", "label_frequency_range", "dropped", "problems",
                       "problem_examples", "notes", "dropped_by_split"):
            console.print(f"{key}: {value}", markup=False, highlight=False)
