"""The Order-Free RNN's search (Chen et al., AAAI 2018, Sec. "Testing", eqs. 9-11): a beam of
prediction paths, each with its own candidate pool, stopped by a threshold; and the sweep that
finds every threshold at which its result changes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Order-Free RNN (Chen et al., AAAI 2018), "Testing": keep the best K prediction paths; a path's
# probability is the product of its labels' probabilities (eq. 11); each path has its own
# candidate pool, the labels it has not emitted yet (eqs. 9-10), so no path repeats a label; a
# path stops when its "probability output" falls below a threshold, or at the maximum length.
#
# ``step(chosen (N, C) bool, state) -> (probs (N, V), state)``: ``chosen`` is each row's emitted
# labels (the multi-hot y~_{t-1}), ``probs`` the probability of every label (V = C) or of every
# label and an END column (V = C + 1, ``end = C``). Every tensor of ``state`` has the rows on
# dimension 0. A label successor of a path is allowed when its *stop quantity* reaches the
# threshold tau: ``stop="label"``, the label's own probability p_l >= tau; ``stop="path"``, the
# successor path's probability P_path * p_l >= tau. A path with no allowed successor stops there
# (keeping its probability); with an END column, END is always a successor (factor p_END) that
# ends the path, and a path stops only through END or the length limit. The beam keeps the K
# best of: finished paths, allowed successors, paths that stop now, ranked by path probability
# (no length normalisation, as ``beam_search``); the answer is the best path at the end.
# Within a path, a successor's stop quantity grows with its probability, so its allowed
# successors are its top-ranked ones. ``record=True`` lists the stop quantities whose comparison
# with tau could change a selection (``_record``): ``threshold_pieces`` follows them to every
# threshold at which the result changes.

STOP_RULES = ("label", "path")


@dataclass
class PoolSearch:
    sequences: list[list[int]]              # per input: its best path's labels, in emitted order
    path_probs: list[float]                 # that path's probability (eq. 11; times p_END when it ended on END)
    step_probs: list[torch.Tensor]          # (steps, V): the probabilities of every step the path ran
    decisions: list[list[float]] | None = None   # record=True: every stop quantity that decided something


def _stop_quantity(probs: torch.Tensor, scores: torch.Tensor, stop: str) -> torch.Tensor:
    """(B, K, C) float64: what is compared with the threshold, per successor label."""
    if stop == "label":
        return probs
    return torch.exp(scores)[..., None] * probs      # the successor path's probability, eq. 11


def _record(decisions: list[list[float]], q, succ, pool, always, beam: int) -> None:
    """The stop quantities whose comparison with tau can change this step's selection.

    A candidate x (one of a live path's top-``beam`` successors; a path's lower-ranked ones can
    never be kept over its top ones) matters unless ``beam`` items rank above it whenever it is
    allowed: items always present (finished paths, END successors) and successors y with a
    higher log probability and q_y >= q_x (allowed whenever x is). A path's best successor is
    always kept: its allowance decides whether the path stops now.
    """
    k = min(beam, q.shape[-1])
    top_q, where = q.masked_fill(~pool, float("-inf")).topk(k, dim=-1)     # (B, K, k)
    B = q.shape[0]
    top_s, top_q = succ.gather(-1, where).reshape(B, -1), top_q.reshape(B, -1)
    real = top_q > float("-inf")
    above = (top_s[:, None, :] > top_s[:, :, None]) & (top_q[:, None, :] >= top_q[:, :, None]) & real[:, None, :]
    count = above.sum(-1) + (always[:, None, :] > top_s[:, :, None]).sum(-1)
    first = (torch.arange(top_q.shape[1], device=q.device) % k == 0)[None, :]
    keep = real & ((count < beam) | first)
    for b, (values, kept) in enumerate(zip(top_q.tolist(), keep.tolist())):
        decisions[b].extend(v for v, keep_it in zip(values, kept) if keep_it)


def _expand(probs, scores, chosen, finished, tau, stop, end, beam, decisions):
    """All candidates of one step, (B, K*C + 2K) log path probabilities: label successors, END
    successors, and paths kept as they are (finished, or stopping now)."""
    B, K, C = chosen.shape
    live = ~finished & torch.isfinite(scores)
    logp = torch.log(probs.clamp(min=1e-300))      # a zero probability stays a (very bad) candidate
    q = _stop_quantity(probs[..., :C], scores, stop)
    pool = ~chosen & live[..., None]
    allowed = pool & (q >= tau)
    inf = torch.tensor(float("-inf"), dtype=scores.dtype, device=scores.device)
    every = scores[..., None] + logp[..., :C]
    succ = torch.where(allowed, every, inf)
    end_succ = torch.where(live, scores + logp[..., end], inf) if end is not None else inf.expand(B, K)
    if decisions is not None:
        _record(decisions, q, every, pool, torch.cat([end_succ, torch.where(finished, scores, inf)], 1), beam)
    if end is not None:
        keep = torch.where(finished, scores, inf)
    else:
        keep = torch.where(finished | (live & ~allowed.any(-1)), scores, inf)
    return torch.cat([succ.flatten(1), end_succ, keep], dim=1), live


@torch.no_grad()
def pool_beam_search(step, state: tuple, batch: int, num_labels: int, beam: int = 3, max_len: int = 10,
                     threshold: float | torch.Tensor = 0.5, stop: str = "label", end: int | None = None,
                     record: bool = False) -> PoolSearch:
    """Best label path per input (see above); ``threshold`` is one value or one per input (batch,)."""
    if stop not in STOP_RULES:
        raise ValueError(f"stop must be one of {', '.join(STOP_RULES)}, not {stop!r}")
    B, K, C = batch, beam, num_labels
    device = next(t for t in state if t is not None).device
    tau = torch.as_tensor(threshold, dtype=torch.float64, device=device).expand(B)[:, None, None]
    state = tuple(t.repeat_interleave(K, dim=0) for t in state)
    scores = torch.zeros(B, K, dtype=torch.float64, device=device)
    scores[:, 1:] = float("-inf")                          # all paths start identical: keep one
    chosen = torch.zeros(B, K, C, dtype=torch.bool, device=device)
    finished = torch.zeros(B, K, dtype=torch.bool, device=device)
    ran = torch.zeros(B, K, dtype=torch.long, device=device)          # steps each path ran
    history = torch.zeros(B, K, 0, dtype=torch.long, device=device)   # -1: no label at that step
    seen = torch.zeros(B, K, 0, 0, device=device)                     # (B, K, steps, V)
    decisions = [[] for _ in range(B)] if record else None
    for _ in range(min(max_len, C)):
        probs, state = step(chosen.view(B * K, C), state)
        probs = probs.float().view(B, K, -1)
        if seen.shape[-1] == 0:
            seen = seen.new_zeros(B, K, 0, probs.shape[-1])
        total, live = _expand(probs.double(), scores, chosen, finished, tau, stop, end, K, decisions)
        scores, flat = total.topk(K, dim=1)
        is_label, is_end = flat < K * C, (flat >= K * C) & (flat < K * C + K)
        origin = torch.where(is_label, flat // C, torch.where(is_end, flat - K * C, flat - K * C - K))
        label = torch.where(is_label, flat % C, torch.full_like(flat, -1))

        def pick(t):
            return t.gather(1, origin.view(B, K, *([1] * (t.dim() - 2))).expand(-1, -1, *t.shape[2:]))

        ran = pick(ran) + (is_label | is_end | pick(live)).long()
        finished = ~is_label
        chosen = pick(chosen) | (F.one_hot(label.clamp(min=0), C).bool() & is_label[..., None])
        history = torch.cat([pick(history), label[..., None]], dim=2)
        seen = torch.cat([pick(seen), pick(probs)[:, :, None]], dim=2)
        rows = (origin + torch.arange(B, device=device)[:, None] * K).view(-1)
        state = tuple(t.index_select(0, rows) for t in state)
        if not (~finished & torch.isfinite(scores)).any():
            break
    return _best_paths(scores, history, seen, ran, decisions)


def _best_paths(scores, history, seen, ran, decisions) -> PoolSearch:
    best = scores.argmax(dim=1)
    out = PoolSearch([], [], [], decisions)
    for b, k in enumerate(best.tolist()):
        out.sequences.append([x for x in history[b, k].tolist() if x >= 0])
        out.path_probs.append(float(torch.exp(scores[b, k])))
        out.step_probs.append(seen[b, k, : int(ran[b, k])])
    return out


def threshold_pieces(decode, batch: int, max_probes: int = 1000) -> list[list[tuple[float, float, list[int]]]]:
    """Every result a stop-threshold search can give, per input, by a sweep from the top.

    ``decode(tau (batch,) float64) -> PoolSearch`` (with ``decisions``). If the search at tau
    compared the stop quantities Q with tau, it makes the same decisions, hence the same path,
    for every tau' in (lo, tau], lo = max{q in Q : q < tau}: no q lies in [tau', tau). So tau =
    +inf, then each lo in turn, visits every piece. Returns per input the pieces
    ``(lo, hi, sequence)`` partitioning (-inf, +inf], highest first (lo = -inf last).
    """
    tau = torch.full((batch,), float("inf"), dtype=torch.float64)
    pieces: list[list] = [[] for _ in range(batch)]
    open_ = set(range(batch))
    for _ in range(max_probes):
        found = decode(tau)
        for b in sorted(open_):
            hi = float(tau[b])
            below = [q for q in found.decisions[b] if q < hi]
            lo = max(below) if below else float("-inf")
            pieces[b].append((lo, hi, found.sequences[b]))
            if below:
                tau[b] = lo
            else:
                open_.discard(b)
        if not open_:
            return pieces
    raise RuntimeError(f"threshold_pieces: more than {max_probes} pieces")
