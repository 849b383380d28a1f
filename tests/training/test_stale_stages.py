"""No stale stage: `--overwrite` of a stage marks the later ones trained from it stale in run.json;
`predict` refuses a stale stage (naming the command that retrains it and `--stage`) unless
`--allow-stale`; training the stage again clears the mark."""

from __future__ import annotations

import json

from helpers import SMALL, TINY_TRAIN, run_cli

STAGES = ("pretrain-cnn", "pretrain-rnn", "finetune")


def _train(data, run, stage, *extra):
    res = run_cli(stage, "-m", "scnnrnn", "--data", data, "--run", run, *TINY_TRAIN, *SMALL["scnnrnn"],
                  "--image-size", "32", *extra)
    assert res.code == 0, res.err
    return res


def _stale(run) -> dict:
    return json.loads((run / "run.json").read_text()).get("stale", {})


def _predict(data, run, *extra):
    return run_cli("predict", "--run", run, "--data", data, "--split", "test", *extra)


def test_a_retrained_stage_makes_the_later_ones_stale_until_they_are_trained_again(tiny_data, tmp_path):
    run = tmp_path / "run"
    for stage in STAGES:
        _train(tiny_data, run, stage)
    assert _stale(run) == {}

    res = _train(tiny_data, run, "pretrain-cnn", "--overwrite")
    assert ("the later pretrain-rnn, finetune keep the weights they were trained from, and are marked stale"
            in res.err)
    assert _stale(run) == {"pretrain-rnn": "pretrain-cnn", "finetune": "pretrain-cnn"}

    refused = _predict(tiny_data, run)
    assert refused.one_line_error() and refused.out == ""
    line = refused.err.strip().splitlines()[-1]
    assert "stage finetune is stale (pretrain-cnn was trained again after finetune was trained from it)" in line
    assert f"mlcap stage finetune --method scnnrnn --data {tiny_data} --run {run} --overwrite" in line
    assert "--stage pretrain-cnn" in line and "--allow-stale" in line
    assert _predict(tiny_data, run, "--stage", "pretrain-rnn").one_line_error()

    anyway = _predict(tiny_data, run, "--allow-stale")
    assert anyway.code == 0, anyway.err
    assert len(anyway.json_lines()) == 12 and "finetune is stale" in anyway.err
    assert _predict(tiny_data, run, "--stage", "pretrain-cnn").code == 0

    # finetune trained again from a stale pretrain-rnn stays stale; pretrain-rnn's own retraining clears it
    res = _train(tiny_data, run, "finetune", "--overwrite")
    assert "starts from pretrain-rnn, which is stale" in res.err
    assert set(_stale(run)) == {"pretrain-rnn", "finetune"}
    res = _train(tiny_data, run, "pretrain-rnn", "--overwrite")
    assert "the later finetune keeps the weights it was trained from, and is marked stale" in res.err
    assert _stale(run) == {"finetune": "pretrain-rnn"}
    _train(tiny_data, run, "finetune", "--overwrite")
    assert _stale(run) == {}
    fresh = _predict(tiny_data, run)
    assert fresh.code == 0 and "stale" not in fresh.err


def test_a_malformed_stale_entry_is_one_line(tiny_data, tmp_path, tiny_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run("bce", ["pretrain-cnn"]), run)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "stale": ["pretrain-cnn"]}))
    res = _predict(tiny_data, run)
    assert res.one_line_error() and "run.json: 'stale' must be" in res.err
