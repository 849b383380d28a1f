"""What the demo (examples/synthetic_demo.sh) relies on when it trains the CNN once: bce's
pretrain-cnn is bit for bit scnnrnn's pretrain-cnn with ``-o loss_reduction=mean`` (same recipe,
encoder, initialisation and batches; L_u averaged over the concepts instead of eq. 5's sum), so
scnnrnn's later stages may start from the bce checkpoint (``--init-from``)."""

from __future__ import annotations

import torch

from helpers import TINY_TRAIN
from mlcap.training.checkpoint import load_checkpoint


def _encoder(path):
    return {k: v for k, v in load_checkpoint(path)[0].items() if k.startswith("encoder.")}


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bce_cnn_is_scnnrnn_stage_one_with_mean_reduction(tiny_data, tmp_path, mlcap):
    train = [*TINY_TRAIN, "--epochs", "2", "--data", tiny_data]
    runs = {"bce": ["-m", "bce"], "mean": ["-m", "scnnrnn", "-o", "loss_reduction=mean"], "sum": ["-m", "scnnrnn"]}
    for name, method in runs.items():
        res = mlcap("pretrain-cnn", *method, *train, "--run", tmp_path / name)
        assert res.code == 0, res.err
    bce = _encoder(tmp_path / "bce" / "pretrain-cnn.best.pt")
    assert _equal(bce, _encoder(tmp_path / "mean" / "pretrain-cnn.best.pt"))
    # eq. 5's sum (the default) scales L_u by K: Adam cancels it only up to eps and rounding
    assert not _equal(bce, _encoder(tmp_path / "sum" / "pretrain-cnn.best.pt"))
    # scnnrnn's stage 2 from the bce checkpoint: its encoder is the bce CNN, the LSTM trains on top
    res = mlcap("pretrain-rnn", "-m", "scnnrnn", *train, "--run", tmp_path / "s",
                "--init-from", tmp_path / "bce" / "pretrain-cnn.best.pt")
    assert res.code == 0, res.err
    assert _equal(bce, _encoder(tmp_path / "s" / "pretrain-rnn.pt"))
