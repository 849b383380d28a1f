"""Splits drawn from one pool of images (``--val-fraction``, ``--test-fraction``, ``--split-seed``).

Iterative stratification (Sechidis, Tsoumakas and Vlahavas, 2011), with coverage first: the
label with the fewest images not yet assigned is taken next, and each of its images goes to

1. the first split, in the order train, test, val, that has none of this label yet and still
   has room (so a label with 3 images reaches all three splits, one with 2 train and test, and
   one with 1 image is in train);
2. else the split that most lacks this label (its desired count, the split's fraction of the
   label's images, minus what it has), ties to the split with the most room left.

"Room" is the split's fraction of all images, less what it holds, rounded: the split sizes are
the fractions of the pool to within an image or so. Images with no label (kept with
``--keep-unlabelled``) fill the splits' room last. The draw depends only on the images' label
sets, their order and the seed.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter

from mlcap.errors import MlcapError

#: The order in which splits receive a label's first images, and the order of the result.
SPLITS = ("train", "test", "val")


def check_fractions(val: float, test: float) -> dict[str, float]:
    """``{split: fraction}`` of the splits to draw (train: the rest); each fraction in [0, 1),
    with room left for training."""
    for name, value in (("val", val), ("test", test)):
        if not 0 <= value < 1:
            raise MlcapError(f"--{name}-fraction {value}: must be at least 0 and below 1")
    if val + test >= 1:
        raise MlcapError(f"--val-fraction {val} + --test-fraction {test} leaves no image for training; "
                         "keep their sum below 1")
    return {"train": 1 - val - test, **{k: v for k, v in (("test", test), ("val", val)) if v > 0}}


def stratified_split(label_sets: list[frozenset[str]], fractions: dict[str, float], seed: int) -> list[str]:
    """The split of each image (``label_sets[i]``: its labels), deterministic per ``seed``."""
    n = len(label_sets)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    splits = [s for s in SPLITS if s in fractions]
    room = {s: fractions[s] * n for s in splits}
    holders: dict[str, list[int]] = {}
    for i in order:
        for label in sorted(label_sets[i]):
            holders.setdefault(label, []).append(i)
    lack = {s: {label: fractions[s] * len(held) for label, held in holders.items()} for s in splits}
    have: dict[str, Counter] = {s: Counter() for s in splits}
    remaining = {label: len(held) for label, held in holders.items()}
    queue = [(count, label) for label, count in remaining.items()]
    heapq.heapify(queue)
    assigned: list[str | None] = [None] * n
    while queue:
        count, label = heapq.heappop(queue)
        if remaining.get(label) != count:
            continue                          # a stale entry: the label's count fell since
        for i in holders[label]:
            if assigned[i] is not None:
                continue
            split = _choose(label, splits, room, lack, have)
            assigned[i] = split
            room[split] -= 1
            for other in label_sets[i]:
                lack[split][other] -= 1
                have[split][other] += 1
                remaining[other] -= 1
                if other != label and remaining[other]:
                    heapq.heappush(queue, (remaining[other], other))
        remaining.pop(label)
    for i in order:
        if assigned[i] is None:               # no label: wherever there is most room
            split = max(splits, key=lambda s: room[s])
            assigned[i] = split
            room[split] -= 1
    return assigned


def _choose(label: str, splits: list[str], room: dict[str, float], lack: dict[str, dict[str, float]],
            have: dict[str, Counter]) -> str:
    open_splits = [s for s in splits if room[s] >= 0.5] or [max(splits, key=lambda s: room[s])]
    for split in open_splits:
        if not have[split][label]:
            return split
    return max(open_splits, key=lambda s: (lack[s][label], room[s]))


def describe(assigned: list[str], label_sets: list[frozenset[str]], fractions: dict[str, float], seed: int) -> str:
    """The note the summary prints: sizes per split and how many labels reach each."""
    sizes = Counter(assigned)
    reach = {s: len({l for a, ls in zip(assigned, label_sets) if a == s for l in ls}) for s in fractions}
    labels = len({l for ls in label_sets for l in ls})
    parts = ", ".join(f"{s} {sizes.get(s, 0)} ({fractions[s]:.0%}; {reach[s]}/{labels} labels)" for s in fractions)
    return f"splits drawn from {len(assigned)} image(s), stratified by label (seed {seed}): {parts}"
