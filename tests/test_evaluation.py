"""`mlcap evaluate` (mlcap/evaluation.py) with several prediction files: every input keeps its own row, JSON key and
co-occurrence files (mlcap/names.py), and each file written is reported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mlcap.data.prepared import PreparedDataset

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="caption metrics need java")


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _truth_and_first_label(data):
    test = PreparedDataset(data).samples("test")
    truth = [{"id": s.id, "labels": s.labels} for s in test]
    first = [{"id": s.id, "labels": s.labels[:1]} for s in test]
    return truth, first


def test_same_file_names_in_two_folders_keep_their_own_outputs(tiny_data, tmp_path, mlcap):
    truth, first = _truth_and_first_label(tiny_data)
    a, b = _write(tmp_path / "a" / "preds.jsonl", truth), _write(tmp_path / "b" / "preds.jsonl", first)
    out = tmp_path / "cooc"
    res = mlcap("evaluate", "--data", tiny_data, "--metrics", "f1", "--json", "--cooccurrence", out, a, b)
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert list(rows) == [str(a), str(b)] and rows[str(a)]["O-F1"] == 1.0 and rows[str(b)]["O-F1"] < 1.0
    diff_a, diff_b = np.load(out / "a" / "preds.cooc_diff.npy"), np.load(out / "b" / "preds.cooc_diff.npy")
    assert np.all(diff_a == 0) and np.any(diff_b != 0)    # the second no longer overwrites the first
    for stem in ("a/preds", "b/preds"):
        for suffix in (".cooc_diff.npy", ".cooc_diff.png"):
            assert f"wrote {out / (stem + suffix)}" in res.err


def test_the_same_file_twice_is_two_rows(tiny_data, tmp_path, mlcap):
    truth, _ = _truth_and_first_label(tiny_data)
    p = _write(tmp_path / "p.jsonl", truth)
    out = tmp_path / "cooc"
    res = mlcap("evaluate", "--data", tiny_data, "--metrics", "f1", "--json", "--cooccurrence", out, p, p)
    assert res.code == 0, res.err
    assert list(json.loads(res.out)) == [str(p), f"{p} #2"]
    assert (out / "p.cooc_diff.npy").is_file() and (out / "p-2.cooc_diff.npy").is_file()
    table = mlcap("evaluate", "--data", tiny_data, "--metrics", "f1", p, p)
    assert table.code == 0 and table.out.count("p.jsonl") == 2 and "p.jsonl #2" in table.out


def _caption_files(tmp_path):
    refs = {"images": [{"id": 1}, {"id": 2}], "annotations": [
        {"image_id": 1, "id": 1, "caption": "a dog on a beach"}, {"image_id": 2, "id": 2, "caption": "a red car"}]}
    (tmp_path / "refs.json").write_text(json.dumps(refs))
    return tmp_path / "refs.json", _write(tmp_path / "c.jsonl", [{"id": 1, "caption": "a dog"},
                                                                  {"id": 2, "caption": "a car"}])


def _shell(*args):
    """``mlcap`` as its own process: the Java subprocess writes to the real file descriptor 2."""
    return subprocess.run([sys.executable, "-m", "mlcap", *map(str, args)], capture_output=True, text=True)


@needs_java
def test_java_lines_only_with_verbose(tmp_path):
    refs, preds = _caption_files(tmp_path)
    quiet = _shell("evaluate", "--coco-captions", refs, "--metrics", "bleu,cider", "--json", preds)
    assert quiet.returncode == 0, quiet.stderr
    assert "BLEU-1" in json.loads(quiet.stdout) and "CIDEr" in json.loads(quiet.stdout)
    assert "PTBTokenizer" not in quiet.stderr and quiet.stderr.strip() == ""
    verbose = _shell("evaluate", "--coco-captions", refs, "--metrics", "bleu", "--json", "--verbose", preds)
    assert verbose.returncode == 0, verbose.stderr
    assert "PTBTokenizer tokenized" in verbose.stderr
    assert json.loads(verbose.stdout)["BLEU-1"] == json.loads(quiet.stdout)["BLEU-1"]


@needs_java
def test_a_failing_tokenizer_is_one_line_naming_its_output(tmp_path, mlcap, monkeypatch):
    import subprocess

    real = subprocess.Popen

    def broken(cmd, *args, **kwargs):   # the tokenizer's java, given a class that does not exist
        if "edu.stanford.nlp.process.PTBTokenizer" in cmd:
            cmd = [c if c != "edu.stanford.nlp.process.PTBTokenizer" else "no.such.Tokenizer" for c in cmd]
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr("pycocoevalcap.tokenizer.ptbtokenizer.subprocess.Popen", broken)
    refs, preds = _caption_files(tmp_path)
    res = mlcap("evaluate", "--coco-captions", refs, "--metrics", "bleu", preds)
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1
    assert "PTB tokenizer (java) returned" in res.err and "no.such.Tokenizer" in res.err


def test_captions_without_concepts_give_no_label_metric_and_a_mixed_file_is_refused(tiny_data, tmp_path, mlcap):
    """A captioner that predicts no concepts (``Decoded.has_scores`` false: scnnrnn's nic-f) writes captions
    alone: no concept F1 is computed from them (not a 0), and label metrics alone have nothing to score."""
    from mlcap.evaluation import evaluate_file

    data = PreparedDataset(tiny_data)
    test = data.samples("test")
    bare = _write(tmp_path / "bare.jsonl", [{"id": s.id, "caption": "a sea"} for s in test])
    row = evaluate_file(str(bare), data, "test", ["f1", "map"])
    assert set(row) == {"predictions", "images"}
    res = mlcap("evaluate", "--data", tiny_data, "--metrics", "f1", bare)
    assert res.code == 2 and "none of the metrics f1 applies" in res.err and "Traceback" not in res.err
    mixed = [{"id": s.id, "caption": "a sea"} for s in test]
    mixed[0]["concepts"] = {label: 0.9 for label in data.labels}
    res = mlcap("evaluate", "--data", tiny_data, "--metrics", "f1", _write(tmp_path / "mixed.jsonl", mixed))
    assert res.code == 2 and f"{len(test) - 1} of {len(test)} captions have no concepts" in res.err
