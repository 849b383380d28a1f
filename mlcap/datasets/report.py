"""What `prepare` kept and dropped, and why; malformed input is located and counted.

Every problem is recorded with its file and line. Without ``--strict`` the
offending row (or value) is skipped and counted; with ``--strict`` the first
problem is a one-line error (exit 2). Nothing is silently renumbered or lost.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from mlcap.errors import MlcapError, at


class PrepareReport:
    def __init__(self, strict: bool = False, max_examples: int = 5):
        self.strict = strict
        self.max_examples = max_examples
        self.dropped: Counter = Counter()      # reason -> images dropped
        self.dropped_in: dict[str, Counter] = {}   # split -> reason -> images dropped from it
        self.problems: Counter = Counter()     # reason -> occurrences (rows, values)
        self.examples: list[str] = []
        self.notes: list[str] = []

    def problem(self, reason: str, path: Path | str, line: int | None, detail: str, drop: bool = True,
                count: int = 1, split: str | None = None) -> None:
        """A malformed row or value (``count`` of them, when reported together): an error with
        ``--strict``, else counted (and the images dropped, from ``split`` when known, unless
        ``drop`` is False)."""
        message = f"{at(path, line)}: {reason}: {detail}"
        if self.strict:
            raise MlcapError(message + " (--strict)")
        self.problems[reason] += count
        if drop:
            self.drop(reason, count, split)
        if len(self.examples) < self.max_examples:
            self.examples.append(message)

    def drop(self, reason: str, n: int = 1, split: str | None = None) -> None:
        """Images left out by design (e.g. no label), not because the input is malformed; from
        ``split`` when they belonged to one (the summary says so per split)."""
        self.dropped[reason] += n
        if split is not None:
            self.dropped_in.setdefault(split, Counter())[reason] += n

    def note(self, message: str) -> None:
        self.notes.append(message)
