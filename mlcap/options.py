"""The options of the training commands and of `mlcap predict`, each defined once, here: its type,
default and bounds (mlcap/config.py builds the pydantic ``TrainOptions`` and ``PredictOptions``
from them, the help as each field's description) and its help and flags (mlcap/cli/options.py
builds the commands' typer options from them). A recipe override is derived from the ``Recipe``
field of the same name: a new ``Recipe`` field is an option (and a flag) without more ado.

This module imports neither pydantic nor typer: `mlcap --help` reads it without pydantic.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Literal

from mlcap.contract_data import FREE_ORDER, OPTIMIZERS, SCHEDULES, SEQUENCE_ORDERS, Recipe

#: The default of an option that must be given (on the command line or in the --config file).
REQUIRED: Any = ...

Device = Literal["auto", "cpu", "cuda"]
Order = Literal[(*SEQUENCE_ORDERS, FREE_ORDER)]
Decode = Literal["pil", "torchvision", "gpu"]        # image decoder (mlcap/data/decode.py, device_decode.py)


@dataclass(frozen=True)
class Opt:
    """One option. ``flags``: its command-line names (default: typer's, ``--name`` and, for a
    bool, ``--name/--no-name``); ``model=False``: a flag the command handles itself, not in the
    pydantic model; ``bounds``: pydantic ``Field`` constraints (ge, gt, le, lt, pattern,
    allow_inf_nan); ``cli``: further ``typer.Option`` arguments."""

    type: Any
    default: Any = None
    help: str = ""
    flags: tuple[str, ...] = ()
    hidden: bool = False
    model: bool = True
    factory: Callable | None = None     # the default is ``factory()``
    bounds: dict = field(default_factory=dict)
    cli: dict = field(default_factory=dict)


def opt(type_: Any, default: Any, help: str, *flags: str, hidden: bool = False, model: bool = True,
        factory: Callable | None = None, cli: dict | None = None, **bounds) -> Opt:
    return Opt(type_, default, help, flags, hidden, model, factory, bounds, cli or {})


def override(help: str, *flags: str, choices: tuple[str, ...] = (), **bounds) -> Opt:
    """A recipe override: typed as the ``Recipe`` field (``choices``: narrowed to these strings),
    None (the default) = the method's recipe for the stage."""
    return Opt(Literal[choices] | None if choices else None, None, help, flags, bounds=bounds)


FEATURES_MEMORY = opt(float | None, None, "Feature-cache rows held in memory, in GB (2^30 bytes; default: half of "
                      "MemAvailable in /proc/meminfo); the rest are read from the file per batch.",
                      gt=0, allow_inf_nan=False)
FEATURES_DTYPE = opt(Literal["float32", "float16"], "float32", "float32 (default) or float16: the cached features held "
                     "(and streamed) at this precision; float16 halves their memory, batches stay float32.")

