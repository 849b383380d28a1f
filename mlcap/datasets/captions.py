"""Caption text: the word vocabulary and the caption concept set.

S-CNN-RNN's captioning concepts are the most frequent caption words (1,000 on
COCO, covering about 92% of word occurrences in the seed's setting); an image's
concept labels are the concept words present in any of its captions.
"""

from __future__ import annotations

from collections import Counter

from mlcap.data.words import tokenize

# a small English stop-word list (articles, pronouns, prepositions, auxiliaries)
STOP_WORDS = frozenset("""a an the and or but of in on at to for with from by as into onto over under near
next up down out off is are was were be been being has have had do does did it its this that these those
there here he she they them his her their we you i me my our your some while who which what where when""".split())


def word_counts(captions) -> Counter:
    counts: Counter = Counter()
    for caption in captions:
        counts.update(tokenize(caption))
    return counts


def build_vocabulary(counts: Counter, size: int | None = 12000, min_count: int | None = None) -> list[str]:
    """Most frequent words first (ties alphabetical): the top ``size``, or all with ``min_count``."""
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    if min_count is not None:
        return [w for w in ranked if counts[w] >= min_count]
    return ranked[:size]


def concept_set(counts: Counter, size: int = 1000, drop_stop_words: bool = False) -> tuple[list[str], float]:
    """The ``size`` most frequent words and the share of all word occurrences they cover."""
    ranked = [w for w in sorted(counts, key=lambda w: (-counts[w], w))
              if not (drop_stop_words and w in STOP_WORDS)]
    concepts = ranked[:size]
    total = sum(counts.values())
    coverage = sum(counts[w] for w in concepts) / total if total else 0.0
    return concepts, coverage


def concepts_of(captions: list[str], concepts: set[str]) -> list[str]:
    present = {w for c in captions for w in tokenize(c)} & concepts
    return sorted(present)
