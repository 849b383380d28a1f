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
Order = Literal["rare", "frequent", "dictionary", "random", "pla", "mla", "free"]


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrepareSyntheticOptions(Options):
    out: Path
    images: int = Field(2000, ge=10, le=10_000_000)
    seed: int = Field(0, ge=0, le=2**32 - 1)


class TrainOptions(Options):
    """Options of a training stage. Structural ones (``STRUCTURAL``) are fixed by the run's first
    stage; the recipe ones (``None`` = the method's paper default, ``mlcap.training.recipe``)
    and the rest apply to the stage they are given to."""

    method: str
    data: Path
    run: Path
    backbone: str | None = None          # fixed by the run's first stage; default smallcnn
    weights: str | None = None           # local backbone state dict, or "imagenet" (offline), first stage only
    init_from: Path | None = None        # start from another run's checkpoint (matching weights only)
    image_size: int | None = Field(None, ge=16, le=4096)   # default: the backbone's natural size
    use_tags: bool | None = None         # noisy-tag side information; fixed by the first stage
    batch_size: int = Field(32, ge=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    device: Device = "auto"
    amp: bool = False                    # autocast (bfloat16 unless amp_dtype says float16)
    amp_dtype: Literal["bfloat16", "float16"] = "bfloat16"   # float16: with a GradScaler
    channels_last: bool = False          # NHWC memory format for the convolutions and image batches
    decode: Literal["pil", "torchvision", "gpu"] = "pil"   # image decoder (mlcap/data/decode.py, device_decode.py)
    compile: bool = False                # torch.compile the backbone (Module.compile: state dict keys unchanged)
    compile_backend: str = Field("inductor", pattern=r"^[a-z_]+$")
    sync_bn: bool = False                # under torchrun: BatchNorm statistics of the global batch
    step_losses: bool = False            # record each step's loss in the history (``step_losses``)
    order: Order | None = None           # default: the first of the method's orders
    freeze_cnn: bool = False             # the same as freeze_backbone (kept for older command lines)
    freeze_backbone: bool = False        # the backbone stays fixed in this stage (the papers' "Fix")
    features: Path | None = None         # train from an HDF5 feature cache (implies freeze_backbone)
    features_memory: float | None = Field(None, gt=0, allow_inf_nan=False)   # GB (2**30 B) held; None: MemAvailable/2
    features_dtype: Literal["float32", "float16"] = "float32"   # held (and streamed) rows rounded to this
    max_len: int | None = Field(None, ge=1)  # longest emitted sequence; default: most labels in train + 2
    num_workers: int | None = Field(None, ge=0)   # None: mlcap.data.pipeline.resolve_workers (0 on CPU)
    image_cache_mb: int = Field(1024, ge=0)   # decoded images kept in memory between epochs (num_workers 0)
    resume: bool | None = None           # True: continue the stage; False: train it again; None: refuse if it exists
    task: Literal["multilabel", "caption"] | None = None   # fixed by the first stage; default multilabel
    vocab_size: int | None = Field(None, ge=1)  # caption vocabulary: most frequent training words (12000)
    min_count: int | None = Field(None, ge=1)   # instead: every word seen this often
    method_options: dict = Field(default_factory=dict)
    # the recipe: None = the method's default for this stage (see `mlcap methods --recipes`)
    epochs: int | None = Field(None, ge=1, le=100_000)
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] | None = None
    lr: float | None = Field(None, gt=0)
    momentum: float | None = Field(None, ge=0)
    nesterov: bool | None = None
    alpha: float | None = Field(None, gt=0, lt=1)
    weight_decay: float | None = Field(None, ge=0)
    group_lr: dict[str, float] | None = None     # {group: lr}, e.g. {"backbone": 1e-5}
    group_start: dict[str, int] | None = None    # {group: first epoch it trains}, frozen before
    schedule: Literal["constant", "step", "plateau", "cosine", "swa"] | None = None
    step_size: int | None = Field(None, ge=1)
    gamma: float | None = Field(None, gt=0, le=1)
    plateau_patience: int | None = Field(None, ge=1)
    swa: bool = False                    # the same as schedule = "swa"
    swa_cycle: int | None = Field(None, ge=1)    # epochs per learning-rate cycle
    lr_min: float | None = Field(None, gt=0)     # cosine floor; swa: lr at each cycle's end
    select_by: str | None = None         # validation metric of the best checkpoint
    augment: bool | None = None          # random affine (translate 0.03), contrast 0.25, horizontal flip
    # validation
    val_every: int = Field(1, ge=1)      # validate every N epochs (and after the last)
    val_fraction: float | None = Field(None, ge=0, lt=1)  # held out of train when there is no val split (0.1)
    patience: int | None = Field(None, ge=1)       # stop after N validations without improvement
    threshold: str | None = None         # auto (global), auto-class (per class), or a number
    max_skip_fraction: float = Field(0.5, ge=0, le=1)   # more unreadable training images than this stops the stage


#: Fixed by a run's first stage: a later stage that gives another value is refused.
STRUCTURAL = ("backbone", "weights", "image_size", "use_tags", "task", "vocab_size", "min_count", "max_len")


