"""Turn pydantic validation errors on a YAML document into located, teachable Problems."""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from ._text import join, show, suggest
from ._yaml import Document
from .errors import Problem


class StrictModel(BaseModel):
    """Base for definition models: unknown keys are errors, values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


def _keys_of(model: type[BaseModel]) -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        names.append(info.alias or name)
    return names


def _unwrap(tp: Any) -> list[Any]:
    """The concrete types an annotation may hold (Optional/Union flattened)."""
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        out = []
        for arg in get_args(tp):
            out.extend(_unwrap(arg))
        return out
    if origin is typing.Annotated:
        return _unwrap(get_args(tp)[0])
    return [tp]


def model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Best-effort: the model class that a pydantic ``loc`` points into (for "allowed keys")."""
    candidates: list[Any] = [root]
    for part in loc:
        candidates = [inner for tp in candidates for t in _unwrap(tp) for inner in _inside(t, part)]
        if not candidates:
            return None
    for tp in candidates:
        for t in _unwrap(tp):
            if isinstance(t, type) and issubclass(t, BaseModel):
                return t
    return None


def _inside(t: Any, part: Any) -> list[Any]:
    """The annotations that ``part`` (a key or an index) leads to inside the type ``t``: a
    model's field, a list's or tuple's item, a dict's value."""
    origin = get_origin(t)
    if isinstance(t, type) and issubclass(t, BaseModel):
        if not isinstance(part, str):
            return []
        return [info.annotation for name, info in t.model_fields.items() if part in (name, info.alias)]
    args = get_args(t)
    if origin in (list, tuple) and isinstance(part, int):
        if not args:
            return []
        return [args[0] if origin is list or len(args) == 2 else args[min(part, len(args) - 1)]]
    if origin is dict and isinstance(part, str) and len(args) == 2:
        return [args[1]]
    return []


_TYPE_WORDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
    "date_type": "a date (YYYY-MM-DD)",
    "tuple_type": "a list",
}


_BOUNDS = {
    "less_than_equal": "at most",
    "greater_than_equal": "at least",
    "less_than": "less than",
    "greater_than": "greater than",
}


_ABSENT = object()


def _clean_loc(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop pydantic's union/function markers (``int``, ``list[str]``, ``function-after[...]``)
    from a loc, keeping real keys and indexes.

    A part is real when it is a key (or index) of the data at that point, whatever it looks
    like: a key written ``x[1]`` or ``int`` is kept. The last part is kept too when it is not
    in the data (a missing key); a marker never comes last.
    """
    out: list[Any] = []
    for i, part in enumerate(loc):
        key_here = isinstance(data, dict) and isinstance(part, str) and part in data
        if key_here or (isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)):
            data = data[part]
        elif i == len(loc) - 1 and not _is_marker(part):
            data = _ABSENT
        else:
            continue  # a marker: the data stays where it is
        out.append(part)
    return tuple(out)


def _is_marker(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    """The value at ``path`` in ``data`` (``_ABSENT`` if there is none)."""
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return _ABSENT
    return data


def problems_from(
    exc: ValidationError,
    doc: Document,
    root: type[BaseModel],
    *,
    base: tuple[Any, ...] = (),
    describe: Any = None,
) -> list[Problem]:
    """Convert a pydantic ValidationError on ``doc.data[base]`` into located Problems.

    ``describe(path)`` may return a context string such as ``"item 'item9'"`` for a path.
    """
    problems: list[Problem] = []
    seen: set[tuple[Any, ...]] = set()
    errors = exc.errors(include_url=False)
    data = _at(doc.data, base)
    misspelt = _misspelt(errors, data, root)
    for err in errors:
        loc = _clean_loc(tuple(err["loc"]), data)
        path = (*base, *loc)
        context = describe(path) if describe else None
        if err["type"] in ("extra_forbidden", "missing"):
            problem = _key_problem(err, doc, root, loc, path, context, misspelt)
        elif path in seen:  # several union members may fail on the same spot; report the spot once
            continue
        else:
            seen.add(path)
            problem = _value_problem(err, doc, path, context)
        if problem is not None:
            problems.append(problem)
    return problems


def _misspelt(errors: list[Any], data: Any, root: type[BaseModel]) -> set[tuple[Any, ...]]:
    """Where a misspelt key shows up twice - as unknown, and the key it meant as missing - the
    locations of those "missing" keys, so the mistake is said once."""
    misspelt: set[tuple[Any, ...]] = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = _clean_loc(tuple(err["loc"]), data)
            if not loc:
                continue
            model = model_at(root, loc[:-1])
            meant = suggest(str(loc[-1]), _keys_of(model)) if model else None
            if meant:
                misspelt.add((*loc[:-1], meant))
    return misspelt


def _key_problem(
    err: Any,
    doc: Document,
    root: type[BaseModel],
    loc: tuple[Any, ...],
    path: tuple[Any, ...],
    context: str | None,
    misspelt: set[tuple[Any, ...]],
) -> Problem | None:
    """An unknown key (with what is allowed and "did you mean"), or a missing required one
    (None when it is the key a misspelt one meant)."""
    if not loc:  # cannot happen; never an IndexError
        return doc.problem(path, err["msg"], context=context)
    if err["type"] == "extra_forbidden":
        model = model_at(root, loc[:-1])
        allowed = _keys_of(model) if model else []
        key = str(loc[-1])
        return doc.problem(
            path,
            f"unknown key {key!r}",
            key=True,
            context=context,
            allowed=join(allowed) if allowed else None,
            suggestion=suggest(key, allowed),
        )
    if loc in misspelt:
        return None
    model = model_at(root, loc[:-1])
    return doc.problem(
        path[:-1],
        f"missing required key {str(loc[-1])!r}",
        key=True,
        context=context,
        allowed=join(_keys_of(model)) if model else None,
    )


def _value_problem(err: Any, doc: Document, path: tuple[Any, ...], context: str | None) -> Problem:
    """A value of the wrong type, not among the allowed ones, out of range or otherwise refused."""
    etype = err["type"]
    value = err.get("input")
    if etype == "literal_error":
        options = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        return doc.problem(
            path,
            f"{show(value)} is not allowed",
            context=context,
            allowed=join(options),
            suggestion=suggest(str(value), options) if isinstance(value, str) else None,
        )
    if etype in _TYPE_WORDS:
        message = f"expected {_TYPE_WORDS[etype]}, got {show(value)}"
        if etype == "string_type" and isinstance(value, int | float | dt.date) and not isinstance(value, bool):
            message += "; put it in quotes to make it text"
    elif etype in _BOUNDS:
        bound = next(iter(err.get("ctx", {}).values()), None)
        message = f"{show(value)} is out of range: it must be {_BOUNDS[etype]} {bound}"
    else:
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        message = msg if isinstance(value, dict | list) else f"{msg} (got {show(value)})"
    return doc.problem(path, message, context=context)
