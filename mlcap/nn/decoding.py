"""Beam search over any recurrent step function.

``step(tokens (N,), state) -> (log_probs (N, V), state)`` where every tensor in
``state`` has the batch on dimension ``batch_dim``. Hypotheses are ranked by their
summed log-probability (no length normalisation); a hypothesis ends when it emits
``end`` (kept, not extended) or reaches ``max_len`` tokens. With ``beam=1`` this
is greedy decoding exactly.
"""

from __future__ import annotations


import torch


@torch.no_grad()
def beam_search(step, state: tuple, batch: int, start: int, end: int, beam: int = 3, max_len: int = 20,
                batch_dim: int = 1) -> tuple[list[list[int]], list[float]]:
    """Best sequence (without START/END) and its log-probability for each of ``batch`` inputs."""
    device = next(t for t in state if t is not None).device
    # expand every input to `beam` rows: row b * beam + k
    state = tuple(t.repeat_interleave(beam, dim=batch_dim) for t in state)
    tokens = torch.full((batch * beam,), start, dtype=torch.long, device=device)
    scores = torch.zeros(batch, beam, device=device)
    scores[:, 1:] = float("-inf")                  # all beams start identical: keep one
    history = torch.zeros(batch, beam, 0, dtype=torch.long, device=device)
    finished = torch.zeros(batch, beam, dtype=torch.bool, device=device)
    for _ in range(max_len):
        log_probs, state = step(tokens, state)
        V = log_probs.shape[-1]
        log_probs = log_probs.view(batch, beam, V).float()
        # a finished hypothesis can only "emit" END again at no cost
        done_row = torch.full((V,), float("-inf"), device=device)
        done_row[end] = 0.0
        log_probs = torch.where(finished[..., None], done_row, log_probs)
        total = (scores[..., None] + log_probs).view(batch, beam * V)
        scores, flat = total.topk(beam, dim=1)
        origin, token = flat // V, flat % V
        history = torch.cat([history.gather(1, origin[..., None].expand(-1, -1, history.shape[2])),
                             token[..., None]], dim=2)
        finished = finished.gather(1, origin) | (token == end)
        rows = (origin + torch.arange(batch, device=device)[:, None] * beam).view(-1)
        state = tuple(t.index_select(batch_dim, rows) for t in state)
        tokens = token.view(-1)
        if finished.all():
            break
    best = scores.argmax(dim=1)
    out, logp = [], []
    for b in range(batch):
        seq = history[b, best[b]].tolist()
        out.append(seq[: seq.index(end)] if end in seq else seq)
        logp.append(float(scores[b, best[b]]))
    return out, logp


# --- beam search over label sets: a candidate pool per path and a stop threshold -----------------
#
def labels_at_or_above(scores: torch.Tensor, threshold) -> list[list[int]]:
    """Per row of ``scores`` (B, K), the labels whose score reaches ``threshold`` (one value or one
    per label), most confident first: how a CNN-only prediction becomes a label sequence."""
    scores = scores.float().cpu()
    cut = torch.as_tensor(threshold, dtype=scores.dtype).expand(scores.shape[1])
    return [[int(i) for i in torch.argsort(row, descending=True) if row[i] >= cut[i]] for row in scores]


# --- per-label scores of a label sequence model ------------------------------------------------

def prediction_steps(logits: torch.Tensor, end: int) -> torch.Tensor:
    """(B, T) True for the steps up to and including the first step whose argmax is ``end``."""
    is_end = (logits.argmax(-1) == end).long()
    return (is_end.cumsum(1) - is_end) == 0


def decoder_scores(logits: torch.Tensor, end: int) -> torch.Tensor:
    """(B, K): each label's highest softmax probability over the steps of the greedy prediction."""
    probs = torch.softmax(logits.float(), dim=-1)[..., :end]
    probs = probs * prediction_steps(logits, end)[..., None]
    return probs.amax(1)


# --- the same decodings as tensors, for tracing (``export_outputs``; -1 = no label) -------------

def padded_labels_at_or_above(scores: torch.Tensor, threshold) -> torch.Tensor:
    """(B, K): ``labels_at_or_above`` as label ids most confident first, -1 for those below."""
    cut = torch.as_tensor(threshold, dtype=scores.dtype, device=scores.device).expand(scores.shape[1])
    order = torch.argsort(scores, dim=1, descending=True)
    keep = torch.gather(scores >= cut, 1, order)
    return torch.where(keep, order, torch.full_like(order, -1))


def padded_steps(logits: torch.Tensor, end: int) -> torch.Tensor:
    """(B, T): each step's argmax up to the first END (``cut_at_end``), -1 from END on."""
    ids = logits.argmax(-1)
    return torch.where(prediction_steps(logits, end) & (ids != end), ids, torch.full_like(ids, -1))


def top_k_labels(scores: torch.Tensor, k: int) -> list[list[int]]:
    """Per row of ``scores`` (B, K), the ``k`` highest-scoring labels, most confident first."""
    k = min(k, scores.shape[1])
    return scores.float().cpu().topk(k, dim=1).indices.tolist()
