"""The training commands: one per usual stage, and `mlcap stage NAME` for any stage of a method.
They share one option list, ``TRAIN_OPTIONS`` (mlcap/options.py); heavy imports happen inside the commands."""

from __future__ import annotations

import inspect
import json
import sys
import typing

import typer

from mlcap.cli.app import app, emit
from mlcap.cli.options import given_type, model_values, with_options
from mlcap.errors import MlcapError
from mlcap.options import TRAIN_OPTIONS

STAGE_HELP = {
    "pretrain-cnn": "Stage 1: train the CNN (concept head, BCE).",
    "pretrain-rnn": "Stage 2: train the RNN on ground-truth concepts (teacher forcing).",
    "finetune": "Stage 3: train CNN and RNN jointly (the backbone fixed with --freeze-backbone).",
}


def _parse_options(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs; a value is read as JSON when it parses (numbers, true/false), else a string."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise MlcapError(f"--option {pair!r}: expected KEY=VALUE")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
        except RecursionError:
            raise MlcapError(f"--option {key.strip()}: value nested too deeply") from None
    return out


def _parse_groups(flag: str, pairs: list[str], kind) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            out[key.strip()] = kind(value)
        except ValueError:
            raise MlcapError(f"{flag} {pair!r}: expected GROUP={'LR' if kind is float else 'EPOCH'}") from None
    return out


#: The dict options, given on the command line as repeated KEY=VALUE strings.
DICT_OPTIONS = [name for name, option in TRAIN_OPTIONS.items()
                if given_type(option.type) is dict or typing.get_origin(given_type(option.type)) is dict]


def _parsed(name: str, given: list[str]) -> dict:
    """A dict option's KEY=VALUE strings: a method's options (values read as JSON), or {group: value}
    of the dict's value type (``--group-lr``, ``--group-start``)."""
    option = TRAIN_OPTIONS[name]
    kinds = typing.get_args(given_type(option.type))
    if not kinds:
        return _parse_options(given)
    return _parse_groups(option.flags[0] if option.flags else "--" + name.replace("_", "-"), given, kinds[1])


def _run_stage(stage: str, values: dict) -> None:
    if (values.get("nproc") or 1) > 1:
        from mlcap.training.launch import launch, without_nproc

        raise SystemExit(launch(values["nproc"], without_nproc(sys.argv[1:])))
    cli = model_values(TRAIN_OPTIONS, values)
    for name in DICT_OPTIONS:
        cli[name] = _parsed(name, cli[name]) if cli.get(name) else None
    from mlcap.config import TrainOptions, resolve
    from mlcap.plugins import installed_stage_names
    from mlcap.training.loop import train_stage

    opts = resolve(TrainOptions, stage, cli, values.get("config"), stage_names=installed_stage_names)
    emit(train_stage(stage, opts))


def _register_stage(stage: str) -> None:
    def command(**values):
        _run_stage(stage, values)

    command.__doc__ = STAGE_HELP[stage]
    app.command(stage)(with_options(command, TRAIN_OPTIONS))


for _stage in STAGE_HELP:
    _register_stage(_stage)


def _stage_any(name: str, **values):
    """Run a stage by name, including a method's own stages (see `mlcap methods`)."""
    _run_stage(name, values)


def _register_named_stage() -> None:
    name = inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str,
                             default=typer.Argument(..., help="The stage, e.g. pretrain-tags (see `mlcap methods`)."))
    app.command("stage")(with_options(_stage_any, TRAIN_OPTIONS, first=name))


_register_named_stage()
