"""``--init-from``: a stage starts from the weights of another checkpoint, its labels matched by name.

Which weights stand for labels is found without knowing the method: the method's network is built
once more with one label more (on the ``meta`` device where it can be: no memory, no time), and every
dimension of a tensor that grows by one with it is a label dimension. Its first K entries are the K
labels, in the order of the run's vocabulary; the entries after them (e.g. the END or START token of
a label decoder) mean the same in every run of the method and are copied as they are. A dimension
that grows by more than one holds labels among other entries: the method's ``label_layout`` says
where (mlcap/protocol.py); without it, that tensor keeps its fresh weights, said.

A checkpoint whose labels are this run's, in the same order, gives every tensor that fits. One whose
labels are another order of them, or share some with this run's, gives every tensor that fits and,
in its label tensors, the entries of the labels both have, each to its own label; a label only this
run has keeps its fresh weights. One without a label in common gives its backbone alone. Each case
is said in one line.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from mlcap.errors import MlcapError
from mlcap.progress import note
from mlcap.protocol import ModelSpec
from mlcap.training.checkpoint import load_checkpoint

_PROBE_LABEL = "\x00one label more"
LABELS = "labels"


def label_layout(method, spec: ModelSpec, own: dict) -> dict[str, dict[int, tuple | None]]:
    """``{tensor name: {dimension: segments}}`` of the network ``method`` builds for ``spec`` (``own``:
    that network's state dict): each segment ``"labels"`` or a number of entries of no label; None
    for a label dimension whose layout is not known (see the module's docstring)."""
    bigger = replace(spec, weights=None, labels=[*spec.labels, _PROBE_LABEL],
                     label_counts=[*spec.label_counts, 0] if spec.label_counts else spec.label_counts,
                     label_known=[*spec.label_known, 0] if spec.label_known else spec.label_known)
    with torch.random.fork_rng(devices=[]):        # the run's own initialisation stays a function of its seed
        try:
            with torch.device("meta"):
                probe = method.build(bigger).state_dict()
        except Exception:       # a network that cannot be built without data: on the CPU, once
            probe = method.build(bigger).state_dict()
    declared = method.label_layout(spec)
    layout: dict[str, dict[int, tuple | None]] = {}
    for name, tensor in own.items():
        other = probe.get(name)
        if other is None or other.dim() != tensor.dim():
            continue
        grown = {d: other.shape[d] - tensor.shape[d] for d in range(tensor.dim()) if other.shape[d] != tensor.shape[d]}
        if grown:
            given = declared.get(name, {})
            layout[name] = {d: tuple(given[d]) if d in given else
                            (LABELS, tensor.shape[d] - len(spec.labels)) if step == 1 else None
                            for d, step in grown.items()}
    return layout


def _index_maps(segments: tuple, size_mine: int, size_theirs: int, pairs, mine: int, theirs: int):
    """``(mine, theirs)`` entry indices along one dimension laid out as ``segments``: for each
    ``"labels"`` segment the labels both have (``pairs`` of label indices), for each number of
    entries of no label those entries; None where the sizes do not add up. One segment may be None:
    the entries the others leave."""
    known = sum(s for s in segments if isinstance(s, int))
    labels = sum(1 for s in segments if s == LABELS)
    rest = size_mine - known - labels * mine
    if rest != size_theirs - known - labels * theirs or rest < 0 or None not in segments and rest:
        return None
    out_mine, out_theirs, at_mine, at_theirs = [], [], 0, 0
    for segment in segments:
        if segment == LABELS:
            out_mine += [at_mine + i for i, _ in pairs]
            out_theirs += [at_theirs + j for _, j in pairs]
            at_mine, at_theirs = at_mine + mine, at_theirs + theirs
        else:
            n = rest if segment is None else segment
            out_mine += range(at_mine, at_mine + n)
            out_theirs += range(at_theirs, at_theirs + n)
            at_mine, at_theirs = at_mine + n, at_theirs + n
    return torch.tensor(out_mine, dtype=torch.long), torch.tensor(out_theirs, dtype=torch.long)


def by_name(mine: torch.Tensor, theirs: torch.Tensor, dims: dict[int, tuple | None], pairs: list[tuple[int, int]],
            own_count: int, their_count: int) -> torch.Tensor | None:
    """``mine`` with the entries of ``theirs`` copied along its label dimensions (``dims``, as
    ``label_layout`` gives them): label ``j`` of theirs to label ``i`` of mine for each ``(i, j)`` of
    ``pairs``, the entries of no label as they are; None where the layout or the shapes do not fit."""
    if mine.dim() != theirs.dim() or any(mine.shape[d] != theirs.shape[d] for d in range(mine.dim()) if d not in dims):
        return None
    maps = []
    for d, segments in dims.items():
        found = None if segments is None else _index_maps(segments, mine.shape[d], theirs.shape[d], pairs,
                                                          own_count, their_count)
        if found is None:
            return None
        maps.append(found)
    order = list(dims)
    block = theirs
    for d, (_, index) in zip(order, maps):
        block = block.index_select(d, index)
    out = mine.clone()
    view = out.movedim(order, list(range(len(order))))
    view[torch.meshgrid(*[index for index, _ in maps], indexing="ij")] = \
        block.movedim(order, list(range(len(order)))).to(out.dtype)
    return out


def init_from(model: torch.nn.Module, path: Path, method, spec: ModelSpec) -> None:
    """Copy into ``model`` the weights of checkpoint ``path`` (see the module's docstring)."""
    state, _, meta = load_checkpoint(path)
    own = model.state_dict()
    labels, theirs = list(spec.labels), meta.get("labels")
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if theirs is None or list(theirs) == labels:
        _load(model, path, meta, fits, len(own))
        return
    index = {name: j for j, name in enumerate(theirs)}
    pairs = [(i, index[name]) for i, name in enumerate(labels) if name in index]
    if not pairs:
        note(f"{path}: none of its {len(theirs)} labels is one of this run's {len(labels)}: only its backbone "
             f"is copied")
        _load(model, path, meta, {k: v for k, v in fits.items() if k.startswith("encoder.backbone.")}, len(own))
        return
    layout = label_layout(method, spec, own)
    chosen, fresh = {k: v for k, v in fits.items() if k not in layout}, []
    for name, dims in layout.items():
        copied = by_name(own[name], state[name], dims, pairs, len(labels), len(theirs)) if name in state else None
        if copied is None:
            fresh.append(name)
        else:
            chosen[name] = copied
    new, dropped = len(labels) - len(pairs), len(theirs) - len(pairs)
    note(f"{path}: copied {len(pairs)} of {len(labels)} labels' weights, {new} new (matched by label name"
         + (f"; {dropped} of its labels are not this run's" if dropped else "")
         + ("; its labels in another order" if not new and not dropped else "")
         + (f"; left fresh: {', '.join(fresh)}" if fresh else "") + ")")
    _load(model, path, meta, chosen, len(own))


def _load(model: torch.nn.Module, path: Path, meta: dict, chosen: dict, total: int) -> None:
    if not chosen:
        raise MlcapError(f"{path}: no weights of this {meta.get('method')!r} checkpoint fit the model")
    model.load_state_dict(chosen, strict=False)
    note(f"initialised {len(chosen)} of {total} tensors from {path} ({meta.get('method')} {meta.get('stage')})")
