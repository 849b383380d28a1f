"""A stage whose loss never looks at the images (``Method.stage_inputs``, mlcap/protocol.py)
opens no training image: scnnrnn's pretrain-rnn (the LSTM on ground-truth concepts) trains with the
training images deleted and ends with the same weights as when it decoded them."""

from __future__ import annotations

import shutil

import torch

from mlcap.data.loader import make_loader
from mlcap.data.prepared import PreparedDataset
from mlcap.plugins import load_method
from mlcap.protocol import ModelSpec, StageInputs
from mlcap.training.checkpoint import load_checkpoint
from mlcap_scnnrnn.method import ScnnrnnMethod

from helpers import TINY_TRAIN


def test_scnnrnn_declares_its_image_free_stages():
    method = load_method("scnnrnn")
    labels = ModelSpec(labels=["a", "b"])
    assert [method.stage_inputs(s, labels).images for s in method.stages] == [False, True, False, True]
    caption = ModelSpec(labels=["a"], task="caption", words=["<unk>", "a"])
    assert not method.stage_inputs("pretrain-rnn", caption).images
    for variant in ("nic-f", "nic-deeply"):   # their LSTM starts from the CNN's features
        ablation = ModelSpec(labels=["a"], task="caption", words=["<unk>", "a"], options={"variant": variant})
        assert method.stage_inputs("pretrain-rnn", ablation).images
    assert load_method("orderless").stage_inputs("finetune", labels).images   # the default


def test_loader_without_images_opens_no_file(tiny_data):
    ds = PreparedDataset(tiny_data)
    for sample in ds.samples("train"):
        ds.image_path(sample).unlink()
    batch, skipped = next(iter(make_loader(ds, "train", 64, (0.5,) * 3, (0.25,) * 3, 8, images=False)))
    assert skipped == [] and batch.images is None and len(batch.ids) == 8
    assert batch.targets.sum() > 0 and batch.sequences.shape[0] == 8


def _weights(path):
    return load_checkpoint(path)[0]


def test_pretrain_rnn_trains_without_its_images_to_the_same_weights(tiny_data, tmp_path, mlcap, monkeypatch):
    common = ["-m", "scnnrnn", *TINY_TRAIN]
    res = mlcap("pretrain-cnn", *common, "--data", tiny_data, "--run", tmp_path / "cnn")
    assert res.code == 0, res.err
    cnn = tmp_path / "cnn" / "pretrain-cnn.best.pt"
    rnn = ["pretrain-rnn", *common, "--init-from", cnn, "--epochs", "2"]

    with monkeypatch.context() as m:   # as before the declaration: every training image decoded
        m.setattr(ScnnrnnMethod, "stage_inputs", lambda self, stage, spec: StageInputs())
        res = mlcap(*rnn, "--data", tiny_data, "--run", tmp_path / "decoded")
        assert res.code == 0, res.err

    without = tmp_path / "without-images"
    shutil.copytree(tiny_data, without)
    ds = PreparedDataset(without)
    train = ds.samples("train")
    for sample in train:               # validation (which predicts) keeps its images
        ds.image_path(sample).unlink()
    res = mlcap(*rnn, "--data", without, "--run", tmp_path / "free")
    assert res.code == 0, res.err
    assert '"skipped_images": 0' in res.out
    for name in ("pretrain-rnn.pt", "pretrain-rnn.best.pt"):
        before, after = _weights(tmp_path / "decoded" / name), _weights(tmp_path / "free" / name)
        assert before.keys() == after.keys()
        assert all(torch.equal(before[k], after[k]) for k in before), name
    # the images are really needed where the loss looks at them: finetune cannot read any
    res = mlcap("finetune", *common, "--data", without, "--run", tmp_path / "free")
    assert res.code == 2 and "could be read" in res.err
