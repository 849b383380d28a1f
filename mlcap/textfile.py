"""Reading the user's text and JSON files: every failure is one line naming the file (and line).

Only regular files are opened (a FIFO would block forever), a UTF-8 byte-order mark is
accepted, bytes that are not UTF-8 are reported with their line, and JSON nested too deeply
for the parser is an error rather than a ``RecursionError``.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from mlcap.errors import MlcapError, at

BOM = b"\xef\xbb\xbf"


def require_regular_file(path: Path, what: str = "file") -> Path:
    """``path`` if it is a regular file (following links); otherwise a one-line error."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise MlcapError(f"{path}: {what} not found") from None
    except OSError as e:
        raise MlcapError(f"{path}: cannot read ({e.strerror})") from None
    if stat.S_ISDIR(mode):
        raise MlcapError(f"{path}: is a directory, not a {what}")
    if not stat.S_ISREG(mode):
        raise MlcapError(f"{path}: not a regular file (a FIFO or device cannot be a {what})")
    return path


def decode_utf8(data: bytes, path: Path | str, first_line: int = 1) -> str:
    """``data`` as text without a leading BOM; bytes that are not UTF-8 name their line."""
    data = data.removeprefix(BOM) if first_line == 1 else data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = first_line + data.count(b"\n", 0, e.start)
        raise MlcapError(f"{at(path, line)}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def read_text(path: Path, what: str = "file") -> str:
    """The whole file as text (see the module docstring for what is refused)."""
    path = require_regular_file(path, what)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise MlcapError(f"{path}: cannot read ({e.strerror})") from None
    return decode_utf8(data, path)


def parse_json(text: str, where: Path | str, line: int | None = None) -> Any:
    """``json.loads`` whose errors are one line: ``where`` (plus the line) and what is wrong."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        lineno = e.lineno if line is None else line
        raise MlcapError(f"{at(where, lineno)}: not valid JSON ({e.msg})") from None
    except RecursionError:
        raise MlcapError(f"{at(where, line)}: JSON nested too deeply") from None


def read_json(path: Path, what: str = "JSON file") -> Any:
    return parse_json(read_text(path, what), path)


def expect(value: Any, kind: type | tuple[type, ...], where: str, key: str) -> Any:
    """``value`` if it is of ``kind`` (a bool is not an int here); else 'WHERE: KEY must be ...'."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        names = " or ".join(_NAMES.get(k, k.__name__) for k in kinds)
        raise MlcapError(f"{where}: {key!r} must be {names}, not {_describe(value)}")
    return value


def expect_list_of(value: Any, kind: type, where: str, key: str) -> list:
    expect(value, list, where, key)
    for item in value:
        if not isinstance(item, kind) or isinstance(item, bool) and kind is not bool:
            raise MlcapError(f"{where}: {key!r} must be a list of {_PLURAL.get(kind, kind.__name__)}, "
                             f"found {_describe(item)}")
    return value


_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
          dict: "an object", type(None): "null"}

_PLURAL = {str: "strings", int: "integers", float: "numbers", dict: "objects"}


def _describe(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."
