"""Checks on a trained run: its stages, prediction on a split, on image files and through the
Python API, its checkpoints, its threshold and its attention maps."""

from __future__ import annotations

import shutil

from mlcap.testing.context import CheckFailed, Context, expect


def check_stages(ctx: Context) -> None:
    """Every stage in its declared order trains and writes its checkpoints and history; ``predict``
    on the test split gives one record per image."""
    run = ctx.reference
    for stage in ctx.stages:
        for name in (f"{stage}.pt", f"{stage}.best.pt", f"{stage}.history.jsonl"):
            expect((run / name).is_file(), f"stage {stage} wrote no {name}")
    records = ctx.reference_predictions
    ids = sorted(ctx.test_images().values())
    expect(sorted(r.get("id") for r in records) == ids,
           f"predict --split test gave {len(records)} records for {len(ids)} test images")
    key = "caption" if ctx.task == "caption" else "labels"
    bad = [r for r in records if key not in r]
    expect(not bad, f"predict records lack {key!r}: {sorted(bad[0])}" if bad else "")


def check_images(ctx: Context) -> None:
    """``predict --images`` on copies of the test images gives the split's records."""
    folder = ctx.root / "images-copy"
    paths = ctx.test_images()
    if not folder.is_dir():
        folder.mkdir()
        for path in paths:
            shutil.copy(path, folder)
    expected = {r["id"]: r for r in ctx.reference_predictions}
    res = ctx.predict(ctx.reference, "--images", folder)
    expect(res.code == 0, f"predict --images failed (exit {res.code}): {res.err.strip()[-300:]}")
    by_name = {path.rsplit("/", 1)[-1]: sample for path, sample in paths.items()}
    got = res.json_lines()
    expect(len(got) == len(expected), f"predict --images gave {len(got)} records for {len(expected)} images")
    for row in got:
        sample = by_name[row["id"].rsplit("/", 1)[-1]]
        expect({**row, "id": sample} == expected[sample],
               f"predict --images and predict --split differ for image {sample}: "
               f"{_diff({**row, 'id': sample}, expected[sample])}")


def check_api(ctx: Context) -> None:
    """``mlcap.load_run(run).predict(paths)`` gives the records ``mlcap predict --images`` prints."""
    import mlcap

    paths = sorted(ctx.test_images())[:4]
    res = ctx.predict(ctx.reference, "--images", *paths)
    expect(res.code == 0, f"predict --images failed: {res.err.strip()[-300:]}")
    got = mlcap.load_run(ctx.reference, device="cpu").predict(paths)
    for cli, api in zip(res.json_lines(), got):
        expect(cli == api, f"load_run(...).predict and the CLI differ: {_diff(api, cli)}")


def check_weights_only(ctx: Context) -> None:
    """Every checkpoint of the run loads with ``torch.load(weights_only=True)`` (no unpickling)."""
    import torch

    files = sorted(ctx.reference.glob("*.pt"))
    expect(bool(files), "the run has no checkpoint")
    for path in files:
        try:
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 -- any failure is the finding
            raise CheckFailed(f"{path.name} does not load with weights_only=True ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None


def check_threshold(ctx: Context) -> None:
    """A method with a threshold chooses it on validation and ``predict --threshold`` overrides it;
    a method without one refuses ``--threshold`` with one line."""
    from mlcap.training.run import RunDir

    run = RunDir(ctx.reference)
    spec = run.spec()
    kind = ctx.method.threshold_kind(spec)
    if kind is None:
        res = ctx.predict(ctx.reference, "--data", ctx.data, "--split", "test", "--threshold", "0.5")
        expect(res.one_line_error(), f"a method without a threshold took predict --threshold "
                                     f"(exit {res.code}); it must refuse it with one line")
        return
    meta = run.stage_meta(ctx.last, repair=False) or {}
    expect(meta.get("threshold") is not None, f"threshold {kind!r}: none was chosen on validation in {ctx.last}")
    low = ctx.predict_split(ctx.reference, "--threshold", "0.001")
    high = ctx.predict_split(ctx.reference, "--threshold", "0.999")
    count = lambda rows: sum(len(r.get("labels", [])) for r in rows)
    expect(count(low) > count(high), f"predict --threshold 0.001 and 0.999 gave {count(low)} and {count(high)} "
                                     "labels: the threshold is not used")


def check_attention(ctx: Context) -> None:
    """``predict --attention DIR`` writes a map per emitted label where the method declares maps for
    the stage, and is refused with one line where not; the hook's maps fit the sequences."""
    folder = ctx.root / "attention"
    res = ctx.predict(ctx.reference, "--data", ctx.data, "--split", "test", "--attention", folder)
    has_maps = _check_map_shapes(ctx)
    if not has_maps:
        expect(res.one_line_error(), f"predict --attention on a {ctx.last} checkpoint without attention maps: "
                                     f"exit {res.code}, not a one-line refusal")
        return
    expect(res.code == 0, f"predict --attention failed (exit {res.code}): {res.err.strip()[-300:]}")
    emitted = sum(len(r.get("labels", [])) for r in res.json_lines())
    written = len(list(folder.rglob("*.png")))
    expect(emitted == 0 or written > 0, f"predict --attention wrote no map for {emitted} emitted labels")


def _check_map_shapes(ctx: Context) -> bool:
    """Whether the reference checkpoint has attention maps; where it has, that they fit the sequences."""
    import torch

    from mlcap.data.loader import batch_to_device
    from mlcap.inference.predictor import Predictor

    predictor = Predictor(ctx.reference, None, "best", device="cpu")
    batch = _one_test_batch(ctx, predictor)
    with torch.no_grad():
        batch = batch_to_device(batch, predictor.device)
        decoded = predictor.decode(batch, "images")
        maps = ctx.method.attention_maps(predictor.model, batch, predictor.spec, predictor.decode_options,
                                         decoded)
    if maps is None:
        return False
    expect(len(maps) == len(batch.ids), f"attention_maps gave {len(maps)} maps for {len(batch.ids)} images")
    for i, m in enumerate(maps):
        expect(m.dim() == 3 and m.shape[0] == len(decoded.sequences[i]),
               f"attention_maps: image {i} has maps of shape {tuple(m.shape)} for "
               f"{len(decoded.sequences[i])} emitted labels (want (L, h, w), one per label)")
    return True


def _one_test_batch(ctx: Context, predictor):
    from mlcap.data.loader import make_loader
    from mlcap.data.prepared import PreparedDataset

    data = PreparedDataset(ctx.data)
    loader = make_loader(data, "test", predictor.spec.image_size, predictor.mean, predictor.std, 4)
    for batch, _ in loader:
        if batch is not None:
            return batch
    raise CheckFailed("no readable test batch")


def _diff(a: dict, b: dict) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys)[:400] or "(equal)"
