"""COCO caption metrics through pycocoevalcap, with its PTB tokenizer (Java).

BLEU-1..4, METEOR, ROUGE-L and CIDEr are exactly pycocoevalcap's scorers on
PTB-tokenized references and candidates (one candidate per image). SPICE needs the
Stanford CoreNLP 3.6.0 models, which pycocoevalcap downloads on first use; offline
they cannot be fetched, so SPICE is reported as unavailable and the rest computed.
"""

from __future__ import annotations

import shutil
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


def tokenize(captions: dict) -> dict:
    """``{image id: [caption, ...]}`` -> PTB-tokenized, as the COCO evaluation does."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    return PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})


def caption_scores(references: dict, candidates: dict, metrics: list[str]) -> tuple[dict, list[str]]:
    """Scores of ``candidates`` (``{id: caption}``) against ``references`` (``{id: [captions]}``).
    Returns ``(scores, notes)``; every candidate id must have references."""
    require_java()
    missing = [k for k in candidates if k not in references]
    if missing:
        raise MlcapError(f"no reference captions for image {missing[0]!r}")
    ids = sorted(candidates)
    gts = tokenize({k: references[k] for k in ids})
    res = tokenize({k: [candidates[k]] for k in ids})
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
