"""The training commands: one per usual stage, and `mlcap stage NAME` for any stage of a method.
They share one option list (``_train``); heavy imports happen inside the commands."""

from __future__ import annotations

import inspect
import json
import sys
import typing
from pathlib import Path
from typing import List, Optional

import typer

from mlcap.cli.app import CONFIG, app, emit
from mlcap.errors import MlcapError

STAGE_HELP = {
    "pretrain-cnn": "Stage 1: train the CNN (concept head, BCE).",
    "pretrain-rnn": "Stage 2: train the RNN on ground-truth concepts (teacher forcing).",
    "finetune": "Stage 3: train CNN and RNN jointly (the backbone fixed with --freeze-backbone).",
}

NOT_TRAIN_OPTIONS = {"option", "group_lr", "group_start", "config", "name", "restart", "nproc"}


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


def _train(
    method: Optional[str] = typer.Option(None, "--method", "-m", help="Method plugin (see `mlcap methods`). [required]"),
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared dataset directory. [required]"),
    run: Optional[Path] = typer.Option(None, "--run", help="Run directory (checkpoints, configs). [required]"),
    backbone: Optional[str] = typer.Option(None, help="smallcnn, resnet18/34/50/101, vgg16, inception_v3, mobilenet_v3, efficientnet_lite0, timm/<name>."),
    weights: Optional[str] = typer.Option(None, help="Backbone weights: a local state dict (.pth/.safetensors), or imagenet (offline, efficientnet_lite0)."),
    init_from: Optional[Path] = typer.Option(None, help="Start from another run's checkpoint file (matching weights)."),
    image_size: Optional[int] = typer.Option(None, help="Input side in pixels (default: the backbone's)."),
    use_tags: Optional[bool] = typer.Option(None, "--use-tags/--no-tags", help="Noisy tags as side information."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (default 32)."),
    seed: Optional[int] = typer.Option(None, help="Seed of shuffling, initialisation and the held-out val part (default 0)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda (default auto)."),
    amp: Optional[bool] = typer.Option(None, "--amp/--no-amp", help="Mixed precision (autocast; bfloat16 unless --amp-dtype float16)."),
    amp_dtype: Optional[str] = typer.Option(None, help="bfloat16 (default) or float16 (with a GradScaler; for GPUs without bf16)."),
    channels_last: Optional[bool] = typer.Option(None, "--channels-last/--no-channels-last", help="NHWC memory format for convolutions (faster with --amp on CPUs with bf16 units and on GPUs)."),
    decode: Optional[str] = typer.Option(None, help="Image decoder: pil (default), torchvision (JPEGs by torchvision.io.decode_jpeg in the loader, resized on tensors) or gpu (JPEGs decoded batched on the training device: nvJPEG on CUDA); other formats by PIL."),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the backbone (the recurrent decoders stay eager)."),
    compile_backend: Optional[str] = typer.Option(None, help="torch.compile backend with --compile (default inductor; aot_eager needs no C++ compiler)."),
    order: Optional[str] = typer.Option(None, help="Label order: rare, frequent, dictionary, random, pla, mla, or free (no target order); default: the first the method accepts (`mlcap methods`)."),
    freeze_backbone: Optional[bool] = typer.Option(None, "--freeze-backbone", help="Keep the ImageNet backbone fixed (the papers' \"Fix\")."),
    freeze_cnn: Optional[bool] = typer.Option(None, "--freeze-cnn", help="The same as --freeze-backbone."),
    features: Optional[Path] = typer.Option(None, help="Train from an HDF5 feature cache (backbone fixed)."),
    features_memory: Optional[float] = typer.Option(None, help="Feature-cache rows held in memory, in GB (2^30 bytes; default: half of MemAvailable in /proc/meminfo); the rest are read from the file per batch."),
    features_dtype: Optional[str] = typer.Option(None, help="float32 (default) or float16: the cached features held (and streamed) at this precision; float16 halves their memory, batches stay float32."),
    max_len: Optional[int] = typer.Option(None, help="Longest emitted label sequence."),
    num_workers: Optional[int] = typer.Option(None, help="Data-loading worker processes (default: 0 on CPU; on CUDA the cores, shared among the ranks of a node)."),
    sync_bn: Optional[bool] = typer.Option(None, "--sync-bn/--no-sync-bn", help="Under torchrun: BatchNorm statistics over the global batch of all processes (default: per process)."),
    step_losses: Optional[bool] = typer.Option(None, "--step-losses", help="Record each step's mean loss (over all processes) in the history."),
    image_cache_mb: Optional[int] = typer.Option(None, help="Decoded images kept in memory from one epoch to the next, in MB (default 1024; 0: none; with --num-workers 0)."),
    resume: Optional[bool] = typer.Option(None, "--resume/--overwrite", help="Continue this stage from its checkpoint, or train it again from its start; a stage that has a checkpoint needs one of the two."),
    restart: Optional[bool] = typer.Option(None, "--restart", hidden=True, help="The same as --overwrite."),
    task: Optional[str] = typer.Option(None, help="multilabel (default) or caption; fixed by the first stage."),
    vocab_size: Optional[int] = typer.Option(None, help="Caption vocabulary: most frequent words (default 12000)."),
    min_count: Optional[int] = typer.Option(None, help="Caption vocabulary: every word seen this often."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", help="Method option KEY=VALUE (repeatable), e.g. variant=nic-f."),
    epochs: Optional[int] = typer.Option(None, help="Epochs (default: the method's recipe)."),
    optimizer: Optional[str] = typer.Option(None, help="adam, adamw, sgd or rmsprop (default: the recipe's)."),
    lr: Optional[float] = typer.Option(None, help="Learning rate (default: the recipe's)."),
    momentum: Optional[float] = typer.Option(None, help="SGD / RMSProp momentum."),
    nesterov: Optional[bool] = typer.Option(None, "--nesterov/--no-nesterov", help="SGD with Nesterov momentum."),
    alpha: Optional[float] = typer.Option(None, help="RMSProp smoothing constant (TensorFlow's decay)."),
    weight_decay: Optional[float] = typer.Option(None, help="Weight decay."),
    group_lr: Optional[List[str]] = typer.Option(None, "--group-lr", help="GROUP=LR: a parameter group's own learning rate (repeatable)."),
    group_start: Optional[List[str]] = typer.Option(None, "--group-start", help="GROUP=EPOCH: the group is frozen before this epoch (0-based)."),
    schedule: Optional[str] = typer.Option(None, help="constant, step, plateau, cosine or swa."),
    step_size: Optional[int] = typer.Option(None, help="step: multiply the lr by --gamma every N epochs."),
    gamma: Optional[float] = typer.Option(None, help="step / plateau: the lr factor."),
    plateau_patience: Optional[int] = typer.Option(None, help="plateau: validations without improvement before x gamma."),
    swa: Optional[bool] = typer.Option(None, "--swa", help="Stochastic weight averaging, cyclical LR (= --schedule swa)."),
    swa_cycle: Optional[int] = typer.Option(None, help="Epochs per SWA learning-rate cycle."),
    lr_min: Optional[float] = typer.Option(None, help="Cosine floor; SWA: the lr at each cycle's end."),
    select_by: Optional[str] = typer.Option(None, help="Validation metric of the best checkpoint: loss, O-F1, C-F1, mAP, CIDEr."),
    augment: Optional[bool] = typer.Option(None, "--augment/--no-augment", help="Random translate 3%, contrast 0.25, flip."),
    val_every: Optional[int] = typer.Option(None, help="Validate every N epochs (default 1)."),
    val_fraction: Optional[float] = typer.Option(None, help="Share of train held out when there is no val split (default 0.1)."),
    patience: Optional[int] = typer.Option(None, help="Stop after N validations without improvement."),
    threshold: Optional[str] = typer.Option(None, help="auto (chosen on val, default), auto-class (per class), or a number."),
    max_skip_fraction: Optional[float] = typer.Option(None, help="Stop (exit 2) when more than this share of the training images cannot be read (default 0.5)."),
    nproc: Optional[int] = typer.Option(None, min=1, help="Train in N processes on this machine (DDP over torchrun's launcher; gloo on CPU, NCCL on GPUs); --batch-size stays the global batch."),
    config: Optional[Path] = CONFIG,
):
    return {k: v for k, v in locals().items()}


def _run_stage(stage: str, values: dict) -> None:
    if (values.get("nproc") or 1) > 1:
        from mlcap.training.launch import launch, without_nproc

        raise SystemExit(launch(values["nproc"], without_nproc(sys.argv[1:])))
    cli = {k: v for k, v in values.items() if k not in NOT_TRAIN_OPTIONS}
    if values.get("restart"):
        cli["resume"] = False
    if values.get("option"):
        cli["method_options"] = _parse_options(values["option"])
    if values.get("group_lr"):
        cli["group_lr"] = _parse_groups("--group-lr", values["group_lr"], float)
    if values.get("group_start"):
        cli["group_start"] = _parse_groups("--group-start", values["group_start"], int)
    from mlcap.config import TrainOptions, resolve
    from mlcap.training.loop import train_stage

    opts = resolve(TrainOptions, stage, cli, values.get("config"))
    emit(train_stage(stage, opts))


def _with_signature(command, extra_first=None):
    """Give ``command`` the training options of ``_train`` (and an optional leading parameter)."""
    hints = typing.get_type_hints(_train)
    params = [p.replace(annotation=hints[p.name]) for p in inspect.signature(_train).parameters.values()]
    if extra_first is not None:
        params = [extra_first] + params
    command.__signature__ = inspect.Signature(params)
    return command


def _register_stage(stage: str) -> None:
    def command(**values):
        _run_stage(stage, values)

    command.__doc__ = STAGE_HELP[stage]
    app.command(stage)(_with_signature(command))


for _stage in STAGE_HELP:
    _register_stage(_stage)


def _stage_any(name: str, **values):
    """Run a stage by name, including a method's own stages (see `mlcap methods`)."""
    _run_stage(name, values)


def _register_named_stage() -> None:
    name = inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str,
                             default=typer.Argument(..., help="The stage, e.g. pretrain-tags (see `mlcap methods`)."))
    app.command("stage")(_with_signature(_stage_any, name))


_register_named_stage()
