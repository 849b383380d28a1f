"""Errors meant for the person at the shell.

The CLI prints an ``MlcapError`` as one line on stderr and exits with its
``exit_code``; anything else is a bug and keeps its traceback.
"""


class MlcapError(Exception):
    """Bad input or a request that cannot be met: one line, exit status 2."""

    exit_code = 2


class NothingKept(MlcapError):
    """A prepare kept no training sample (``removed_on_failure`` adds what was dropped on the way)."""


class TrainingDiverged(MlcapError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 3


class Interrupted(MlcapError):
    """Ctrl-C (SIGINT) during training: what was kept and how to continue; exit status 130, as a
    shell reports a command ended by SIGINT."""

    exit_code = 130


def at(path, line: int | None = None) -> str:
    """``file:line`` prefix for error messages."""
    return f"{path}:{line}" if line is not None else str(path)
