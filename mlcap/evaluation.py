"""`mlcap evaluate`: metrics of prediction files against a prepared split; and of records in memory
(``evaluate_predictions``, the Python API's ``mlcap.evaluate``).

A ground-truth image with no prediction counts as an empty prediction and is
reported; a prediction for an id not in the split is skipped and reported.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcap.data.prepared import PreparedDataset
from mlcap.errors import MlcapError, at
from mlcap.metric_groups import CAPTION_GROUPS, METRICS, parse_metrics  # noqa: F401  (re-exported)
from mlcap.metrics import (classification_metrics, duplicate_ratio, instance_metrics, mean_accuracy,
                           mean_average_precision, n_plus, per_image_average_metrics, per_image_metrics,
                           top_k_mask)
from mlcap.metrics.order import cooccurrence_difference, order_rigidness, save_heatmap
from mlcap.progress import note
from mlcap.textfile import decode_utf8, parse_json, read_json, read_text, require_regular_file


@dataclass
class Predictions:
    name: str
    labels: np.ndarray          # (N, K) bool, emitted labels
    scores: np.ndarray | None   # (N, K) float, when every row has scores
    duplicates: list[int]
    sequences: list[list[int]]  # emitted order, one per prediction row
    missing: int                # ground-truth images with no prediction
    unknown: int                # predictions whose id is not in the split
    concept_free: bool = False  # captions without concepts (a captioner that predicts none)


def source_name(source) -> str:
    """How errors and tables name a predictions source: a file, ``-`` (stdin), or in-memory records."""
    if isinstance(source, list):
        return "predictions"
    return "stdin" if source == "-" else str(source)


def _record_lines(records: list) -> list[bytes]:
    """In-memory records (the Python API) as the lines of a JSONL file, so they get its checks."""
    import json

    return [json.dumps(r).encode("utf-8") for r in records]


def read_predictions(source, data: PreparedDataset, ids: list[str]) -> Predictions:
    """``source``: a JSONL file's path, ``-`` (stdin), or a list of records."""
    index = {image_id: i for i, image_id in enumerate(ids)}
    K = len(data.labels)
    labels = np.zeros((len(ids), K), bool)
    scores = np.zeros((len(ids), K), float)
    has_scores = True
    duplicates, sequences, seen, unknown, concept_free = [], [], set(), 0, 0
    name = source_name(source)
    stream = _open_predictions(source)
    try:
        for lineno, line in enumerate(_lines(stream, name), 1):
            if not line.strip():
                continue
            where = at(name, lineno)
            row, caption_only = _prediction_row(parse_json(line, name, lineno), where)
            concept_free += caption_only
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
            sequences.append([data.label_index[label] for label in row["labels"]])
            row_scores = row.get("scores")
            if isinstance(row_scores, dict) and row_scores:           # {}: no scores, as absent
                _read_scores(row_scores, data, scores[i], where)
            else:
                has_scores = False
            n_dup = row.get("duplicates", 0)
            if isinstance(n_dup, bool) or not isinstance(n_dup, int) or n_dup < 0:
                raise MlcapError(f"{where}: duplicates must be a count (an integer >= 0), not {n_dup!r}")
            duplicates.append(n_dup)
    finally:
        if not isinstance(source, list) and source != "-":
            stream.close()
    matched = len(seen & set(index))
    if not matched:
        raise MlcapError(f"{name}: no prediction for any of the {len(ids)} images of the split"
                         + (f" ({unknown} for ids not in it)" if unknown else " (no prediction lines)"))
    missing = len(ids) - matched
    if 0 < concept_free < len(seen):
        raise MlcapError(f"{name}: {concept_free} of {len(seen)} captions have no concepts: "
                         "a file's captions all have concepts or none does")
    return Predictions(name, labels, scores if has_scores and not concept_free else None, duplicates, sequences,
                       missing, unknown, concept_free=bool(concept_free))


def _open_predictions(source):
    if isinstance(source, list):
        return _record_lines(source)
    return _stdin_bytes() if source == "-" else open(require_regular_file(Path(source), "predictions file"), "rb")


def _prediction_row(row, where: str) -> tuple[dict, bool]:
    """``(row with "labels", whether it is a caption alone)``: a captioning prediction's concepts
    at p >= 0.5 are its labels (concept F1); a caption alone has no known labels."""
    if isinstance(row, dict) and "labels" not in row and isinstance(row.get("concepts"), dict):
        if not all(_is_number(p) for p in row["concepts"].values()):
            raise MlcapError(f"{where}: 'concepts' must map words to probabilities")
        row = {**row, "labels": [w for w, p in row["concepts"].items() if p >= 0.5], "scores": row["concepts"]}
    elif isinstance(row, dict) and "labels" not in row and "concepts" not in row and "caption" in row:
        return {**row, "labels": []}, True
    if (not isinstance(row, dict) or "id" not in row or not isinstance(row.get("labels"), list)
            or not all(isinstance(l, str) for l in row["labels"])
            or not isinstance(row["id"], (str, int)) or isinstance(row["id"], bool)):
        raise MlcapError(f"{where}: expected {{\"id\": ..., \"labels\": [label, ...]}} (labels as strings)")
    return row, False


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _stdin_bytes():
    if sys.stdin is None:
        raise MlcapError("stdin is closed: give the predictions as a file, or pipe them in")
    return getattr(sys.stdin, "buffer", None) or _encoded(sys.stdin)


