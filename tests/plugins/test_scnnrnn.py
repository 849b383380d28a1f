"""S-CNN-RNN: stage parameters, the FC(s)-initialised LSTM, greedy decoding."""

from __future__ import annotations

import torch

from mlcap.plugins import load_method
from mlcap.inference.predictor import dedupe
from mlcap.protocol import PAD, Batch, ModelSpec

LABELS = ["a", "b", "c", "d", "e"]


def build(**spec):
    method = load_method("scnnrnn")
    spec = ModelSpec(labels=LABELS, image_size=32, max_len=6, options={"hidden": 32, "embed_dim": 16}, **spec)
    torch.manual_seed(0)
    return method, method.build(spec), spec


def ids(params):
    return {id(p) for p in params}


def trained(method, model, stage, spec):
    return {id(p) for params in method.parameter_groups(model, stage, spec).values() for p in params}


def test_parameters_per_stage():
    method, model, spec = build()
    enc, dec = ids(model.encoder.parameters()), ids(model.decoder.parameters())
    assert trained(method, model, "pretrain-cnn", spec) == enc
    assert trained(method, model, "pretrain-rnn", spec) == dec
    assert trained(method, model, "finetune", spec) == enc | dec
    groups = method.parameter_groups(model, "finetune", spec)
    assert set(groups) == {"backbone", "heads", "decoder"}
    assert ids(groups["backbone"]) == ids(model.encoder.backbone.parameters())


def test_recipe_is_the_papers():
    method, model, spec = build()
    assert method.recipe("pretrain-cnn", spec, "nuswide").lr == 1e-4
    assert method.recipe("pretrain-cnn", spec, "coco").lr == 1e-3
    rnn = method.recipe("finetune", spec, "coco")
    assert (rnn.optimizer, rnn.lr, rnn.select_by) == ("rmsprop", 1e-4, "O-F1")


def batch_of(sequences, targets):
    T = max(map(len, sequences))
    seq = torch.full((len(sequences), T), PAD)
    for i, s in enumerate(sequences):
        seq[i, : len(s)] = torch.tensor(s)
    return Batch(ids=[str(i) for i in range(len(sequences))], images=torch.randn(len(sequences), 3, 32, 32),
                 targets=torch.tensor(targets, dtype=torch.float32), sequences=seq)


def test_finetune_loss_is_joint_and_reaches_the_cnn_through_s():
    method, model, spec = build()
    batch = batch_of([[2, 0, 5], [1, 5]], [[1, 0, 1, 0, 0], [0, 1, 0, 0, 0]])
    losses = method.stage_loss(model, batch, "finetune", spec)
    assert torch.isclose(losses["loss"], losses["bce"] + losses["rnn"])
    losses["rnn"].backward()
    assert model.encoder.concept_head.weight.grad.abs().sum() > 0   # semantic regularisation path


def test_pretrain_rnn_learns_label_sequences_from_ground_truth_concepts():
    method, model, spec = build()
    # label ids in rare-first order, then END (= 5)
    batch = batch_of([[2, 0, 5], [1, 5], [4, 3, 1, 5]], [[1, 0, 1, 0, 0], [0, 1, 0, 0, 0], [0, 1, 0, 1, 1]])
    opt = torch.optim.Adam(method.parameter_groups(model, "pretrain-rnn", spec)["decoder"], lr=1e-2)
    first = None
    for _ in range(150):
        loss = method.stage_loss(model, batch, "pretrain-rnn", spec)["loss"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 20
    assert model.decoder.greedy(batch.targets, max_len=6) == [[2, 0], [1], [4, 3, 1]]


def test_greedy_stops_at_end_or_max_len_and_keeps_duplicates():
    method, model, spec = build()
    s = torch.rand(2, len(LABELS))
    with torch.no_grad():
        model.decoder.out.weight.zero_()
        model.decoder.out.bias.fill_(0)
        model.decoder.out.bias[5] = 10   # END
        assert model.decoder.greedy(s, 6) == [[], []]
        model.decoder.out.bias[5] = 0
        model.decoder.out.bias[3] = 10
        raw = model.decoder.greedy(s, 6)
    assert raw == [[3] * 6, [3] * 6]
    assert dedupe(raw[0]) == [3] and dedupe([2, 1, 2, 0, 1]) == [2, 1, 0]
