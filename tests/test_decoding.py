"""Beam search: width 1 is greedy; a wider beam finds a more probable sequence than greedy."""

from __future__ import annotations

import math

import torch

from mlcap.nn.decoding import beam_search

START, END = 4, 3   # tokens: 0 = A, 1 = B, 2 = X, 3 = END; 4 = START (input only)


def table_step(tokens, state):
    """A constructed model: P(first) = A .6, B .4; after A everything is uncertain,
    after B, X is near certain; after X or any other token, END."""
    (prev,) = state
    probs = []
    for tok, p in zip(tokens.tolist(), prev[0].tolist()):
        if tok == START:
            probs.append([0.6, 0.4, 0.0, 0.0])
        elif tok == 0:
            probs.append([0.25, 0.25, 0.25, 0.25])
        elif tok == 1:
            probs.append([0.05, 0.0, 0.9, 0.05])
        else:
            probs.append([0.0, 0.0, 0.0, 1.0])
    logp = torch.tensor(probs).clamp(min=1e-12).log()
    return logp, (tokens[None].float(),)


def state_for(batch):
    return (torch.zeros(1, batch),)


def test_beam_beats_greedy_on_a_constructed_case():
    greedy, g_lp = beam_search(table_step, state_for(1), 1, START, END, beam=1, max_len=5)
    wide, w_lp = beam_search(table_step, state_for(1), 1, START, END, beam=3, max_len=5)
    assert greedy[0][0] == 0                                  # greedy commits to A
    assert wide == [[1, 2]]                                   # B X: 0.4 * 0.9 * 1.0
    assert abs(w_lp[0] - math.log(0.4 * 0.9)) < 1e-6
    assert w_lp[0] > g_lp[0]


def test_width_one_equals_greedy_argmax():
    torch.manual_seed(0)
    lstm, out, embed = torch.nn.LSTM(8, 16), torch.nn.Linear(16, 6), torch.nn.Embedding(7, 8)

    def step(tokens, state):
        h, state = lstm(embed(tokens)[None], state)
        return torch.log_softmax(out(h[0]), -1), state

    h0 = (torch.randn(1, 5, 16), torch.randn(1, 5, 16))
    seqs, _ = beam_search(step, h0, 5, start=6, end=5, beam=1, max_len=7)
    # greedy by hand
    tokens, state, manual = torch.full((5,), 6), h0, [[] for _ in range(5)]
    done = [False] * 5
    for _ in range(7):
        logp, state = step(tokens, state)
        tokens = logp.argmax(-1)
        for b, t in enumerate(tokens.tolist()):
            if not done[b]:
                if t == 5:
                    done[b] = True
                else:
                    manual[b].append(t)
    assert seqs == manual


# --- pool_beam_search: a candidate pool per path, a stop threshold (Order-Free RNN, eqs. 9-11) ---

import pytest  # noqa: E402

from mlcap_orderfree.pool_search import pool_beam_search, threshold_pieces  # noqa: E402

A, B, X, Y = 0, 1, 2, 3


def table(rows: dict, C: int = 4, default: float = 0.1):
    """A step whose label probabilities depend only on the labels emitted so far."""
    def step(chosen, state):
        out = [rows.get(frozenset(i for i in range(C) if c[i]), [default] * C) for c in chosen.tolist()]
        return torch.tensor(out, dtype=torch.float64), state
    return step


def dummy(batch):
    return (torch.zeros(batch, 1),)


# greedy commits to A (.6) then X (.46): 0.276; the beam finds B (.55) then X (.9): 0.495
TRAP = {frozenset(): [0.6, 0.55, 0.1, 0.1], frozenset({A}): [0.0, 0.3, 0.46, 0.2],
        frozenset({B}): [0.3, 0.0, 0.9, 0.1]}


@pytest.mark.parametrize("stop,tau", [("label", 0.45), ("path", 0.25)])
def test_pool_beam_finds_a_more_probable_path_than_greedy(stop, tau):
    greedy = pool_beam_search(table(TRAP), dummy(1), 1, 4, beam=1, max_len=4, threshold=tau, stop=stop)
    wide = pool_beam_search(table(TRAP), dummy(1), 1, 4, beam=2, max_len=4, threshold=tau, stop=stop)
    assert greedy.sequences == [[A, X]] and greedy.path_probs[0] == pytest.approx(0.6 * 0.46)   # eq. 11
    assert wide.sequences == [[B, X]] and wide.path_probs[0] == pytest.approx(0.55 * 0.9)
    assert wide.path_probs[0] > greedy.path_probs[0]


