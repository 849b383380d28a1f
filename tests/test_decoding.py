"""Beam search: width 1 is greedy; a wider beam finds a more probable sequence than greedy."""

from __future__ import annotations

import math

import torch

from mlcap.decoding import beam_search

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
