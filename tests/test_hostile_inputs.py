"""Every CLI command against every class of hostile input (non-UTF-8, wrong JSON types, empty and
header-only files, FIFOs, bombs, truncated files, a full disk, closed streams): each case asserts the
exit code, that stderr holds no traceback, and that nothing half-written is left behind.

Most cases run in-process (an exception escaping ``main`` fails the test with its traceback); the
ones that need real file descriptors or limits (closed streams, /dev/full, FIFOs, RLIMIT_FSIZE) run
``python -m mlcap`` in a subprocess with a timeout, so a hang fails instead of blocking.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from helpers import TINY_TRAIN, run_cli

BCE = ["pretrain-cnn", "-m", "bce"]


@pytest.fixture
def world(tiny_data_master, tiny_run, tmp_path):
    """A copy of the shared 60-image set and of a bce run trained on it, to break at will."""
    shutil.copytree(tiny_data_master, tmp_path / "data")
    shutil.copytree(tiny_run("bce", ["pretrain-cnn"]), tmp_path / "run")
    return tmp_path


def files_under(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file() or p.is_fifo()}


def check(world: Path, args, code: int, says: str, *, before: dict | None = None, subprocess_run: dict | None = None):
    """Run ``mlcap ARGS``; assert exit ``code``, one line naming ``says``, no traceback, and, on an
    error, no file added or changed under ``world`` (the run's lock file aside)."""
    before = files_under(world) if before is None else before
    if subprocess_run is None:
        res = run_cli(*args)
        rc, err = res.code, res.err
    else:
        streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **subprocess_run}
        proc = subprocess.run([sys.executable, "-m", "mlcap", *map(str, args)], text=True, timeout=120, cwd=world,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, **streams)
        rc, err = proc.returncode, proc.stderr
    assert "Traceback" not in err, err
    assert rc == code, err
    if code != 0:
        lines = [l for l in err.splitlines() if l.startswith("mlcap: error:")]
        assert len(lines) == 1 and says in lines[0], err
        after = files_under(world)
        changed = {k for k in after if before.get(k) != after[k] and not k.endswith(".lock")}
        assert not changed, f"left behind: {sorted(changed)}"
        assert not set(before) - set(after), f"removed: {sorted(set(before) - set(after))}"
    assert not list(world.rglob("*.tmp*")), "a temporary file was left"
    return err


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj))


def edit_json(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    write_json(path, doc)


# --- prepared dataset: dataset.json, orderings.json, manifests -------------------------------------

DATASET_CASES = {
    "labels-not-a-list": (lambda d: d.update(labels=5), "'labels' must be a list"),
    "labels-not-strings": (lambda d: d.update(labels=[1, 2]), "'labels' must be a list of strings"),
    "no-splits": (lambda d: d.pop("splits"), "missing key 'splits'"),
    "splits-a-list": (lambda d: d.update(splits=["train"]), "'splits' must be an object"),
    "frequency-a-string": (lambda d: d["label_frequencies"].update({d["labels"][0]: "9"}), "must be an integer"),
    "top-level-a-list": (None, "must be an object"),
}


@pytest.mark.parametrize("case", sorted(DATASET_CASES))
@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "extract"])
def test_dataset_json_of_wrong_types(world, case, command):
    change, says = DATASET_CASES[case]
    meta = world / "data" / "dataset.json"
    if change is None:
        write_json(meta, [1, 2])
    else:
        edit_json(meta, change)
    args = {"train": [*BCE, "--data", world / "data", "--run", world / "new", *TINY_TRAIN],
            "predict": ["predict", "--run", world / "run", "--data", world / "data"],
            "evaluate": ["evaluate", world / "data" / "test.jsonl", "--data", world / "data"],
            "extract": ["extract-features", "--data", world / "data", "--backbone", "smallcnn",
                        "--out", world / "f.h5"]}[command]
    check(world, args, 2, says)


