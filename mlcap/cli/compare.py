"""`mlcap compare` (mlcap/compare/): options from the command line and a TOML preset."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Optional

import typer

from mlcap.cli.app import app
from mlcap.errors import MlcapError
from mlcap.metric_groups import METRICS
from mlcap.textfile import read_text


def _preset_types():
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

    class PresetTypes(BaseModel):
        """The JSON types of a preset's keys (its [[variant]] tables are checked by variants.py)."""

        model_config = ConfigDict(extra="forbid", strict=True)
        data: StrictStr | None = None
        features: StrictStr | None = None
        backbone: StrictStr | None = None
        weights: StrictStr | None = None
        methods: StrictStr | None = None
        out: StrictStr | None = None
        metrics: StrictStr | list[StrictStr] | None = None
        epochs_scale: float | None = Field(None, gt=0, le=100)
        epochs: StrictInt | None = Field(None, ge=1)
        image_size: StrictInt | None = Field(None, ge=16, le=4096)
        batch_size: StrictInt | None = Field(None, ge=1)
        seeds: list[StrictInt] | StrictStr | None = None
        device: Literal["auto", "cpu", "cuda"] | None = None
        top_k: StrictInt | None = Field(None, ge=1)
        title: StrictStr | None = None

    return PresetTypes


#: Training flags given to every variant (a variant's own value wins), not part of its name.
SHARED_FLAGS = ("epochs", "image_size", "batch_size")
PRESET_KEYS = {"data", "features", "backbone", "weights", "methods", "out", "metrics", "epochs_scale", "seeds",
               "device", "top_k", "title", "variant", *SHARED_FLAGS}


def _read_preset(path: Path) -> dict:
    try:
        doc = tomllib.loads(read_text(Path(path), "compare preset"))
    except tomllib.TOMLDecodeError as e:
        raise MlcapError(f"{path}: {e}") from None
    doc = {k.replace("-", "_"): v for k, v in doc.items()}
    unknown = sorted(set(doc) - PRESET_KEYS)
    if unknown:
        raise MlcapError(f"{path}: unknown key {unknown[0]!r} (a preset holds {', '.join(sorted(PRESET_KEYS))})")
    if "variant" in doc and not isinstance(doc["variant"], list):
        raise MlcapError(f"{path}: variants are [[variant]] tables")
    from mlcap.config import validated

    validated(_preset_types(), {k: v for k, v in doc.items() if k != "variant"}, path)
    return doc


def _seeds(value) -> list[int]:
    items = value if isinstance(value, list) else str(value).split(",")
    try:
        seeds = [int(s) for s in items if str(s).strip()]
    except ValueError:
        raise MlcapError(f"--seeds {value!r}: a comma list of integers, e.g. 0,1,2") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) < len(seeds):
        raise MlcapError(f"--seeds {value!r}: distinct integers >= 0")
    return seeds


def _variants(methods: Optional[str], preset: dict, config: Optional[Path]):
    from mlcap.compare import parse_methods, variant_from_table

    if methods is not None:
        return parse_methods(methods)
    if preset.get("variant"):
        return [variant_from_table(t, f"{config} [[variant]] {i + 1}") for i, t in enumerate(preset["variant"])]
    if isinstance(preset.get("methods"), str):
        return parse_methods(preset["methods"])
    raise MlcapError("missing option --methods (a comma list of METHOD[:key=value...], or all; or [[variant]] "
                     "tables in a --config preset)")


def _shared_flags(given: dict, preset: dict, epochs_scale) -> dict:
    """``--epochs``, ``--image-size``, ``--batch-size`` (or the preset's), for every variant's stages."""
    flags = {k: v if v is not None else preset.get(k) for k, v in given.items()}
    flags = {k: v for k, v in flags.items() if v is not None}
    if "epochs" in flags and epochs_scale is not None:
        raise MlcapError("--epochs and --epochs-scale: give one (--epochs sets every stage's epochs)")
    from mlcap.config import validated

    validated(_preset_types(), flags)
    return flags


def _path(value) -> Optional[Path]:
    return None if value is None else Path(value)


def _print_plan(setup, variants, seeds: list[int], json_output: bool) -> None:
    from mlcap.compare import dry_run
    from mlcap.compare.plan import markdown

    entries = dry_run(setup, variants, seeds)
    sys.stdout.write("".join(json.dumps(e) + "\n" for e in entries) if json_output else markdown(entries))


