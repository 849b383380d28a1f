"""How a command ends: every error is one line on stderr with its exit status, never a traceback.

``run_command`` wraps the typer app: ``MlcapError`` (bad input), errors of the system (a full
disk, a file-size limit, a name too long), stdout closed or full, a reader that went away, and an
empty argument. (A failed ``prepare`` leaves no half dataset: mlcap/cli/prepare_out.py.)
"""

from __future__ import annotations

import os
import sys

from mlcap.errors import Interrupted, MlcapError


def run_command(app) -> None:
    """Run the typer ``app``. Usage errors are click's (exit 2); ``MlcapError`` is one line on stderr
    with its exit code; so is an error of the system (full disk, a file-size limit, a name too
    long, stdout closed or full)."""
    if sys.stdout is None:
        _fail("mlcap: error: stdout is closed; results would be lost (redirect it, e.g. > /dev/null)", 2)
    original = sys.stdout
    sys.stdout = _GuardedStdout(original)
    try:
        _main(app)
    finally:
        sys.stdout = original


def _main(app) -> None:
    empty = _empty_argument(sys.argv[1:])
    if empty is not None:
        _fail(f"mlcap: error: {empty} is given an empty value (an empty path would mean the current "
              "directory: write . for that)", 2)
    try:
        _run_app(app)
    except Interrupted as e:
        _fail(f"mlcap: {e}", e.exit_code)
    except MlcapError as e:
        _fail(f"mlcap: error: {e}", e.exit_code)
    except KeyboardInterrupt:
        _fail("mlcap: interrupted", 130)
    except BrokenPipeError:
        _stdout_gone()
        sys.exit(141)                       # as a shell reports a reader that went away (128 + SIGPIPE)
    except OSError as e:
        _fail(f"mlcap: error: {str(e.filename) + ': ' if e.filename else ''}{e.strerror or e}", 2)


def _empty_argument(argv: list[str]) -> str | None:
    """The option given ``""`` (``--run ""`` or ``--run=``), if any; no mlcap argument may be empty."""
    for i, arg in enumerate(argv):
        if arg.startswith("--") and arg.endswith("=") and len(arg) > 3:
            return arg[:-1]
        if not arg.strip():
            return argv[i - 1] if i and argv[i - 1].startswith("-") else "an argument"
    return None


def _run_app(app) -> None:
    try:
        app()
        code = 0
    except SystemExit as e:
        code = e.code
    sys.stdout.flush()                      # here, where a full disk is still an error with a message
    sys.exit(code)


class _GuardedStdout:
    """stdout whose write errors (a full disk, a closed pipe) end the command with one line."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._guard(self._stream.write, text)

    def flush(self) -> None:
        self._guard(self._stream.flush)

    def _guard(self, call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as e:
            _stdout_gone()
            raise MlcapError(f"stdout: {getattr(e, 'strerror', None) or e}; results were not all written") from None

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _fail(message: str, code: int) -> None:
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    sys.exit(code)


def _stdout_gone() -> None:
    """Point fd 1 at /dev/null so that the interpreter's own flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
    except (OSError, ValueError, AttributeError):
        pass
