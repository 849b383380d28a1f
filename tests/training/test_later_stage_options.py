"""Every option given at a later stage is used (it changes the result, or what is selected and
recorded) or refused with a one-line error; none is silently ignored. The test walks every field
of TrainOptions (on scnnrnn's finetune), so a new field must be classified here; each method's own
options are walked by mlcap.testing.check_method (tests/methods/test_contract.py)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from mlcap.config import TrainOptions
from helpers import SMALL, TINY_TRAIN, run_cli
from mlcap.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow


REFUSED = {   # structural, or a recipe field the stage's optimizer/schedule does not use, or not applicable
    "backbone": ["--backbone", "resnet18"], "weights": ["--weights", "w.pth"], "image_size": ["--image-size", "48"],
    "use_tags": ["--use-tags"], "task": ["--task", "caption"], "vocab_size": ["--vocab-size", "100"],
    "min_count": ["--min-count", "2"], "max_len": ["--max-len", "3"], "nesterov": ["--nesterov"],
    "step_size": ["--step-size", "1"], "gamma": ["--gamma", "0.5"], "plateau_patience": ["--plateau-patience", "2"],
    "swa_cycle": ["--swa-cycle", "1"], "lr_min": ["--lr-min", "1e-5"], "threshold": ["--threshold", "0.3"],
    "val_fraction": ["--val-fraction", "0.2"],
}
CHANGES_WEIGHTS = {
    "init_from": None, "features": None, "batch_size": ["--batch-size", "8"], "seed": ["--seed", "1"],
    "amp": ["--amp"], "order": ["--order", "frequent"], "freeze_backbone": ["--freeze-backbone"],
    "freeze_cnn": ["--freeze-cnn"], "epochs": ["--epochs", "3"], "optimizer": ["--optimizer", "adam"],
    "lr": ["--lr", "1e-3"], "momentum": ["--momentum", "0.5"], "alpha": ["--alpha", "0.5"],
    "weight_decay": ["--weight-decay", "0.1"], "group_lr": ["--group-lr", "decoder=0.01"],
    "group_start": ["--group-start", "decoder=1"], "schedule": ["--schedule", "cosine"], "swa": ["--swa"],
    "augment": ["--augment"], "channels_last": ["--channels-last"], "features_dtype": ["--features-dtype", "float16"],
}
RUNTIME = {   # by design these never change the weights (bit-identical); they are recorded
    "device": ["--device", "cpu"], "num_workers": ["--num-workers", "1"], "resume": ["--resume"],
    "max_skip_fraction": ["--max-skip-fraction", "0.9"], "image_cache_mb": ["--image-cache-mb", "0"],
    "sync_bn": ["--sync-bn"], "step_losses": ["--step-losses"],   # --sync-bn acts under torchrun only
    "amp_dtype": ["--amp-dtype", "float16"],                       # acts with --amp only
    "features_memory": ["--features-memory", "0.00001"],     # every row streamed instead of held
    "decode": ["--decode", "torchvision"],     # the synthetic set is PNG: PIL's pixels (JPEGs would differ)
    "compile": ["--compile", "--compile-backend", "aot_eager"],   # the same aten ops, traced
    "compile_backend": ["--compile-backend", "aot_eager"],         # acts with --compile only
}
#: Options of reading a feature cache: compared with the run trained from the cache without them.
WITH_FEATURES = {"features_memory", "features_dtype"}
SELECTION = {"select_by": ["--select-by", "loss"], "val_every": ["--val-every", "2"], "patience": ["--patience", "1"]}
NOT_STAGE_OPTIONS = {"method", "data", "run", "method_options"}


def test_every_field_is_classified():
    groups = [REFUSED, CHANGES_WEIGHTS, RUNTIME, SELECTION, NOT_STAGE_OPTIONS]
    assert sum(map(len, groups)) == len(set().union(*groups)) == len(TrainOptions.model_fields)
    assert set().union(*groups) == set(TrainOptions.model_fields)


@pytest.fixture(scope="module")
def base(tmp_path_factory, tiny_data_master, tiny_run):
    """A folder with the data, an scnnrnn run through pretrain-cnn ("first", 32-pixel images), a bce
    run, the feature cache at 32 pixels, and the reference finetune of "first" that each field's run is compared with."""
    root = tmp_path_factory.mktemp("later")
    shutil.copytree(tiny_run("scnnrnn", ["pretrain-cnn"], *SMALL["scnnrnn"], "--image-size", "32"), root / "first")
    (root / "bce").symlink_to(tiny_run("bce", ["pretrain-cnn"]))
    res = run_cli("extract-features", "--data", tiny_data_master, "--backbone", "smallcnn", "--image-size", "32",
                  "--out", root / "f.h5")
    assert res.code == 0, res.err
    (root / "data").symlink_to(tiny_data_master)
    reference = finetune(root, "reference", [])
    assert reference[0].code == 0, reference[0].err
    return root, reference


