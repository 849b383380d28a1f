"""What every check of ``check_method`` works on: one method, one task, a tiny synthetic dataset,
and the reference run (every stage of the method, one tiny epoch each), trained once."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mlcap.testing.cli import Result, run_cli

#: The tiny sizes every check trains with: one epoch, 16 images a batch, on the CPU.
TINY = ("--epochs", "1", "--batch-size", "16", "--device", "cpu")
#: Flags of a run's first stage per task (they are fixed for the run's later stages); 32 pixels a
#: side (the synthetic images have 64) keep every check quick.
IMAGE_SIZE = 32
FIRST_STAGE = ("--image-size", str(IMAGE_SIZE))
TASK_FLAGS = {"multilabel": (), "caption": ("--task", "caption", "--vocab-size", "15")}
#: The synthetic set: 42 train / 6 val / 12 test images (seed 3).
IMAGES, DATA_SEED = 60, 3


class CheckFailed(AssertionError):
    """One guarantee a method does not keep (the message says which and how)."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def make_data(root: Path) -> Path:
    """The tiny synthetic dataset under ``root`` (made once; reused when it is there)."""
    from mlcap.data.synthetic import generate

    root = Path(root)
    if not (root / "dataset.json").is_file():
        generate(root, images=IMAGES, seed=DATA_SEED)
    return root


def declared_stages(method, task: str) -> tuple[str, ...]:
    """The stages a full training of ``method`` for ``task`` runs, in order."""
    from mlcap.plugins import training_stages
    from mlcap.protocol import ModelSpec

    return training_stages(method, ModelSpec(labels=[], task=task))


@dataclass
class Context:
    name: str
    method: object
    task: str
    root: Path
    data: Path
    stages: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)      # method options of the run's first stage
    _runs: dict = field(default_factory=dict)

    @property
    def xfail(self) -> dict[str, str]:
        """The method's ``xfail_checks``: check (or ``later_options:<option>``) -> why it fails."""
        return dict(self.method.xfail_checks)

    @property
    def last(self) -> str:
        return self.stages[-1]

    def stage_args(self, stage: str, run: Path, *extra) -> list:
        first = self.stages.index(stage) == 0 if stage in self.stages else True
        flags = [*FIRST_STAGE, *TASK_FLAGS[self.task], *self.option_flags()] if first else []
        return [stage, "--method", self.name, "--data", self.data, "--run", run, *TINY, *flags, *extra]

    def option_flags(self) -> list[str]:
        return [f for name, value in self.options.items() for f in ("--option", f"{name}={_cli_value(value)}")]

    def train(self, run: Path, stages=None, *extra) -> Path:
        for stage in stages if stages is not None else self.stages:
            res = run_cli(*self.stage_args(stage, run, *extra))
            expect(res.code == 0, f"`mlcap {stage}` failed (exit {res.code}): {_tail(res)}")
        return run

    @property
    def reference(self) -> Path:
        """Every stage, one tiny epoch each, 0 loader workers (trained on first use)."""
        if "reference" not in self._runs:
            self._runs["reference"] = self.train(self.root / "reference")
        return self._runs["reference"]

    @property
    def reference_predictions(self) -> list[dict]:
        """``predict --split test`` of the reference run (made on first use)."""
        if "predictions" not in self._runs:
            self._runs["predictions"] = self.predict_split(self.reference)
        return self._runs["predictions"]

    def before_last(self, dest: Path) -> Path:
        """A copy of the reference run without its last stage's files (the last stage not yet run)."""
        shutil.copytree(self.reference, dest)
        for path in dest.iterdir():
            if path.name.split(".")[0] == self.last or path.name.startswith(f".{self.last}."):
                path.unlink()
        return dest

    def predict(self, run: Path, *extra) -> Result:
        return run_cli("predict", "--run", run, "--device", "cpu", *extra)

    def predict_split(self, run: Path, *extra) -> list[dict]:
        res = self.predict(run, "--data", self.data, "--split", "test", *extra)
        expect(res.code == 0, f"`mlcap predict --split test` failed (exit {res.code}): {_tail(res)}")
        return res.json_lines()

    def test_images(self) -> dict[str, str]:
        """Image path -> sample id, for the test split."""
        rows = [json.loads(line) for line in (self.data / "test.jsonl").read_text().splitlines()]
        return {str(self.data / row["image"]): row["id"] for row in rows}


def _cli_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _tail(res: Result) -> str:
    lines = [line for line in res.err.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(nothing on stderr)"


def history(run: Path, stage: str) -> list[dict]:
    """The stage's history rows without the timings (which differ between identical runs)."""
    rows = [json.loads(line) for line in (run / f"{stage}.history.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in ("seconds", "images_per_s")} for row in rows]
