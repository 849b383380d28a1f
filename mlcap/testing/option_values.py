"""Another valid value for a method option, to give at a later stage (``check_later_options``)."""

from __future__ import annotations

import json
import typing

from pydantic import BaseModel, ValidationError


def _candidates(annotation, default) -> list:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return list(typing.get_args(annotation))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        out: list = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out += _candidates(arg, default)
        return out
    if annotation is bool:
        return [not default] if isinstance(default, bool) else [True, False]
    if annotation is int:
        base = default if isinstance(default, int) else 0
        return [base + 1, base - 1, 1, 2]
    if annotation is float:
        base = float(default) if isinstance(default, (int, float)) else 0.0
        return [base * 0.5, base * 2, base + 0.1, 0.3, 0.7] if base else [0.1, 0.3, 0.5]
    return []


def other_value(model: type[BaseModel], name: str, options: dict | None = None) -> str | None:
    """A ``--option NAME=VALUE`` value other than the run's (``options``, else the field's default)
    that the options model accepts (as the CLI will read it), or None when no such value is known
    (e.g. a free string)."""
    options = dict(options or {})
    info = model.model_fields[name]
    current = options.get(name, info.get_default(call_default_factory=True))
    for value in _candidates(info.annotation, current):
        if value == current:
            continue
        try:
            accepted = getattr(model(**{**options, name: value}), name)
        except ValidationError:
            continue
        if accepted != current:
            return value if isinstance(value, str) else json.dumps(value)
    return None
