"""Options for every command: defaults < TOML file (``--config``) < command line.

A TOML file may hold top-level keys (for every command), a table named after
the command (``[finetune]``, ``[predict]``, ...) that overrides them, and a
``[method-options]`` table of method-specific options (fixed by a run's first stage). Everything is validated by
pydantic; a bad value is a one-line error naming the option. The options of training and of
`predict` are defined in mlcap/options.py, which the command line reads too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from mlcap.errors import MlcapError
from mlcap.options import PREDICT_OPTIONS, TRAIN_OPTIONS, Device, Opt


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrepareSyntheticOptions(Options):
    out: Path
    images: int = Field(2000, ge=10, le=10_000_000)
    seed: int = Field(0, ge=0, le=2**32 - 1)


def _model(name: str, table: dict[str, Opt], doc: str) -> type[Options]:
    """The pydantic model of an option table (mlcap/options.py): its ``model`` options, the help as
    each field's description."""
    fields = {}
    for key, option in table.items():
        if option.model:
            default = {"default_factory": option.factory} if option.factory else {"default": option.default}
            fields[key] = (option.type, Field(**default, description=option.help, **option.bounds))
    return create_model(name, __base__=Options, __doc__=doc, __module__=__name__, **fields)


TrainOptions = _model("TrainOptions", TRAIN_OPTIONS, """Options of a training stage. Structural ones
    (``STRUCTURAL``) are fixed by the run's first stage; the recipe ones (``None`` = the method's paper
    default, ``mlcap.training.recipe``) and the rest apply to the stage they are given to.""")


#: Fixed by a run's first stage: a later stage that gives another value is refused.
STRUCTURAL = ("backbone", "weights", "image_size", "use_tags", "task", "vocab_size", "min_count", "max_len")


PredictOptions = _model("PredictOptions", PREDICT_OPTIONS, "Options of `mlcap predict`.")


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


def _note_unknown_tables(path: Path, doc: dict, command: str, stage_names) -> None:
    """``stage_names()``: the stages of the installed methods (their tables are known too)."""
    tables = {k for k, v in doc.items() if isinstance(v, dict)} - COMMAND_TABLES - {command}
    if not tables:
        return
    unknown = sorted(tables - set(stage_names()))
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


def resolve(model: type[Options], command: str, cli: dict, config: Path | None, stage_names=frozenset) -> Options:
    """Merge defaults, the TOML file and explicit command-line values, then validate. ``stage_names()``:
    the installed methods' stages, whose tables in the file are not reported as unknown."""
    values: dict = {}
    if config is not None:
        values = _read_toml(config, command, stage_names)
        _check_toml_types(model, values, config)
    given = {k: v for k, v in cli.items() if v is not None}
    if isinstance(values.get("method_options"), dict) and isinstance(given.get("method_options"), dict):
        given["method_options"] = {**values["method_options"], **given["method_options"]}   # -o wins key by key
    values.update(given)
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


def _read_toml(path: Path, command: str, stage_names) -> dict:
    from mlcap.textfile import read_text

    path = Path(path)
    try:
        doc = tomllib.loads(read_text(path, "config file"))
    except tomllib.TOMLDecodeError as e:
        raise MlcapError(f"{path}: {e}") from None
    _note_unknown_tables(path, doc, command, stage_names)
    values = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    table = doc.get(command, {})
    if not isinstance(table, dict):
        raise MlcapError(f"{path}: [{command}] must be a table, not {type(table).__name__}")
    values.update(table)
    if isinstance(doc.get("method-options"), dict):
        values["method_options"] = doc["method-options"]
    return {k.replace("-", "_"): v for k, v in values.items()}
