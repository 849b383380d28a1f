"""The core's checks of what a method gives back (``mlcap.protocol``): a method that breaks the
contract is named in one line instead of failing later in a traceback."""

from __future__ import annotations

from dataclasses import replace

from mlcap.contract_data import Batch, Decoded, ModelSpec
from mlcap.errors import MlcapError


def check_decoded(method, decoded: Decoded, batch: Batch, spec: ModelSpec) -> Decoded:
    """``decoded`` as ``predict`` must give it for ``batch``: one sequence and one score row per
    image, a score per label."""
    n, k = len(batch.ids), len(spec.labels)
    scores = tuple(decoded.scores.shape)
    if len(decoded.sequences) != n or scores[:1] != (n,) or (decoded.has_scores and scores != (n, k)):
        raise MlcapError(f"method {method.name!r}: predict gave {len(decoded.sequences)} sequences and scores of "
                         f"shape {scores} for a batch of {n} images and {k} labels")
    if decoded.captions is not None and len(decoded.captions) != n:
        raise MlcapError(f"method {method.name!r}: predict gave {len(decoded.captions)} captions for {n} images")
    return decoded


def check_state(method, state: dict) -> dict:
    """A model's ``state_dict`` holds tensors only, so that its checkpoints load without unpickling
    (``torch.load(weights_only=True)``)."""
    import torch

    odd = [(name, type(value).__name__) for name, value in state.items() if not isinstance(value, torch.Tensor)]
    if odd:
        raise MlcapError(f"method {method.name!r}: its model's state holds a {odd[0][1]} at {odd[0][0]!r}; "
                         "checkpoints hold tensors only (they load without unpickling)")
    return state


def no_threshold_message(method, spec: ModelSpec) -> str:
    """The ``--threshold`` refusal for a model whose ``threshold_kind`` is None."""
    with_defaults = method.threshold_kind(replace(spec, options={})) is not None
    return f"--threshold: method {method.name!r} has no decision threshold" + (
        " with these options" if with_defaults else "")
