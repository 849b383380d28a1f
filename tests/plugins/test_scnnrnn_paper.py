"""S-CNN-RNN fidelity to the paper: eq. 4-5 losses, the ReLU BasicLSTMCell decoder, pretrain-tags."""

from __future__ import annotations

import math

import pytest
import torch

from mlcap.errors import MlcapError
from mlcap.nn.losses import concept_bce
from mlcap.protocol import PAD, Batch, ModelSpec
from mlcap_scnnrnn import ScnnrnnMethod
from mlcap.nn.losses import sequence_nll
from mlcap_scnnrnn.losses import concept_bce_sum, concept_loss

LABELS = ["a", "b", "c", "d", "e"]
LN3 = math.log(3.0)   # sigmoid(ln 3) = 3/4; softmax([ln 3, 0]) = (3/4, 1/4)


def build(options=None, **spec):
    method = ScnnrnnMethod()
    spec = ModelSpec(labels=LABELS, image_size=32, max_len=6,
                     options={"hidden": 32, "embed_dim": 16, **(options or {})}, **spec)
    torch.manual_seed(0)
    return method, method.build(spec), spec


def batch_of(sequences, targets, tags=None, mask=None):
    T = max(map(len, sequences))
    seq = torch.full((len(sequences), T), PAD)
    for i, s in enumerate(sequences):
        seq[i, : len(s)] = torch.tensor(s)
    return Batch(ids=[str(i) for i in range(len(sequences))], images=torch.randn(len(sequences), 3, 32, 32),
                 targets=torch.tensor(targets, dtype=torch.float32), sequences=seq, tags=tags, mask=mask)


# ---- eq. 5: L_u summed over the concepts, per image, averaged over images
def test_concept_bce_sum_by_hand():
    logits = torch.tensor([[0.0, LN3], [LN3, 0.0]])
    targets = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    # image 1: -log(1/2) - log(3/4) = log 2 + log 4/3;  image 2: -log(1/4) - log(1/2) = log 4 + log 2
    per_image = [math.log(2) + math.log(4 / 3), math.log(4) + math.log(2)]
    assert concept_bce_sum(logits, targets).item() == pytest.approx(sum(per_image) / 2, rel=1e-6)
    # a masked (unknown) label adds nothing; still averaged over both images
    mask = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert concept_bce_sum(logits, targets, mask).item() == pytest.approx(
        (math.log(2) + math.log(4) + math.log(2)) / 2, rel=1e-6)
    batch = Batch(ids=["0", "1"], images=None, targets=targets, sequences=torch.zeros(2, 1), mask=mask)
    assert concept_loss(logits, batch, "sum").item() == pytest.approx(math.log(16) / 2, rel=1e-6)
    # the mean form is the shared concept_bce, unchanged: mean over the 3 unmasked labels
    assert concept_loss(logits, batch, "mean").item() == pytest.approx(math.log(16) / 3, rel=1e-6)
    assert concept_loss(logits, batch, "mean") == concept_bce(logits, batch)


# ---- L_r: NLL summed over the time steps of each sequence, averaged over sequences
def test_sequence_nll_sum_by_hand():
    logits = torch.tensor([LN3, 0.0]).expand(2, 3, 2)      # every step: p(0) = 3/4, p(1) = 1/4
    targets = torch.tensor([[0, 1, PAD], [1, PAD, PAD]])
    # sequence 1: log 4/3 + log 4; sequence 2: log 4
    summed = (math.log(4 / 3) + math.log(4) + math.log(4)) / 2
    assert sequence_nll(logits, targets, "sum").item() == pytest.approx(summed, rel=1e-6)
    assert sequence_nll(logits, targets, "mean").item() == pytest.approx(summed * 2 / 3, rel=1e-6)
    with pytest.raises(ValueError):
        sequence_nll(logits, targets, "max")


def test_method_losses_default_to_the_paper_sums():
    batch = batch_of([[2, 0, 5], [1, 5]], [[1, 0, 1, 0, 0], [0, 1, 0, 0, 0]])
    method, model, spec = build()
    paper = method.stage_loss(model, batch, "finetune", spec)
    method, model, mean_spec = build({"loss_reduction": "mean"})
    mean = method.stage_loss(model, batch, "finetune", mean_spec)
    # same weights (seed 0): sum over 5 concepts = 5 x mean over 5 concepts;
    # 5 target tokens over 2 sequences: sum per sequence = mean per token x 5 / 2
    assert paper["bce"].item() == pytest.approx(mean["bce"].item() * 5, rel=1e-5)
    assert paper["rnn"].item() == pytest.approx(mean["rnn"].item() * 5 / 2, rel=1e-5)
    assert paper["loss"].item() == pytest.approx(paper["bce"].item() + paper["rnn"].item(), rel=1e-6)


def test_aligned_orders_sum_over_steps_too():
    batch = batch_of([[2, 0, 5], [1, 5]], [[1, 0, 1, 0, 0], [0, 1, 0, 0, 0]])
    batch.order = "pla"
    method, model, spec = build()
    paper = method.stage_loss(model, batch, "pretrain-rnn", spec)["rnn"]
    method, model, mean_spec = build({"loss_reduction": "mean"})
    mean = method.stage_loss(model, batch, "pretrain-rnn", mean_spec)["rnn"]
    assert paper.item() == pytest.approx(mean.item() * 5 / 2, rel=1e-5)   # 3 + 2 aligned steps, 2 images


