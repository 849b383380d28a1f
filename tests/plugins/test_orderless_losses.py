"""Orderless fixed-order baselines run free (paper Sec. 3.2), and the decoder's label scores:
checked on hand-set logits."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mlcap.errors import MlcapError
from mlcap.nn.losses import concept_bce
from mlcap.plugins import load_method
from mlcap.protocol import PAD, Batch, DecodeOptions, ModelSpec
from mlcap.nn.decoding import decoder_scores, prediction_steps
from mlcap_orderless.decoder import fixed_order_loss

END = 2                      # two labels (0, 1), END = 2
A = math.log(math.e ** 2 + 2)  # -log softmax([2, 0, 0])[j] = A - 2 (j = 0) or A (j = 1, 2)


def step(j: int, value: float = 2.0) -> list[float]:
    out = [0.0, 0.0, 0.0]
    out[j] = value
    return out


def test_fixed_order_loss_position_by_position_truncated_and_padded():
    logits = torch.tensor([
        [step(0), step(1), step(END)],         # predicts 0, 1, END; ground truth 1, 0, END (other order)
        [step(0), step(END), step(1, 3.0)],    # stops early (k = 1 < n = 2): step 2 is padded
        [step(0), step(1), step(END)],         # too long (k = 2 > n = 1): step 2 is dropped
    ], requires_grad=True)
    sequences = torch.tensor([[1, 0, END], [0, 1, END], [0, END, PAD]])
    loss = fixed_order_loss(logits, sequences, END)
    per_position = [
        A, A, A - 2,               # the right labels in the wrong order cost as much as wrong labels
        A - 2, A, math.log(3),     # END at step 1 is compared with label 1; step 2 holds an empty vector
        A - 2, A,                  # label 1 at step 1 is compared with END; step 2 is not in the loss
    ]
    assert loss.item() == pytest.approx(sum(per_position) / 8, rel=1e-6)
    loss.backward()
    g = logits.grad.abs().sum(-1)
    assert g[1, 2] == 0 and g[2, 2] == 0      # padded and truncated steps pass no gradient
    assert (g[0] > 0).all() and (g[1, :2] > 0).all() and (g[2, :2] > 0).all()


def test_fixed_order_loss_pads_when_the_decoder_ran_fewer_steps():
    logits = torch.tensor([[step(0), step(1)]])
    loss = fixed_order_loss(logits, torch.tensor([[0, 1, END]]), END)
    assert loss.item() == pytest.approx((A - 2 + A - 2 + math.log(3)) / 3, rel=1e-6)


def test_prediction_steps_end_at_first_end():
    logits = torch.tensor([[step(0), step(END), step(1), step(END)], [step(END)] * 4,
                           [step(1)] * 4])
    assert prediction_steps(logits, END).tolist() == [[True, True, False, False],
                                                      [True, False, False, False], [True] * 4]


def test_decoder_scores_are_per_label_max_over_greedy_steps():
    p = torch.tensor([
        [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.05, 0.9, 0.05]],   # 0, 1, END | after END
        [[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1]],     # END at once
        [[0.1, 0.6, 0.3], [0.4, 0.5, 0.1], [0.3, 0.4, 0.3], [0.2, 0.7, 0.1]],     # never ends
    ])
    scores = decoder_scores(p.log(), END)
    assert scores.flatten().tolist() == pytest.approx([0.6, 0.5, 0.1, 0.2, 0.4, 0.7], rel=1e-5)


def build(**options):
    method = load_method("orderless")
    spec = ModelSpec(labels=list("abcde"), image_size=32, max_len=5,
                     options={"hidden": 32, "embed_dim": 16, "attention": 16, **options})
    torch.manual_seed(0)
    model = method.build(spec)
    model.eval()
    return method, model, spec


def batch(order="frequent"):
    torch.manual_seed(1)
    return Batch(ids=["x", "y"], images=torch.randn(2, 3, 32, 32), targets=torch.tensor(
        [[1, 0, 1, 0, 0], [0, 1, 0, 0, 0]], dtype=torch.float32),
        sequences=torch.tensor([[2, 0, 5], [1, 5, PAD]]), order=order)


@pytest.mark.parametrize("order", ["frequent", "rare", "dictionary", "random"])
def test_default_fixed_orders_run_free_with_the_lstm_loss_alone(order):
    method, model, spec = build()
    b = batch(order)
    losses = method.stage_loss(model, b, "finetune", spec)
    enc = model.encoder.encode(b)
    logits = model.decoder.run(enc, 3)
    # free running = fed back its own argmax: the same as forcing it with its own predictions
    assert torch.allclose(logits, model.decoder.run(enc, 3, teacher=logits.argmax(-1)))
    assert losses["rnn"].item() == pytest.approx(fixed_order_loss(logits, b.sequences, spec.end_token).item())
    assert losses["loss"].item() == losses["rnn"].item()       # cnn_loss_weight defaults to 0
    losses["loss"].backward()
    assert model.encoder.concept_head.weight.grad is None
    assert model.decoder.attend.score.weight.grad.abs().sum() > 0


def test_teacher_forcing_option_reproduces_the_old_loss():
    method, model, spec = build(teacher_forcing=True, cnn_loss_weight=1.0)
    b = batch()
    losses = method.stage_loss(model, b, "finetune", spec)
    enc = model.encoder.encode(b)
    logits = model.decoder.run(enc, 3, teacher=b.sequences)
    old = F.cross_entropy(logits.reshape(-1, 6), b.sequences.reshape(-1), ignore_index=PAD)
    assert losses["rnn"].item() == pytest.approx(old.item())
    assert losses["loss"].item() == pytest.approx(old.item() + concept_bce(enc.concept_logits, b).item())
    free = build(cnn_loss_weight=1.0)
    assert free[0].stage_loss(free[1], b, "finetune", free[2])["rnn"].item() != pytest.approx(old.item())


@pytest.mark.parametrize("order", ["pla", "mla"])
def test_teacher_forcing_is_refused_with_an_aligned_order(order):
    """It would be silently ignored: the aligned orders take their targets from the predictions."""
    method, model, spec = build(teacher_forcing=True)
    with pytest.raises(MlcapError, match=f"teacher_forcing=true applies to fixed orders; --order {order}"):
        method.stage_loss(model, batch(order), "finetune", spec)


def test_predict_scores_decoder_by_default_or_concepts():
    method, model, spec = build()
    b = batch()
    out = method.predict(model, b, spec, DecodeOptions(stage="finetune"))
    logits = model.decoder.run(model.encoder.encode(b), spec.max_len)
    assert torch.allclose(out.scores, decoder_scores(logits, spec.end_token))
    end = spec.end_token
    assert out.sequences == [row[: row.index(end)] if end in row else row for row in logits.argmax(-1).tolist()]
    method, model, spec = build(scores="concepts")
    out = method.predict(model, b, spec, DecodeOptions(stage="finetune"))
    assert torch.allclose(out.scores, torch.sigmoid(model.encoder.encode(b).concept_logits))


def test_options_are_validated():
    from mlcap.errors import MlcapError

    method = load_method("orderless")
    for bad in ({"scores": "beam"}, {"teacher_forcing": "sometimes"}):
        with pytest.raises(MlcapError, match=next(iter(bad))):
            method.build(ModelSpec(labels=list("abcde"), options=bad))
