"""`mlcap export`: the exported TorchScript / ONNX model gives `mlcap predict`'s scores and labels.

The images are preprocessed here with PIL and numpy from the sidecar's instructions alone (size,
mean, std), as a user of the exported file would, not with mlcap's loader.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli, train_tiny

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")


def _preprocess(paths: list[str], sidecar: dict) -> np.ndarray:
    spec = sidecar["input"]
    size, mean, std = spec["image_size"], np.array(spec["mean"]), np.array(spec["std"])
    out = []
    for path in paths:
        im = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
        x = (np.asarray(im, dtype=np.float32) / 255.0 - mean) / std
        out.append(x.transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def _run_exported(path, fmt: str, images: np.ndarray) -> list[np.ndarray]:
    if fmt == "torchscript":
        with torch.no_grad():
            return [t.numpy() for t in torch.jit.load(str(path))(torch.from_numpy(images))]
    import onnxruntime

    return onnxruntime.InferenceSession(str(path)).run(None, {"images": images})


def _labels_of(sequence_row, labels: list[str]) -> list[str]:
    seen: list[str] = []
    for k in sequence_row:
        if k >= 0 and labels[k] not in seen:
            seen.append(labels[k])
    return seen


def _export(run, fmt, out):
    res = run_cli("export", "--run", run, "--format", fmt, "--out", out)
    assert res.code == 0, res.err
    assert "Warning" not in res.err
    summary = json.loads(res.out)
    return summary, json.loads((out.parent / (out.name + ".json")).read_text())


def _three_images(data) -> list[str]:
    rows = [json.loads(line) for line in (data / "test.jsonl").read_text().splitlines()][:3]
    return [str(data / row["image"]) for row in rows]


@pytest.mark.parametrize("method, fmt", [("bce", "torchscript"), ("scnnrnn", "torchscript"), ("bce", "onnx"),
                                         ("scnnrnn", "onnx")])
def test_exported_model_gives_predicts_scores_and_labels(tiny_runs, tmp_path, method, fmt):
    data, runs = tiny_runs
    out = tmp_path / ("model.pt" if fmt == "torchscript" else "model.onnx")
    summary, sidecar = _export(runs[method], fmt, out)
    assert summary["outputs"] == sidecar["outputs"] == ["scores", "sequence"] and summary["not_exported"] is None
    paths = _three_images(data)            # a batch of 3: the trace's example had 2
    expected = run_cli("predict", "--run", runs[method], "--images", *paths).json_lines()
    scores, sequence = _run_exported(out, fmt, _preprocess(paths, sidecar))
    labels = sidecar["labels"]
    for i, row in enumerate(expected):
        assert np.allclose(scores[i], [row["scores"][name] for name in labels], atol=2e-5)
        assert _labels_of(sequence[i], labels) == row["labels"]


@pytest.mark.parametrize("method, outputs", [("orderless", ["scores", "sequence"]), ("arnn", ["scores", "sequence"]),
                                             ("cnnrnn", ["scores"]), ("ria", ["scores", "sequence"])])
def test_every_traceable_method_exports_what_it_predicts(tiny_data, tmp_path, method, outputs):
    run = train_tiny(tiny_data, tmp_path / method, method, ["pretrain-cnn", "finetune"])
    summary, sidecar = _export(run, "torchscript", tmp_path / "m.pt")
    assert summary["outputs"] == outputs                  # cnnrnn's labels come from its beam of 3
    paths = _three_images(tiny_data)
    expected = run_cli("predict", "--run", run, "--images", *paths).json_lines()
    got = _run_exported(tmp_path / "m.pt", "torchscript", _preprocess(paths, sidecar))
    for i, row in enumerate(expected):
        assert np.allclose(got[0][i], [row["scores"][name] for name in sidecar["labels"]], atol=2e-5)
        if len(got) > 1:
            assert _labels_of(got[1][i], sidecar["labels"]) == row["labels"]


def test_a_captioner_exports_its_concepts_and_says_the_captions_are_left(tiny_runs, tmp_path):
    data, runs = tiny_runs
    summary, sidecar = _export(runs["caption"], "torchscript", tmp_path / "cap.pt")
    assert summary["outputs"] == ["scores"] and "captions" in summary["not_exported"]
    paths = _three_images(data)
    expected = run_cli("predict", "--run", runs["caption"], "--images", *paths).json_lines()
    (scores,) = _run_exported(tmp_path / "cap.pt", "torchscript", _preprocess(paths, sidecar))
    for i, row in enumerate(expected):
        assert np.allclose(scores[i], [row["concepts"][w] for w in sidecar["labels"]], atol=2e-5)


def test_an_untraceable_decoder_exports_the_encoder_and_says_so(tiny_data, tmp_path):
    run = train_tiny(tiny_data, tmp_path / "of", "orderfree", ["pretrain-cnn", "finetune"])
    summary, sidecar = _export(run, "torchscript", tmp_path / "enc.pt")
    assert summary["outputs"] == ["pooled"] and "the export is the encoder" in summary["not_exported"]
    paths = _three_images(tiny_data)
    (pooled,) = _run_exported(tmp_path / "enc.pt", "torchscript", _preprocess(paths, sidecar))
    import mlcap

    model = mlcap.load_run(run, device="cpu").model
    with torch.no_grad():
        direct = model.encoder(torch.from_numpy(_preprocess(paths, sidecar))).pooled
    assert pooled.shape == tuple(direct.shape) and np.allclose(pooled, direct.numpy(), atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--format", "tflite"], "--format must be one of torchscript, onnx"),
    (["--out", "DIR"], "is a folder"),
    (["--no-out"], "missing option --out"),
])
def test_bad_export_requests_are_one_line(tiny_runs, tmp_path, mlcap, args, message):
    _, runs = tiny_runs
    out = ["--out", tmp_path / "m.pt"]
    if "--out" in args:
        out, args = ["--out", tmp_path], []
    elif "--no-out" in args:
        out, args = [], []
    res = mlcap("export", "--run", runs["bce"], *out, *args)
    assert res.code == 2 and message in res.err and res.err.count("\n") == 1
    assert not (tmp_path / "m.pt").exists()


def test_export_refuses_a_path_in_the_run_folder_or_under_no_folder(tiny_runs, tmp_path, mlcap):
    _, runs = tiny_runs
    best = runs["bce"] / "pretrain-cnn.best.pt"
    before = best.read_bytes()
    res = mlcap("export", "--run", runs["bce"], "--out", best)
    assert res.code == 2 and "inside the run folder" in res.err and best.read_bytes() == before
    res = mlcap("export", "--run", runs["bce"], "--out", tmp_path / "nowhere" / "m.pt")
    assert res.code == 2 and "no folder" in res.err
