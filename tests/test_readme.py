"""README's `sh` and `python` blocks, run as written, in order, in one folder: a renamed command
or option breaks the build, not the reader. Only sizes shrink: `prepare synthetic` gets
`--images 60`, the training stages and `compare` get `--epochs 1`. The folder holds what a
reader has beside the blocks: `labels.csv` with its photos and a few images in `my_photos/`,
real image files written by PIL. Blocks in other fences (`text`) are not run."""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from helpers import ROOT, run_cli

README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)
TRAINING = {"pretrain-cnn", "pretrain-rnn", "finetune", "stage", "compare"}
LABELS = ["cat", "dog", "bird"]


def shrunk(args: list[str]) -> list[str]:
    """The command with the test's sizes: fewer images, one epoch."""
    if args[:2] == ["prepare", "synthetic"]:
        return [*args, "--images", "60"]
    if args[0] in TRAINING:
        return [*args, "--epochs", "1"]
    return args


def commands(body: str):
    """Each command of a shell block as (words before `|`, mlcap words, file after `>`)."""
    for line in body.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        source = []
        if "|" in words:
            cut = words.index("|")
            source, words = words[:cut], words[cut + 1:]
        target = None
        if ">" in words:
            cut = words.index(">")
            words, target = words[:cut], words[cut + 1]
        assert words[0] == "mlcap", f"README runs only mlcap commands (and a source before a pipe): {line}"
        yield source, words[1:], target


def run_shell_block(body: str, cwd: Path) -> None:
    for source, args, target in commands(body):
        stdin = subprocess.run(source, cwd=cwd, capture_output=True, text=True, check=True).stdout if source else None
        res = run_cli(*shrunk(args), stdin=stdin)
        assert res.code == 0, f"mlcap {' '.join(args)}: {res.err}"
        if target:
            assert res.out.strip(), f"mlcap {' '.join(args)} printed nothing into {target}"
            (cwd / target).write_text(res.out)


def photo(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    base = tuple(rng.randrange(256) for _ in range(3))
    img = Image.new("RGB", (48, 40), base)
    img.putdata([tuple(min(255, c + rng.randrange(40)) for c in base) for _ in range(48 * 40)])
    img.save(path)


def readers_folder(root: Path) -> None:
    """What the README's reader has: a labelled CSV of photos, and photos of their own."""
    rows = ["path,labels"]
    for i in range(40):
        labels = [LABELS[i % 3]] + (["dog"] if i % 4 == 0 and i % 3 != 1 else [])
        photo(root / "photos" / f"{i:04d}.jpg", i)
        rows.append(f"photos/{i:04d}.jpg,{'|'.join(labels)}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    for name in ("a.png", "b.png", "holiday/c.png"):
        photo(root / "my_photos" / name, len(name))


@pytest.mark.slow
def test_readme_blocks_run_as_written(tmp_path, monkeypatch):
    blocks = BLOCK.findall(README)
    assert sum(lang == "sh" for lang, _ in blocks) >= 4 and any(lang == "python" for lang, _ in blocks)
    readers_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    for lang, body in blocks:
        if lang == "sh":
            run_shell_block(body, tmp_path)
        else:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(body, "README.md (python block)", "exec"), {})
            assert out.getvalue().strip(), "the Python block prints its results"
    for jsonl in tmp_path.glob("*.jsonl"):
        records = [json.loads(line) for line in jsonl.read_text().splitlines()]
        assert records and all("labels" in r and "scores" in r for r in records), jsonl.name
