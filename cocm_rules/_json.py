"""Strict JSON reading for every input a host sends: one reader, one set of rules.

Python's ``json.loads`` lets the last of two equal keys win, so ``{"item9": 3, "item9": 0}``
would hide a positive suicide item. :func:`loads` refuses an object with a repeated key at
any depth, and also refuses what JSON does not allow (``NaN``, ``Infinity``, lone surrogate
escapes, trailing text), numbers beyond the range of a float (``1e400``) and integers too
long to handle (4,301 or more digits).

The check costs one pass of jiter (pydantic's own Rust JSON parser) with its duplicate-key
detection on, and one pass of ``bytes.translate`` over the text looking for a number that may
be beyond float range (the parsed value is walked only when one may be); only when a record is
refused is it read again, in Python, to name the path of the object that repeats a key
(``assessments[0].answers``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import jiter

from .errors import InvalidInput

__all__ = ["MAX_DEPTH", "NESTED_TOO_DEEPLY", "DuplicateKey", "Pairs", "loads", "not_utf8", "pairs"]

#: How deeply objects and lists may nest (jiter's limit); no record of ours comes near it.
MAX_DEPTH = 200
#: Why a record's JSON could not be read when it nests objects and lists beyond the reader's limit.
NESTED_TOO_DEEPLY = "nested too deeply (objects and lists may be nested a few hundred levels at most)"

# A number beyond float range has an exponent right after a digit (``1e400``, ``1.5E+309``,
# ``1000...0e10``) or at least 309 digits in a row. The text is mapped to a skeleton - every
# digit to "0", "e"/"E" to "e", everything else to " " - in one C-level pass, and searched for
# "0e" and for 309 zeros; only then is the parsed value walked for an infinite float. (A
# regular expression over the text costs several times more.)
_SKELETON = bytes(
    ord("0") if chr(b).isdigit() and b < 128 else ord("e") if b in b"eE" else ord(" ") for b in range(256)
)
_RUN_OF_309 = b"0" * 309
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


class DuplicateKey(InvalidInput):
    """Raised by :func:`loads` for an object that repeats a key: ``field`` is the path of the
    object (``assessments[0].answers``; None for the top-level object) and ``key`` the key."""

    def __init__(self, message: str, *, key: str, record: str | None, field: str | None) -> None:
        self.key = key
        super().__init__(message, record=record, field=field)


def loads(
    data: str | bytes | bytearray,
    *,
    record: str | None = None,
    field: str | None = None,
    refuse_duplicate_keys: bool = True,
) -> Any:
    """The value of a JSON text, read strictly (see the module docstring).

    Raises :class:`~cocm_rules.InvalidInput` naming ``record`` (and ``field``, e.g. a file
    name) and, for a repeated key, a :class:`DuplicateKey` naming the path of the object and
    the key: ``assessments[0].answers: the key 'item9' appears more than once``. Values are
    never echoed. ``refuse_duplicate_keys=False`` lets the last of equal keys win: only for
    reading the rest of a text whose repeated keys are reported another way (:func:`pairs`).
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
        # cache_mode="keys": caching string values too (jiter's default) makes the parse slower
        value = jiter.from_json(raw, catch_duplicate_keys=refuse_duplicate_keys, allow_inf_nan=False, cache_mode="keys")
    except ValueError as e:
        raise _refusal(str(e), raw, record, field) from None
    skeleton = raw.translate(_SKELETON)
    if (b"0e" in skeleton or _RUN_OF_309 in skeleton) and not _finite(value):
        raise InvalidInput(
            "not valid JSON: a number is beyond the range of a floating-point number (such as 1e400)",
            record=record,
            field=field,
        )
    return value


def _finite(value: Any) -> bool:
    """Whether no float in ``value`` is infinite (jiter reads 1e400 as inf); walked only when
    the text holds a number that may be that large."""
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        v = pop()
        kind = type(v)
        if kind is dict:
            push(v.values())
        elif kind is list:
            push(v)
        elif kind is float and not math.isfinite(v):
            return False
    return True


def _refusal(message: str, raw: bytes, record: str | None, field: str | None) -> InvalidInput:
    dup = _DUPLICATE.match(message)
    if dup is not None:
        found = duplicate_in(pairs(raw))
        path, key = found if found is not None else (None, dup["key"])
        return DuplicateKey(duplicate_message(key, path), key=key, record=record, field=path or field)
    at = _AT.match(message)
    what, position = (at["what"], f" at line {at['line']} column {at['column']}") if at else (message, "")
    if what == "recursion limit exceeded":
        return InvalidInput(f"not valid JSON: {NESTED_TOO_DEEPLY}", record=record, field=field)
    return InvalidInput(f"not valid JSON ({_WORDS.get(what, what)}{position})", record=record, field=field)


def duplicate_message(key: str, path: str | None, *, top: str = "the top-level object") -> str:
    """What a repeated ``key`` in the object at ``path`` is told (``""``: the top-level object,
    called ``top``)."""
    where = top if path == "" else "one object"
    return (
        f"the key {key!r} appears more than once in {where}; each key may appear once "
        "(with a repeated key, which value counts would be a guess)"
    )


class Pairs(list):
    """An object's key-value pairs in order, duplicates kept (the slow path only)."""


def pairs(raw: str | bytes) -> Any:
    """The value of a JSON text with every object as :class:`Pairs`, repeated keys kept, or
    None if Python's reader cannot read it. For the slow paths that say which part of a text
    repeats a key; the text must have been read by :func:`loads` first."""
    try:
        return json.loads(raw, object_pairs_hook=Pairs)
    except (ValueError, RecursionError):
        return None


def duplicate_in(node: Any, path: str = "") -> tuple[str, str] | None:
    """The path of the object in a :func:`pairs` tree that repeats a key, and the key: the
    first repetition in document order, as jiter finds it; None if no object repeats a key."""
    if isinstance(node, Pairs):
        seen: set[Any] = set()
        for k, v in node:
            if k in seen:
                return path, k
            seen.add(k)
            found = duplicate_in(v, f"{path}.{k}" if path else k)
            if found is not None:
                return found
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found = duplicate_in(v, f"{path}[{i}]")
            if found is not None:
                return found
    return None
