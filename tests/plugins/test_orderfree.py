"""The orderfree method (Order-Free RNN with visual attention, Chen et al., AAAI 2018): eqs. 8-11
on hand-computed values, the frozen M_map, the fixed-order ablation, and the stop threshold
chosen on validation against brute force."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from mlcap_orderfree.pool_search import threshold_pieces
from mlcap.metrics import classification_metrics
from mlcap.plugins import load_method
from mlcap.protocol import PAD, Batch, DecodeOptions, ModelSpec

LABELS = list("abcde")
BIAS = [1.0, -1.0, 0.5, 2.0, -2.0, 0.0]       # f_pred's constant output: labels a..e, then END


def build(stage="finetune", **options):
    method = load_method("orderfree")
    spec = ModelSpec(labels=LABELS, image_size=32, max_len=4,
                     options={"hidden": 12, "pred_hidden": 8, "attention_dim": 6, **options})
    torch.manual_seed(0)
    return method, method.build(spec).eval(), spec


def constant_output(model):
    """p_t = BIAS at every step, whatever the inputs."""
    last = model.decoder.pred[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor(BIAS))


def batch(order="free", n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    targets = torch.tensor([[1, 0, 1, 0, 0], [0, 1, 0, 0, 0]] * (n // 2), dtype=torch.float32)
    seq = torch.tensor([[2, 0, 5], [1, 5, PAD]] * (n // 2))
    return Batch(ids=[str(i) for i in range(n)], images=torch.randn(n, 3, 32, 32, generator=g), targets=targets,
                 sequences=seq, order=order)


def sig(x):
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_eq8_per_step_bce_against_the_whole_label_vector(reduction):
    method, model, spec = build(step_losses=reduction)
    constant_output(model)
    got = method.stage_loss(model, batch(), "finetune", spec)["loss"]
    per_step = [-sum(y * math.log(sig(b)) + (1 - y) * math.log(1 - sig(b)) for y, b in zip(row, BIAS[:5]))
                for row in ([1, 0, 1, 0, 0], [0, 1, 0, 0, 0])]                     # eq. 8, per image
    T = 4                                                                         # --max-len
    expected = T * sum(per_step) / 2 if reduction == "sum" else T * sum(per_step) / (T * 2 * 5)
    assert float(got.detach()) == pytest.approx(expected, rel=1e-5)


def test_eqs9_10_candidate_pool_and_the_step_inputs():
    """l_t = argmax of p_t over the labels not yet predicted; y~ and v_pred fed to the next step."""
    method, model, spec = build()
    constant_output(model)
    seen = []
    step = model.decoder.step

    def spy(state, chosen, fixed):
        seen.append((chosen.clone(), state[-1].clone()))
        return step(state, chosen, fixed)

    model.decoder.step = spy
    b = batch()
    method.stage_loss(model, b, "finetune", spec)
    rows = [sorted(torch.nonzero(c[0]).flatten().tolist()) for c, _ in seen]
    assert rows == [[], [3], [0, 3], [0, 2, 3]]                  # d (2.0), a (1.0), c (0.5), ...
    v_prob = torch.sigmoid(model.encoder.encode(b).concept_logits)
    assert torch.allclose(seen[0][1], v_prob)                    # v_pred = v_prob at t = 1
    assert torch.allclose(seen[1][1][0], torch.sigmoid(torch.tensor(BIAS[:5])))   # then sigma(p_{t-1})


def test_eq11_path_probability_and_prediction_scores():
    method, model, spec = build()
    constant_output(model)
    b = batch()
    probs = [sig(x) for x in BIAS[:5]]
    greedy = method.predict(model, b, spec, DecodeOptions("finetune", beam=1, threshold=0.5))
    assert greedy.sequences == [[3, 0, 2]] * 2                    # the labels with sigma(p) >= 0.5, best first
    assert torch.allclose(greedy.scores, torch.tensor([probs] * 2))   # max over the path's steps
    enc, v_prob = model.encode(b)
    found = model.decoder.search(enc, v_prob, beam=3, max_len=4, threshold=0.5, stop="label")
    assert found.path_probs[0] == pytest.approx(probs[3] * probs[0] * probs[2], rel=1e-6)   # eq. 11
    path = method.predict(model, b, replace(spec, options={**spec.options, "stop": "path"}),
                          DecodeOptions("finetune", beam=1, threshold=0.5))
    assert path.sequences == [[3, 0]] * 2                         # 0.881 * 0.731 = 0.644 >= 0.5 > 0.644 * 0.622
    wide = model.decoder.search(enc, v_prob, beam=3, max_len=4, threshold=0.5, stop="path")
    assert sorted(wide.sequences[0]) == [0, 3] and wide.path_probs[0] == pytest.approx(probs[3] * probs[0], rel=1e-6)


def test_parameter_groups_freeze_m_map_in_finetune():
    method, model, spec = build()
    groups = method.parameter_groups(model, "finetune", spec)
    assert list(groups) == ["decoder"]
    assert {id(p) for p in groups["decoder"]} == {id(p) for p in model.decoder.parameters()}
    cnn = method.parameter_groups(model, "pretrain-cnn", spec)
    assert {id(p) for p in cnn["heads"]} == {id(p) for p in model.encoder.concept_head.parameters()}   # theta_R
    assert len(cnn["backbone"]) > 0                                 # no pretrained weights: trained here
    assert method.parameter_groups(model, "pretrain-cnn", replace(spec, weights="w.pth"))["backbone"] == []
    losses = method.stage_loss(model, batch(), "finetune", spec)
    losses["loss"].backward()
    assert model.encoder.concept_head.weight.grad is None           # no gradient reaches theta_R
    assert model.decoder.attend.hidden.weight.grad.abs().sum() > 0  # attention conditioned on h_{t-1}


def test_fixed_order_ablation_cross_entropy_with_end_and_its_decoding():
    method, model, spec = build()
    constant_output(model)
    loss = method.stage_loss(model, batch("frequent"), "finetune", spec)["loss"]
    logp = torch.log_softmax(torch.tensor(BIAS), 0)
    expected = -(logp[2] + logp[0] + logp[5] + logp[1] + logp[5]) / 2     # teacher-forced CE, END = 5
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert model.decoder.fixed                                     # recorded for predict
    out = method.predict(model, batch(), spec, DecodeOptions("finetune", beam=1, threshold=0.0))
    p = torch.softmax(torch.tensor(BIAS), 0)
    expected_seq = [i for i in (3, 0, 2, 1, 4) if p[i] > p[5]]     # best labels first, until END wins
    assert out.sequences[0] == expected_seq


def test_without_attention_the_context_is_the_mean_feature():
    method, model, spec = build(attention=False)
    assert model.decoder.attend is None
    losses = method.stage_loss(model, batch(), "finetune", spec)
    assert torch.isfinite(losses["loss"])
    out = method.predict(model, batch(), spec, DecodeOptions("finetune", beam=2))
    assert all(len(s) == len(set(s)) for s in out.sequences)


def brute_force_f1(method, model, spec, decode, val, taus):
    out = {}
    for tau in taus:
        d = method.predict(model, val, spec, replace(decode, threshold=float(tau)))
        y_pred = np.zeros(val.targets.shape, bool)
        for i, seq in enumerate(d.sequences):
            y_pred[i, seq] = True
        out[float(tau)] = classification_metrics(val.targets.bool().numpy(), y_pred)["O-F1"]
    return out


@pytest.mark.parametrize("stage,beam,stop", [("finetune", 3, "label"), ("finetune", 3, "path"),
                                             ("finetune", 1, "label"), ("pretrain-cnn", 3, "label")])
def test_threshold_chosen_on_val_maximises_f1_over_every_candidate(stage, beam, stop):
    method, model, spec = build(stage, stop=stop)
    with torch.no_grad():
        model.decoder.pred[-1].weight.mul_(20)      # spread the probabilities
        model.encoder.concept_head.weight.mul_(20)
    decode = DecodeOptions(stage=stage, beam=beam)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():           # cached backbone features: the brute force decodes many times
        features = model.encoder.backbone(torch.randn(6, 3, 32, 32, generator=g))
    val = Batch(ids=[str(i) for i in range(6)], images=None, features=features,
                targets=(torch.rand(6, 5, generator=g) < 0.4).float(), sequences=torch.zeros(6, 1).long())
    curve = method.threshold_curve(model, [val], spec, decode)
    best = max(curve.values())
    chosen = min(t for t, f in curve.items() if f == best)       # the core's rule (lowest among equals)
    # the curve is what decoding gives at each candidate...
    assert brute_force_f1(method, model, spec, decode, val, curve) == pytest.approx(curve, abs=1e-12)
    # ... and no threshold anywhere does better: every end of a piece, and a fine grid
    enc, v_prob = model.encode(val)
    pieces = threshold_pieces(lambda tau: method.search(model, enc, v_prob, spec, decode, tau, record=True), 6)
    ends = {v for image in pieces for lo, hi, _ in image for v in (lo, hi) if abs(v) != float("inf")}
    around = sorted(ends) + list(np.linspace(0, 1, 101))
    assert max(brute_force_f1(method, model, spec, decode, val, around).values()) <= best + 1e-12
    assert brute_force_f1(method, model, spec, decode, val, [chosen])[chosen] == best
    assert len(curve) > 1
