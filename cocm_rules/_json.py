"""Strict JSON reading for every input a host sends: one reader, one set of rules.

Python's ``json.loads`` lets the last of two equal keys win, so ``{"item9": 3, "item9": 0}``
would hide a positive suicide item. :func:`loads` refuses an object with a repeated key at
any depth, and also refuses what JSON does not allow (``NaN``, ``Infinity``, lone surrogate
escapes, trailing text), numbers beyond the range of a float (``1e400``) and integers too
long to handle (4,301 or more digits).

The check costs one pass of jiter (pydantic's own Rust JSON parser) with its duplicate-key
detection on; only when a record is refused is it read again, in Python, to name the path of
the object that repeats a key (``assessments[0].answers``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import jiter

from .errors import InvalidInput

__all__ = ["MAX_DEPTH", "NESTED_TOO_DEEPLY", "loads", "not_utf8"]

#: How deeply objects and lists may nest (jiter's limit); no record of ours comes near it.
MAX_DEPTH = 200
#: Why a record's JSON could not be read when it nests objects and lists beyond the reader's limit.
NESTED_TOO_DEEPLY = "nested too deeply (objects and lists may be nested a few hundred levels at most)"

#: A number that may be beyond float range: an exponent of three digits, or 309 digits in a row.
_MAYBE_HUGE = re.compile(rb"[0-9][eE][+-]?[0-9]{3}|[0-9]{309}")
_DUPLICATE = re.compile(r'^Detected duplicate key "(?P<key>.*)" at line (?P<line>\d+) column (?P<column>\d+)$', re.S)
_AT = re.compile(r"^(?P<what>.*) at line (?P<line>\d+) column (?P<column>\d+)$", re.S)
_WORDS = {
    "number out of range": "a number is too large (integers may have at most 4,300 digits)",
    "recursion limit exceeded": NESTED_TOO_DEEPLY,
    "unexpected end of hex escape": "a \\u escape is a lone surrogate (\\ud800-\\udfff must come in pairs)",
    "invalid unicode code point": "a \\u escape is not a valid character",
    "expected value": "expected a value (NaN and Infinity are not JSON)",
}


_NEWLINE = b"\n"


def not_utf8(error: UnicodeDecodeError, lineno: int | None = None) -> str:
    """Describe a UTF-8 decoding failure by the byte and where it is, never the text around it.

    ``lineno`` is the line number of a JSON Lines line that was decoded alone: the caller
    names the line (an error record has a field for it), so the message does not. Without it
    the message starts with the line, counted in the decoded bytes.
    """
    data, start = error.object, error.start
    bad = data[start : start + 1].hex()
    column = start - data.rfind(_NEWLINE, 0, start)
    where = "" if lineno is not None else f"line {data.count(_NEWLINE, 0, start) + 1}: "
    return f"{where}not valid UTF-8 (byte 0x{bad} at byte {column} of the line); the input must be UTF-8 text"


def loads(data: str | bytes | bytearray, *, record: str | None = None, field: str | None = None) -> Any:
    """The value of a JSON text, read strictly (see the module docstring).

    Raises :class:`~cocm_rules.InvalidInput` naming ``record`` (and ``field``, e.g. a file
    name) and, for a repeated key, the path of the object and the key: ``assessments[0].answers:
    the key 'item9' appears more than once``. Values are never echoed.
    """
    if isinstance(data, str):
        raw = data.encode("utf-8", "surrogatepass")
    else:
        raw = bytes(data)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidInput(not_utf8(e), record=record, field=field) from None
    try:
        value = jiter.from_json(raw, catch_duplicate_keys=True, allow_inf_nan=False)
    except ValueError as e:
        raise _refusal(str(e), raw, record, field) from None
    if _MAYBE_HUGE.search(raw) is not None and not _finite(value):
        raise InvalidInput(
            "not valid JSON: a number is beyond the range of a floating-point number (such as 1e400)",
            record=record,
            field=field,
        )
    return value


def _finite(value: Any) -> bool:
    """Whether no float in ``value`` is infinite (jiter reads 1e400 as inf); walked only when
    the text holds a number that may be that large."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values() if not isinstance(v, str | int))
    if isinstance(value, list):
        return all(_finite(v) for v in value if not isinstance(v, str | int))
    return True


def _refusal(message: str, raw: bytes, record: str | None, field: str | None) -> InvalidInput:
    dup = _DUPLICATE.match(message)
    if dup is not None:
        key = dup["key"]
        path = _path_of_duplicate(raw)
        where = "the top-level object" if path == "" else "one object"
        return InvalidInput(
            f"the key {key!r} appears more than once in {where}; each key may appear once "
            "(with a repeated key, which value counts would be a guess)",
            record=record,
            field=path or field,
        )
    at = _AT.match(message)
    what, position = (at["what"], f" at line {at['line']} column {at['column']}") if at else (message, "")
    if what == "recursion limit exceeded":
        return InvalidInput(f"not valid JSON: {NESTED_TOO_DEEPLY}", record=record, field=field)
    return InvalidInput(f"not valid JSON ({_WORDS.get(what, what)}{position})", record=record, field=field)


class _Pairs(list):  # type: ignore[type-arg]
    """An object's key-value pairs in order, duplicates kept (the slow path only)."""


def _path_of_duplicate(raw: bytes) -> str | None:
    """The path of the first object (depth first, in document order) that repeats a key: ``""``
    for the top-level object, None if none is found."""
    try:
        tree = json.loads(raw, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return None

    def walk(node: Any, path: str) -> str | None:
        if isinstance(node, _Pairs):
            keys = [k for k, _ in node]
            if len(set(keys)) != len(keys):
                return path
            for k, v in node:
                found = walk(v, f"{path}.{k}" if path else k)
                if found is not None:
                    return found
        elif isinstance(node, list):
            for i, v in enumerate(node):
                found = walk(v, f"{path}[{i}]")
                if found is not None:
                    return found
        return None

    return walk(tree, "")
