"""Write docs/commands.md from the command line itself: every command's ``--help``, as
``mlcap COMMAND --help`` prints it (80 columns). ``tests/test_docs.py`` fails when the file differs
from what this script writes, so the reference cannot drift from the CLI.

    python docs/gen_commands.py            # rewrite docs/commands.md
    python docs/gen_commands.py --check    # exit 1 when docs/commands.md is out of date
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "commands.md"
WIDTH = 80


def _help(command, path: list[str]) -> str:
    import click

    ctx = click.Context(command, info_name=" ".join(path), terminal_width=WIDTH, max_content_width=WIDTH)
    return command.get_help(ctx).rstrip() + "\n"


def _walk(command, path: list[str]):
    yield path, command
    for name in sorted(getattr(command, "commands", {})):
        sub = command.commands[name]
        if not getattr(sub, "hidden", False):
            yield from _walk(sub, path + [name])


def render() -> str:
    os.environ["COLUMNS"] = str(WIDTH)
    os.environ["TERMINAL_WIDTH"] = str(WIDTH)
    import typer.main

    from mlcap.cli import app

    root = typer.main.get_command(app)
    parts = ["# Commands\n",
             "Every command and its options, as `mlcap COMMAND --help` prints them. This page is written by\n"
             "`python docs/gen_commands.py` from the command line itself; a test fails when it is out of date.\n"]
    for path, command in _walk(root, ["mlcap"]):
        title = " ".join(path)
        parts.append(f"\n## `{title}`\n\n```text\n{_help(command, path)}```\n")
    return "".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python docs/gen_commands.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
