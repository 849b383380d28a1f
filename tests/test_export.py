"""`mlcap export`: what is exported where a decoder's search is not traceable, and the refusals.

That every method's export gives `mlcap predict`'s scores and labels, in both formats, is
mlcap.testing.check_method's ``export`` check (tests/methods/test_contract.py). The images are
preprocessed from the sidecar's instructions alone (size, mean, std), as a user of the exported
file would, not with mlcap's loader.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import SMALL, run_cli
from mlcap.testing.checks_export import preprocess, run_exported

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")


def _export(run, fmt, out):
    res = run_cli("export", "--run", run, "--format", fmt, "--out", out)
    assert res.code == 0, res.err
    assert "Warning" not in res.err
    summary = json.loads(res.out)
    return summary, json.loads((out.parent / (out.name + ".json")).read_text())


def _three_images(data) -> list[str]:
    rows = [json.loads(line) for line in (data / "test.jsonl").read_text().splitlines()][:3]
    return [str(data / row["image"]) for row in rows]


def test_an_untraceable_decoder_exports_the_encoder_and_says_so(tiny_data_master, tiny_run, tmp_path):
    run = tiny_run("orderfree", ["pretrain-cnn", "finetune"], *SMALL["orderfree"])
    summary, sidecar = _export(run, "torchscript", tmp_path / "enc.pt")
    assert summary["outputs"] == ["pooled"] and "the export is the encoder" in summary["not_exported"]
    paths = _three_images(tiny_data_master)
    (pooled,) = run_exported(tmp_path / "enc.pt", "torchscript", preprocess(paths, sidecar))
    import mlcap

    model = mlcap.load_run(run, device="cpu").model
    with torch.no_grad():
        direct = model.encoder(torch.from_numpy(preprocess(paths, sidecar))).pooled
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


def test_export_refuses_a_path_in_the_run_folder_or_under_a_file(tiny_runs, tmp_path, mlcap):
    _, runs = tiny_runs
    best = runs["bce"] / "pretrain-cnn.best.pt"
    before = best.read_bytes()
    res = mlcap("export", "--run", runs["bce"], "--out", best)
    assert res.code == 2 and "inside the run folder" in res.err and best.read_bytes() == before
    (tmp_path / "file").write_text("")
    res = mlcap("export", "--run", runs["bce"], "--out", tmp_path / "file" / "m.pt")
    assert res.code == 2 and "cannot make the folder" in res.err and res.err.count("\n") == 1