@pytest.mark.parametrize("content, says", [
    (b"\xff\xfe not utf-8", "not UTF-8"),
    (b"{\"rare\": ", "not valid JSON"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
])
def test_dataset_files_not_utf8_truncated_or_deep(world, content, says):
    (world / "data" / "dataset.json").write_bytes(content)
    check(world, [*BCE, "--data", world / "data", "--run", world / "new", *TINY_TRAIN], 2, "dataset.json")


def test_an_order_missing_a_label(world):
    edit_json(world / "data" / "orderings.json", lambda d: d["rare"].pop())
    check(world, [*BCE, "--data", world / "data", "--run", world / "new", *TINY_TRAIN], 2, "misses label")


@pytest.mark.parametrize("row, says", [
    ({"id": "x", "image": "a.png", "labels": 5}, "'labels' must be a list"),
    ({"id": "x", "image": 7, "labels": []}, "'image' must be a string"),
    ({"id": ["x"], "image": "a.png"}, "'id' must be a string or an integer"),
    ({"id": "x", "image": "a.png", "box": "all"}, "'box' must be"),
    ("[" * 50000, "nested too deeply"),
])
def test_manifest_rows_of_wrong_types(world, row, says):
    line = row if isinstance(row, str) else json.dumps(row)
    with open(world / "data" / "train.jsonl", "a") as f:
        f.write(line + "\n")
    err = check(world, [*BCE, "--data", world / "data", "--run", world / "new", *TINY_TRAIN], 2, says)
    assert "train.jsonl:" in err


def test_image_root_gone(world):
    edit_json(world / "data" / "dataset.json", lambda d: d.update(image_root=str(world / "moved")))
    for args in ([*BCE, "--data", world / "data", "--run", world / "new", *TINY_TRAIN],
                 ["predict", "--run", world / "run", "--data", world / "data"],
                 ["extract-features", "--data", world / "data", "--backbone", "smallcnn", "--out", world / "f.h5"]):
        check(world, args, 2, "no longer exists")


# --- run directory: run.json, checkpoints ------------------------------------------------------------

RUN_CASES = {
    "not-json": (b"{", "not valid JSON"),
    "not-utf8": (b"\xff{}", "not UTF-8"),
    "no-spec": ({"method": "bce"}, "missing key 'spec'"),
    "extra-spec-key": ("extra", "unknown key 'colour'"),
    "mistyped-spec-key": ("mistyped", "'spec.image_size' must be an integer"),
    "labels-a-number": ("labels", "'spec.labels' must be a list"),
}


@pytest.mark.parametrize("case", sorted(RUN_CASES))
@pytest.mark.parametrize("command", ["next-stage", "predict"])
def test_run_json_of_wrong_types(world, case, command):
    path = world / "run" / "run.json"
    content, says = RUN_CASES[case]
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, dict):
        write_json(path, content)
    else:
        change = {"extra": lambda d: d["spec"].update(colour="red"),
                  "mistyped": lambda d: d["spec"].update(image_size="64"),
                  "labels": lambda d: d["spec"].update(labels=5)}[content]
        edit_json(path, change)
    args = (["stage", "pretrain-cnn", "-m", "bce", "--data", world / "data", "--run", world / "run", "--resume",
             *TINY_TRAIN] if command == "next-stage" else ["predict", "--run", world / "run", "--data", world / "data"])
    check(world, args, 2, says)


def test_a_checkpoint_holding_nan_weights_is_refused_by_predict(world):
    path = world / "run" / "pretrain-cnn.best.pt"
    payload = torch.load(path, weights_only=True)
    name = next(k for k, v in payload["model"].items() if v.is_floating_point())
    payload["model"][name][...] = float("nan")
    torch.save(payload, path)
    check(world, ["predict", "--run", world / "run", "--data", world / "data"], 2, "NaN or infinite")


def test_a_truncated_checkpoint_is_refused(world):
    path = world / "run" / "pretrain-cnn.best.pt"
    path.write_bytes(path.read_bytes()[:1000])
    check(world, ["predict", "--run", world / "run", "--data", world / "data"], 2, "not a readable mlcap checkpoint")


