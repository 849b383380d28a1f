"""``predict --attention DIR``: one PNG per emitted label for arnn, orderless and orderfree; a
method or a stage without attention is a one-line error; orderfree's replayed path gives the
attention of the search itself."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from helpers import SMALL, run_cli
from mlcap.inference.attention_maps import overlay, safe_name
from mlcap.plugins import load_method
from mlcap.protocol import Batch, DecodeOptions, ModelSpec

WITH_ATTENTION = ("arnn", "orderless", "orderfree")


@pytest.fixture
def runs(tiny_run, tiny_data_master):
    """``(data, {method: run})``: the shared data and a run of each method with attention (read-only)."""
    return tiny_data_master, {m: tiny_run(m, ["pretrain-cnn", "finetune"], *SMALL[m]) for m in WITH_ATTENTION}


@pytest.mark.parametrize("method", WITH_ATTENTION)
def test_one_png_per_emitted_label(runs, method, tmp_path):
    data, run = runs
    out = tmp_path / f"maps-{method}"
    res = run_cli("predict", "--run", run[method], "--data", data, "--attention", out)
    assert res.code == 0, res.err
    rows = [json.loads(line) for line in res.out.splitlines()]
    emitted = sum(len(r["labels"]) + r["duplicates"] for r in rows)
    files = sorted(out.glob("*/*.png"))
    assert len(files) == emitted and f"attention: {emitted} maps" in res.err
    for r in rows:            # the first label of each image is its step 01
        if r["labels"]:
            first = sorted((out / safe_name(r["id"])).glob("01_*.png"))
            assert first[0].name == f"01_{safe_name(r['labels'][0])}.png"
    if files:
        assert Image.open(files[0]).size == (64, 64)


def test_methods_and_stages_without_attention_are_refused(runs, tiny_run, tmp_path):
    data, run = runs
    res = run_cli("predict", "--run", run["arnn"], "--data", data, "--stage", "pretrain-cnn",
                  "--attention", tmp_path / "m")
    assert res.code == 2 and "checkpoint has no attention" in res.err
    bce = tiny_run("bce", ["pretrain-cnn"])
    res = run_cli("predict", "--run", bce, "--data", data, "--attention", tmp_path / "m")
    assert res.code == 2 and "a bce pretrain-cnn checkpoint has no attention maps" in res.err


def test_overlay_scales_the_map_onto_the_image():
    image = Image.new("RGB", (8, 8), (0, 0, 0))
    heat = torch.tensor([[0.0, 0.0], [0.0, 5.0]])
    out = overlay(image, heat)
    assert out.size == (8, 8)
    hot, cold = out.getpixel((7, 7)), out.getpixel((0, 0))
    assert hot[0] > hot[2] and cold[2] > cold[0]           # jet: red where high, blue where low
    assert overlay(image, torch.ones(2, 2)).getpixel((0, 0)) == overlay(image, torch.zeros(2, 2)).getpixel((0, 0))


def test_orderfree_replay_matches_a_greedy_search_step_by_step():
    method = load_method("orderfree")
    decode = DecodeOptions(stage="finetune", beam=1, threshold=0.0)
    spec = ModelSpec(labels=list("abcde"), image_size=32, max_len=4,
                     options={"hidden": 12, "pred_hidden": 8, "attention_dim": 6})
    torch.manual_seed(0)
    model = method.build(spec).eval()
    batch = Batch(ids=["0", "1"], images=torch.randn(2, 3, 32, 32), targets=torch.zeros(2, 5),
                  sequences=torch.zeros(2, 1, dtype=torch.long), order="free")
    decoded = method.predict(model, batch, spec, decode)
    maps = method.attention_maps(model, batch, spec, decode, decoded)
    # by hand: greedy, the candidate pool, alpha before each step
    enc, v_prob = model.encode(batch)
    dec = model.decoder
    state, chosen = dec.start(enc, v_prob), torch.zeros(2, 5, dtype=torch.bool)
    for t in range(4):
        alpha = dec.attend(state[0], state[1], state[2])[1]
        logits, state = dec.step(state, chosen, False)
        label = torch.sigmoid(logits[:, :5]).masked_fill(chosen, -1).argmax(1)
        for b in range(2):
            assert decoded.sequences[b][t] == label[b].item()
            assert torch.allclose(maps[b][t].flatten(), alpha[b])
        chosen = chosen | torch.nn.functional.one_hot(label, 5).bool()
