"""Label orderings: the order in which a recurrent decoder is taught to emit labels.

Fixed orders come from training-split label frequencies:

* ``rare``: rarest label first (the S-CNN-RNN default),
* ``frequent``: most frequent first,
* ``dictionary``: alphabetical by label name.

Ties are broken alphabetically so that every ordering is a total order.
"""

from __future__ import annotations

def fixed_orderings(labels: list[str], frequencies: dict[str, int]) -> dict[str, list[str]]:
    return {
        "rare": sorted(labels, key=lambda l: (frequencies.get(l, 0), l)),
        "frequent": sorted(labels, key=lambda l: (-frequencies.get(l, 0), l)),
        "dictionary": sorted(labels),
    }
