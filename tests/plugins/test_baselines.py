"""The seeds' baselines: cnnrnn's joint-embedding scores, ria's initial state, the bce losses
(softmax, WARP's rank weighting, weighted) on hand-computed values, top-k output, beam defaults."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from helpers import TINY_TRAIN, run_cli
from mlcap.inference import Predictor
from mlcap.protocol import Batch, ModelSpec
from mlcap_bce import losses
from mlcap_cnnrnn.network import OutputFusionDecoder


def batch_of(targets, mask=None) -> Batch:
    t = torch.tensor(targets, dtype=torch.float32)
    return Batch(ids=[str(i) for i in range(len(t))], images=None, targets=t, sequences=torch.zeros(len(t), 1).long(),
                 mask=None if mask is None else torch.tensor(mask, dtype=torch.float32))


def test_cnnrnn_scores_are_dot_products_with_the_label_embeddings():
    """s(t)_k = U_l[k] . ReLU(U_o o(t) + U_I I), over the K labels and END."""
    dec = OutputFusionDecoder(num_labels=2, feature_dim=1, embed_dim=2, hidden=1)
    with torch.no_grad():
        dec.label_embedding.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [9.0, 9.0]]))
        dec.project_output.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        dec.project_output.bias.zero_()
        dec.project_image.weight.copy_(torch.tensor([[0.5], [3.0]]))
    o, image = torch.tensor([[2.0]]), torch.tensor([[2.0]])
    x = torch.relu(torch.tensor([2.0 + 1.0, -2.0 + 6.0]))          # (3, 4)
    expected = torch.tensor([[x[0], 2 * x[1], x[0] + x[1]]])     # labels 0, 1 and END; START is not scored
    assert torch.allclose(dec.scores(o, image), expected)
    dec.fusion = "linear"
    assert torch.allclose(dec.scores(torch.tensor([[5.0]]), image), torch.tensor([[6.0, 2.0, 7.0]]))
    assert torch.allclose(dec.scores(torch.tensor([[-5.0]]), image), torch.tensor([[-4.0, 22.0, 7.0]]))


def test_cnnrnn_beam_1_is_its_greedy_path():
    torch.manual_seed(0)
    dec = OutputFusionDecoder(num_labels=5, feature_dim=3, embed_dim=4, hidden=6, fusion="linear")  # no ReLU ties
    image = torch.randn(4, 3) * 3
    greedy, scores = dec.greedy_scores(image, 6)
    assert dec.beam(image, 1, 6) == greedy and scores.shape == (4, 5) and bool(((scores >= 0) & (scores <= 1)).all())


def test_softmax_cross_entropy_by_hand():
    """Target = the label vector normalised to sum 1; an unknown label takes no probability mass."""
    logits = torch.tensor([[0.0, math.log(2.0), 0.0, 5.0]])
    batch = batch_of([[1, 1, 0, 0]], mask=[[1, 1, 1, 0]])             # label 3 unknown
    expected = -(0.5 * math.log(1 / 4) + 0.5 * math.log(2 / 4))
    assert losses.softmax_cross_entropy(logits, batch).item() == pytest.approx(expected, rel=1e-6)
    assert losses.softmax_cross_entropy(logits, batch_of([[0, 0, 0, 0]])).item() == 0.0   # no positive: nothing


def test_warp_when_every_negative_violates():
    """N = 1 draw, so r = |negatives| = 3 and L(3) = 1 + 1/2 + 1/3, times the drawn pair's hinge."""
    scores = torch.tensor([[0.0, 0.5, 0.5, 0.5]])
    loss = losses.warp(scores, batch_of([[1, 0, 0, 0]]))
    assert loss.item() == pytest.approx((1 + 1 / 2 + 1 / 3) * 1.5, rel=1e-6)


def test_warp_without_a_violation_is_zero_and_unknown_labels_are_no_negatives():
    scores = torch.tensor([[5.0, 0.0, 0.0, 9.0]])
    assert losses.warp(scores, batch_of([[1, 0, 0, 0]], mask=[[1, 1, 1, 0]])).item() == 0.0
    assert losses.warp(scores, batch_of([[1, 0, 0, 0]])).item() > 0      # label 3 known: it violates


def test_warp_rank_estimate_from_the_number_of_draws():
    """One violator among 3 negatives: drawn 1st (r = 3), 2nd or 3rd (r = floor(3/2) = floor(3/3) = 1),
    each with probability 1/3; the hinge is 1 - 0 + 0.5."""
    scores = torch.tensor([[0.0, 0.5, -5.0, -5.0]])
    batch = batch_of([[1, 0, 0, 0]])
    values = [losses.warp(scores, batch, torch.Generator().manual_seed(s)).item() for s in range(600)]
    h3 = 1 + 1 / 2 + 1 / 3
    assert set(round(v, 6) for v in values) == {round(h3 * 1.5, 6), round(1.5, 6)}
    assert sum(values) / len(values) == pytest.approx((h3 + 1 + 1) / 3 * 1.5, rel=0.05)


