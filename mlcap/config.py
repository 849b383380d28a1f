"""Options for every command: defaults < TOML file (``--config``) < command line.

A TOML file may hold top-level keys (for every command), a table named after
the command (``[finetune]``, ``[predict]``, ...) that overrides them, and a
``[method-options]`` table of method-specific options (fixed by a run's first stage). Everything is validated by
pydantic; a bad value is a one-line error naming the option.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlcap.errors import MlcapError

Device = Literal["auto", "cpu", "cuda"]
Order = Literal["rare", "frequent", "dictionary", "random", "pla", "mla"]


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrepareSyntheticOptions(Options):
    out: Path
    images: int = Field(2000, ge=10)
    seed: int = 0


class TrainOptions(Options):
    method: str
    data: Path
    run: Path
    backbone: str | None = None          # fixed by the run's first stage; default smallcnn
    weights: str | None = None           # local backbone state dict, or "imagenet" (offline), first stage only
    init_from: Path | None = None        # start from another run's checkpoint (matching weights only)
    image_size: int | None = Field(None, ge=16)   # default: the backbone's natural size
    use_tags: bool | None = None         # noisy-tag side information; fixed by the first stage
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    seed: int = 0
    device: Device = "auto"
    amp: bool = False                    # bfloat16 autocast
    order: Order | None = None           # default: the method's default_order, else rare
    freeze_cnn: bool = False
    freeze_backbone: bool = False        # the backbone stays fixed (a probe on its features)
    features: Path | None = None         # train from an HDF5 feature cache (implies freeze_backbone)
    max_len: int | None = Field(None, ge=1)  # longest emitted sequence; default: most labels in train + 2
    num_workers: int = Field(0, ge=0)
    resume: bool = False
    task: Literal["multilabel", "caption"] | None = None   # fixed by the first stage; default multilabel
    vocab_size: int = Field(12000, ge=1)  # caption word vocabulary: most frequent training words
    min_count: int | None = Field(None, ge=1)   # instead: every word seen this often
    swa: bool = False                    # stochastic weight averaging with a cyclical learning rate
    swa_cycle: int = Field(3, ge=1)      # epochs per learning-rate cycle
    lr_min: float = Field(1e-6, gt=0)    # learning rate at the end of each cycle
    method_options: dict = Field(default_factory=dict)


class PredictOptions(Options):
    run: Path
    data: Path
    split: str = "test"
    stage: str | None = None
    features: Path | None = None         # predict from an HDF5 feature cache
    beam: int = Field(3, ge=1)           # captioning: beam width (1 = greedy)
    coco_results: Path | None = None     # captioning: also write the COCO results format here
    batch_size: int = Field(64, ge=1)
    device: Device = "auto"
    num_workers: int = Field(0, ge=0)


class ExtractOptions(Options):
    data: Path
    backbone: str
    out: Path
    weights: str | None = None
    image_size: int | None = Field(None, ge=16)
    splits: str | None = None            # comma list; default: every split of the dataset
    batch_size: int = Field(64, ge=1)
    device: Device = "auto"


class EvaluateOptions(Options):
    data: Path | None = None
    coco_captions: Path | None = None    # reference captions from a COCO captions file
    split: str = "test"
    metrics: str = "f1,map"
    top_k: int | None = Field(None, ge=1)
    json_output: bool = False
    cooccurrence: Path | None = None     # directory for co-occurrence difference arrays and heatmaps
    groups: Path | None = None           # JSON {group: [labels]} for per-group heatmaps
    predictions: list[str]


def method_options(model: type[BaseModel], method: str, options: dict):
    """A plugin's own options (``--option``, ``[method-options]``) validated by its pydantic model."""
    try:
        return model(**options)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "options"
        raise MlcapError(f"{method}: method option {where!r}: {err['msg']}") from None


def resolve(model: type[Options], command: str, cli: dict, config: Path | None) -> Options:
    """Merge defaults, the TOML file and explicit command-line values, then validate."""
    values: dict = {}
    if config is not None:
        values = _read_toml(config, command)
    values.update({k: v for k, v in cli.items() if v is not None})
    try:
        return model(**values)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "options"
        source = f" (config {config})" if config else ""
        raise MlcapError(f"invalid option {where!r}{source}: {err['msg']}") from None


def _read_toml(path: Path, command: str) -> dict:
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise MlcapError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise MlcapError(f"{path}: {e}") from None
    values = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    values.update(doc.get(command, {}))
    if isinstance(doc.get("method-options"), dict):
        values["method_options"] = doc["method-options"]
    return {k.replace("-", "_"): v for k, v in values.items()}