class PredictOptions(Options):
    run: Path
    data: Path | None = None             # a prepared dataset; or image files (`predict --images`)
    split: str = "test"
    stage: str | None = None
    features: Path | None = None         # predict from an HDF5 feature cache
    features_memory: float | None = Field(None, gt=0, allow_inf_nan=False)   # as TrainOptions.features_memory
    features_dtype: Literal["float32", "float16"] = "float32"
    beam: int | None = Field(None, ge=1)  # beam width (1 = greedy); default: the run's (the method's default_beam)
    checkpoint: Literal["best", "last"] = "best"   # the stage's best (on validation) or last weights
    threshold: float | None = Field(None, ge=0, le=1)   # overrides the run's threshold (see the method's docs)
    coco_results: Path | None = None     # captioning: also write the COCO results format here
    attention: Path | None = None        # write each emitted label's attention map (PNG) here
    batch_size: int = Field(64, ge=1)
    device: Device = "auto"
    num_workers: int | None = Field(None, ge=0)   # None: mlcap.data.pipeline.resolve_workers
    decode: Literal["pil", "torchvision", "gpu"] = "pil"  # the prepared split's images (mlcap/data/decode.py)


class ExtractOptions(Options):
    data: Path
    backbone: str
    out: Path
    weights: str | None = None
    image_size: int | None = Field(None, ge=16, le=4096)
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
    verbose: bool = False                # show the caption metrics' Java output (PTB tokenizer)
    predictions: list[str]


def _note_unknown_tables(path: Path, doc: dict, command: str) -> None:
    tables = {k for k, v in doc.items() if isinstance(v, dict)} - COMMAND_TABLES - {command}
    if not tables:
        return
    from mlcap.plugins import installed_stage_names

    unknown = sorted(tables - installed_stage_names())
    if unknown:
        from mlcap.progress import note

        note(f"{path}: warning: unknown table(s) [{'], ['.join(unknown)}] ignored (tables: "
             f"{', '.join(sorted(COMMAND_TABLES))} or a method's stage)")


def _check_toml_types(model: type[BaseModel], values: dict, path: Path) -> None:
    """TOML has types: a number where a bool belongs (or the reverse), or a string where a
    number belongs, is an error rather than coerced (``epochs = true``, ``epochs = "1"``)."""
    import typing

    for key, value in values.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        kinds = set(typing.get_args(field.annotation)) or {field.annotation}
        kinds.discard(type(None))
        numeric = kinds & {int, float}
        if bool in kinds and not numeric and not isinstance(value, bool):
            raise MlcapError(f"{path}: {key} must be true or false, not {value!r}")
        if numeric and kinds <= {int, float} and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise MlcapError(f"{path}: {key} must be a number, not {value!r}")
        if kinds == {int} and isinstance(value, float):
            raise MlcapError(f"{path}: {key} must be an integer, not {value!r}")


def resolve(model: type[Options], command: str, cli: dict, config: Path | None) -> Options:
    """Merge defaults, the TOML file and explicit command-line values, then validate."""
    values: dict = {}
    if config is not None:
        values = _read_toml(config, command)
        _check_toml_types(model, values, config)
    values.update({k: v for k, v in cli.items() if v is not None})
    return validated(model, values, config)


def validated(model: type[Options], values: dict, config: Path | None = None) -> Options:
    """``model(**values)``, a validation error as one line naming the option."""
    try:
        return model(**values)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "options"
        source = f" (config {config})" if config else ""
        if err["type"] == "missing" and len(err["loc"]) == 1:
            flag = "--" + str(err["loc"][0]).replace("_", "-")
            raise MlcapError(f"missing option {flag} (on the command line, or `{err['loc'][0]} = ...` in a "
                             f"--config file)") from None
        raise MlcapError(f"invalid option {where!r}{source}: {err['msg']}") from None


def read_toml_tables(path: Path, command: str) -> tuple[dict, dict]:
    """``(top-level keys, the [command] table)`` of a TOML file, keys with ``-`` as ``_``."""
    from mlcap.textfile import read_text

    try:
        doc = tomllib.loads(read_text(Path(path), "config file"))
    except tomllib.TOMLDecodeError as e:
        raise MlcapError(f"{path}: {e}") from None
    table = doc.get(command, {})
    if not isinstance(table, dict):
        raise MlcapError(f"{path}: [{command}] must be a table, not {type(table).__name__}")
    norm = lambda d: {k.replace("-", "_"): v for k, v in d.items()}   # noqa: E731
    return norm({k: v for k, v in doc.items() if not isinstance(v, dict)}), norm(table)


#: TOML tables mlcap reads: one per command (a stage's own name included), and the method's options.
COMMAND_TABLES = {"prepare", "pretrain-cnn", "pretrain-rnn", "finetune", "stage", "predict", "evaluate",
                  "extract-features", "method-options"}


def _read_toml(path: Path, command: str) -> dict:
    from mlcap.textfile import read_text

    path = Path(path)
    try:
        doc = tomllib.loads(read_text(path, "config file"))
    except tomllib.TOMLDecodeError as e:
        raise MlcapError(f"{path}: {e}") from None
    _note_unknown_tables(path, doc, command)
    values = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    table = doc.get(command, {})
    if not isinstance(table, dict):
        raise MlcapError(f"{path}: [{command}] must be a table, not {type(table).__name__}")
    values.update(table)
    if isinstance(doc.get("method-options"), dict):
        values["method_options"] = doc["method-options"]
    return {k.replace("-", "_"): v for k, v in values.items()}