def finetune(root, name, extra):
    run = root / name
    shutil.copytree(root / "first", run)
    res = run_cli("finetune", "-m", "scnnrnn", "--data", root / "data", "--run", run, *TINY_TRAIN, "--epochs", "2",
                  *extra)
    return res, run


def weights(run):
    return load_checkpoint(run / "finetune.pt")[0]


def differs(a, b):
    return any(not torch.equal(a[k], b[k]) for k in a)


def reference_for(root, field, reference):
    """The run a field's run is compared with: ``base``'s reference, or for ``WITH_FEATURES`` the
    run trained from the cache with default reading."""
    if field not in WITH_FEATURES:
        return reference
    run = root / "reference-features"
    if not (run / "finetune.pt").exists():
        res, _ = finetune(root, "reference-features", ["--features", root / "f.h5"])
        assert res.code == 0, res.err
    return run


def args_for(field, root):
    if field in WITH_FEATURES:
        return ["--features", root / "f.h5", *(RUNTIME.get(field) or CHANGES_WEIGHTS[field])]
    if field == "init_from":
        return ["--init-from", root / "bce" / "pretrain-cnn.pt"]
    if field == "features":
        return ["--features", root / "f.h5"]
    return CHANGES_WEIGHTS.get(field) or RUNTIME.get(field) or SELECTION.get(field) or REFUSED[field]


@pytest.mark.parametrize("field", sorted(REFUSED))
def test_refused(base, field):
    root, _ = base
    (res, run) = finetune(root, f"refused-{field}", args_for(field, root))
    assert res.code == 2, (field, res.err)
    lines = res.err.strip().splitlines()
    assert lines[-1].startswith("mlcap: error: ") and "Traceback" not in res.err, res.err
    assert not (run / "finetune.pt").exists()        # refused before training


@pytest.mark.parametrize("field", sorted(CHANGES_WEIGHTS))
def test_changes_the_weights(base, field):
    root, (ref, ref_run) = base
    res, run = finetune(root, f"changed-{field}", args_for(field, root))
    assert res.code == 0, (field, res.err)
    assert differs(weights(reference_for(root, field, ref_run)), weights(run)), field


@pytest.mark.parametrize("field", sorted(RUNTIME))
def test_runtime_options_are_recorded_and_bit_identical(base, field):
    root, (ref, ref_run) = base
    res, run = finetune(root, f"runtime-{field}", args_for(field, root))
    assert res.code == 0, (field, res.err)
    assert not differs(weights(reference_for(root, field, ref_run)), weights(run)), field
    config = json.loads((run / "finetune.config.json").read_text())
    assert config[field] == {"device": "cpu", "num_workers": 1, "resume": True, "max_skip_fraction": 0.9,
                             "image_cache_mb": 0, "features_memory": 0.00001, "sync_bn": True,
                             "step_losses": True, "amp_dtype": "float16", "decode": "torchvision",
                             "compile": True, "compile_backend": "aot_eager"}[field]


@pytest.mark.parametrize("field", sorted(SELECTION))
def test_selection_options_change_what_is_validated_or_selected(base, field):
    root, (ref, ref_run) = base
    res, run = finetune(root, f"select-{field}", args_for(field, root))
    assert res.code == 0, (field, res.err)
    rows = lambda r: [json.loads(l) for l in (r / "finetune.history.jsonl").read_text().splitlines()]
    meta = json.loads((run / "finetune.best.json").read_text())
    if field == "select_by":
        assert meta["recipe"]["select_by"] == "loss" != json.loads(
            (ref_run / "finetune.best.json").read_text())["recipe"]["select_by"]
    elif field == "val_every":
        assert "val/loss" not in rows(run)[0] and "val/loss" in rows(ref_run)[0]
    else:
        assert meta["options"]["patience"] == 1