def _encoded(text_stream):
    """A text stream without a binary buffer (e.g. io.StringIO) as UTF-8 byte lines."""
    return (line.encode("utf-8") for line in text_stream)


def _lines(stream, name: str):
    """The lines of a binary stream as text, a UTF-8 BOM at the start dropped; bytes that are not
    UTF-8 are a one-line error naming the line."""
    for lineno, raw in enumerate(stream, 1):
        yield decode_utf8(raw, name, lineno)


def _read_scores(row_scores: dict, data: PreparedDataset, out: np.ndarray, where: str) -> None:
    """A row's ``{label: probability}``: every label of the dataset, each a number in [0, 1]."""
    for label, p in row_scores.items():
        if label not in data.label_index:
            raise MlcapError(f"{where}: score for unknown label {label!r}")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or not 0 <= p <= 1:
            raise MlcapError(f"{where}: score of {label!r} must be a probability in [0, 1], not {p!r}")
        out[data.label_index[label]] = p
    if len(row_scores) < len(data.labels):
        absent = [label for label in data.labels if label not in row_scores]
        raise MlcapError(f"{where}: no score for {len(absent)} label(s), e.g. {absent[0]!r} "
                         f"(give every label a score, or none)")


def read_caption_predictions(source) -> dict[str, str]:
    """``{image id: caption}`` from JSONL ``{"id", "caption"}`` or a COCO results file
    ``[{"image_id", "caption"}]`` (or a list of records)."""
    name = source_name(source)
    if isinstance(source, list):
        text = b"\n".join(_record_lines(source)).decode("utf-8")
    else:
        text = (decode_utf8(b"".join(_stdin_bytes()), name) if source == "-"
                else read_text(Path(source), "predictions file"))
    out: dict[str, str] = {}
    if text.lstrip().startswith("["):
        rows = parse_json(text, name)
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or "image_id" not in row or not isinstance(row.get("caption"), str):
                raise MlcapError(f"{name}: entry {i} is not {{\"image_id\", \"caption\"}}")
            out[str(row["image_id"])] = row["caption"]
        return out
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        row = parse_json(line, name, lineno)
        if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("caption"), str):
            raise MlcapError(f"{at(name, lineno)}: expected {{\"id\": ..., \"caption\": \"...\"}}")
        if str(row["id"]) in out:
            raise MlcapError(f"{at(name, lineno)}: second caption for id {row['id']!r}")
        out[str(row["id"])] = row["caption"]
    return out


def read_coco_captions(path: Path) -> dict[str, list[str]]:
    """References from a COCO-format captions file."""
    doc = read_json(Path(path), "COCO captions file")
    try:
        refs: dict[str, list[str]] = {}
        for a in doc["annotations"]:
            refs.setdefault(str(a["image_id"]), []).append(a["caption"])
        return refs
    except (KeyError, TypeError):
        raise MlcapError(f"{path}: not a COCO captions file (annotations with image_id and caption)") from None


def evaluate_captions(source: str, references: dict[str, list[str]], metrics: list[str], verbose: bool = False,
                      name: str | None = None) -> dict:
    """``verbose``: the Java programs' stderr lines are shown; ``name``: the row's name (default the source's)."""
    from mlcap.metrics.captions import caption_scores

    candidates = read_caption_predictions(source)
    unknown = [k for k in candidates if k not in references]
    if unknown:
        note(f"{source}: skipped {len(unknown)} captions whose image has no reference captions")
        candidates = {k: v for k, v in candidates.items() if k in references}
    missing = len(references) - len(candidates)
    if missing:
        note(f"{source}: {missing} of {len(references)} images have no caption; scored on the {len(candidates)} "
             "that do")
    if not candidates:
        raise MlcapError(f"{source}: no caption matches an image with references")
    scores, notes = caption_scores(references, candidates, [m for m in metrics if m in CAPTION_GROUPS], verbose)
    for n in notes:
        note(n)
    return {"predictions": name or source_name(source), "images": len(candidates), **scores}


