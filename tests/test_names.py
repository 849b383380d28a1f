"""Unique names for several inputs of one command (mlcap/names.py)."""

from __future__ import annotations

from mlcap.names import output_stems, row_names


def test_same_file_names_get_their_distinguishing_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert output_stems(["a/preds.jsonl", "b/preds.jsonl"]) == ["a/preds", "b/preds"]
    assert output_stems(["runs/x/a/p.jsonl", "runs/y/a/p.jsonl", "q.jsonl"]) == ["x/a/p", "y/a/p", "q"]
    assert output_stems(["bce.jsonl", "scnnrnn.jsonl"]) == ["bce", "scnnrnn"]   # one input: as before


def test_the_same_file_twice_gets_an_index(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert output_stems(["p.jsonl", "./p.jsonl", "p.jsonl"]) == ["p", "p-2", "p-3"]
    assert output_stems(["p.jsonl", "p.jsonl", "p-2.jsonl"]) == ["p", "p-2", "p-2-2"]
    assert output_stems(["-", "stdin.jsonl"]) == ["stdin", "stdin-2"]
    assert row_names(["p.jsonl", "p.jsonl", "-"]) == ["p.jsonl", "p.jsonl #2", "stdin"]