def test_a_finished_stage_is_not_overwritten_by_a_plain_rerun(world):
    args = [*BCE, "--data", world / "data", "--run", world / "run", *TINY_TRAIN]
    check(world, args, 2, "--overwrite trains it again")
    check(world, [*args, "--overwrite", "--select-by", "CIDEr"], 2, "CIDEr")   # refused: nothing removed
    old_history = (world / "run" / "pretrain-cnn.history.jsonl").read_text()
    res = run_cli(*args, "--overwrite", "--epochs", "2")
    assert res.code == 0 and "--overwrite:" in res.err, res.err
    history = [json.loads(l) for l in (world / "run" / "pretrain-cnn.history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2] and old_history.count("\n") == 1


@pytest.mark.parametrize("run", ["", "file", "under-file"])
def test_bad_run_paths(world, run):
    (world / "file").write_text("x")
    value = {"": "", "file": world / "file", "under-file": world / "file" / "run"}[run]
    check(world, [*BCE, "--data", world / "data", "--run", value, *TINY_TRAIN], 2,
          "empty value" if run == "" else "file")


# --- HDF5 feature files ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["missing", "directory", "random-bytes", "truncated-hdf5", "foreign-hdf5"])
@pytest.mark.parametrize("command", ["train", "predict", "extract"])
def test_bad_feature_files(world, kind, command):
    import h5py

    path = world / "f.h5"
    if kind == "directory":
        path.mkdir()
    elif kind == "random-bytes":
        path.write_bytes(os.urandom(4096))
    elif kind == "truncated-hdf5":
        with h5py.File(path, "w") as f:
            f["x"] = list(range(10000))
        path.write_bytes(path.read_bytes()[:3000])
    elif kind == "foreign-hdf5":
        with h5py.File(path, "w") as f:
            f["x"] = [1, 2, 3]
    if command == "extract" and kind in ("missing", "foreign-hdf5"):
        return                   # a new file to write, or an HDF5 file to add to: both are valid
    says = {"missing": "not found", "directory": "directory", "random-bytes": "not a readable HDF5",
            "truncated-hdf5": "not a readable HDF5", "foreign-hdf5": "not an mlcap feature cache"}[kind]
    args = {"train": [*BCE, "--data", world / "data", "--run", world / "new", "--features", path, *TINY_TRAIN],
            "predict": ["predict", "--run", world / "run", "--data", world / "data", "--features", path],
            "extract": ["extract-features", "--data", world / "data", "--backbone", "smallcnn", "--out", path]}[command]
    check(world, args, 2, says)


def test_extract_features_out_under_a_file(world):
    (world / "file").write_text("x")
    check(world, ["extract-features", "--data", world / "data", "--backbone", "smallcnn",
                  "--out", world / "file" / "f.h5"], 2, "not a directory")


# --- prepare: every reader's inputs ---------------------------------------------------------------------

def png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path)


@pytest.mark.parametrize("args, says", [
    (["--seed", "-1"], "'seed'"),
    (["--images", "1000000000000"], "'images'"),
    (["--images", "3"], "'images'"),
])
def test_prepare_synthetic_ranges_are_checked_before_allocating(world, args, says):
    check(world, ["prepare", "synthetic", "--out", world / "s", *args], 2, says)


@pytest.mark.parametrize("content, says", [
    (b"", "training row"), (b"image,labels\n", "no usable training row"),
    (b"\n\n\n", "training row"), (b"a.png,\xff\xfe\n", "not UTF-8"),
    (b"a.png;cat|dog\n", "training row"),
])
def test_prepare_csv_empty_header_only_and_bad_bytes(world, content, says):
    png(world / "in" / "a.png")
    (world / "in" / "train.csv").write_bytes(content)
    (world / "in" / "test.csv").write_bytes(b"a.png,cat\n")
    check(world, ["prepare", "csv", "--out", world / "p", "--train", world / "in" / "train.csv",
                  "--test", world / "in" / "test.csv"], 2, says)


def test_prepare_jsonl_rows_nested_too_deeply(world):
    png(world / "in" / "a.png")
    (world / "in" / "train.jsonl").write_text("[" * 100000 + "\n")
    (world / "in" / "test.jsonl").write_text(json.dumps({"path": "a.png", "labels": ["cat"]}) + "\n")
    err = check(world, ["prepare", "jsonl", "--out", world / "p", "--train", world / "in" / "train.jsonl",
                        "--test", world / "in" / "test.jsonl"], 2, "training row")
    assert "nested too deeply" in err or "bad row" in err


def coco_root(root: Path, instances: dict | bytes) -> Path:
    ann = root / "annotations"
    ann.mkdir(parents=True)
    for split in ("train", "val"):
        path = ann / f"instances_{split}2017.json"
        path.write_bytes(instances) if isinstance(instances, bytes) else write_json(path, instances)
        png(root / f"{split}2017" / "1.jpg")
    return root


GOOD_COCO = {"images": [{"id": 1, "file_name": "1.jpg"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 3}],
             "categories": [{"id": 3, "name": "cat"}]}


@pytest.mark.parametrize("doc, says", [
    ({k: v for k, v in GOOD_COCO.items() if k != "categories"}, "no 'categories'"),
    ({k: v for k, v in GOOD_COCO.items() if k != "annotations"}, "no 'annotations'"),
    ({**GOOD_COCO, "images": {"1": "x"}}, "'images' must be a list"),
    ({**GOOD_COCO, "categories": [{"id": "3"}]}, "categories[0]"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"{\"images\": [", "not valid JSON"),
    (b"[" * 100000, "nested too deeply"),
    ([1], "must be an object"),
])
def test_prepare_coco_malformed_annotation_files(world, doc, says):
    coco_root(world / "coco", doc)
    check(world, ["prepare", "coco", "--out", world / "p", "--root", world / "coco"], 2, says,
          before=files_under(world))


def test_prepare_coco_duplicate_ids_and_unknown_images_are_reported(world):
    doc = {**GOOD_COCO, "images": GOOD_COCO["images"] * 2,
           "annotations": GOOD_COCO["annotations"] + [{"id": 2, "image_id": 99, "category_id": 3}]}
    coco_root(world / "coco", doc)
    res = run_cli("prepare", "coco", "--out", world / "p", "--root", world / "coco", "--json")
    assert res.code == 0, res.err
    problems = json.loads(res.out)["problems"]
    assert problems["duplicate image id"] == 2 and problems["annotation for an unknown image"] == 2
    res = run_cli("prepare", "coco", "--out", world / "p2", "--root", world / "coco", "--strict")
    assert res.code == 2 and "duplicate image id" in res.err


def voc_root(root: Path) -> Path:
    from mlcap.datasets.voc import CLASSES

    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True)
    for split in ("trainval", "test"):
        for i, cls in enumerate(CLASSES):
            (main / f"{cls}_{split}.txt").write_text(f"000001 {1 if i == 0 else -1}\n000002 {1 if i == 1 else -1}\n")
    for name in ("000001", "000002"):
        png(root / "JPEGImages" / f"{name}.jpg")
    return root


