"""What `mlcap compare` runs: variants of the installed methods.

A variant is a method with settings, written ``name:key=value:key=value`` on the command line
(``orderless:order=pla``, ``bce:loss=warp:epochs=5``) or as a ``[[variant]]`` table of a TOML
preset. A key is, in this order, a flag of the training stages (``order``, ``lr``, ``epochs``,
``batch-size``, ...), a flag of ``predict`` (``beam``, ``threshold``, ``checkpoint``), or one of
the method's options (``mlcap methods``); anything else is an error naming the valid keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from mlcap.errors import MlcapError, did_you_mean

#: Training flags a variant may not set: compare sets them for every run.
COMPARE_OWNED = {"method", "data", "run", "seed", "device", "features", "resume", "init_from", "method_options",
                 "num_workers", "backbone", "weights"}
PREDICT_KEYS = ("beam", "threshold", "checkpoint")


@dataclass
class Variant:
    """One row of a comparison (before seeds)."""

    name: str                                   # the row's label
    method: str
    train: dict = field(default_factory=dict)   # training flags for every stage
    stage_train: dict = field(default_factory=dict)   # {stage: {flag: value}} overriding ``train``
    method_options: dict = field(default_factory=dict)
    predict: dict = field(default_factory=dict)
    stages: list[str] | None = None             # default: the method's default stages
    init_from: str | None = None                # "VARIANT:STAGE": start the first stage from its best weights
    copy_from: str | None = None                # "VARIANT": continue its run (its stages before this one's first)

    @property
    def slug(self) -> str:
        """The run folder's name: the label with anything unusual replaced (never "." or "..")."""
        slug = re.sub(r"[^A-Za-z0-9._=+-]+", "_", self.name).strip("_")
        return slug if re.search(r"[A-Za-z0-9]", slug) else "variant"

    @property
    def sources(self) -> list[str]:
        """The variants this one starts from (``copy_from``, then ``init_from``'s variant)."""
        return [ref for ref in (self.copy_from, self.init_from and self.init_from.rpartition(":")[0]) if ref]

    def request(self) -> dict:
        return asdict(self)


def _train_keys() -> set[str]:
    from mlcap.config import TrainOptions

    return set(TrainOptions.model_fields) - COMPARE_OWNED


def _value(text: str):
    """A value as ``--option`` reads it: JSON when it parses (numbers, true/false), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def place_key(variant: Variant, key: str, value, method, where: str, stage: str | None = None) -> None:
    """Put ``key = value`` where it belongs (training flag, predict flag, method option)."""
    name = key.strip().replace("-", "_")
    train_keys = _train_keys()
    option_fields = set(method.options_model.model_fields)
    if name in train_keys:
        (variant.stage_train.setdefault(stage, {}) if stage else variant.train)[name] = value
    elif name in PREDICT_KEYS and stage is None:
        variant.predict[name] = value
    elif name in option_fields and stage is None:
        variant.method_options[name] = value
    else:
        valid = sorted(k.replace("_", "-") for k in train_keys)
        if stage is None:
            valid += [k for k in (*PREDICT_KEYS, *sorted(option_fields)) if k.replace("_", "-") not in valid]
        raise MlcapError(f"{where}: unknown key {key!r} for method {variant.method} (training flags, then predict "
                         f"flags, then method options: {', '.join(valid)}){did_you_mean(key.strip(), valid)}")


def parse_spec(text: str) -> Variant:
    """``name:key=value:...`` -> a ``Variant`` (its label is the text itself)."""
    from mlcap.plugins import load_method

    parts = [p for p in text.strip().split(":")]
    if not parts[0]:
        raise MlcapError(f"--methods {text!r}: a variant starts with a method name")
    method = load_method(parts[0])
    variant = Variant(name=text.strip(), method=method.name)
    for pair in parts[1:]:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise MlcapError(f"--methods {text!r}: expected key=value after the method, not {pair!r}")
        place_key(variant, key, _value(value), method, f"--methods {text!r}")
    return variant


def parse_methods(spec: str) -> list[Variant]:
    """``--methods``: a comma list of variants, or ``all`` (every installed method, its defaults)."""
    from mlcap.plugins import method_names

    if spec.strip() == "all":
        return [Variant(name=name, method=name) for name in method_names()]
    texts = [t for t in spec.split(",") if t.strip()]
    if not texts:
        raise MlcapError("--methods: give at least one method or variant (or all)")
    return [parse_spec(t) for t in texts]


def variant_from_table(table: dict, where: str) -> Variant:
    """A ``[[variant]]`` table: ``name``, ``method``, optional ``stages``, ``init_from``, ``copy_from``, any key
    of a variant spec, and ``[variant.stage.NAME]`` tables of per-stage training flags."""
    from mlcap.plugins import load_method

    if not isinstance(table, dict) or not isinstance(table.get("method"), str):
        raise MlcapError(f"{where}: a [[variant]] needs method = \"NAME\"")
    method = load_method(table["method"])
    variant = Variant(name=str(table.get("name", table["method"])), method=method.name)
    for key, value in table.items():
        if key in ("name", "method"):
            continue
        if key == "stages":
            if not isinstance(value, list) or not all(isinstance(s, str) and s in method.stages for s in value):
                raise MlcapError(f"{where}: stages must be a list of {method.name}'s stages ({', '.join(method.stages)})")
            variant.stages = list(value)
        elif key == "init_from":
            if not isinstance(value, str) or ":" not in value:
                raise MlcapError(f"{where}: init_from = \"VARIANT:STAGE\" (a variant listed before this one)")
            variant.init_from = value
        elif key == "copy_from":
            if not isinstance(value, str):
                raise MlcapError(f"{where}: copy_from = \"VARIANT\" (a variant of the same method listed before)")
            variant.copy_from = value
        elif key == "stage":
            if not isinstance(value, dict):
                raise MlcapError(f"{where}: [variant.stage.NAME] tables hold per-stage flags")
            for stage, flags in value.items():
                if stage not in method.stages or not isinstance(flags, dict):
                    raise MlcapError(f"{where}: [variant.stage.{stage}]: not a stage of {method.name}")
                for k, v in flags.items():
                    place_key(variant, k, v, method, f"{where} [variant.stage.{stage}]", stage=stage)
        else:
            place_key(variant, key, value, method, where)
    return variant


def check_unique(variants: list[Variant]) -> None:
    seen: dict[str, str] = {}
    for v in variants:
        if v.slug in seen:
            raise MlcapError(f"variants {seen[v.slug]!r} and {v.name!r} share the run folder {v.slug!r}: "
                             "name them apart")
        seen[v.slug] = v.name
    names = [v.name for v in variants]
    methods = {v.name: v.method for v in variants}
    for v in variants:
        earlier = names[: names.index(v.name)]
        if v.init_from and v.init_from.rpartition(":")[0] not in earlier:
            raise MlcapError(f"variant {v.name!r}: init_from {v.init_from!r} names no variant listed before it")
        if v.copy_from and (v.copy_from not in earlier or methods[v.copy_from] != v.method):
            raise MlcapError(f"variant {v.name!r}: copy_from {v.copy_from!r} names no {v.method} variant listed "
                             "before it")
