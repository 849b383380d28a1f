"""`evaluate` on hostile prediction files: every bad value is a one-line error naming file:line
(exit 2), nothing is silently counted as 0; empty or non-matching predictions are an error; a
UTF-8 BOM is accepted."""

from __future__ import annotations

import json

import pytest

from helpers import run_cli
from mlcap.data.prepared import PreparedDataset


def _good_rows(data):
    ds = PreparedDataset(data)
    return [{"id": s.id, "labels": s.labels[:1], "scores": {l: 0.5 for l in ds.labels}, "duplicates": 0}
            for s in ds.samples("test")], ds.labels


def _evaluate(data, path):
    return run_cli("evaluate", "--data", data, "--metrics", "f1,map,duplicates", "--json", path)


@pytest.mark.parametrize("case, message", [
    ("nan", "must be a probability in [0, 1], not nan"),
    ("inf", "must be a probability in [0, 1], not inf"),
    ("big", "must be a probability in [0, 1], not 1.5"),
    ("bool", "must be a probability in [0, 1], not True"),
    ("absent", "no score for 1 label(s)"),
    ("dup-negative", "duplicates must be a count (an integer >= 0), not -5"),
    ("dup-text", "duplicates must be a count (an integer >= 0), not 'abc'"),
    ("deep", "JSON nested too deeply"),
])
def test_bad_values_are_one_line_errors_naming_the_line(tiny_data, tmp_path, case, message):
    rows, labels = _good_rows(tiny_data)
    bad = dict(rows[1])
    if case in ("nan", "inf", "big", "bool"):
        bad["scores"] = {**bad["scores"], labels[0]: {"nan": float("nan"), "inf": float("inf"), "big": 1.5,
                                                      "bool": True}[case]}
    elif case == "absent":
        bad["scores"] = {l: 0.5 for l in labels[1:]}
    elif case.startswith("dup"):
        bad["duplicates"] = -5 if case == "dup-negative" else "abc"
    lines = [json.dumps(r) for r in rows]
    lines[1] = "[" * 100000 + "]" * 100000 if case == "deep" else json.dumps(bad)
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n")
    res = _evaluate(tiny_data, path)
    assert res.code == 2 and f"{path}:2: " in res.err and message in res.err, res.err
    assert "Traceback" not in res.err


def test_empty_and_non_matching_predictions_are_errors(tiny_data, tmp_path):
    rows, _ = _good_rows(tiny_data)
    for name, text in (("empty", ""), ("blank", "\n\n  \n"),
                       ("other", "".join(json.dumps({**r, "id": "x" + r["id"]}) + "\n" for r in rows))):
        path = tmp_path / f"{name}.jsonl"
        path.write_text(text)
        res = _evaluate(tiny_data, path)
        assert res.code == 2 and "no prediction for any of the 12 images" in res.err, (name, res.err)


def test_a_bom_is_accepted_and_non_utf8_is_one_line(tiny_data, tmp_path):
    rows, _ = _good_rows(tiny_data)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    res = _evaluate(tiny_data, path)
    assert res.code == 0, res.err
    path.write_bytes(text.encode() + b"\xff\xfe\n")
    res = _evaluate(tiny_data, path)
    assert res.code == 2 and f"{path}:13: not UTF-8 text" in res.err and "Traceback" not in res.err