def test_stop_rules_label_and_path_on_hand_computed_values():
    def step(chosen, state):
        return torch.tensor([[0.9, 0.8, 0.7, 0.1]]).expand(chosen.shape[0], -1), state

    label = pool_beam_search(step, dummy(1), 1, 4, beam=1, max_len=4, threshold=0.6, stop="label")
    path = pool_beam_search(step, dummy(1), 1, 4, beam=1, max_len=4, threshold=0.6, stop="path")
    assert label.sequences == [[0, 1, 2]]          # 0.7 >= 0.6 > 0.1: the next label's probability
    assert label.path_probs[0] == pytest.approx(0.9 * 0.8 * 0.7)
    assert path.sequences == [[0, 1]]              # 0.9 * 0.8 = 0.72 >= 0.6 > 0.72 * 0.7 = 0.504
    assert path.path_probs[0] == pytest.approx(0.72)
    assert label.step_probs[0].shape == (4, 4) and path.step_probs[0].shape == (3, 4)   # the stop step included
    everything = pool_beam_search(step, dummy(1), 1, 4, beam=3, max_len=10, threshold=0.0)
    assert everything.sequences == [[0, 1, 2, 3]]   # the pool empties: each label once, then the end


def random_step(C: int, end: bool, seed: int):
    g = torch.Generator().manual_seed(seed)
    w_c, w_h, w_o = torch.randn(C, 8, generator=g), torch.randn(8, 8, generator=g), torch.randn(8, C + end, generator=g)

    def step(chosen, state):
        h = torch.tanh(state[0] @ w_h * 0.5 + chosen.float() @ w_c)
        logits = h @ w_o
        return (torch.softmax(logits, -1) if end else torch.sigmoid(logits)), (h,)
    return step, (torch.randn(5, 8, generator=g),)


def greedy_by_hand(step, state, C, max_len, tau, stop, end):
    out = []
    for b in range(state[0].shape[0]):
        s, chosen, seq, path = (state[0][b: b + 1],), torch.zeros(1, C, dtype=torch.bool), [], 1.0
        for _ in range(min(max_len, C)):
            probs, s = step(chosen, s)
            p = probs[0].double()
            best = int(p[:C].masked_fill(chosen[0], -1).argmax())
            q = p[best] if stop == "label" else path * p[best]
            if q < tau or (end and p[C] > p[best]):
                break
            seq.append(best)
            path *= float(p[best])
            chosen[0, best] = True
        out.append(seq)
    return out


@pytest.mark.parametrize("end", [False, True])
@pytest.mark.parametrize("stop", ["label", "path"])
def test_pool_beam_width_one_is_greedy_and_never_repeats(stop, end):
    C = 6
    for seed in range(4):
        step, state = random_step(C, end, seed)
        for tau in (0.0, 0.2, 0.5):
            found = pool_beam_search(step, state, 5, C, beam=1, max_len=5, threshold=tau, stop=stop,
                                     end=C if end else None)
            assert found.sequences == greedy_by_hand(step, state, C, 5, tau, stop, end)
            wide = pool_beam_search(step, state, 5, C, beam=3, max_len=8, threshold=tau, stop=stop,
                                    end=C if end else None)
            for seq in found.sequences + wide.sequences:
                assert len(seq) == len(set(seq))       # the candidate pool: no label twice (dup ratio 0)


@pytest.mark.parametrize("beam", [1, 2, 3])
@pytest.mark.parametrize("end", [False, True])
@pytest.mark.parametrize("stop", ["label", "path"])
def test_threshold_pieces_give_the_decoding_at_every_threshold(beam, stop, end):
    """Brute force: decoding at any threshold gives the sequence of the piece that holds it."""
    C = 6
    step, state = random_step(C, end, seed=beam)

    def decode(tau, record=True):
        return pool_beam_search(step, state, 5, C, beam=beam, max_len=5, threshold=tau, stop=stop,
                                end=C if end else None, record=record)

    pieces = threshold_pieces(decode, 5)
    ends = sorted({v for image in pieces for lo, hi, _ in image for v in (lo, hi) if abs(v) != float("inf")})
    mids = [(a + b) / 2 for a, b in zip(ends, ends[1:])]
    pick = torch.Generator().manual_seed(0)
    probes = [v for vs in (ends, mids) for v in (vs if len(vs) <= 20 else
                                                 [vs[i] for i in torch.randperm(len(vs), generator=pick)[:20]])]
    probes += torch.rand(10, generator=pick).tolist() + [0.0, 1.0]
    for tau in probes:
        got = decode(torch.full((5,), tau, dtype=torch.float64), record=False).sequences
        for b, image in enumerate(pieces):
            (expected,) = [seq for lo, hi, seq in image if lo < tau <= hi]
            assert got[b] == expected, (tau, b)
    assert all(image[0][2] == [] and image[-1][0] == float("-inf") for image in pieces)


def test_labels_at_or_above_a_global_or_per_label_threshold():
    from mlcap.nn.decoding import labels_at_or_above

    s = torch.tensor([[0.2, 0.9, 0.5, 0.7], [0.1, 0.1, 0.1, 0.1]])
    assert labels_at_or_above(s, 0.5) == [[1, 3, 2], []]          # most confident first, >= inclusive
    assert labels_at_or_above(s, [0.1, 0.95, 0.6, 0.7]) == [[3, 0], [0]]
