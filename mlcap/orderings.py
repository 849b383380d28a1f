"""Label orderings: the order in which a recurrent decoder is taught to emit labels.

Fixed orders come from training-split label frequencies:

* ``rare``: rarest label first (the S-CNN-RNN default),
* ``frequent``: most frequent first,
* ``dictionary``: alphabetical by label name.

Ties are broken alphabetically so that every ordering is a total order.
"""

from __future__ import annotations

FIXED_ORDERS = ("rare", "frequent", "dictionary")


def fixed_orderings(labels: list[str], frequencies: dict[str, int]) -> dict[str, list[str]]:
    return {
        "rare": sorted(labels, key=lambda l: (frequencies.get(l, 0), l)),
        "frequent": sorted(labels, key=lambda l: (-frequencies.get(l, 0), l)),
        "dictionary": sorted(labels),
    }


def rank_by_label(order: list[str], labels: list[str]) -> list[int]:
    """``rank[i]`` = position of ``labels[i]`` in ``order``."""
    position = {name: i for i, name in enumerate(order)}
    return [position[name] for name in labels]


def ordered_label_ids(label_ids: list[int], rank: list[int]) -> list[int]:
    return sorted(label_ids, key=lambda i: rank[i])