@pytest.mark.parametrize("content, says", [(b"", "empty"), (b"\n \n", "empty"), (b"000001 \xff1\n", "not UTF-8")])
def test_prepare_voc_empty_and_bad_class_files(world, content, says):
    (voc_root(world / "voc") / "ImageSets" / "Main" / "cat_trainval.txt").write_bytes(content)
    check(world, ["prepare", "voc", "--out", world / "p", "--root", world / "voc"], 2, says)


def test_prepare_voc_a_class_with_no_positive_image_is_reported(world):
    voc_root(world / "voc")
    res = run_cli("prepare", "voc", "--out", world / "p", "--root", world / "voc", "--json")
    assert res.code == 0 and json.loads(res.out)["problems"]["class with no positive image"] == 36
    res = run_cli("prepare", "voc", "--out", world / "p2", "--root", world / "voc", "--strict")
    assert res.code == 2 and "class with no positive image" in res.err


@pytest.mark.parametrize("kind, says", [("corrupt-zip", "not a readable zip"), ("non-utf8", "not UTF-8"),
                                        ("huge-field", "not a readable CSV"), ("fifo", "not a regular file")])
def test_prepare_nuswide_bad_label_tables(world, kind, says):
    concepts = world / "Concepts81.txt"
    concepts.write_text("sky\nwater\n")
    good = world / "test.csv"
    good.write_text("image_id,sky,water\n1,1,0\n")
    table = world / ("train.zip" if kind == "corrupt-zip" else "train.csv")
    if kind == "corrupt-zip":
        with zipfile.ZipFile(table, "w") as z:
            z.writestr("train.csv", "image_id,sky,water\n" + "1,1,0\n" * 1000)
        table.write_bytes(table.read_bytes()[:200])
    elif kind == "non-utf8":
        table.write_bytes(b"image_id,sky,water\n1,\xff,0\n")
    elif kind == "huge-field":
        table.write_text("image_id,sky,water\n\"" + "x" * (1 << 25) + "\",1,0\n")
    else:
        os.mkfifo(table)
    check(world, ["prepare", "nuswide", "--out", world / "p", "--concepts", concepts, "--train-csv", table,
                  "--test-csv", good], 2, says)


def test_prepare_on_a_full_disk_leaves_nothing(world):
    check(world, ["prepare", "synthetic", "--out", "/dev/full/x", "--images", "10"], 2, "/dev/full")
    before = files_under(world)
    check(world, ["prepare", "synthetic", "--out", world / "s", "--images", "20"], 2, "",
          before=before, subprocess_run={"preexec_fn": lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))})
    assert not (world / "s").exists()