# ---- the decoder: BasicLSTMCell with ReLU, FC(s) initial state, paper sizes
def test_decoder_defaults_follow_the_paper():
    method = ScnnrnnMethod()
    model = method.build(ModelSpec(labels=LABELS, image_size=32))
    dec = model.decoder
    assert dec.lstm.activation == "relu" and dec.lstm.forget_bias == 1.0
    assert dec.lstm.hidden_size == 512 and dec.embed.embedding_dim == 256
    words = ["<unk>"] + [f"w{i}" for i in range(9)]
    cap = method.build(ModelSpec(labels=LABELS, image_size=32, task="caption", words=words)).decoder
    assert cap.lstm.hidden_size == 512 and cap.embed.embedding_dim == 512
    s = torch.rand(3, 5)
    h, c = dec.initial_state(s)                       # plain FC, batch first
    torch.testing.assert_close(h, dec.init_h(s))
    torch.testing.assert_close(c, dec.init_c(s))
    _, tanh_model, _ = build({"cell": "tanh", "init": "tanh"})
    h, _ = tanh_model.decoder.initial_state(s)
    assert tanh_model.decoder.lstm.activation == "tanh"
    torch.testing.assert_close(h, torch.tanh(tanh_model.decoder.init_h(s)))


@pytest.mark.parametrize("cell", ["relu", "tanh"])
def test_beam_search_with_batch_first_state(cell):
    _, model, _ = build({"cell": cell})
    s = torch.rand(3, 5)
    dec = model.decoder
    assert dec.beam(s, beam=1, max_len=6) == dec.greedy(s, max_len=6)     # beam 1 is greedy exactly
    together = dec.beam(s, beam=3, max_len=6)
    assert together == [dec.beam(s[i: i + 1], beam=3, max_len=6)[0] for i in range(3)]   # rows independent


def test_bad_options_are_one_line_errors():
    for option in ({"cell": "gru"}, {"loss_reduction": "max"}, {"init": "relu"}):
        with pytest.raises(MlcapError, match="scnnrnn: method option"):
            build(option)


# ---- side information: pretrain-tags
def tag_batch():
    torch.manual_seed(1)
    targets = (torch.rand(8, 5) > 0.5).float()
    tags = torch.cat([targets, torch.rand(8, 3).round()], dim=1)   # 8 noisy tags, the first 5 informative
    return batch_of([[0, 5]] * 8, targets.tolist(), tags=tags)


def test_pretrain_tags_is_first_and_has_help():
    method = ScnnrnnMethod()
    assert method.stages == ("pretrain-tags", "pretrain-cnn", "pretrain-rnn", "finetune")
    assert set(method.stage_help) == set(method.stages)
    assert all(isinstance(v, str) and "\n" not in v for v in method.stage_help.values())


def test_pretrain_tags_trains_only_the_tag_mlp():
    method, model, spec = build(num_tags=8, use_tags=True)
    batch = tag_batch()
    params = [p for ps in method.parameter_groups(model, "pretrain-tags", spec).values() for p in ps]
    assert {id(p) for p in params} == {id(p) for p in model.encoder.tag_mlp.parameters()}
    for p in model.parameters():               # as the training loop does
        p.requires_grad_(any(p is q for q in params))
    losses = method.stage_loss(model, batch, "pretrain-tags", spec)
    # the tag MLP's logits alone, summed BCE (eq. 5)
    expect = concept_bce_sum(model.encoder.tag_mlp(batch.tags), batch.targets)
    assert losses["loss"].item() == pytest.approx(expect.item(), rel=1e-6)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(params, lr=1e-2)
    first = losses["loss"].item()
    for _ in range(30):
        loss = method.stage_loss(model, batch, "pretrain-tags", spec)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 2
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]) != k.startswith("encoder.tag_mlp."), k


def test_the_tag_mlp_is_summed_into_the_concept_logits_in_later_stages():
    method, model, spec = build(num_tags=8, use_tags=True)
    batch = tag_batch()
    enc = model.encoder
    with torch.no_grad():
        logits = enc.encode(batch).concept_logits
        image_only = enc.concept_head(enc.backbone(batch.images)[0])
        torch.testing.assert_close(logits, image_only + enc.tag_mlp(batch.tags))
    trained = {id(p) for ps in method.parameter_groups(model, "pretrain-cnn", spec).values() for p in ps}
    assert {id(p) for p in enc.tag_mlp.parameters()} <= trained
    method.stage_loss(model, batch, "pretrain-cnn", spec)["loss"].backward()
    assert enc.tag_mlp[0].weight.grad.abs().sum() > 0


def test_pretrain_tags_without_tags_is_an_error():
    method, model, spec = build()
    with pytest.raises(MlcapError, match="--use-tags") as err:
        method.parameter_groups(model, "pretrain-tags", spec)
    assert "\n" not in str(err.value)
    with pytest.raises(MlcapError, match="--use-tags"):
        method.stage_loss(model, tag_batch(), "pretrain-tags", spec)
