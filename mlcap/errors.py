"""Errors meant for the person at the shell.

The CLI prints an ``MlcapError`` as one line on stderr and exits with its
``exit_code``; anything else is a bug and keeps its traceback.
"""


class MlcapError(Exception):
    """Bad input or a request that cannot be met: one line, exit status 2."""

    exit_code = 2


class NothingKept(MlcapError):
    """A prepare kept no training sample (mlcap/cli/prepare_out.py adds what was dropped on the way)."""


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


def did_you_mean(name, valid) -> str:
    """``; did you mean 'b'?`` where one of ``valid`` is close to ``name`` (difflib, case-insensitive), else ``""``."""
    import difflib

    lower = {str(v).lower(): str(v) for v in valid}
    close = difflib.get_close_matches(str(name).lower(), list(lower), n=1)
    return f"; did you mean {lower[close[0]]!r}?" if close else ""


def unknown_name(what: str, name, valid, known: str = "known") -> MlcapError:
    """One line for a name that is not one of ``valid``: ``unknown WHAT 'name' (KNOWN: a, b, c)``,
    with ``did_you_mean``'s hint."""
    valid = [str(v) for v in valid]
    return MlcapError(f"unknown {what} {name!r} ({known}: {', '.join(valid) or 'none'}){did_you_mean(name, valid)}")
