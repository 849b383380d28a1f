"""Checkpoints are atomic and never unpickle code."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from mlcap.errors import MlcapError
from mlcap.training import checkpoint
from mlcap.training.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "s.pt", model.state_dict(), opt.state_dict(), {"epoch": 1, "method": "m"})
    state, opt_state, meta = load_checkpoint(tmp_path / "s.pt")
    assert meta == {"epoch": 1, "method": "m"}
    assert torch.equal(state["weight"], model.weight)
    assert opt_state["state"][0]["step"] == 1


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "s.pt"
    save_checkpoint(path, {"w": torch.ones(3)}, None, {"epoch": 1})
    before = path.read_bytes()

    def half_write(obj, f):
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", half_write)
    with pytest.raises(MlcapError, match="cannot write the checkpoint"):
        save_checkpoint(path, {"w": torch.zeros(3)}, None, {"epoch": 2})
    assert path.read_bytes() == before
    assert load_checkpoint(path)[2] == {"epoch": 1}
    assert set(os.listdir(tmp_path)) == {"s.pt", "s.json"}   # no temporary file left behind


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_loading_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "meta": "{}", "payload": Evil()}, path)
    with pytest.raises(MlcapError, match="not a readable mlcap checkpoint"):
        load_checkpoint(path)
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(MlcapError):
        load_checkpoint(path)
