"""A command's typer options generated from an option table of mlcap/options.py (the one
definition of each option): every one ``Optional`` with the default None, so that a value given
on the command line is told from one left out (which the --config file or the model's default
then supplies, mlcap.config.resolve)."""

from __future__ import annotations

import inspect
import types
import typing
from pathlib import Path
from typing import List, Literal, Optional

import typer

from mlcap.cli.app import CONFIG
from mlcap.options import REQUIRED, Opt


def given_type(annotation):
    """The type of an option's value, without ``| None``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    return annotation


def _cli_type(annotation):
    """The command-line type of a model type: a Literal's as str, a dict's as repeated KEY=VALUE strings."""
    annotation = given_type(annotation)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return type(typing.get_args(annotation)[0])
    if annotation is dict or origin is dict:
        return List[str]
    return annotation


def _parameter(name: str, option: Opt) -> inspect.Parameter:
    help = option.help + (" [required]" if option.default is REQUIRED else "")
    default = typer.Option(None, *option.flags, help=help, hidden=option.hidden, **option.cli)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Optional[_cli_type(option.type)])


def with_options(command, table: dict[str, Opt], first: inspect.Parameter | None = None):
    """Give ``command`` (which takes ``**values``) the options of ``table``, then ``--config``,
    after an optional leading argument ``first``."""
    params = [_parameter(name, option) for name, option in table.items()]
    config = inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=CONFIG, annotation=Optional[Path])
    command.__signature__ = inspect.Signature(([first] if first else []) + params + [config])
    return command


def model_values(table: dict[str, Opt], values: dict) -> dict:
    """The values of the model's options among a command's (those of ``model=False`` flags left out)."""
    return {k: v for k, v in values.items() if k in table and table[k].model}

