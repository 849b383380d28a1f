"""Caption text to words: the one tokenisation of captions (the word vocabulary, the concept
labels, the caption batches' word ids, the caption metrics' inputs)."""

from __future__ import annotations

import re

TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(caption: str) -> list[str]:
    return TOKEN.findall(caption.lower())
