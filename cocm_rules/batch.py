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

__all__ = ["read_records", "write_jsonl"]


def _lines(stream: IO[str]) -> Iterator[Any]:
    index = 0
    for lineno, line in enumerate(stream, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            yield json.loads(text)
        except json.JSONDecodeError as e:
            yield RecordError(record=index, error=f"line {lineno}: not valid JSON ({e.msg} at column {e.colno})")
        index += 1


def read_records(source: str | Path | IO[str]) -> Iterator[Any]:
    """Yield the records of a ``.json`` file (one object or a list), a ``.jsonl`` file, or
    ``-`` / a text stream (JSON Lines). Unreadable lines are yielded as RecordError."""
    if not isinstance(source, str | Path):
        yield from _lines(source)
        return
    if str(source) == "-":
        yield from _lines(sys.stdin)
        return
    path = Path(source)
    try:
        stream = path.open(encoding="utf-8")
    except OSError as e:
        raise InvalidInput(f"cannot read the caseload: {e.strerror}", field=str(path)) from e
    with stream:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            yield from _lines(stream)
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
