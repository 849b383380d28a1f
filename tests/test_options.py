"""Each training and predict option is defined once (mlcap/options.py): the pydantic models and the
commands' flags are built from that table, and a ``Recipe`` field is an override and a flag by itself."""

from __future__ import annotations

from dataclasses import dataclass, fields

import typer

import mlcap.options
from mlcap.cli import app
from mlcap.config import PredictOptions, TrainOptions
from mlcap.options import NOT_OVERRIDDEN, PREDICT_OPTIONS, TRAIN_OPTIONS
from mlcap.protocol import Recipe


def _flags(command: str) -> dict[str, object]:
    params = typer.main.get_command(app).commands[command].params
    return {p.name: p for p in params}


def test_the_models_and_the_flags_come_from_one_table():
    for command, table, model in (("finetune", TRAIN_OPTIONS, TrainOptions),
                                  ("predict", PREDICT_OPTIONS, PredictOptions)):
        assert list(model.model_fields) == [name for name, option in table.items() if option.model]
        assert all(model.model_fields[name].description == table[name].help for name in model.model_fields)
        flags = _flags(command)
        assert set(table) <= set(flags)
        assert all(flags[name].default is None for name in table)


def test_every_recipe_field_is_an_option_and_a_flag():
    names = {f.name for f in fields(Recipe)} - NOT_OVERRIDDEN
    assert names <= set(TrainOptions.model_fields)
    flags = {flag for p in _flags("pretrain-cnn").values() for flag in p.opts}
    assert {"--" + name.replace("_", "-") for name in names} <= flags
    assert all(TrainOptions.model_fields[name].default is None for name in names)


def test_a_new_recipe_field_needs_one_line(monkeypatch):
    @dataclass
    class Longer(Recipe):
        warmup: int = 0

    monkeypatch.setattr(mlcap.options, "Recipe", Longer)
    option = mlcap.options._recipe_options()["warmup"]
    assert option.type == int | None and option.default is None and "warmup" in option.help
