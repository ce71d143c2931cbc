"""Streaming input and output for batch work: episodes in JSON or JSON Lines, results out.

Reading is lazy for JSON Lines (one record in memory at a time). A line that is not valid
JSON becomes a :class:`~cocm_rules.engine.RecordError` in its place, so every input record
yields exactly one output record.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .engine import PatientResult, RecordError
from .episode import NESTED_TOO_DEEPLY, not_utf8
from .errors import InvalidInput

__all__ = ["JsonLine", "JsonObject", "read_records", "write_jsonl"]


class JsonLine(str):
    """One JSON Lines record, still as text, with its line number in the file.

    :func:`cocm_rules.engine.iter_episodes` validates it in one pass from the text (the
    fast path) and reports a line that is not JSON as an error record with its ``line``,
    as :func:`read_records` does when it parses lines itself.
    """

    lineno: int

    def __new__(cls, text: str, lineno: int) -> JsonLine:
        line = super().__new__(cls, text)
        line.lineno = lineno
        return line

    def invalid_json(self, index: int) -> RecordError | None:
        """The error record of this line if it is not valid JSON, else None."""
        value = _parse_line(self, self.lineno, index)
        return value if isinstance(value, RecordError) else None


class JsonObject(dict):  # type: ignore[type-arg]
    """One JSON Lines record, parsed: the object, with its line number in the file (so an
    error record about it can name the line)."""

    __slots__ = ("lineno",)

    def __init__(self, value: dict[str, Any], lineno: int) -> None:
        super().__init__(value)
        self.lineno = lineno


def _not_an_object(value: Any, index: int, lineno: int) -> RecordError:
    if isinstance(value, str):  # not shown: its text would be read again downstream, as if JSON
        return RecordError(record=index, line=lineno, error="an episode must be a JSON object")
    return RecordError(
        record=index, line=lineno, error=InvalidInput("an episode must be a JSON object", value=value).detail
    )


def _parse_line(text: str, lineno: int, index: int) -> Any:
    """The JSON value of one line, or the RecordError that says why it has none."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        return RecordError(record=index, line=lineno, error=f"not valid JSON ({e.msg} at column {e.colno})")
    except RecursionError:
        return RecordError(record=index, line=lineno, error=f"not valid JSON: {NESTED_TOO_DEEPLY}")


def _lines(stream: IO[str] | IO[bytes], *, as_text: bool = False) -> Iterator[Any]:
    """The records of a JSON Lines stream. A binary stream is decoded line by line, so a line
    that is not UTF-8 is one error record; a byte order mark before the first line is skipped."""
    index = 0
    for lineno, line in enumerate(stream, start=1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                yield RecordError(record=index, line=lineno, error=not_utf8(e, lineno))
                index += 1
                continue
        elif lineno == 1:
            line = line.removeprefix("\ufeff")
        text = line.strip()
        if not text:
            continue
        if as_text:
            yield JsonLine(text, lineno)
        else:
            value = _parse_line(text, lineno, index)
            if isinstance(value, dict):
                value = JsonObject(value, lineno)
            elif not isinstance(value, RecordError):
                value = _not_an_object(value, index, lineno)
            yield value
        index += 1


def read_records(source: str | Path | IO[str] | IO[bytes], *, lines_as_text: bool = False) -> Iterator[Any]:
    """Yield the records of a ``.json`` file, a ``.jsonl`` file, or ``-`` / a stream (JSON Lines).

    A ``.json`` file holds one episode object, a list of them, or a wrapper object whose only
    key is ``"patients"``: ``{"patients": [...]}`` (an object with other keys is one record).
    Files are UTF-8, with or without a byte order mark. In JSON Lines, a line that is not
    UTF-8, not JSON or not a JSON object is yielded as a RecordError in its place; every
    other line is a :class:`JsonObject` (a dict) that knows its line number, so an error
    record about it names its ``line`` as well as its ``record`` (blank lines are not records:
    the two differ after one). A ``.json`` file that is not UTF-8 or not JSON raises
    :class:`~cocm_rules.InvalidInput`.

    With ``lines_as_text=True`` each JSON Lines record is yielded as its text (a
    :class:`JsonLine`), for :meth:`Engine.evaluate_many <cocm_rules.Engine.evaluate_many>`
    and the other batch functions to validate in one pass, which is faster than from a dict;
    the results and error records are the same.
    """
    if not isinstance(source, str | Path):
        yield from _lines(source, as_text=lines_as_text)
        return
    if str(source) == "-":
        yield from _lines(getattr(sys.stdin, "buffer", sys.stdin), as_text=lines_as_text)
        return
    path = Path(source)
    try:
        stream = path.open("rb")
    except OSError as e:
        raise InvalidInput(f"cannot read the caseload: {e.strerror}", field=str(path)) from e
    with stream:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            yield from _lines(stream, as_text=lines_as_text)
            return
        raw = stream.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidInput(not_utf8(e), field=str(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})", field=str(path)) from e
    except RecursionError:
        raise InvalidInput(f"not valid JSON: {NESTED_TOO_DEEPLY}", field=str(path)) from None
    if isinstance(data, list):
        yield from data
    elif isinstance(data, dict) and len(data) == 1 and isinstance(data.get("patients"), list):
        yield from data["patients"]
    else:
        yield data


def write_jsonl(results: Iterable[PatientResult | RecordError], stream: IO[str]) -> int:
    """Write each result or error record as one JSON line; return how many were written."""
    n = 0
    for r in results:
        stream.write(r.model_dump_json())
        stream.write("\n")
        n += 1
    return n