@pytest.mark.parametrize("out", ["file", "under-file"])
def test_prepare_out_that_is_a_file_or_under_one(world, out):
    (world / "file").write_text("x")
    value = world / "file" if out == "file" else world / "file" / "data"
    check(world, ["prepare", "synthetic", "--out", value, "--images", "10"], 2, "file")


def test_an_over_long_path_is_one_line(world):
    long = world / ("x" * 300)
    check(world, ["prepare", "synthetic", "--out", long, "--images", "10"], 2, "too long")
    check(world, [*BCE, "--data", world / "data", "--run", long, *TINY_TRAIN], 2, "too long")


# --- streams, FIFOs and limits (subprocess) --------------------------------------------------------------

def test_closed_and_full_stdout_and_closed_stdin(world):
    predict = ["predict", "--run", world / "run", "--data", world / "data"]
    check(world, predict, 2, "stdout is closed", subprocess_run={"preexec_fn": lambda: os.close(1)})
    with open("/dev/full", "w") as full:
        check(world, predict, 2, "stdout: No space left on device", subprocess_run={"stdout": full})
    check(world, ["evaluate", "-", "--data", world / "data"], 2, "stdin is closed",
          subprocess_run={"preexec_fn": lambda: os.close(0)})


@pytest.mark.parametrize("where", ["config", "predictions", "features", "manifest"])
def test_a_fifo_never_hangs(world, where):
    fifo = world / "fifo"
    os.mkfifo(fifo)
    if where == "manifest":
        (world / "data" / "train.jsonl").unlink()
        os.mkfifo(world / "data" / "train.jsonl")
    args = {"config": ["predict", "--run", world / "run", "--data", world / "data", "--config", fifo],
            "predictions": ["evaluate", fifo, "--data", world / "data"],
            "features": ["predict", "--run", world / "run", "--data", world / "data", "--features", fifo],
            "manifest": [*BCE, "--data", world / "data", "--run", world / "new", *TINY_TRAIN]}[where]
    check(world, args, 2, "", subprocess_run={})


def test_a_checkpoint_write_over_the_file_size_limit(world):
    """The limit is hit while the checkpoint is written: one line, no temporary file, no complete stage."""
    args = [*BCE, "--data", world / "data", "--run", world / "new", *TINY_TRAIN]
    err = check(world, args, 2, "cannot write the checkpoint", subprocess_run={
        "preexec_fn": lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))})
    assert "File too large" in err or "limit" in err.lower() or "write" in err


# --- found by a third battery: values of the wrong type deep inside, caches, ranges ----------------

def test_wider_attribute_values_of_the_wrong_type(world):
    root = world / "wider"
    png(root / "Image" / "a.jpg")
    id_map = {str(i): f"attr{i}" for i in range(14)}
    bad = {"images": [{"file_name": "a.jpg", "targets": [{"bbox": [0, 0, 4, 4], "attribute": [[1]] * 14}]}],
           "attribute_id_map": id_map}
    for name in ("trainval", "test"):
        write_json(root / f"wider_attribute_{name}.json", bad)
    err = check(world, ["prepare", "wider", "--out", world / "p", "--root", root], 2, "no training sample")
    assert "bad person box" in err


@pytest.mark.parametrize("row, says", [({"id": "x", "labels": [["sea"]]}, "labels as strings"),
                                       ({"id": "x", "concepts": {"sea": "x"}}, "'concepts' must map")])
def test_evaluate_rows_with_values_of_the_wrong_type(world, row, says):
    (world / "p.jsonl").write_text(json.dumps(row) + "\n")
    check(world, ["evaluate", world / "p.jsonl", "--data", world / "data"], 2, says)


def test_evaluate_stdin_twice(world):
    check(world, ["evaluate", "-", "-", "--data", world / "data"], 2, "given twice")


@pytest.mark.parametrize("args, says", [
    (["-o", "x=" + "[" * 100000], "nested too deeply"),
    (["--seed", str(10 ** 23)], "'seed'"),
    (["--image-size", "100000"], "'image_size'"),
    (["--epochs", str(10 ** 21)], "'epochs'"),
])
def test_training_values_out_of_range(world, args, says):
    check(world, [*BCE, "--data", world / "data", "--run", world / "new", *TINY_TRAIN, *args], 2, says)


@pytest.mark.parametrize("value", ["nan", "5", "-1"])
def test_predict_threshold_out_of_range(world, value):
    check(world, ["predict", "--run", world / "run", "--data", world / "data", "--threshold", value], 2, "'threshold'")


