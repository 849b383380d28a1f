"""The arnn method (Attentive RNN, Li et al., ACM MM 2018): eq. 1, eqs. 7-8 (GRRE), eq. 6 (reward),
eq. 10's glimpse-to-label matching against brute force, K samples, nothing emitted, the ablations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from mlcap.nn.alignment import match_to_labels
from mlcap.plugins import load_method
from mlcap.protocol import Batch, DecodeOptions, ModelSpec
from mlcap_arnn.network import GatedRelationExtractor, guide
from mlcap_arnn.reward import episode_reward

LABELS = list("abcde")
SMALL = {"dim": 8, "context_width": 4, "glimpses": 3}
FINETUNE = DecodeOptions(stage="finetune")


def build(stage="finetune", **options):
    method = load_method("arnn")
    spec = ModelSpec(labels=LABELS, image_size=32, max_len=4, options={**SMALL, **options})
    torch.manual_seed(0)
    return method, method.build(spec), spec


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    targets = torch.tensor([[1, 0, 1, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 1, 1], [1, 1, 1, 0, 0]],
                           dtype=torch.float32)[:n]
    return Batch(ids=[str(i) for i in range(n)], images=torch.randn(n, 3, 32, 32, generator=g), targets=targets,
                 sequences=torch.zeros(n, 1, dtype=torch.long), order="rare")


def test_eq1_guide_network_on_hand_computed_values():
    x = torch.tensor([[0.0, 1.0, 2.0]])
    total = 1 + math.e + math.e ** 2
    expected = [(math.e ** 2 - 1) / total, (math.e ** 2 - math.e) / total, 0.0]
    assert guide(x)[0].tolist() == pytest.approx(expected, rel=1e-6)
    big = torch.tensor([[1000.0, 999.0]])          # exp(1000) overflows; the ratio does not
    assert guide(big)[0].tolist() == pytest.approx([0.0, (1 - math.exp(-1)) / (1 + math.exp(-1))], rel=1e-6)


def test_eqs7_8_gated_relation_extractor_on_hand_computed_values():
    grre = GatedRelationExtractor(dim=1)
    with torch.no_grad():
        for layer, w in ((grre.hx, 1.0), (grre.hf, 1.0), (grre.zx, 1.0), (grre.zf, 0.5)):
            layer.weight.fill_(w)
        grre.hf.bias.zero_()
        grre.zf.bias.zero_()
    xs = [0.5, 1.0, -1.0]
    x = torch.tensor(xs).view(1, 3, 1)
    emitted = torch.tensor([[True, True, True]])
    got = grre(x, emitted)[0, :, 0].tolist()
    f = [0.0, 0.0, 0.0]                       # f_k^0 = 0
    expected = []
    for i in range(3):                        # eqs. 7-8 by hand, recurrently over i
        others = [k for k in range(3) if k != i]
        h = {k: math.tanh(xs[k] + f[k]) for k in others}
        e = {k: math.exp(xs[k] + 0.5 * f[k]) for k in others}
        z = {k: e[k] / sum(e.values()) for k in others}
        expected.append(sum(z[k] * h[k] for k in others))
        for k in others:
            f[k] = z[k] * h[k]
    assert got == pytest.approx(expected, rel=1e-5)
    # a glimpse not emitted is skipped: with only glimpse 0 and 2 emitted, O_0 relates to glimpse 2 alone
    got = grre(x, torch.tensor([[True, False, True]]))[0, :, 0].tolist()
    assert got[1] == 0.0 and got[0] == pytest.approx(math.tanh(-1.0), rel=1e-5)
    # one emitted glimpse: no other glimpse to relate to
    assert grre(x, torch.tensor([[False, True, False]])).abs().sum() == 0


def test_grre_initialisation_follows_the_paper():
    grre = GatedRelationExtractor(dim=256)
    assert grre.hx.weight.std().item() == pytest.approx(0.1, rel=0.05)
    assert grre.hf.bias.abs().sum() == 0 and grre.zf.bias.abs().sum() == 0


def test_eq6_reward_in_its_three_cases():
    assert episode_reward([], {1, 2}) == -10.0                                  # N_e = 0: -R_e
    assert episode_reward([1, 2, 4], {1, 2}) == pytest.approx(2 * 1.0 - 1 * 0.1)  # N+ R+ - N- R-
    assert episode_reward([3], {1, 2}) == pytest.approx(-0.1)                  # all false
    assert episode_reward([1, 1], {1}) == pytest.approx(0.9)                   # a repeat counts as false
    assert episode_reward([1, 1], {1}, count="labels") == pytest.approx(1.0)   # or as nothing


def brute_force(cost, labels):
    N, n = cost.shape[0], len(labels)
    best = None
    for choice in itertools.product(range(n), repeat=N):
        used = set(choice)
        if (N <= n and len(used) < N) or (N > n and len(used) < n):
            continue
        total = sum(cost[i, labels[j]] for i, j in enumerate(choice))
        best = total if best is None else min(best, total)
    return best


@pytest.mark.parametrize("seed", range(40))
def test_glimpse_to_label_matching_is_optimal(seed):
    rng = np.random.default_rng(seed)
    N, n = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    cost = rng.random((N, 6))
    labels = sorted(rng.choice(6, size=n, replace=False).tolist())
    got = match_to_labels(cost, labels)
    assert set(got.tolist()) <= set(labels)
    if N <= n:
        assert len(set(got.tolist())) == N              # no label twice
    else:
        assert set(got.tolist()) == set(labels)         # every label taken
    assert cost[np.arange(N), got].sum() == pytest.approx(brute_force(cost, labels))
    assert (match_to_labels(cost, []) == -1).all()


def test_k_samples_give_k_rewards(monkeypatch):
    import mlcap_arnn.method as arnn_method

    seen = []
    real = arnn_method.rewards
    monkeypatch.setattr(arnn_method, "rewards", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    method, model, spec = build(samples=3)
    model.train()
    out = method.stage_loss(model, batch(), "finetune", spec)
    assert seen[-1].shape == (3 * 4,)
    assert float(out["reward"]) == pytest.approx(float(seen[-1].mean()))
    out["loss"].backward()
    assert model.emit.weight.grad.abs().sum() > 0 and model.value.weight.grad.abs().sum() > 0
    assert model.rhn.fc.weight.grad.abs().sum() > 0            # eq. 10 reaches the RHN


def test_k_samples_are_scored_against_their_own_image(monkeypatch):
    import mlcap_arnn.method as arnn_method

    seen = {}
    real = arnn_method.rewards
    monkeypatch.setattr(arnn_method, "rewards", lambda logits, emitted, sets, *a: seen.setdefault("sets", sets)
                        and real(logits, emitted, sets, *a))
    method, model, spec = build(samples=3)
    model.train()
    b = batch()
    method.stage_loss(model, b, "finetune", spec)
    truth = [set(row.nonzero().flatten().tolist()) for row in b.targets]
    assert seen["sets"] == [truth[i % 4] for i in range(12)]        # row k B + b is image b


def test_reinforce_trains_f_e_alone_and_the_value_loss_the_baseline_alone():
    method, model, spec = build()
    model.train()
    out = method.stage_loss(model, batch(), "finetune", spec)
    parts = {"reinforce": {"emit."}, "value": {"value."}, "ce": None}
    for term, owners in parts.items():
        model.zero_grad()
        out[term].backward(retain_graph=True)
        touched = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        if owners is None:                                          # eq. 10: everything but f_e and b
            assert not any(n.startswith(("emit.", "value.")) for n in touched) and "rhn.fc.weight" in touched
        else:
            assert touched and all(n.startswith(tuple(owners)) for n in touched), (term, touched)


def test_nothing_emitted_in_training_gives_finite_gradients():
    method, model, spec = build()
    with torch.no_grad():
        model.emit.weight.zero_()
        model.emit.bias.fill_(-50.0)
    model.train()
    out = method.stage_loss(model, batch(), "finetune", spec)
    assert float(out["reward"]) == -10.0 and float(out["emitted"]) == 0.0
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_an_unknown_label_counts_neither_way_in_the_reward():
    assert episode_reward([1, 3], {1}, unknown=frozenset({3})) == pytest.approx(1.0)
    assert episode_reward([1, 3], {1}) == pytest.approx(0.9)


def test_nothing_emitted_gives_minus_r_e_and_an_empty_prediction():
    method, model, spec = build()
    with torch.no_grad():
        model.emit.weight.zero_()
        model.emit.bias.fill_(-50.0)
    model.eval()
    with torch.no_grad():
        out = method.stage_loss(model, batch(), "finetune", spec)
    assert float(out["reward"]) == -10.0 and float(out["ce"]) == 0.0 and float(out["emitted"]) == 0.0
    decoded = method.predict(model, batch(), spec, FINETUNE)
    assert decoded.sequences == [[], [], [], []] and decoded.scores.abs().sum() == 0


def test_prediction_is_the_emitted_glimpses_labels_and_their_best_scores():
    method, model, spec = build()
    with torch.no_grad():
        model.emit.weight.zero_()
        model.emit.bias.fill_(50.0)                 # every glimpse emitted
    model.eval()
    probs, emitted, maps = method.emitted_glimpses(model, batch(), spec)
    assert emitted.all() and maps.shape[:2] == (4, 3)
    decoded = method.predict(model, batch(), spec, FINETUNE)
    assert decoded.sequences == probs.argmax(-1).tolist()
    assert torch.allclose(decoded.scores, probs.amax(1))


@pytest.mark.parametrize("options", [{"ce": False}, {"ei": False}, {"grre": "false"}, {"grre": "rnn"},
                                     {"ce": False, "grre": False}])
def test_ablations_build_train_and_predict(options):
    from mlcap_arnn.network import PlainRelationRNN

    method, model, spec = build(**options)
    assert (model.context is None) == (options.get("ce") is False)
    assert (model.relation is None) == (options.get("grre") in ("false", False))
    assert isinstance(model.relation, PlainRelationRNN) == (options.get("grre") == "rnn")
    model.train()
    out = method.stage_loss(model, batch(), "finetune", spec)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    if options.get("ei") is False:
        assert "reward" not in out and float(out["emitted"]) == 3.0
    model.eval()
    decoded = method.predict(model, batch(), spec, FINETUNE)
    if options.get("ei") is False:
        assert all(len(s) == 3 for s in decoded.sequences)


def test_pretrain_cnn_trains_the_backbone_and_concept_head_only():
    method, model, spec = build(stage="pretrain-cnn")
    groups = method.parameter_groups(model, "pretrain-cnn", spec)
    trained = {id(p) for ps in groups.values() for p in ps}
    assert trained == {id(p) for p in model.encoder.parameters()}
    groups = method.parameter_groups(model, "finetune", spec)
    assert {id(p) for p in groups["backbone"]} == {id(p) for p in model.encoder.backbone.parameters()}
    assert id(model.encoder.concept_head.weight) not in {id(p) for ps in groups.values() for p in ps}


def test_highlight_init_ones_starts_the_later_glimpses_near_one():
    _, model, _ = build(highlight_init="ones")
    v = torch.rand(2, model.features.channels, 4, 4)
    _, _, a = model.rhn(v, 3)
    assert torch.equal(a[:, 0], torch.ones_like(a[:, 0]))
    assert (a[:, 1:] - 1).abs().mean() < 0.2
    _, default, _ = build()
    assert default.rhn(v, 3)[2][:, 1:].mean() < 0.5


def test_eq2_glimpse_features_are_the_map_times_the_relu_of_the_deconvolution():
    from mlcap_arnn.network import HighlightNetwork

    rhn = HighlightNetwork(channels=1, grid=2, dim=2)
    with torch.no_grad():
        rhn.deconv.weight.copy_(torch.tensor([[[[1.0, -1.0], [0.0, 2.0]]], [[[0.0, 0.0], [0.0, 0.0]]]]))
        rhn.deconv.bias.zero_()
        rhn.fc.weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]))
        rhn.fc.bias.zero_()
    v = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    vs, xs, maps = rhn(v, 2)
    assert xs[0, 0].tolist() == [10.0, 0.0]                        # X_1 = ReLU(FC(V_I)), A_1 = 1
    l1 = (1 - math.exp(-10.0)) / (1 + math.exp(-10.0))              # eq. 1 on X_1 = [10, 0]: l = [0, l1]
    # the deconvolution's first input channel carries l[0] = 0, the second has zero kernels: A_2 = ReLU(0)
    assert maps[0, 1].abs().sum() == 0 and vs[0, 1].abs().sum() == 0
    with torch.no_grad():
        rhn.deconv.weight[1] = torch.tensor([[[1.0, -1.0], [0.0, 2.0]]])
    vs, xs, maps = rhn(v, 2)
    expected_a = [l1, 0.0, 0.0, 2 * l1]                              # ReLU(l1 * kernel), eq. 2
    assert maps[0, 1, 0].flatten().tolist() == pytest.approx(expected_a)
    assert vs[0, 1, 0].flatten().tolist() == pytest.approx([l1, 0.0, 0.0, 8 * l1])   # V_2 = V_I (x) A_2
    assert xs[0, 1].tolist() == pytest.approx([9 * l1, 0.0])


def test_eqs9_10_prediction_and_loss_on_hand_values():
    from mlcap_arnn.method import sequence_ce
    from mlcap_arnn.network import LabelPredictor

    head = LabelPredictor(dim=1, context_dim=1, relation=True, num_labels=2)
    with torch.no_grad():
        head.xp.weight.copy_(torch.tensor([[1.0], [0.0]]))
        head.xp.bias.zero_()
        head.cp.weight.copy_(torch.tensor([[0.0], [1.0]]))
        head.op.weight.copy_(torch.tensor([[2.0], [0.0]]))
    x, c, o = torch.tensor([[[1.0], [0.0]]]), torch.tensor([[[0.0], [3.0]]]), torch.tensor([[[0.5], [0.0]]])
    with torch.no_grad():
        logits = head(x, c, o)                                      # eq. 9 before the softmax
    assert logits[0].tolist() == [[2.0, 0.0], [0.0, 3.0]]
    log_p = torch.log_softmax(logits, -1)
    emitted = torch.tensor([[True, True]])
    # image labels {0, 1}: glimpse 0 -> label 0, glimpse 1 -> label 1 is the cheaper matching
    expected = -(math.log(math.exp(2) / (math.exp(2) + 1)) + math.log(math.exp(3) / (math.exp(3) + 1))) / 2
    assert float(sequence_ce(log_p, emitted, [[0, 1]])[0]) == pytest.approx(expected, rel=1e-6)   # eq. 10
    # one label for two glimpses: both take it (no END); N_e = 2
    expected = -(math.log(math.exp(2) / (math.exp(2) + 1)) + math.log(1 / (math.exp(3) + 1))) / 2
    assert float(sequence_ce(log_p, emitted, [[0]])[0]) == pytest.approx(expected, rel=1e-6)
