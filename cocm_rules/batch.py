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
from .errors import InvalidInput

__all__ = ["JsonLine", "read_records", "write_jsonl"]


class JsonLine(str):
    """One JSON Lines record, still as text, with its line number in the file.

    :func:`cocm_rules.engine.iter_episodes` validates it in one pass from the text (the
    fast path) and reports a line that is not JSON as ``line N: not valid JSON (...)``,
    as :func:`read_records` does when it parses lines itself.
    """

    lineno: int

    def __new__(cls, text: str, lineno: int) -> JsonLine:
        line = super().__new__(cls, text)
        line.lineno = lineno
        return line

    def invalid_json(self, index: int) -> RecordError | None:
        """The error record of this line if it is not valid JSON, else None."""
        try:
            json.loads(self)
        except json.JSONDecodeError as e:
            return RecordError(record=index, error=f"line {self.lineno}: not valid JSON ({e.msg} at column {e.colno})")
        return None


def _lines(stream: IO[str], *, as_text: bool = False) -> Iterator[Any]:
    index = 0
    for lineno, line in enumerate(stream, start=1):
        text = line.strip()
        if not text:
            continue
        if as_text:
            yield JsonLine(text, lineno)
        else:
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                yield RecordError(record=index, error=f"line {lineno}: not valid JSON ({e.msg} at column {e.colno})")
            else:
                if isinstance(value, str):  # would be read again downstream, as if JSON text
                    value = RecordError(record=index, error=f"line {lineno}: an episode must be a JSON object")
                yield value
        index += 1


def read_records(source: str | Path | IO[str], *, lines_as_text: bool = False) -> Iterator[Any]:
    """Yield the records of a ``.json`` file (one object or a list), a ``.jsonl`` file, or
    ``-`` / a text stream (JSON Lines). Unreadable lines are yielded as RecordError.

    With ``lines_as_text=True`` each JSON Lines record is yielded as its text (a
    :class:`JsonLine`), for :meth:`Engine.evaluate_many <cocm_rules.Engine.evaluate_many>`
    and the other batch functions to validate in one pass, which is faster than from a dict;
    the results and error records are the same.
    """
    if not isinstance(source, str | Path):
        yield from _lines(source, as_text=lines_as_text)
        return
    if str(source) == "-":
        yield from _lines(sys.stdin, as_text=lines_as_text)
        return
    path = Path(source)
    try:
        stream = path.open(encoding="utf-8")
    except OSError as e:
        raise InvalidInput(f"cannot read the caseload: {e.strerror}", field=str(path)) from e
    with stream:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            yield from _lines(stream, as_text=lines_as_text)
            return
        text = stream.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})", field=str(path)) from e
    if isinstance(data, list):
        yield from data
    elif isinstance(data, dict) and isinstance(data.get("patients"), list):
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