@app.command()
def compare(
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared dataset directory. [required]"),
    methods: Optional[str] = typer.Option(None, "--methods", help="Comma list of METHOD[:key=value...] (a key: a "
                                          "stage flag, a predict flag or a method option), or all. [required "
                                          "unless the preset lists variants]"),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder of the runs, compare.jsonl, compare.md and "
                                       "plots/ (an interrupted compare resumes there). [required]"),
    features: Optional[Path] = typer.Option(None, help="Train and predict from this HDF5 feature cache."),
    backbone: Optional[str] = typer.Option(None, help="Backbone of every run (see `mlcap backbones`)."),
    weights: Optional[str] = typer.Option(None, help="Backbone weights of every run (a state dict, or imagenet)."),
    metrics: Optional[str] = typer.Option(None, help=f"Comma list of {', '.join(METRICS)} (any case; default "
                                          "f1,map; captioning runs add bleu,meteor,rouge,cider)."),
    epochs_scale: Optional[float] = typer.Option(None, help="Multiply every stage's default epochs (not a "
                                                 "variant's own) by this (default 1)."),
    epochs: Optional[int] = typer.Option(None, help="Epochs of every stage of every variant (a variant's own "
                                         "epochs win); not part of the variant names.", show_default=False),
    image_size: Optional[int] = typer.Option(None, help="Input side in pixels of every variant (default: the "
                                             "backbone's).", show_default=False),
    batch_size: Optional[int] = typer.Option(None, help="Training batch size of every variant (default 32).",
                                             show_default=False),
    seeds: Optional[str] = typer.Option(None, help="Comma list of seeds (default 0): mean ± std over them."),
    top_k: Optional[int] = typer.Option(None, help="Score the k highest-scoring labels."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda."),
    json_output: bool = typer.Option(False, "--json", help="One JSON line per variant instead of the table."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every variant and print what each run would do "
                                 "(reuse, resume, train, train again and why); train nothing."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="A TOML preset: these options and "
                                          "[[variant]] tables (see examples/compare/)."),
):
    """Train, predict and evaluate a list of methods and variants on one dataset: one table."""
    from mlcap.compare import compare as run_compare

    preset = _read_preset(config) if config is not None else {}
    pick = lambda cli, key, default=None: cli if cli is not None else preset.get(key, default)  # noqa: E731
    setup = _setup(preset, pick, data=data, out=out, features=features, backbone=backbone, weights=weights,
                   epochs_scale=epochs_scale, device=device,
                   shared={"epochs": epochs, "image_size": image_size, "batch_size": batch_size})
    metric_text = pick(metrics, "metrics")
    names = _metric_names(metric_text) if metric_text else None
    variants = _variants(methods, preset, config)
    if dry_run:
        return _print_plan(setup, variants, _seeds(pick(seeds, "seeds", "0")), json_output)
    _, summary, table = run_compare(setup, variants, _seeds(pick(seeds, "seeds", "0")), names, pick(top_k, "top_k"))
    if json_output:
        for entry in summary:
            sys.stdout.write(json.dumps({k: v for k, v in entry.items() if k != "values"}) + "\n")
        return
    title = preset.get("title")
    sys.stdout.write((f"### {title}\n\n" if title else "") + table)


def _metric_names(text) -> list[str]:
    from mlcap.evaluation import parse_metrics

    return parse_metrics(text if isinstance(text, str) else ",".join(text))


def _setup(preset: dict, pick, *, data, out, features, backbone, weights, epochs_scale, device, shared: dict):
    """The ``Setup`` every run shares, from the command line and the preset (the command line wins)."""
    from mlcap.compare.runner import Setup

    data, out = _path(pick(data, "data")), _path(pick(out, "out"))
    if data is None or out is None:
        raise MlcapError(f"missing option {'--data' if data is None else '--out'}")
    shared = _shared_flags(shared, preset, pick(epochs_scale, "epochs_scale"))
    scale = float(pick(epochs_scale, "epochs_scale", 1.0))
    if not 0 < scale <= 100:
        raise MlcapError(f"--epochs-scale {scale}: a factor in (0, 100]")
    device = pick(device, "device", "auto")
    if device not in ("auto", "cpu", "cuda"):
        raise MlcapError(f"--device {device!r}: auto, cpu or cuda")
    return Setup(data=data, out=out, features=_path(pick(features, "features")), backbone=pick(backbone, "backbone"),
                 weights=pick(weights, "weights"), epochs_scale=scale, device=device, train=shared)