def test_weighted_bce_by_hand():
    """exp(1 - p) on positives, exp(p) on negatives, p the label's training positive ratio."""
    logits = torch.tensor([[0.0, 0.0]])
    batch = batch_of([[1, 0]])
    p = torch.tensor([0.25, 0.5])
    expected = (math.exp(0.75) * math.log(2) + math.exp(0.5) * math.log(2)) / 2
    assert losses.weighted_bce(logits, batch, p).item() == pytest.approx(expected, rel=1e-6)


@pytest.fixture(scope="module")
def data(tiny_data_master, tmp_path_factory):
    root = tmp_path_factory.mktemp("baselines")
    shutil.copytree(tiny_data_master, root / "data")
    return root


@pytest.mark.parametrize("loss, k", [("softmax", 3), ("warp", 3), ("weighted", None)])
def test_bce_losses_end_to_end_and_top_k(data, loss, k):
    run = data / f"bce-{loss}"
    res = run_cli("pretrain-cnn", "-m", "bce", "-o", f"loss={loss}", "--data", data / "data", "--run", run,
                  *TINY_TRAIN)
    assert res.code == 0, res.err
    assert json.loads((run / "run.json").read_text())["spec"]["label_counts"]
    res = run_cli("predict", "--run", run, "--data", data / "data")
    rows = [json.loads(line) for line in res.out.splitlines()]
    assert res.code == 0 and len(rows) == 12
    best = json.loads((run / "pretrain-cnn.best.json").read_text())
    assert ("threshold" in best) == (k is None)          # a top-k decoding chooses no threshold on val
    if k is not None:
        refused = run_cli("predict", "--run", run, "--data", data / "data", "--threshold", "0.3")
        assert refused.code == 2 and "no decision threshold with these options" in refused.err
        assert all(len(r["labels"]) == k for r in rows)
        for r in rows:   # the k best scores, best first
            chosen = [r["scores"][l] for l in r["labels"]]
            rest = [v for l, v in r["scores"].items() if l not in r["labels"]]
            assert chosen == sorted(chosen, reverse=True) and min(chosen) >= max(rest)


@pytest.mark.parametrize("method, beam", [("cnnrnn", 3), ("ria", 1)])
def test_rnn_baselines_end_to_end_with_their_beam_defaults(data, method, beam):
    run = data / method
    for stage in ("pretrain-cnn", "finetune"):
        res = run_cli(stage, "-m", method, "--data", data / "data", "--run", run, *TINY_TRAIN,
                      "-o", "hidden=16", "-o", "embed_dim=8")
        assert res.code == 0, res.err
    assert Predictor(run, device="cpu").decode_options.beam == beam     # the method's default_beam
    res = run_cli("predict", "--run", run, "--data", data / "data")
    assert res.code == 0, res.err
    greedy = run_cli("predict", "--run", run, "--data", data / "data", "--beam", "1")
    assert greedy.code == 0 and len(greedy.out.splitlines()) == 12
    preds = data / f"{method}.jsonl"
    preds.write_text(res.out)
    res = run_cli("evaluate", "--data", data / "data", "--metrics", "f1,map", "--json", preds)
    assert res.code == 0 and 0 <= json.loads(res.out)["mAP"] <= 1


def test_ria_init_input_option_builds_the_first_step_input():
    from mlcap_ria import RiaMethod

    spec = ModelSpec(labels=["a", "b"], options={"init": "input", "hidden": 4, "embed_dim": 3})
    model = RiaMethod().build(spec)
    assert hasattr(model.decoder, "init_input") and not hasattr(model.decoder, "init_h")


def test_what_the_baselines_refuse(data):
    """A predefined order only (no PLA/MLA), no noisy tags; --beam only where a method searches; no
    --threshold for a top-k decoding."""
    base = ["--data", data / "data", "--run", data / "refused", *TINY_TRAIN]
    res = run_cli("pretrain-cnn", "-m", "cnnrnn", *base, "--order", "pla")
    assert res.code == 2 and "--order pla" in res.err
    res = run_cli("pretrain-cnn", "-m", "ria", *base, "--use-tags")
    assert res.code == 2 and "no noisy tags" in res.err
    res = run_cli("pretrain-cnn", "-m", "bce", "-o", "loss=warp", *base, "--threshold", "0.3")
    assert res.code == 2 and "no decision threshold with these options" in res.err
    run = data / "bce-beam"
    assert run_cli("pretrain-cnn", "-m", "bce", "--data", data / "data", "--run", run, *TINY_TRAIN).code == 0
    res = run_cli("predict", "--run", run, "--data", data / "data", "--beam", "3")
    assert res.code == 2 and "without a beam search" in res.err


def test_weighted_positive_ratio_counts_known_values_only():
    from mlcap_bce import positive_ratio

    spec = ModelSpec(labels=["a", "b"], label_counts=[1, 3], label_known=[4, 6])
    assert positive_ratio(spec).tolist() == [0.25, 0.5]
    with pytest.raises(Exception, match="no training label counts"):
        positive_ratio(ModelSpec(labels=["a", "b"]))
