"""The comparison's table (Markdown, mean ± std over seeds), its JSONL, and its plots."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from mlcap.atomic import write_text_atomic

#: Columns of the table, by task, when present in the rows.
LABEL_COLUMNS = ["C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1", "mAP", "mA", "Acc", "Prec", "Rec", "F1", "N+", "dup",
                 "rigid"]
CAPTION_COLUMNS = ["BLEU-1", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE"]
PERCENT = set(LABEL_COLUMNS) - {"N+"}
TIME_COLUMNS = ["train s", "img/s"]
#: The mark of a variant whose checkpoint is silent (mlcap/training/silence.py), and its footnote.
SILENT_MARK = "†"
SILENT_NOTE = ("emits no label for ≥ 95 % of the validation images, or the same labels for all of them, at its "
               "threshold: it learnt nothing (see the stage's warning for the usual causes).\n")


def _finite(value) -> bool:
    """A number that is not NaN or infinite (rigidness is NaN without a co-occurring pair)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _cell(values: list, percent: bool) -> str:
    present = [v for v in values if _finite(v)]
    if not present:
        return "-"
    scale = 100 if percent else 1
    digits = 1 if percent or max(abs(v) for v in present) >= 10 or all(v == round(v, 1) for v in present) else 3
    text = f"{statistics.fmean(present) * scale:.{digits}f}"
    if len(present) > 1:
        text += f" ± {statistics.stdev(present) * scale:.{digits}f}"
    return text + (f" (n={len(present)})" if len(present) < len(values) else "")


def columns_of(rows: list[dict]) -> list[str]:
    keys = {k for r in rows for k in r["metrics"]}
    return [c for c in CAPTION_COLUMNS + LABEL_COLUMNS if c in keys]


def summarize(rows: list[dict]) -> list[dict]:
    """One entry per variant, in order: mean and std of every metric over its seeds."""
    out: dict[str, dict] = {}
    for r in rows:
        entry = out.setdefault(r["variant"], {"variant": r["variant"], "method": r["method"], "seeds": [],
                                              "values": {}})
        entry["seeds"].append(r["seed"])
        entry["silent"] = entry.get("silent", 0) + bool(r.get("silent"))
        for k, v in {**r["metrics"], "train s": r["train_seconds"], "img/s": r["images_per_s"]}.items():
            entry["values"].setdefault(k, []).append(v)
    for entry in out.values():
        vals = entry.pop("values")
        finite = {k: [x for x in v if _finite(x)] for k, v in vals.items()}
        entry["mean"] = {k: statistics.fmean(v) for k, v in finite.items() if v}
        entry["std"] = {k: statistics.stdev(v) for k, v in finite.items() if len(v) > 1}
        entry["values"] = vals
    return list(out.values())


def markdown(summary: list[dict], columns: list[str], seeds: list[int]) -> str:
    header = ["variant", *columns, *TIME_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for entry in summary:
        cells = [_cell(entry["values"].get(c, []), c in PERCENT) for c in columns]
        cells += [_cell([round(v, 1) if v is not None else None for v in entry["values"].get(c, [])], False)
                  for c in TIME_COLUMNS]
        lines.append(f"| {entry['variant']}{_silent_mark(entry)} | " + " | ".join(cells) + " |")
    note = (f"Seeds {','.join(map(str, seeds))}: mean ± sample std" if len(seeds) > 1 else f"Seed {seeds[0]}")
    footnote = f"\n{SILENT_MARK} {SILENT_NOTE}" if any(e.get("silent") for e in summary) else ""
    return "\n".join(lines) + f"\n\n{note}; label metrics in percent; train s: training seconds of all stages; " \
                              f"img/s: training images per second.\n{footnote}"


def _silent_mark(entry: dict) -> str:
    """`` †`` after a variant whose model learnt nothing (of ``k/n seeds`` when not all)."""
    k, n = entry.get("silent", 0), len(entry["seeds"])
    if not k:
        return ""
    return f" {SILENT_MARK}" + (f" ({k}/{n} seeds)" if k < n else "")


def write_outputs(out: Path, rows: list[dict], summary: list[dict], table: str) -> list[Path]:
    """``compare.jsonl`` (a line per run, then a line per variant with mean and std) and ``compare.md``."""
    clean = lambda r: {**r, "metrics": {k: (v if _finite(v) else None) for k, v in r["metrics"].items()}}  # noqa: E731
    lines = [json.dumps({"kind": "run", **clean(r)}) for r in rows]
    lines += [json.dumps({"kind": "variant", **{k: v for k, v in e.items() if k != "values"}}) for e in summary]
    write_text_atomic(out / "compare.jsonl", "\n".join(lines) + "\n", "comparison")
    write_text_atomic(out / "compare.md", table, "comparison")
    return [out / "compare.jsonl", out / "compare.md"]
