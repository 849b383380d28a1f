"""``--init-from`` matches labels by name (mlcap/training/init_from.py): a checkpoint whose labels are
this run's in another order gives each label its own weights (the scores of the run equal the
checkpoint's, label by label); a partial overlap copies the labels both have and says how many are
new; no label in common gives the backbone alone, said."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
import torch

from helpers import SMALL, TINY_TRAIN, run_cli
from mlcap.data.prepared import PreparedDataset, write_prepared
from mlcap.plugins import default_beam, load_method
from mlcap.protocol import DecodeOptions, ModelSpec, images_only
from mlcap.training.checkpoint import load_checkpoint, save_checkpoint
from mlcap.training.init_from import init_from
from mlcap.training.run import RunDir

METHODS = ("arnn", "bce", "cnnrnn", "orderfree", "orderless", "ria", "scnnrnn")
LABELS = [f"label-{i}" for i in range(6)]


def _relabelled(source, root, rename: dict[str, str] | None = None, order=None):
    """A copy of prepared dataset ``source`` with labels renamed (``rename``) and the vocabulary in
    ``order`` (default: reversed)."""
    shutil.copytree(source, root)
    data, rename = PreparedDataset(source), rename or {}
    new = lambda labels: [rename.get(label, label) for label in labels]
    splits = {s: [replace(x, labels=new(x.labels), unknown=new(x.unknown)) for x in data.samples(s)]
              for s in ("train", "val", "test") if data.samples(s)}
    labels = order if order is not None else list(reversed(new(data.labels)))
    write_prepared(root, data.name, labels, splits, tags=data.tags)
    return root


def _spec(method: str, labels: list[str]) -> ModelSpec:
    options = {a.split("=")[0]: int(a.split("=")[1]) for a in SMALL.get(method, [])[1::2]}
    return ModelSpec(labels=labels, image_size=32, max_len=4, options=options, label_counts=[3] * len(labels),
                     label_known=[10] * len(labels))


@pytest.mark.parametrize("method_name", METHODS)
def test_every_method_scores_each_label_with_its_own_weights(method_name, tmp_path, capsys):
    """A checkpoint of the same labels in another order: every label tensor of every method is found
    and copied by name (none left fresh), so the new network's scores are the checkpoint's, label by
    label."""
    method = load_method(method_name)
    torch.manual_seed(0)
    spec = _spec(method_name, LABELS)
    source = method.build(spec).eval()
    path = tmp_path / "source.pt"
    save_checkpoint(path, source.state_dict(), None, {"method": method_name, "stage": "s", "labels": LABELS})
    order = [LABELS[i] for i in (3, 0, 5, 1, 4, 2)]
    mine = _spec(method_name, order)
    torch.manual_seed(1)
    model = method.build(mine).eval()
    capsys.readouterr()
    init_from(model, path, method, mine)
    said = capsys.readouterr().err
    assert "copied 6 of 6 labels' weights, 0 new" in said and "left fresh" not in said, said
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    decode = DecodeOptions(stage=method.stages[-1], beam=default_beam(method, "multilabel"))
    with torch.no_grad():
        theirs = method.predict(source, images_only(images), spec, decode).scores
        ours = method.predict(model, images_only(images), mine, decode).scores
    by_name = theirs[:, [LABELS.index(name) for name in order]]
    assert torch.allclose(ours, by_name, atol=1e-5), method_name


def test_a_checkpoint_of_the_same_labels_in_another_order_gives_each_label_its_scores(tiny_data, tmp_path):
    run = tmp_path / "run"
    assert run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN).code == 0
    path = run / "pretrain-cnn.best.pt"
    method, spec = load_method("bce"), RunDir(run).spec()
    other = PreparedDataset(_relabelled(tiny_data, tmp_path / "reversed"))
    assert sorted(other.labels) == sorted(spec.labels) and other.labels != spec.labels
    mine = replace(spec, labels=other.labels)
    model = method.build(mine)
    init_from(model, path, method, mine)
    source = method.build(spec)
    source.load_state_dict(load_checkpoint(path)[0])
    images = torch.rand(4, 3, spec.image_size, spec.image_size, generator=torch.Generator().manual_seed(0))
    decode = DecodeOptions(stage="pretrain-cnn")
    with torch.no_grad():
        theirs = method.predict(source.eval(), images_only(images), spec, decode).scores
        ours = method.predict(model.eval(), images_only(images), mine, decode).scores
    by_name = theirs[:, [spec.labels.index(name) for name in other.labels]]
    assert torch.allclose(ours, by_name, atol=1e-6)
    assert not torch.allclose(ours, theirs, atol=1e-3)      # copying by position would give these


def test_the_cli_says_what_was_copied(tiny_data, tmp_path):
    run = tmp_path / "run"
    assert run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN).code == 0
    path = run / "pretrain-cnn.best.pt"
    labels = PreparedDataset(tiny_data).labels
    args = ("pretrain-cnn", "-m", "bce", *TINY_TRAIN, "--init-from", path)
    same = _relabelled(tiny_data, tmp_path / "same")
    res = run_cli(*args, "--data", same, "--run", tmp_path / "r1")
    assert res.code == 0 and f"{path}: copied {len(labels)} of {len(labels)} labels' weights, 0 new (matched by " \
                              "label name; its labels in another order)" in res.err, res.err
    partial = _relabelled(tiny_data, tmp_path / "partial", {labels[0]: "new-a", labels[1]: "new-b"})
    res = run_cli(*args, "--data", partial, "--run", tmp_path / "r2")
    assert res.code == 0 and f"{path}: copied {len(labels) - 2} of {len(labels)} labels' weights, 2 new (matched " \
                              "by label name; 2 of its labels are not this run's)" in res.err, res.err
    mine, theirs = load_checkpoint(tmp_path / "r2" / "pretrain-cnn.best.pt")[0], load_checkpoint(path)[0]
    assert mine.keys() == theirs.keys()
    disjoint = _relabelled(tiny_data, tmp_path / "disjoint", {name: f"other-{name}" for name in labels})
    res = run_cli(*args, "--data", disjoint, "--run", tmp_path / "r3")
    assert res.code == 0 and f"{path}: none of its {len(labels)} labels is one of this run's {len(labels)}: only " \
                              "its backbone is copied" in res.err, res.err
    assert json.loads((tmp_path / "r3" / "pretrain-cnn.json").read_text())["complete"]
