"""What the preparers of your own data share (``coco --instances``, ``csv``, ``jsonl``, ``yolo``):
splits drawn by fraction, images with no label, and labels that training never sees.

* Splits not given as files are drawn from the training images, stratified by label
  (``splitting.py``); without any split option a single pool is split 70/10/20.
* An image with no label is dropped and counted per split (the summary says how many test
  images went), or kept as all-negative with ``--keep-unlabelled``.
* A label found only in val or test is kept in the vocabulary (training frequency 0), with a
  warning naming it: the model cannot learn it, and the test images that hold it count against
  every model, as they should. Nothing is removed from a test image.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from mlcap.data.prepared import Sample
from mlcap.datasets import splitting
from mlcap.datasets.report import PrepareReport
from mlcap.errors import MlcapError

#: The fractions drawn when a pool is split and no fraction is given.
DEFAULT_FRACTIONS = {"val": 0.1, "test": 0.2}


@dataclass(frozen=True)
class SplitOptions:
    val_fraction: float | None = None
    test_fraction: float | None = None
    seed: int | None = None
    keep_unlabelled: bool = False

    def fractions(self, given: set[str]) -> dict[str, float]:
        """``{split: fraction}`` to draw from the training images; {} when ``given`` (the splits
        read from files) has a test split and no fraction is asked for."""
        for name, value in (("val", self.val_fraction), ("test", self.test_fraction)):
            if value is not None and name in given:
                raise MlcapError(f"--{name}-fraction and a {name} file are both given: choose one")
        if "test" in given and self.val_fraction is None:
            if self.seed is not None:
                raise MlcapError("--split-seed: nothing is drawn (a test file is given and no --val-fraction)")
            return {}
        wanted = {name: (value if value is not None else (0.0 if name in given else DEFAULT_FRACTIONS[name]))
                  for name, value in (("val", self.val_fraction), ("test", self.test_fraction))}
        return splitting.check_fractions(wanted["val"], wanted["test"])


def settle(samples: dict[str, list[Sample]], fractions: dict[str, float], options: SplitOptions,
           report: PrepareReport) -> dict[str, list[Sample]]:
    """The final splits: images with no label handled, then (``fractions``) splits drawn from
    ``samples["train"]``; labels missing from train are reported. Train comes first."""
    kept = {name: unlabelled(items, None if fractions and name == "train" else name, options.keep_unlabelled, report)
            for name, items in samples.items()}
    if fractions:
        drawn = draw(kept.pop("train"), fractions, options.seed or 0, report)
        kept = {**drawn, **kept}
    return settled(kept, options.keep_unlabelled, report)


def settled(kept: dict[str, list[Sample]], keep_unlabelled: bool, report: PrepareReport) -> dict[str, list[Sample]]:
    """``kept``, after the notes every own-data reader ends with: how many images ``--keep-unlabelled``
    would keep, and the labels no training image has (``warn_unseen``)."""
    if report.dropped.get("no label") and not keep_unlabelled:
        report.note(f"--keep-unlabelled would keep the {report.dropped['no label']} image(s) with no label "
                    "as all-negative")
    warn_unseen(kept, report)
    return kept


def unlabelled(samples: list[Sample], split: str | None, keep: bool, report: PrepareReport) -> list[Sample]:
    """``samples`` without those with no label (counted in ``split``; None: before splitting),
    or all of them with ``keep``."""
    if keep:
        return samples
    with_labels = [s for s in samples if s.labels]
    if len(with_labels) < len(samples):
        report.drop("no label", len(samples) - len(with_labels), split=split)
    return with_labels


def draw(pool: list, fractions: dict[str, float], seed: int, report: PrepareReport,
         labels=lambda sample: sample.labels) -> dict[str, list]:
    """``pool`` split by ``fractions``, stratified by label (``labels(item)``: an item's labels)."""
    label_sets = [frozenset(labels(item)) for item in pool]
    assigned = splitting.stratified_split(label_sets, fractions, seed)
    report.note(splitting.describe(assigned, label_sets, fractions, seed))
    return {split: [s for s, a in zip(pool, assigned) if a == split] for split in fractions}


def warn_unseen(samples: dict[str, list[Sample]], report: PrepareReport, limit: int = 10) -> None:
    """A warning naming each label (the first ``limit``) of val/test that train lacks."""
    in_train = {l for s in samples.get("train", []) for l in s.labels}
    unseen: dict[str, Counter] = {}
    for split, items in samples.items():
        if split == "train":
            continue
        for sample in items:
            for label in sample.labels:
                if label not in in_train:
                    unseen.setdefault(label, Counter())[split] += 1
    if not unseen:
        return
    named = sorted(unseen)[:limit]
    where = "; ".join(f"{l!r} ({', '.join(f'{s} {n}' for s, n in sorted(unseen[l].items()))})" for l in named)
    more = f" and {len(unseen) - limit} more" if len(unseen) > limit else ""
    report.note(f"warning: {len(unseen)} label(s) never occur in train, only in val/test: {where}{more}; kept in "
                "the vocabulary with training frequency 0 (the model cannot learn them; their test images "
                "still count)")
