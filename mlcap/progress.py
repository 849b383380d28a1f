"""Progress bars and messages on stderr; stdout is kept for results. Under torchrun only rank 0
shows them (mlcap/ranks.py)."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from mlcap.ranks import is_main

stderr = Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None):
    """Yields ``advance(n=1, **fields)``; ``fields`` may set ``info`` shown after the bar."""
    if not is_main():
        yield lambda n=1, **fields: None
        return
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*columns, console=stderr, transient=False) as progress:
        task = progress.add_task(description, total=total, info="")
        yield lambda n=1, **fields: progress.update(task, advance=n, **fields)


def note(message: str) -> None:
    if not is_main():
        return
    stderr.print(message, markup=False, highlight=False, soft_wrap=True)
