"""COCO caption metrics through pycocoevalcap, with its PTB tokenizer (Java).

BLEU-1..4, METEOR, ROUGE-L and CIDEr are exactly pycocoevalcap's scorers on
PTB-tokenized references and candidates (one candidate per image). SPICE needs the
Stanford CoreNLP 3.6.0 models, which pycocoevalcap downloads on first use; offline
they cannot be fetched, so SPICE is reported as unavailable and the rest computed.

The Java programs write progress lines (``PTBTokenizer tokenized 19463 tokens at ...``) to the
standard error they inherit: kept off the terminal unless ``verbose`` (``evaluate --verbose``);
when the tokenizer fails, its last line is in the error.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from mlcap.errors import MlcapError

CAPTION_METRICS = ("bleu", "meteor", "rouge", "cider", "spice")


def require_java() -> None:
    if shutil.which("java") is None:
        raise MlcapError("caption metrics need Java: `java` was not found on PATH "
                         "(install a Java runtime, e.g. apt-get install default-jre-headless)")


def spice_available() -> bool:
    import pycocoevalcap.spice.spice as spice

    return (Path(spice.__file__).parent / "lib" / "stanford-corenlp-3.6.0.jar").is_file()


class JavaOutput:
    """What the Java subprocesses wrote to stderr while it was held back (empty when verbose)."""

    def __init__(self):
        self.text = ""

    def last_line(self) -> str:
        lines = [l.strip() for l in self.text.splitlines() if l.strip()]
        return lines[-1][:200] if lines else ""


@contextmanager
def java_stderr(verbose: bool):
    """Within: file descriptor 2 (inherited by subprocesses) goes to a temporary file, unless
    ``verbose`` or there is no descriptor 2 to redirect; yields a ``JavaOutput``."""
    out = JavaOutput()
    try:
        saved = None if verbose else os.dup(2)
    except OSError:
        saved = None
    if saved is None:
        yield out
        return
    with tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        os.dup2(held.fileno(), 2)
        try:
            yield out
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            out.text = held.read().decode("utf-8", "replace")


def tokenize(captions: dict) -> dict:
    """``{image id: [caption, ...]}`` -> PTB-tokenized, as the COCO evaluation does."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    return PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})


def _check_tokenized(tokenized: dict, captions: dict, java: JavaOutput) -> None:
    """pycocoevalcap does not check the Java tokenizer's exit: a run that failed gives fewer lines."""
    got = sum(len(tokenized.get(k, [])) for k in captions)
    want = sum(len(v) for v in captions.values())
    if got != want:
        said = java.last_line()
        raise MlcapError(f"caption metrics: the PTB tokenizer (java) returned {got} of {want} captions"
                         + (f": {said}" if said else " (run with --verbose to see its output)"))


def caption_scores(references: dict, candidates: dict, metrics: list[str],
                   verbose: bool = False) -> tuple[dict, list[str]]:
    """Scores of ``candidates`` (``{id: caption}``) against ``references`` (``{id: [captions]}``).
    Returns ``(scores, notes)``; every candidate id must have references. ``verbose``: the Java
    programs' own stderr lines are shown."""
    require_java()
    missing = [k for k in candidates if k not in references]
    if missing:
        raise MlcapError(f"no reference captions for image {missing[0]!r}")
    ids = sorted(candidates)
    refs, cands = {k: references[k] for k in ids}, {k: [candidates[k]] for k in ids}
    with java_stderr(verbose) as java:
        gts, res = tokenize(refs), tokenize(cands)
    _check_tokenized(gts, refs, java)
    _check_tokenized(res, cands, java)
    with java_stderr(verbose):
        return _scores(gts, res, metrics)


def _scores(gts: dict, res: dict, metrics: list[str]) -> tuple[dict, list[str]]:
    scores, notes = {}, []
    if "bleu" in metrics:
        from pycocoevalcap.bleu.bleu import Bleu

        values, _ = Bleu(4).compute_score(gts, res, verbose=0)
        scores.update({f"BLEU-{n + 1}": float(v) for n, v in enumerate(values)})
    if "meteor" in metrics:
        from pycocoevalcap.meteor.meteor import Meteor

        scores["METEOR"] = float(Meteor().compute_score(gts, res)[0])
    if "rouge" in metrics:
        from pycocoevalcap.rouge.rouge import Rouge

        scores["ROUGE-L"] = float(Rouge().compute_score(gts, res)[0])
    if "cider" in metrics:
        from pycocoevalcap.cider.cider import Cider

        scores["CIDEr"] = float(Cider().compute_score(gts, res)[0])
    if "spice" in metrics:
        if spice_available():
            from pycocoevalcap.spice.spice import Spice

            scores["SPICE"] = float(Spice().compute_score(gts, res)[0])
        else:
            notes.append("SPICE not computed: it needs the Stanford CoreNLP 3.6.0 models, which pycocoevalcap "
                         "downloads on first use and cannot be fetched offline; the other metrics are computed")
    return scores, notes
