"""The metric groups `mlcap evaluate --metrics` and `mlcap compare --metrics` accept, and the keys
each reports (definitions and papers in mlcap/metrics/multilabel.py). Light (no numpy): the
commands' help lists the groups from here."""

from __future__ import annotations

from mlcap.errors import MlcapError, unknown_name

# group -> the keys it reports
METRICS = {
    "f1": ("C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1"),    # per-class (macro) and micro
    "image": ("I-P", "I-R", "I-F1"),                       # I-F1: mean of per-image F1s
    "per-image": ("PI-P", "PI-R", "PI-F1"),                # S-CNN-RNN's "overall": F1 of the averages
    "map": ("mAP",),
    "nplus": ("N+",),
    "duplicates": ("dup",),
    "rigidness": ("rigid",),
    "ma": ("mA",),
    "instance": ("Acc", "Prec", "Rec", "F1"),
    # caption metrics (pycocoevalcap)
    "bleu": ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"),
    "meteor": ("METEOR",),
    "rouge": ("ROUGE-L",),
    "cider": ("CIDEr",),
    "spice": ("SPICE",),
}
CAPTION_GROUPS = ("bleu", "meteor", "rouge", "cider", "spice")


def parse_metrics(spec: str) -> list[str]:
    """A comma list of groups, in any case (``mAP``, ``map``, ``MAP``), each once, in the order given."""
    names = []
    for given in (m.strip() for m in spec.split(",")):
        if not given:
            continue
        name = given.lower()
        if name not in METRICS:
            raise unknown_name("metric", given, METRICS)
        if name not in names:
            names.append(name)
    if not names:
        raise MlcapError(f"--metrics {spec!r}: give a comma list of {', '.join(METRICS)}")
    return names
