"""Streaming input and output for batch work: episodes in JSON or JSON Lines, results out.

Reading is lazy for JSON Lines (one record in memory at a time). JSON is read strictly
(:mod:`cocm_rules._json`). A line that is not valid JSON, or whose JSON repeats a key in an
object (the last value would otherwise win and could hide a positive suicide item), becomes a
:class:`~cocm_rules.records.RecordError` in its place naming the line, the path and the key,
so every input record yields exactly one output record.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from . import _json
from ._json import not_utf8
from .episode import patient_id_of_pairs
from .errors import InvalidInput
from .records import JsonLine, JsonObject, PatientResult, RecordError, not_an_object, parse_line

__all__ = ["JsonLine", "JsonObject", "read_records", "write_jsonl"]


def _lines(stream: IO[str] | IO[bytes], *, as_text: bool = False) -> Iterator[Any]:
    """The records of a JSON Lines stream. A binary stream is decoded line by line, so a line
    that is not UTF-8 is one error record; a byte order mark before the first line is skipped."""
    index = 0
    lines: Iterable[str | bytes] = stream  # IO[str] | IO[bytes] yields one or the other
    for lineno, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                yield RecordError(record=index, line=lineno, error=not_utf8(e, lineno))
                index += 1
                continue
        else:
            line = raw.removeprefix("\ufeff") if lineno == 1 else raw
        text = line.strip()
        if not text:
            continue
        if as_text:
            yield JsonLine(text, lineno)
        else:
            value = parse_line(text, lineno, index)
            if isinstance(value, dict):
                value = JsonObject(value, lineno)
            elif not isinstance(value, RecordError):
                value = not_an_object(value, index, lineno)
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
    and the other batch functions to parse where they validate it; the results and error
    records are the same. A ``.json`` record whose JSON repeats a key is an error record in
    its place (a wrapper object that repeats a key raises InvalidInput).
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
        raw = stream.read().removeprefix(b"\xef\xbb\xbf")
    try:
        data = _json.loads(raw, field=str(path))
    except _json.DuplicateKey as e:
        yield from _despite_repeated_keys(raw, str(path), e)
        return
    yield from _records_of(data)


def _records_of(data: Any) -> list[Any]:
    """The records of a ``.json`` file's value: a list, ``{"patients": [...]}``, or one record."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and len(data) == 1 and isinstance(data.get("patients"), list):
        return data["patients"]
    return [data]


def _despite_repeated_keys(raw: bytes, name: str, error: _json.DuplicateKey) -> Iterator[Any]:
    """The records of a ``.json`` file in which some object repeats a key: each record that
    holds one is an error record naming the path and the key, the others are read as usual.
    Raises ``error`` when the file cannot be split into records (the wrapper repeats a key)."""
    value = _json.loads(raw, field=name, refuse_duplicate_keys=False)  # strict in every other way
    tree = _json.pairs(raw)
    if isinstance(tree, _json.Pairs) and len(tree) == 1 and tree[0][0] == "patients" and type(tree[0][1]) is list:
        trees = tree[0][1]
    else:
        trees = tree if type(tree) is list else [tree]
    records = _records_of(value)
    if len(trees) != len(records):
        raise error
    for index, (record, pairs) in enumerate(zip(records, trees, strict=True)):
        found = _json.duplicate_in(pairs)
        if found is None:
            yield record
            continue
        path, key = found
        message = _json.duplicate_message(key, path, top="the record")
        yield RecordError(
            record=index,
            patient_id=patient_id_of_pairs(pairs),
            field=path or None,
            error=InvalidInput(message, field=path or None).detail,  # the record is a field of its own
        )


def write_jsonl(results: Iterable[PatientResult | RecordError], stream: IO[str]) -> int:
    """Write each result or error record as one JSON line; return how many were written."""
    n = 0
    for r in results:
        stream.write(r.model_dump_json())
        stream.write("\n")
        n += 1
    return n
