"""A checkpoint and its metadata are one unit: a sidecar left from an earlier checkpoint (a kill
between the two renames) or a missing one is rewritten from the checkpoint by the next training
command (predict reads the checkpoint's own metadata and writes nothing), so --resume and predict agree; temporary files of killed writes are removed at the next stage."""

from __future__ import annotations

import json
import os

from helpers import TINY_TRAIN, run_cli


def _trained(tiny_data, tmp_path):
    run = tmp_path / "run"
    assert run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN).code == 0
    return run


def test_a_stale_sidecar_is_read_past_by_predict_and_repaired_by_training(tiny_data, tmp_path):
    run = _trained(tiny_data, tmp_path)
    sidecar = run / "pretrain-cnn.json"
    meta = json.loads(sidecar.read_text())
    assert meta["complete"] and "checkpoint_stat" in meta
    stale = {**meta, "complete": False, "epoch": 0, "checkpoint_stat": [1, 1]}   # the previous epoch's
    sidecar.write_text(json.dumps(stale))
    res = run_cli("predict", "--run", run, "--data", tiny_data)     # the checkpoint's own metadata: complete
    assert res.code == 0 and len(res.out.splitlines()) == 12, res.err
    assert json.loads(sidecar.read_text()) == stale                 # predict holds no run lock: it writes nothing
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN, "--resume")
    assert res.code == 0 and "already complete" in res.err
    assert "rewritten from pretrain-cnn.pt (it was stale)" in res.err
    assert json.loads(sidecar.read_text())["complete"] is True


def test_a_missing_sidecar_is_rewritten_by_training(tiny_data, tmp_path):
    run = _trained(tiny_data, tmp_path)
    (run / "pretrain-cnn.json").unlink()
    res = run_cli("predict", "--run", run, "--data", tiny_data)
    assert res.code == 0 and not (run / "pretrain-cnn.json").exists()
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN, "--resume")
    assert res.code == 0 and "(it was missing)" in res.err
    assert json.loads((run / "pretrain-cnn.json").read_text())["complete"] is True


def test_temporary_files_of_killed_writes_are_removed(tiny_data, tmp_path):
    run = _trained(tiny_data, tmp_path)
    dead = run / ".pretrain-cnn.pt.tmp-999999999"
    live = run / f".pretrain-cnn.pt.tmp-{os.getpid()}"      # a writer that still runs: kept
    dead.write_bytes(b"x" * 100)
    live.write_bytes(b"x")
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN, "--resume")
    assert res.code == 0 and f"{dead}: removed (100 bytes of a write that a kill interrupted" in res.err
    assert str(live) not in res.err
    assert not dead.exists() and live.exists()


def test_a_checkpoint_of_other_labels_is_refused_by_predict_and_gives_init_from_its_weights_by_name(tiny_data,
                                                                                                  tmp_path):
    import torch

    from mlcap.training.checkpoint import load_checkpoint, save_checkpoint

    run = _trained(tiny_data, tmp_path)
    state, opt, meta = load_checkpoint(run / "pretrain-cnn.pt")
    permuted = {**meta, "labels": list(reversed(meta["labels"]))}
    save_checkpoint(run / "pretrain-cnn.pt", state, opt, permuted)
    (run / "pretrain-cnn.best.pt").unlink()
    res = run_cli("predict", "--run", run, "--data", tiny_data, "--checkpoint", "last")
    assert res.code == 2 and "pretrain-cnn.pt: label vocabulary differs" in res.err and res.out == ""
    other = tmp_path / "other"
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", other, *TINY_TRAIN,
                  "--init-from", run / "pretrain-cnn.pt", "--epochs", "1", "--lr", "1e-12")
    n = len(meta["labels"])
    assert res.code == 0 and f"copied {n} of {n} labels' weights, 0 new" in res.err, res.err
    mine, _, _ = load_checkpoint(other / "pretrain-cnn.pt")
    head = "encoder.concept_head.weight"
    assert torch.allclose(mine[head], state[head].flip(0), atol=1e-6)     # each label's row, by name
    conv = next(k for k in state if k.startswith("encoder.backbone.") and k.endswith("weight"))
    assert torch.allclose(mine[conv], state[conv], atol=1e-6)               # the backbone too


def test_resume_without_a_checkpoint_says_so(tiny_data, tmp_path):
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", tmp_path / "r", *TINY_TRAIN, "--resume")
    assert res.code == 0 and "--resume, but" in res.err and "starts from its beginning" in res.err


def test_a_corrupt_sidecar_is_said_by_predict_and_rewritten_by_training_with_one_line(tiny_data, tmp_path):
    run = _trained(tiny_data, tmp_path)
    sidecar = run / "pretrain-cnn.json"
    sidecar.write_text('{"epoch": 1, "compl')
    res = run_cli("predict", "--run", run, "--data", tiny_data)
    assert res.code == 0 and len(res.out.splitlines()) == 12, res.err
    said = [line for line in res.err.splitlines() if str(sidecar) in line]
    assert said == [f"{sidecar}: unreadable: not JSON; the metadata inside pretrain-cnn.pt is used (the next "
                    "training command of this run rewrites it)"]
    assert sidecar.read_text() == '{"epoch": 1, "compl'
    res = run_cli("pretrain-cnn", "-m", "bce", "--data", tiny_data, "--run", run, *TINY_TRAIN, "--resume")
    assert res.code == 0 and f"{sidecar}: rewritten from pretrain-cnn.pt (it was unreadable: not JSON)" in res.err
    assert json.loads(sidecar.read_text())["complete"] is True
    res = run_cli("predict", "--run", run, "--data", tiny_data)     # repaired through the stage's manifest
    assert res.code == 0 and str(run) not in res.err, res.err


def test_a_checkpoint_changed_outside_mlcap_is_said_and_read_as_it_is(tiny_data, tmp_path):
    import torch

    run = _trained(tiny_data, tmp_path)
    best = run / "pretrain-cnn.best.pt"
    payload = torch.load(best, weights_only=True)
    payload["model"] = {k: v + 1 if v.is_floating_point() else v for k, v in payload["model"].items()}
    torch.save(payload, best)
    res = run_cli("predict", "--run", run, "--data", tiny_data)
    assert res.code == 0 and len(res.out.splitlines()) == 12, res.err
    assert f"{best}: not the file pretrain-cnn.manifest.json records for it (changed since mlcap wrote it); " \
           "read as it is" in res.err


def test_an_unreadable_manifest_is_said_and_the_files_read_as_they_are(tiny_data, tmp_path):
    run = _trained(tiny_data, tmp_path)
    expected = run_cli("predict", "--run", run, "--data", tiny_data).out
    manifest = run / "pretrain-cnn.manifest.json"
    manifest.write_text("[1, 2")
    res = run_cli("predict", "--run", run, "--data", tiny_data)
    assert res.code == 0 and res.out == expected
    assert f"{manifest}: unreadable (not JSON); the stage's files are read as they are" in res.err