# Structural options (mlcap.config.STRUCTURAL) are fixed by the run's first stage; the rest apply
# to the stage they are given to.
_STAGE = {
    "method": opt(str, REQUIRED, "Method plugin (see `mlcap methods`).", "--method", "-m"),
    "data": opt(Path, REQUIRED, "Prepared dataset directory.", "--data"),
    "run": opt(Path, REQUIRED, "Run directory (checkpoints, configs).", "--run"),
    "backbone": opt(str | None, None, "smallcnn, resnet18/34/50/101, vgg16, inception_v3, mobilenet_v3, "
                    "efficientnet_lite0, timm/<name>."),                    # default smallcnn
    "weights": opt(str | None, None, "Backbone weights: a local state dict (.pth/.safetensors), or imagenet "
                   "(offline, efficientnet_lite0)."),
    "init_from": opt(Path | None, None, "Start from another run's checkpoint file (matching weights)."),
    "image_size": opt(int | None, None, "Input side in pixels (default: the backbone's).", ge=16, le=4096),
    "use_tags": opt(bool | None, None, "Noisy tags as side information.", "--use-tags/--no-tags"),
    "batch_size": opt(int, 32, "Batch size (default 32).", ge=1),
    "seed": opt(int, 0, "Seed of shuffling, initialisation and the held-out val part (default 0).",
                ge=0, le=2**32 - 1),
    "device": opt(Device, "auto", "auto, cpu or cuda (default auto)."),
    "amp": opt(bool, False, "Mixed precision (autocast; bfloat16 unless --amp-dtype float16)."),
    "amp_dtype": opt(Literal["bfloat16", "float16"], "bfloat16", "bfloat16 (default) or float16 (with a "
                     "GradScaler; for GPUs without bf16)."),
    "channels_last": opt(bool, False, "NHWC memory format for convolutions (faster with --amp on CPUs with "
                         "bf16 units and on GPUs)."),
    "decode": opt(Decode, "pil", "Image decoder: pil (default), torchvision (JPEGs by torchvision.io.decode_jpeg "
                  "in the loader, resized on tensors) or gpu (JPEGs decoded batched on the training device: "
                  "nvJPEG on CUDA); other formats by PIL."),
    "compile": opt(bool, False, "torch.compile the backbone (the recurrent decoders stay eager)."),
    "compile_backend": opt(str, "inductor", "torch.compile backend with --compile (default inductor; aot_eager "
                           "needs no C++ compiler).", pattern=r"^[a-z_]+$"),
    "order": opt(Order | None, None, "Label order: rare, frequent, dictionary, random, pla, mla, or free (no "
                 "target order); default: the first the method accepts (`mlcap methods`)."),
    "freeze_backbone": opt(bool, False, "Keep the ImageNet backbone fixed (the papers' \"Fix\").",
                           "--freeze-backbone"),
    "freeze_cnn": opt(bool, False, "The same as --freeze-backbone.", "--freeze-cnn"),   # older command lines
    "features": opt(Path | None, None, "Train from an HDF5 feature cache (backbone fixed)."),
    "features_memory": FEATURES_MEMORY,
    "features_dtype": FEATURES_DTYPE,
    "max_len": opt(int | None, None, "Longest emitted label sequence.", ge=1),   # default: most labels + 2
    "num_workers": opt(int | None, None, "Data-loading worker processes (default: 0 on CPU; on CUDA the cores, "
                       "shared among the ranks of a node).", ge=0),   # mlcap.data.pipeline.resolve_workers
    "sync_bn": opt(bool, False, "Under torchrun: BatchNorm statistics over the global batch of all processes "
                   "(default: per process)."),
    "step_losses": opt(bool, False, "Record each step's mean loss (over all processes) in the history.",
                       "--step-losses"),
    "image_cache_mb": opt(int, 1024, "Decoded images kept in memory from one epoch to the next, in MB (default "
                          "1024; 0: none; with --num-workers 0).", ge=0),
    "resume": opt(bool | None, None, "Continue this stage from its checkpoint, or train it again from its start; "
                  "a stage that has a checkpoint needs one of the two.", "--resume/--overwrite"),
    "task": opt(Literal["multilabel", "caption"] | None, None, "multilabel (default) or caption; fixed by the "
                "first stage."),
    "vocab_size": opt(int | None, None, "Caption vocabulary: most frequent words (default 12000).", ge=1),
    "min_count": opt(int | None, None, "Caption vocabulary: every word seen this often.", ge=1),
    "method_options": opt(dict, None, "Method option KEY=VALUE (repeatable), e.g. variant=nic-f.", "--option", "-o",
                          factory=dict),     # a TOML file's [method-options] table
}

#: The recipe overrides with their help, in the order of `--help`; a ``Recipe`` field missing here
#: still gets an option (after these, with a plain help), one of ``NOT_OVERRIDDEN`` none.
_RECIPE = {
    "epochs": override("Epochs (default: the method's recipe).", ge=1, le=100_000),
    "optimizer": override("adam, adamw, sgd or rmsprop (default: the recipe's).", choices=OPTIMIZERS),
    "lr": override("Learning rate (default: the recipe's).", gt=0),
    "momentum": override("SGD / RMSProp momentum.", ge=0),
    "nesterov": override("SGD with Nesterov momentum."),
    "alpha": override("RMSProp smoothing constant (TensorFlow's decay).", gt=0, lt=1),
    "weight_decay": override("Weight decay.", ge=0),
    "group_lr": override("GROUP=LR: a parameter group's own learning rate (repeatable).", "--group-lr"),
    "group_start": override("GROUP=EPOCH: the group is frozen before this epoch (0-based).", "--group-start"),
    "schedule": override("constant, step, plateau, cosine or swa.", choices=SCHEDULES),
    "step_size": override("step: multiply the lr by --gamma every N epochs.", ge=1),
    "gamma": override("step / plateau: the lr factor.", gt=0, le=1),
    "plateau_patience": override("plateau: validations without improvement before x gamma.", ge=1),
    "swa": opt(bool, False, "Stochastic weight averaging, cyclical LR (= --schedule swa).", "--swa"),
    "swa_cycle": override("Epochs per SWA learning-rate cycle.", ge=1),
    "lr_min": override("Cosine floor; SWA: the lr at each cycle's end.", gt=0),
    "select_by": override("Validation metric of the best checkpoint: loss, O-F1, C-F1, mAP, CIDEr."),
    "augment": override("Random translate 3%, contrast 0.25, flip."),
}
NOT_OVERRIDDEN = {"betas"}      # a pair (adam's): no option

