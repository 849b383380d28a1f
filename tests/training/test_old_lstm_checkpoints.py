"""A run saved when mlcap's LSTM cell held its kernel as one ``weight`` (4H, I + H) resumes and
predicts: the weights load into ``weight_ih``/``weight_hh``, and the optimizer state is split the
same way, so the resumed stage ends bit for bit where a run saved in today's layout does."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import SMALL, run_cli
from mlcap.training.checkpoint import load_checkpoint, save_checkpoint

pytestmark = pytest.mark.slow
EMBED, HIDDEN = 8, 16          # SMALL["scnnrnn"]: embed_dim=8, hidden=16


def pretrain_rnn(data, run, epochs, *extra):
    return run_cli("pretrain-rnn", "-m", "scnnrnn", "--data", data, "--run", run, "--epochs", epochs, "--batch-size", "8",
                   "--device", "cpu", "--seed", "7", "--image-size", "32", *SMALL["scnnrnn"], *extra)


def one_kernel_layout(path) -> None:
    """Rewrite checkpoint ``path`` as the single-``weight`` cell saved it."""
    payload = torch.load(path, weights_only=True)
    model = payload["model"]
    for key in [k for k in model if k.endswith(".weight_ih")]:
        cell = key[: -len(".weight_ih")]
        model[f"{cell}.weight"] = torch.cat([model.pop(key), model.pop(f"{cell}.weight_hh")], dim=1)
    opt = payload["optimizer"]
    if not opt:                 # a best checkpoint keeps no optimizer state
        save_checkpoint(path, model, None, json.loads(payload["meta"]), payload["extra"])
        return
    shapes = {i: s["square_avg"].shape for i, s in opt["state"].items()}
    hh = next(i for i, shape in shapes.items() if shape == (4 * HIDDEN, HIDDEN) and shapes.get(i - 1) == (4 * HIDDEN, EMBED))
    merged = dict(opt["state"][hh - 1], square_avg=torch.cat([opt["state"][hh - 1]["square_avg"],
                                                             opt["state"][hh]["square_avg"]], dim=1))
    state = {(i if i < hh else i - 1): s for i, s in opt["state"].items() if i != hh}
    state[hh - 1] = merged
    groups = [dict(g, params=[(i if i < hh else i - 1) for i in g["params"] if i != hh]) for g in opt["param_groups"]]
    save_checkpoint(path, model, {"state": state, "param_groups": groups}, json.loads(payload["meta"]), payload["extra"])


def test_a_run_saved_with_one_kernel_resumes_bit_identically(tiny_data, tmp_path):
    today, old = tmp_path / "today", tmp_path / "old"
    for run in (today, old):
        assert pretrain_rnn(tiny_data, run, "1").code == 0
    for name in ("pretrain-rnn.pt", "pretrain-rnn.best.pt"):
        one_kernel_layout(old / name)
    assert "decoder.lstm.weight" in load_checkpoint(old / "pretrain-rnn.pt")[0]
    res = run_cli("predict", "--run", old, "--data", tiny_data, "--split", "test")
    assert res.code == 0, res.err
    assert res.out == run_cli("predict", "--run", today, "--data", tiny_data, "--split", "test").out
    for run in (today, old):
        res = pretrain_rnn(tiny_data, run, "2", "--resume")
        assert res.code == 0, res.err
    a, _, a_meta = load_checkpoint(today / "pretrain-rnn.pt")
    b, _, b_meta = load_checkpoint(old / "pretrain-rnn.pt")
    assert a.keys() == b.keys() and a_meta["losses"] == b_meta["losses"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
