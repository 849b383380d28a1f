"""`--resume` on a complete stage trains nothing and prints the summary keys of a fresh run."""

from __future__ import annotations

from helpers import TINY_TRAIN


def test_resume_of_a_complete_stage_prints_the_fresh_summary(mlcap, tiny_data, tmp_path):
    common = ["pretrain-cnn", "--method", "bce", "--data", tiny_data, "--run", tmp_path / "r", *TINY_TRAIN]
    fresh = mlcap(*common)
    assert fresh.code == 0, fresh.err
    again = mlcap(*common, "--resume")
    assert again.code == 0, again.err
    first, second = fresh.json_lines()[0], again.json_lines()[0]
    assert list(second) == list(first)
    assert second["seconds"] == 0.0 and "nothing trained" in again.err
    assert {k: v for k, v in second.items() if k != "seconds"} == {k: v for k, v in first.items() if k != "seconds"}