def test_resume_with_fewer_epochs_than_done(world):
    from mlcap.training.checkpoint import load_checkpoint, save_checkpoint

    args = [*BCE, "--data", world / "data", "--run", world / "r3"]
    assert run_cli(*args, *TINY_TRAIN, "--epochs", "3").code == 0
    path = world / "r3" / "pretrain-cnn.pt"
    state, optimizer, meta = load_checkpoint(path)      # as if killed after epoch 3 of a longer stage
    save_checkpoint(path, state, optimizer, {**meta, "complete": False})
    check(world, [*args, *TINY_TRAIN, "--epochs", "2", "--resume"], 2, "nothing to train")


@pytest.fixture
def cached(world):
    """``world`` plus a feature cache and a run trained from it."""
    res = run_cli("extract-features", "--data", world / "data", "--backbone", "smallcnn", "--out", world / "f.h5")
    assert res.code == 0, res.err
    res = run_cli(*BCE, "--data", world / "data", "--run", world / "frun", "--features", world / "f.h5", *TINY_TRAIN)
    assert res.code == 0, res.err
    return world


def _corrupt(path: Path, how: str) -> None:
    import h5py

    with h5py.File(path, "a") as f:
        g = f["train"]
        if how == "labels-attr":
            f.attrs["labels"] = "not json ["
        elif how == "no-valid":
            del g["valid"]
        elif how == "done-a-string":
            g.attrs["done"] = "x"
        elif how == "done-too-big":
            g.attrs["done"] = 10 ** 9
        elif how == "short-pooled":
            del g["pooled"]
            g["pooled"] = [[0.0] * 4] * 3
        elif how == "pooled-bytes":
            del g["pooled"]
            g["pooled"] = [[b"x"]] * g["ids"].shape[0]


@pytest.mark.parametrize("how", ["labels-attr", "no-valid", "done-a-string", "done-too-big", "short-pooled",
                                 "pooled-bytes"])
@pytest.mark.parametrize("command", ["train", "extract"])
def test_feature_caches_corrupt_inside(cached, how, command):
    _corrupt(cached / "f.h5", how)
    args = ([*BCE, "--data", cached / "data", "--run", cached / "new", "--features", cached / "f.h5", *TINY_TRAIN]
            if command == "train" else
            ["extract-features", "--data", cached / "data", "--backbone", "smallcnn", "--out", cached / "f.h5"])
    if command == "extract" and how == "labels-attr":
        check(cached, args, 2, "another backbone")
        return
    check(cached, args, 2, "f.h5")


def test_predict_refuses_nan_features_and_features_of_a_trained_backbone(cached):
    import h5py

    check(cached, ["predict", "--run", cached / "run", "--data", cached / "data", "--features", cached / "f.h5"], 2,
          "trained the backbone")
    with h5py.File(cached / "f.h5", "a") as f:
        f["test"]["pooled"][0] = float("nan")
        f["test"]["spatial"][0] = float("nan")
    check(cached, ["predict", "--run", cached / "frun", "--data", cached / "data", "--features", cached / "f.h5"], 2,
          "NaN or infinite scores")


def test_extract_features_with_every_image_unreadable(world):
    for image in (world / "data" / "images").iterdir():
        image.unlink()
    res = run_cli("extract-features", "--data", world / "data", "--backbone", "smallcnn", "--out", world / "f.h5",
                  "--splits", "test")
    assert res.code == 2 and "none of the 12 images of split 'test'" in res.err and "Traceback" not in res.err
    import h5py

    assert not (world / "f.h5").exists()      # never an incomplete cache under the name training reads
    with h5py.File(world / ".f.h5.part", "r") as f:
        assert "test" not in f                # a re-run starts the split again


def test_an_empty_test_split_is_said(world):
    png(world / "in" / "a.png")
    (world / "in" / "train.csv").write_text("a.png,cat\n")
    (world / "in" / "test.csv").write_text("")
    res = run_cli("prepare", "csv", "--out", world / "p", "--train", world / "in" / "train.csv",
                  "--test", world / "in" / "test.csv")
    assert res.code == 0 and "split 'test' is empty" in res.err + res.out


def test_an_empty_nuswide_concept_list(world):
    (world / "Concepts81.txt").write_text("\n")
    (world / "t.csv").write_text("image_id,sky\n1,1\n")
    check(world, ["prepare", "nuswide", "--out", world / "p", "--concepts", world / "Concepts81.txt",
                  "--train-csv", world / "t.csv", "--test-csv", world / "t.csv"], 2, "empty")
