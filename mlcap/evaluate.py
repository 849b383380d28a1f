"""`mlcap evaluate`: metrics of prediction files against a prepared split.

A ground-truth image with no prediction counts as an empty prediction and is
reported; a prediction for an id not in the split is skipped and reported.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcap.data.prepared import PreparedDataset
from mlcap.errors import MlcapError, at
from mlcap.metrics import (classification_metrics, duplicate_ratio, mean_average_precision, n_plus,
                           per_image_metrics, top_k_mask)
from mlcap.progress import note

METRICS = {
    "f1": ("C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1"),
    "image": ("I-P", "I-R", "I-F1"),
    "map": ("mAP",),
    "nplus": ("N+",),
    "duplicates": ("dup",),
}


@dataclass
class Predictions:
    name: str
    labels: np.ndarray          # (N, K) bool, emitted labels
    scores: np.ndarray | None   # (N, K) float, when every row has scores
    duplicates: list[int]
    missing: int                # ground-truth images with no prediction
    unknown: int                # predictions whose id is not in the split


def parse_metrics(spec: str) -> list[str]:
    names = [m.strip() for m in spec.split(",") if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise MlcapError(f"unknown metric {unknown[0] if unknown else spec!r} (known: {', '.join(METRICS)})")
    return names


def read_predictions(source: str, data: PreparedDataset, ids: list[str]) -> Predictions:
    index = {image_id: i for i, image_id in enumerate(ids)}
    K = len(data.labels)
    labels = np.zeros((len(ids), K), bool)
    scores = np.zeros((len(ids), K), float)
    has_scores = True
    duplicates, seen, unknown = [], set(), 0
    name = "stdin" if source == "-" else source
    if source != "-" and not Path(source).is_file():
        raise MlcapError(f"{source}: predictions file not found")
    stream = sys.stdin if source == "-" else open(source, encoding="utf-8")
    try:
        for lineno, line in enumerate(stream, 1):
            if not line.strip():
                continue
            where = at(name, lineno)
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise MlcapError(f"{where}: not JSON ({e.msg})") from None
            if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("labels"), list):
                raise MlcapError(f"{where}: expected {{\"id\": ..., \"labels\": [...]}}")
            image_id = str(row["id"])
            if image_id in seen:
                raise MlcapError(f"{where}: second prediction for id {image_id!r}")
            seen.add(image_id)
            if image_id not in index:
                unknown += 1
                continue
            i = index[image_id]
            for label in row["labels"]:
                if label not in data.label_index:
                    raise MlcapError(f"{where}: unknown label {label!r}")
                labels[i, data.label_index[label]] = True
            row_scores = row.get("scores")
            if isinstance(row_scores, dict):
                for label, p in row_scores.items():
                    if label not in data.label_index or not isinstance(p, (int, float)):
                        raise MlcapError(f"{where}: bad score entry {label!r}: {p!r}")
                    scores[i, data.label_index[label]] = p
            else:
                has_scores = False
            duplicates.append(int(row.get("duplicates", 0)))
    finally:
        if stream is not sys.stdin:
            stream.close()
    missing = len(ids) - len(seen & set(index))
    return Predictions(name, labels, scores if has_scores else None, duplicates, missing, unknown)


def evaluate_file(source: str, data: PreparedDataset, split: str, metrics: list[str],
                  top_k: int | None = None) -> dict:
    samples = data.samples(split)
    ids = [s.id for s in samples]
    y_true = np.zeros((len(ids), len(data.labels)), bool)
    for i, s in enumerate(samples):
        y_true[i, [data.label_index[l] for l in s.labels]] = True
    preds = read_predictions(source, data, ids)
    if preds.missing:
        note(f"{preds.name}: {preds.missing} of {len(ids)} {split} images have no prediction (counted as empty)")
    if preds.unknown:
        note(f"{preds.name}: skipped {preds.unknown} predictions whose id is not in the {split} split")
    needs_scores = "map" in metrics or top_k is not None
    if needs_scores and preds.scores is None:
        raise MlcapError(f"{preds.name}: {'mAP' if 'map' in metrics else '--top-k'} needs per-label scores")
    y_pred = top_k_mask(preds.scores, top_k) if top_k else preds.labels
    row: dict = {"predictions": preds.name, "images": len(ids)}
    if top_k:
        row["mode"] = f"top-{top_k}"
    for m in metrics:
        if m == "f1":
            row.update(classification_metrics(y_true, y_pred))
        elif m == "image":
            row.update(per_image_metrics(y_true, y_pred))
        elif m == "map":
            row["mAP"] = mean_average_precision(y_true, preds.scores)
        elif m == "nplus":
            row["N+"] = n_plus(y_true, y_pred)
        elif m == "duplicates":
            row["dup"] = duplicate_ratio(preds.duplicates)
    return row
