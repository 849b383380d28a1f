"""What a comparison's table leaves out, read from its runs: one row per variant.

    python examples/run_stats.py OUT [--history train/reward,train/value] [--split test] [--json]

OUT is an `mlcap compare --out` folder; its `compare.jsonl` names each (variant, seed) run. For
each run, from its files alone (nothing is trained or predicted):

* labels per image: the mean number of labels in the run's predictions (`OUT/.../<split>.jsonl`);
* emitted per image: labels plus the repeats the decoder removed (`duplicates`), for decoders
  that count them (arnn: its emitted glimpses);
* the last stage's best epoch and the decision threshold chosen on val (`<stage>.best.json`:
  bce's label threshold, orderfree's stop threshold), per seed;
* for each `--history` key, the last stage's first and last epoch values (`<stage>.history.jsonl`),
  averaged over seeds.

A Markdown table goes to stdout (`--json`: a line per variant).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlcap.errors import MlcapError
from mlcap.textfile import parse_json, read_json, read_text

def last_stage(run: Path) -> str | None:
    """The run's last stage with a best checkpoint, in the order its method declares (``stages``)."""
    from mlcap.plugins import load_method
    from mlcap.training.run import RunDir

    stages = load_method(RunDir(run).require_info()["method"]).stages
    done = [s for s in stages if (run / f"{s}.best.json").is_file()]
    return done[-1] if done else None


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a JSONL file; a malformed line is one error naming the file and line."""
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if line.strip():
            row = parse_json(line, path, number)
            if not isinstance(row, dict):
                raise MlcapError(f"{path}:{number}: not a JSON object")
            rows.append(row)
    return rows


def run_stats(run: Path, split: str, history_keys: list[str]) -> dict:
    """One run's figures (see the module docstring); a missing file leaves its figures out."""
    stats: dict = {}
    preds = run / f"{split}.jsonl"
    if preds.is_file():
        records = [r for r in read_jsonl(preds) if "labels" in r]
        if records:
            stats["labels"] = sum(len(r["labels"]) for r in records) / len(records)
            if any("duplicates" in r for r in records):
                stats["emitted"] = sum(len(r["labels"]) + r.get("duplicates", 0) for r in records) / len(records)
    stage = last_stage(run)
    if stage is None:
        return stats
    best = read_json(run / f"{stage}.best.json")
    stats["stage"], stats["best_epoch"] = stage, best.get("epoch")
    if isinstance(best.get("threshold"), (int, float)):
        stats["threshold"] = best["threshold"]
    history = run / f"{stage}.history.jsonl"
    epochs = read_jsonl(history) if history.is_file() else []
    for key in history_keys:
        values = [e[key] for e in epochs if isinstance(e.get(key), (int, float))]
        if values:
            stats[key] = (values[0], values[-1])
    return stats


def by_variant(out: Path, split: str, history_keys: list[str]) -> list[dict]:
    """Per variant, in the table's order: each seed's figures, and their means."""
    listing = out / "compare.jsonl"
    if not listing.is_file():
        sys.exit(f"{listing}: not found; run `mlcap compare --out {out}` first")
    variants: dict[str, dict] = {}
    for number, row in enumerate(read_jsonl(listing), 1):
        if row.get("kind") == "run":
            missing = [k for k in ("variant", "seed", "run") if k not in row]
            if missing:
                raise MlcapError(f"{listing}:{number}: a run line without {', '.join(missing)}")
            entry = variants.setdefault(row["variant"], {"variant": row["variant"], "seeds": {}})
            entry["seeds"][row["seed"]] = run_stats(Path(row["run"]), split, history_keys)
    for entry in variants.values():
        seeds = list(entry["seeds"].values())
        for key in ("labels", "emitted", *history_keys):
            values = [s[key] for s in seeds if key in s]
            if len(values) == len(seeds):
                entry[key] = ([sum(v[i] for v in values) / len(values) for i in (0, 1)]
                              if isinstance(values[0], tuple) else sum(values) / len(values))
    return list(variants.values())


def _cell(entry: dict, key: str) -> str:
    value = entry.get(key)
    if value is None:
        return "-"
    return f"{value[0]:.2f} → {value[1]:.2f}" if isinstance(value, list) else f"{value:.2f}"


def _per_seed(entry: dict, key: str, fmt: str) -> str:
    values = [s.get(key) for s in entry["seeds"].values()]
    return ", ".join("-" if v is None else format(v, fmt) for v in values)


def markdown(entries: list[dict], history_keys: list[str]) -> str:
    head = ["variant", "labels/image", "emitted/image", "best epoch (per seed)", "threshold (per seed)",
            *[f"{k} (first → last epoch)" for k in history_keys]]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for e in entries:
        cells = [e["variant"], _cell(e, "labels"), _cell(e, "emitted"), _per_seed(e, "best_epoch", "d"),
                 _per_seed(e, "threshold", ".3f"), *[_cell(e, k) for k in history_keys]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="an `mlcap compare --out` folder")
    ap.add_argument("--history", default="", help="comma list of history keys, e.g. train/reward,train/value")
    ap.add_argument("--split", default="test")
    ap.add_argument("--json", action="store_true", help="a JSON line per variant")
    args = ap.parse_args(argv)
    keys = [k for k in args.history.split(",") if k]
    try:
        entries = by_variant(args.out, args.split, keys)
    except MlcapError as e:                     # a malformed file: one line naming it, exit 2
        print(f"run_stats: {e}", file=sys.stderr)
        sys.exit(2)
    if args.json:
        for e in entries:
            print(json.dumps(e))
    else:
        print(markdown(entries, keys))


if __name__ == "__main__":
    main()