def evaluate_file(source: str, data: PreparedDataset, split: str, metrics: list[str],
                  top_k: int | None = None, cooccurrence_dir: Path | None = None,
                  groups: dict[str, list[str]] | None = None, name: str | None = None,
                  stem: str | None = None) -> dict:
    """``name``: the row's name (default the source's); ``stem``: the co-occurrence files' (``mlcap.names``)."""
    samples = data.samples(split)
    ids = [s.id for s in samples]
    y_true = np.zeros((len(ids), len(data.labels)), bool)
    unknown = np.zeros_like(y_true)
    for i, s in enumerate(samples):
        y_true[i, [data.label_index[l] for l in s.labels]] = True
        unknown[i, [data.label_index[l] for l in s.unknown]] = True
    preds = read_predictions(source, data, ids)
    if unknown.any():  # labels of unknown value count neither as hits nor as errors
        preds.labels[unknown] = False
        if preds.scores is not None:
            preds.scores[unknown] = -1e9
    row: dict = {"predictions": name or preds.name, "images": len(ids)}
    if preds.concept_free:
        note(f"{preds.name}: captions without concepts (the run predicts none): no label metric")
        return row
    if preds.missing:
        note(f"{preds.name}: {preds.missing} of {len(ids)} {split} images have no prediction (counted as empty)")
    if preds.unknown:
        note(f"{preds.name}: skipped {preds.unknown} predictions whose id is not in the {split} split")
    needs_scores = "map" in metrics or top_k is not None
    if needs_scores and preds.scores is None:
        raise MlcapError(f"{preds.name}: {'mAP' if 'map' in metrics else '--top-k'} needs per-label scores")
    y_pred = top_k_mask(preds.scores, top_k) & ~unknown if top_k else preds.labels
    if top_k:
        row["mode"] = f"top-{top_k}"
    for m in metrics:
        if m == "f1":
            row.update(classification_metrics(y_true, y_pred))
        elif m == "image":
            row.update(per_image_metrics(y_true, y_pred))
        elif m == "per-image":
            row.update(per_image_average_metrics(y_true, y_pred))
        elif m == "map":
            row["mAP"] = mean_average_precision(y_true, preds.scores)
        elif m == "nplus":
            row["N+"] = n_plus(y_true, y_pred)
        elif m == "duplicates":
            row["dup"] = duplicate_ratio(preds.duplicates)
        elif m == "ma":
            row["mA"] = mean_accuracy(y_true, y_pred)
        elif m == "instance":
            row.update(instance_metrics(y_true, y_pred))
        elif m == "rigidness":
            row["rigid"] = order_rigidness(preds.sequences, len(data.labels))
    if cooccurrence_dir is not None:
        write_cooccurrence(cooccurrence_dir, name or preds.name, y_true, y_pred, data.labels, groups, stem)
    return row


def evaluate_predictions(predictions, data, metrics=("f1",), split: str = "test", top_k: int | None = None) -> dict:
    """``mlcap.evaluate``: the metrics of ``predictions`` (a list of records, or a JSONL file's path)
    against a prepared split: the dict `mlcap evaluate --json` prints, without its bookkeeping keys.
    ``metrics``: the names `mlcap evaluate --metrics` accepts (label metrics and caption metrics)."""
    names = parse_metrics(metrics if isinstance(metrics, str) else ",".join(metrics))
    source = list(predictions) if not isinstance(predictions, (str, Path)) else str(predictions)
    dataset = PreparedDataset(Path(data))
    out: dict = {}
    label_names = [m for m in names if m not in CAPTION_GROUPS]
    caption_names = [m for m in names if m in CAPTION_GROUPS]
    if label_names:
        out.update(evaluate_file(source, dataset, split, label_names, top_k))
    if caption_names:
        references = {s.id: s.captions for s in dataset.samples(split) if s.captions}
        if not references:
            raise MlcapError(f"{data}: the {split} split has no captions")
        out.update(evaluate_captions(source, references, caption_names))
    return {k: v for k, v in out.items() if k not in ("predictions", "images", "mode")}


def write_cooccurrence(out_dir: Path, name: str, y_true: np.ndarray, y_pred: np.ndarray, labels: list[str],
                       groups: dict[str, list[str]] | None, stem: str | None = None) -> list[Path]:
    """``<stem>.cooc_diff.npy`` and ``.png``; with groups, one PNG per group's labels too. ``stem``
    (``mlcap.names.output_stems``) may hold folders; by default the file name of ``name``. Each file
    written is reported; returns them."""
    from mlcap.names import output_path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or ("stdin" if name == "stdin" else Path(name).name.removesuffix(".jsonl"))
    diff = cooccurrence_difference(y_true, y_pred)
    written = [output_path(out_dir, stem, ".cooc_diff.npy")]
    np.save(written[0], diff)
    written.append(output_path(out_dir, stem, ".cooc_diff.png"))
    save_heatmap(diff, labels, written[-1], f"{stem}: co-occurrence, predicted - true")
    index = {l: i for i, l in enumerate(labels)}
    for group, members in (groups or {}).items():
        idx = [index[l] for l in members]
        written.append(output_path(out_dir, stem, f".cooc_diff.{group}.png"))
        save_heatmap(diff[np.ix_(idx, idx)], members, written[-1], f"{stem} / {group}: co-occurrence, predicted - true")
    for path in written:
        note(f"{name}: wrote {path}")
    return written


def read_groups(path: Path, labels: list[str]) -> dict[str, list[str]]:
    """A JSON object ``{group: [label, ...]}``."""
    groups = read_json(Path(path), "groups file")
    if not isinstance(groups, dict) or not all(isinstance(v, list) for v in groups.values()):
        raise MlcapError(f"{path}: expected {{\"group\": [label, ...]}}")
    for group, members in groups.items():
        unknown = [l for l in members if l not in labels]
        if unknown:
            raise MlcapError(f"{path}: group {group!r} has unknown label {unknown[0]!r}")
    return groups