_VALIDATION = {
    "val_every": opt(int, 1, "Validate every N epochs (default 1).", ge=1),
    "val_fraction": opt(float | None, None, "Share of train held out when there is no val split (default 0.1).",
                        ge=0, lt=1),
    "patience": opt(int | None, None, "Stop after N validations without improvement.", ge=1),
    "threshold": opt(str | None, None, "auto (chosen on val, default), auto-class (per class), or a number."),
    "max_skip_fraction": opt(float, 0.5, "Stop (exit 2) when more than this share of the training images cannot "
                             "be read (default 0.5).", ge=0, le=1),
    "nproc": opt(int | None, None, "Train in N processes on this machine (DDP over torchrun's launcher; gloo on "
                 "CPU, NCCL on GPUs); --batch-size stays the global batch.", model=False, cli={"min": 1}),
}


def _recipe_options() -> dict[str, Opt]:
    """``_RECIPE`` with each override typed as its ``Recipe`` field (or None), then any other field."""
    hints = typing.get_type_hints(Recipe)
    rest = [f.name for f in fields(Recipe) if f.name not in _RECIPE and f.name not in NOT_OVERRIDDEN]
    table = {**_RECIPE, **{name: override(f"The recipe's {name} (default: the method's).") for name in rest}}
    out = {}
    for name, option in table.items():
        if option.type is None:
            if name not in hints:
                raise TypeError(f"recipe override {name!r} is no Recipe field: give its type")
            option = replace(option, type=hints[name] | None)
        out[name] = option
    return out


#: The training commands' options, in the order of their `--help`.
TRAIN_OPTIONS: dict[str, Opt] = {**_STAGE, **_recipe_options(), **_VALIDATION}

#: `mlcap predict`'s options, in the order of its `--help`.
PREDICT_OPTIONS: dict[str, Opt] = {
    "run": opt(Path, REQUIRED, "Run directory.", "--run"),
    "data": opt(Path | None, None, "Prepared dataset directory. [required unless --images]", "--data"),
    "images": opt(bool, False, "Predict the image files and folders given as arguments (no prepared dataset); "
                  "ids are the paths.", "--images", model=False),
    "glob": opt(str | None, None, "With --images: files of a folder to take, searched recursively (default: the "
                "usual image suffixes).", "--glob", model=False),
    "split": opt(str, "test", "Split to predict (default test)."),
    "stage": opt(str | None, None, "Checkpoint to use (default: the latest complete stage)."),
    "allow_stale": opt(bool, False, "Predict with a stale stage anyway (one trained from an earlier stage that "
                       "was trained again since; refused by default).", "--allow-stale"),
    "features": opt(Path | None, None, "Predict from an HDF5 feature cache."),
    "features_memory": FEATURES_MEMORY,
    "features_dtype": FEATURES_DTYPE,
    "beam": opt(int | None, None, "Beam width (1 = greedy; default: the method's, listed by `mlcap methods`; 3 for "
                "captions).", ge=1),
    "checkpoint": opt(Literal["best", "last"], "best", "best (on validation, default) or last."),
    "threshold": opt(float | None, None, "Override the run's decision threshold (see `mlcap methods`).",
                     ge=0, le=1),
    "coco_results": opt(Path | None, None, "Captioning: also write [{image_id, caption}] here."),
    "attention": opt(Path | None, None, "Write each emitted label's attention map over the image (PNG) under "
                     "this folder: DIR/<id>/ for --data, DIR/<n>_<file stem>/ for --images."),
    "batch_size": opt(int, 64, "Batch size (default 64).", ge=1),
    "device": opt(Device, "auto", "auto, cpu or cuda."),
    "num_workers": opt(int | None, None, "Data-loading worker processes (default: 0 on CPU; on CUDA the cores).",
                       ge=0),
    "decode": opt(Decode, "pil", "Image decoder for --data: pil (default), torchvision or gpu (see pretrain-cnn "
                  "--help)."),
}
