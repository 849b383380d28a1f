"""The run directory: what a run is (run.json), its per-stage checkpoints and configs.

    RUN/run.json            method, labels, model spec; fixed by the first stage; ``stale``: the
                            stages trained from weights of an earlier stage trained again since
    RUN/<stage>.pt          the last checkpoint (see checkpoint.py), rewritten every epoch; resume reads it
    RUN/<stage>.json        its metadata: epoch, complete, losses, recipe, threshold, versions
    RUN/<stage>.best.pt     the best checkpoint on validation (``--select-by``), and .best.json
    RUN/<stage>.config.json the resolved options of that stage, with its recipe
    RUN/<stage>.history.jsonl, .history.png   per-epoch losses, learning rates, validation metrics
    RUN/<stage>.manifest.json the stage's files with their sizes and SHA-256, written last at each
                            epoch's end: the commit that makes them visible together (commit.py)
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from mlcap.atomic import write_text_atomic
from mlcap.errors import MlcapError
from mlcap.protocol import ModelSpec
from mlcap.textfile import expect, expect_list_of, read_json


class RunDir:
    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def info_path(self) -> Path:
        return self.root / "run.json"

    def checkpoint_path(self, stage: str) -> Path:
        return self.root / f"{stage}.pt"

    def best_path(self, stage: str) -> Path:
        return self.root / f"{stage}.best.pt"

    def info(self) -> dict | None:
        if not self.info_path.exists():
            return None
        info = read_json(self.info_path, "run.json")
        _check_info(info, self.info_path)
        return info

    def require_info(self) -> dict:
        info = self.info()
        if info is None:
            raise MlcapError(f"{self.root}: not an mlcap run (no run.json); train a stage first")
        return info

    def spec(self) -> ModelSpec:
        saved = dict(self.require_info()["spec"])
        for key in DECODING_KEYS:        # decoding settings, kept in run.json by earlier versions
            saved.pop(key, None)
        return ModelSpec(**saved)

    def create(self, method: str, dataset: str, spec: ModelSpec, created_with: dict | None = None) -> None:
        """``created_with``: first-stage options not in the spec itself (e.g. the caption vocabulary size)."""
        self.root.mkdir(parents=True, exist_ok=True)
        info = {"method": method, "dataset": dataset, "spec": asdict(spec), "created_with": created_with or {}}
        info["spec"]["weights"] = str(spec.weights) if spec.weights else None
        _write_json(self.info_path, info)

    def check(self, method: str, labels: list[str]) -> dict:
        """The run's info, after checking it belongs to ``method`` and this label vocabulary."""
        info = self.require_info()
        if info["method"] != method:
            raise MlcapError(f"{self.root}: run was trained with method {info['method']!r}, not {method!r}")
        check_labels(info["spec"]["labels"], labels, f"{self.root}")
        return info

    def stage_meta(self, stage: str, repair: bool = True) -> dict | None:
        """The stage's checkpoint metadata; ``repair=False`` on the predict path (no run lock there)."""
        from mlcap.training.checkpoint import read_meta

        return read_meta(self.checkpoint_path(stage), repair)

    def latest_complete(self, stages: tuple[str, ...] | list[str], repair: bool = True) -> str | None:
        done = [s for s in stages if (self.stage_meta(s, repair) or {}).get("complete")]
        return done[-1] if done else None

    def stale(self) -> dict[str, str]:
        """``{stage: the earlier stage trained again since}``: stages whose starting weights are gone
        (run.json's ``stale``); ``predict`` refuses them without ``--allow-stale``."""
        return dict((self.info() or {}).get("stale", {}))

    def mark_stale(self, stages: list[str], retrained: str) -> None:
        """``stages`` were trained from weights of ``retrained``, which trains again from its start."""
        info = self.require_info()
        _write_json(self.info_path, {**info, "stale": {**info.get("stale", {}), **{s: retrained for s in stages}}})

    def clear_stale(self, stage: str) -> None:
        """``stage`` trains again from the current weights of the stages before it."""
        info = self.info()
        if info is not None and stage in info.get("stale", {}):
            _write_json(self.info_path, {**info, "stale": {k: v for k, v in info["stale"].items() if k != stage}})

    def stage_files(self, stage: str) -> list[Path]:
        """Everything a stage writes: its checkpoint first (without it the stage is not there, so a
        removal that a kill stops leaves no stage half there), its best checkpoint, their metadata,
        its config, history and manifest, and the files of a commit not yet moved into place."""
        from mlcap.training.commit import MANIFEST, staged_path

        names = [f"{stage}{suffix}" for suffix in (".pt", ".json", ".best.pt", ".best.json", ".config.json",
                                                   ".history.jsonl", ".history.png", MANIFEST)]
        paths = [self.root / n for n in names]
        return [p for p in paths + [staged_path(p) for p in paths] if p.exists()]

    def save_config(self, stage: str, options: dict) -> None:
        _write_json(self.root / f"{stage}.config.json", options)


_SPEC_TYPES = {"labels": list, "num_tags": int, "backbone": str, "image_size": int, "weights": (str, type(None)),
               "max_len": int, "use_tags": bool, "options": dict, "task": str, "words": list,
               "max_caption_len": int, "beam": int, "threshold": (int, float, list, type(None)),
               "stage": (str, type(None)), "label_counts": list, "label_known": list}
#: What run.json files of earlier versions held in their spec that is decoding, not the network.
DECODING_KEYS = ("beam", "threshold", "stage")


def _check_info(info, path: Path) -> None:
    """run.json's keys and JSON types (a hand-edited or foreign file is one line, not a traceback)."""
    where = str(path)
    expect(info, dict, where, "the top level")
    for key in ("method", "spec"):
        if key not in info:
            raise MlcapError(f"{path}: missing key {key!r}; not an mlcap run.json")
    expect(info["method"], str, where, "method")
    expect(info.get("created_with", {}), dict, where, "created_with")
    for stage, retrained in expect(info.get("stale", {}), dict, where, "stale").items():
        expect(retrained, str, where, f"stale.{stage}")
    spec = expect(info["spec"], dict, where, "spec")
    unknown = sorted(set(spec) - set(_SPEC_TYPES))
    if unknown:
        raise MlcapError(f"{path}: spec has unknown key {unknown[0]!r} (keys: {', '.join(_SPEC_TYPES)})")
    if "labels" not in spec:
        raise MlcapError(f"{path}: spec misses 'labels'")
    for key, kind in _SPEC_TYPES.items():
        if key in spec:
            expect(spec[key], kind, where, f"spec.{key}")
    expect_list_of(spec["labels"], str, where, "spec.labels")
    expect_list_of(spec.get("words", []), str, where, "spec.words")
    for key in ("label_counts", "label_known"):
        expect_list_of(spec.get(key, []), int, where, f"spec.{key}")
    if isinstance(spec.get("threshold"), list):
        for value in spec["threshold"]:
            expect(value, (int, float), where, "spec.threshold[...]")


def check_labels(run_labels: list[str], data_labels: list[str], where: str) -> None:
    if list(run_labels) != list(data_labels):
        extra = sorted(set(data_labels) - set(run_labels))[:3]
        raise MlcapError(
            f"{where}: label vocabulary differs from the dataset's ({len(run_labels)} vs {len(data_labels)} labels"
            + (f"; e.g. {', '.join(extra)} not in the run" if extra else "; same labels, different order") + ")")


def _write_json(path: Path, obj) -> None:
    from mlcap.training.distributed import is_main

    if not is_main():           # under torchrun only rank 0 writes the run's files
        return
    write_text_atomic(path, json.dumps(obj, indent=1, default=str), "run file")
