"""Checks that a method's training is reproducible: a killed stage resumed, 0 or 2 loader
workers, and 1 or 2 gloo ranks all train what one uninterrupted process trains."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from mlcap.testing.cli import mlcap_command, run_cli, subprocess_env
from mlcap.testing.context import CheckFailed, Context, expect, history

#: Epochs of the resumed stage, and the validation selecting its best checkpoint every epoch.
RESUME_EPOCHS = 2
#: Distributed check: one epoch of plain SGD with small steps (Adam turns float rounding of
#: near-zero gradients into full steps, and large steps on the summed sequence losses amplify
#: rounding from step to step), a global batch of 16 (8 per rank), per-step losses recorded, batch
#: norm synchronised. The first step's loss comes before any update: the same forward pass on the
#: same images, so it must agree closer (a loss that weighs a process's share differently shows
#: there).
RANKS_ARGS = ("--epochs", "1", "--optimizer", "sgd", "--lr", "0.001", "--momentum", "0", "--step-losses",
              "--sync-bn")
RANKS_TOLERANCE, FIRST_STEP_TOLERANCE = 1e-4, 1e-5


def _same_checkpoints(a: Path, b: Path, names: list[str], what: str) -> None:
    import torch

    from mlcap.training.checkpoint import load_checkpoint

    for name in names:
        wa, _, ma = load_checkpoint(a / name)
        wb, _, mb = load_checkpoint(b / name)
        expect(wa.keys() == wb.keys(), f"{what}: {name} holds other tensors")
        differing = [k for k in wa if not torch.equal(wa[k], wb[k])]
        expect(not differing, f"{what}: {name} differs in {len(differing)} tensors, e.g. {differing[:2]}")
        expect((ma.get("epoch"), ma.get("threshold")) == (mb.get("epoch"), mb.get("threshold")),
               f"{what}: {name} has epoch/threshold {ma.get('epoch')}/{ma.get('threshold')} vs "
               f"{mb.get('epoch')}/{mb.get('threshold')}")


def check_resume(ctx: Context) -> None:
    """SIGKILL in the middle of the last stage, then ``--resume``: the last and best checkpoints,
    the history and the threshold are those of an uninterrupted run, bit for bit."""
    stage, epochs = ctx.last, RESUME_EPOCHS
    for attempt in range(3):
        extra = ("--epochs", str(epochs), "--seed", "7", "--batch-size", "8")
        straight = ctx.before_last(ctx.root / f"resume-straight-{attempt}")
        killed = ctx.before_last(ctx.root / f"resume-killed-{attempt}")
        res = run_cli(*ctx.stage_args(stage, straight, *extra))
        expect(res.code == 0, f"{stage} with {epochs} epochs failed: {res.err.strip()[-300:]}")
        if _kill_after_first_epoch(ctx.stage_args(stage, killed, *extra), killed / f"{stage}.json"):
            break
        epochs *= 2                              # the stage ended before the kill: a longer one
    else:
        raise CheckFailed(f"resume: {stage} never ran long enough to be killed in the middle")
    res = run_cli(*ctx.stage_args(stage, killed, *extra, "--resume"))
    expect(res.code == 0, f"{stage} --resume after SIGKILL failed: {res.err.strip()[-300:]}")
    _same_checkpoints(straight, killed, [f"{stage}.pt", f"{stage}.best.pt"], "killed and resumed")
    expect(history(straight, stage) == history(killed, stage),
           f"killed and resumed: {stage}.history.jsonl differs from the uninterrupted run's")


def _kill_after_first_epoch(args: list, meta: Path) -> bool:
    """Run ``mlcap ARGS`` and SIGKILL it once its first epoch's checkpoint is written; True when the
    kill landed before the stage was complete."""
    proc = subprocess.Popen(mlcap_command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=subprocess_env())
    deadline = time.time() + 300
    while not meta.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return meta.exists() and not json.loads(meta.read_text()).get("complete", False)


def check_workers(ctx: Context) -> None:
    """Every stage with 2 DataLoader workers trains the weights and validation losses of 0 workers."""
    run = ctx.train(ctx.root / "workers-2", None, "--num-workers", "2")
    _same_checkpoints(ctx.reference, run, [f"{s}.pt" for s in ctx.stages], "0 and 2 loader workers")
    for stage in ctx.stages:
        a = [r.get("val/loss") for r in history(ctx.reference, stage)]
        b = [r.get("val/loss") for r in history(run, stage)]
        expect(a == b, f"0 and 2 loader workers: {stage}'s validation losses differ ({a} vs {b})")


def check_ranks(ctx: Context) -> None:
    """The last stage under ``torchrun`` with 2 gloo processes takes the steps of one process with
    the same global batch (per-step losses within 1e-4, relative)."""
    stage = ctx.last
    single = ctx.before_last(ctx.root / "ranks-1")
    res = run_cli(*ctx.stage_args(stage, single, *RANKS_ARGS))
    expect(res.code == 0, f"{stage} with SGD in one process failed: {res.err.strip()[-300:]}")
    double = ctx.before_last(ctx.root / "ranks-2")
    cmd = ["torchrun", "--nproc-per-node", "2", "-m", "mlcap", "--",
           *map(str, ctx.stage_args(stage, double, *RANKS_ARGS))]
    proc = subprocess.run(cmd, env=subprocess_env(OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=600)
    lines = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    expect(proc.returncode == 0, f"{stage} under torchrun with 2 ranks failed: {(lines or ['?'])[-1][:300]}")
    a, b = _step_losses(single, stage), _step_losses(double, stage)
    expect(len(a) == len(b) and len(a) > 0, f"1 and 2 ranks: {len(a)} vs {len(b)} step losses")
    relative = [abs(x - y) / max(abs(x), 1e-8) for x, y in zip(a, b)]
    expect(relative[0] <= FIRST_STEP_TOLERANCE, f"1 and 2 ranks: the first step's loss (before any update) "
                                                f"differs by {relative[0]:.2e} (relative) > {FIRST_STEP_TOLERANCE:g}")
    expect(max(relative) <= RANKS_TOLERANCE, f"1 and 2 ranks: step losses differ by {max(relative):.2e} "
                                             f"(relative) > {RANKS_TOLERANCE:g}")


def _step_losses(run: Path, stage: str) -> list[float]:
    out: list[float] = []
    for row in history(run, stage):
        out.extend(row.get("step_losses") or [])
    return out
