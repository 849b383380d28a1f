"""Checks of what a run is used for beyond ``predict``: export to TorchScript and ONNX, training
and predicting from cached backbone features, and the method's options at a later stage."""

from __future__ import annotations

import json
from pathlib import Path

from mlcap.testing.cli import run_cli
from mlcap.testing.context import IMAGE_SIZE, Context, expect, history
from mlcap.testing.option_values import other_value

EXPORT_TOLERANCE = 2e-5


def preprocess(paths: list[str], sidecar: dict):
    """The images as a user of the exported file prepares them, from the sidecar alone."""
    import numpy as np
    from PIL import Image

    spec = sidecar["input"]
    size, mean, std = spec["image_size"], np.array(spec["mean"]), np.array(spec["std"])
    out = []
    for path in paths:
        image = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
        out.append(((np.asarray(image, dtype=np.float32) / 255.0 - mean) / std).transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def run_exported(path: Path, fmt: str, images) -> list:
    import warnings

    import torch

    if fmt == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return [t.numpy() for t in torch.jit.load(str(path))(torch.from_numpy(images))]
    import onnxruntime

    return onnxruntime.InferenceSession(str(path)).run(None, {"images": images})


def _labels_of(row, labels: list[str]) -> list[str]:
    seen: list[str] = []
    for k in row:
        if k >= 0 and labels[k] not in seen:
            seen.append(labels[k])
    return seen


def check_export(ctx: Context) -> None:
    """``mlcap export`` to TorchScript and ONNX gives ``predict``'s scores (and labels where the
    sequence is exported); what is not exported is said in the summary."""
    import numpy as np

    paths = sorted(ctx.test_images())[:3]               # a batch of 3: the trace's example has 2
    res = ctx.predict(ctx.reference, "--images", *paths)
    expect(res.code == 0, f"predict --images failed: {res.err.strip()[-300:]}")
    expected = res.json_lines()
    for fmt, suffix in (("torchscript", ".pt"), ("onnx", ".onnx")):
        out = ctx.root / f"exported{suffix}"
        res = run_cli("export", "--run", ctx.reference, "--format", fmt, "--out", out)
        expect(res.code == 0, f"export --format {fmt} failed (exit {res.code}): {res.err.strip()[-300:]}")
        summary = json.loads(res.out)
        sidecar = json.loads(out.with_name(out.name + ".json").read_text())
        got = dict(zip(summary["outputs"], run_exported(out, fmt, preprocess(paths, sidecar))))
        if "scores" not in got:
            expect(bool(summary.get("not_exported")), f"{fmt}: the export has no scores and does not say why")
            continue
        key = "concepts" if ctx.task == "caption" else "scores"
        for i, row in enumerate(expected):
            if row.get(key) is None:
                continue
            want = [row[key][name] for name in sidecar["labels"]]
            worst = float(np.abs(np.asarray(got["scores"][i]) - want).max())
            expect(worst <= EXPORT_TOLERANCE, f"{fmt}: exported scores differ from predict's by {worst:.2e}")
            if "sequence" in got:
                labels = _labels_of(got["sequence"][i], sidecar["labels"])
                expect(labels == row["labels"], f"{fmt}: exported sequence {labels} vs predict's {row['labels']}")
        if "sequence" not in got:
            expect(bool(summary.get("not_exported")), f"{fmt}: no sequence exported and the summary does not say so")


def check_features(ctx: Context) -> None:
    """Every stage trains from a feature cache (``--features``) or refuses it with one line; a run
    trained from the cache predicts from it what it predicts from the images."""
    import numpy as np

    cache = ctx.root / "features.h5"
    if not cache.exists():
        res = run_cli("extract-features", "--data", ctx.data, "--backbone", "smallcnn", "--image-size", IMAGE_SIZE,
                      "--out", cache)
        expect(res.code == 0, f"extract-features failed: {res.err.strip()[-300:]}")
    run = ctx.root / "features-run"
    for stage in ctx.stages:
        res = run_cli(*ctx.stage_args(stage, run, "--features", cache))
        if res.one_line_error():
            return                              # refused: a stage that trains the backbone
        expect(res.code == 0, f"{stage} --features failed (exit {res.code}): {res.err.strip()[-300:]}")
    from_cache = {r["id"]: r for r in ctx.predict_split(run, "--features", cache)}
    from_images = {r["id"]: r for r in ctx.predict_split(run)}
    expect(from_cache.keys() == from_images.keys(), "predict --features and from images give other ids")
    key = "concepts" if ctx.task == "caption" else "scores"
    for sample, row in from_images.items():
        if row.get(key) is not None:
            a, b = np.array(list(row[key].values())), np.array(list(from_cache[sample][key].values()))
            expect(np.abs(a - b).max() <= 1e-4, f"image {sample}: scores from the cache differ from the "
                                                f"images' by {np.abs(a - b).max():.2e}")


def check_later_options(ctx: Context) -> None:
    """Each option of the method given at a later stage (another value than the run's) is either
    refused with one line or used: it changes the weights, the history or the predictions."""
    import torch

    from mlcap.training.checkpoint import load_checkpoint

    if len(ctx.stages) < 2:
        return
    stage, model, reference = ctx.last, ctx.method.options_model, ctx.reference
    weights, rows, preds = (load_checkpoint(reference / f"{stage}.pt")[0], history(reference, stage),
                            ctx.reference_predictions)
    for name in model.model_fields:
        value = other_value(model, name, ctx.options)
        if value is None:
            continue
        run = ctx.before_last(ctx.root / f"later-{name}")
        res = run_cli(*ctx.stage_args(stage, run, "--option", f"{name}={value}"))
        if res.one_line_error():
            continue
        expect(res.code == 0, f"option {name}={value} at {stage} failed (exit {res.code}): {res.err.strip()[-200:]}")
        changed = load_checkpoint(run / f"{stage}.pt")[0]
        used = (any(not torch.equal(weights[k], changed[k]) for k in weights) or history(run, stage) != rows
                or ctx.predict_split(run) != preds)
        exempt = ctx.xfail.get(f"later_options:{name}")
        expect(not (used and exempt), f"option {name} changed the run, but the method declares it an expected "
                                      f"failure ({exempt}); remove later_options:{name} from xfail_checks")
        expect(used or bool(exempt), f"option {name}={value} given at {stage} changed nothing (weights, "
                                     "history, predictions) and was not refused")
