"""The value side of a comparison: a number, date, word or yes/no written in a condition, or a
parameter's name, resolved and checked against the type, unit and allowed values of the fact
it is compared with."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .._text import join, show, suggest
from ..facts import DECIMALS, FactSpec
from . import language as L
from ._header import normal_unit
from ._report import FileReport

__all__ = ["resolve_value"]

#: Words that mean "no value": a ruleset tests that with ``is missing``.
_NOTHING = ("null", "none", "nil", "empty", "unknown")
_YES_NO = ("yes", "no", "y", "n", "on", "off")
#: The kind of value each type of fact is compared with, and what a mismatch says.
_ONLY = {
    "date": ("date", "{fact!r} is a date; it cannot be compared with {got}"),
    "boolean": ("boolean", "{fact!r} is yes/no; compare it with true or false, not {got}"),
}


def resolve_value(
    report: FileReport, v: L.Literal_ | L.ParamRef, spec: FactSpec, path: tuple[Any, ...], used: dict[str, Any]
) -> tuple[bool, Any]:
    """Resolve and type-check a value against a fact; (ok, python value). A parameter it names
    is recorded in ``used`` with its value."""
    got = _word(report, v, spec, path, used) if isinstance(v, L.ParamRef) else _literal(report, v, spec, path)
    if got is None:
        return False, None
    kind, value = got
    return _fits(report, kind, value, spec, path, v.offset)


def _word(
    report: FileReport, v: L.ParamRef, spec: FactSpec, path: tuple[Any, ...], used: dict[str, Any]
) -> tuple[str, Any] | None:
    """A bare word: a parameter, or a value of a text fact; None (reported) when it is neither."""
    if v.name not in report.params and _not_a_value(report, v, spec, path):
        return None
    if v.name in report.params:
        return _parameter(report, v, spec, path, used)
    if spec.type == "text" and not v.negate:
        return "word", v.name
    if v.name in report.cat:
        report.bad(
            path, f"{v.name!r} is a fact; a comparison is between a fact and a value or parameter", offset=v.offset
        )
    else:
        report.bad(
            path,
            f"unknown parameter {v.name!r}",
            offset=v.offset,
            allowed=join(report.params) or "no parameters are defined in this ruleset",
            suggestion=suggest(v.name, report.params),
        )
    return None


def _not_a_value(report: FileReport, v: L.ParamRef, spec: FactSpec, path: tuple[Any, ...]) -> bool:
    """Report a word that reads as a value but is not one here: 'null' and its kin (write
    ``is missing``), or yes/no for a yes/no fact (write the fact, or ``not`` it)."""
    word = v.name.lower()
    allowed = spec.allowed or ()
    if word in _NOTHING and v.name not in allowed:
        report.bad(
            path,
            f"{v.name!r} is not a value: to test that {spec.name} has no value, write "
            f"'{spec.name} is missing' ('is present' for the opposite)",
            offset=v.offset,
            suggestion=word if word in allowed else None,
        )
        return True
    if spec.type == "boolean" and word in _YES_NO:
        report.bad(
            path,
            f"{spec.name} is yes/no: write '{spec.name}' (or '{spec.name} == true') for yes and "
            f"'not {spec.name}' (or '{spec.name} == false') for no",
            offset=v.offset,
        )
        return True
    return False


def _parameter(
    report: FileReport, v: L.ParamRef, spec: FactSpec, path: tuple[Any, ...], used: dict[str, Any]
) -> tuple[str, Any] | None:
    """A parameter's value (negated for ``-name``); None (reported) when its unit or type does not fit."""
    param = report.params[v.name]
    raw = param.value
    used[v.name] = raw
    unit = param.unit
    if unit and spec.unit and spec.type in ("number", "integer") and normal_unit(unit) != normal_unit(spec.unit):
        report.bad(
            path,
            f"parameter {v.name!r} is in {unit}; {spec.name!r} is in {spec.unit}",
            offset=v.offset,
            allowed=f"a parameter in {spec.unit} (or without a unit)",
        )
        return None
    if v.negate:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            report.bad(path, f"'-{v.name}' needs a number parameter; {v.name!r} is {show(raw)}", offset=v.offset)
            return None
        raw = -raw
    return _kind_of(raw), raw


def _kind_of(raw: Any) -> str:
    """The kind of a parameter's value, as a literal of the same value would have."""
    if isinstance(raw, bool):
        return "boolean"
    if isinstance(raw, int | float):
        return "number"
    return "date" if isinstance(raw, dt.date) else "word"


def _literal(report: FileReport, v: L.Literal_, spec: FactSpec, path: tuple[Any, ...]) -> tuple[str, Any] | None:
    """A literal; None (reported) for a percent compared with a number that is not a fraction."""
    if v.percent is not None and spec.type in ("number", "integer") and spec.unit != "fraction":
        unit = f"in {spec.unit}" if spec.unit else "not a fraction"
        report.bad(
            path,
            f"{v.percent} is a fraction; {spec.name} is {unit}",
            offset=v.offset,
            allowed=f"a number in {spec.unit}" if spec.unit else "a number",
        )
        return None
    return v.kind, v.value


def _fits(
    report: FileReport, kind: str, value: Any, spec: FactSpec, path: tuple[Any, ...], offset: int
) -> tuple[bool, Any]:
    """Whether a value of ``kind`` can be compared with the fact (reported when not)."""
    want = spec.type
    if want in ("number", "integer"):
        if kind != "number":
            report.bad(
                path,
                f"{spec.name!r} is a number ({spec.unit or 'no unit'}); it cannot be compared with "
                f"{_kind_words(kind, value)}",
                offset=offset,
            )
            return False, None
        if isinstance(value, float) and round(value, DECIMALS) != value:
            report.bad(path, f"use at most {DECIMALS} decimal places (got {value!r})", offset=offset)
            return False, None
        return True, value
    if want in _ONLY:
        only, message = _ONLY[want]
        if kind != only:
            report.bad(path, message.format(fact=spec.name, got=_kind_words(kind, value)), offset=offset)
            return False, None
        return True, value
    return _fits_text(report, kind, value, spec, path, offset)


def _fits_text(
    report: FileReport, kind: str, value: Any, spec: FactSpec, path: tuple[Any, ...], offset: int
) -> tuple[bool, Any]:
    """A text fact is compared with a word or text among its allowed values."""
    if kind not in ("word", "text"):
        report.bad(
            path,
            f"{spec.name!r} is text; it cannot be compared with {_kind_words(kind, value)}",
            offset=offset,
            allowed=join(spec.allowed or ()),
        )
        return False, None
    if spec.allowed is not None and value not in spec.allowed:
        report.bad(
            path,
            f"{value!r} is not a value of {spec.name!r}",
            offset=offset,
            allowed=join(spec.allowed),
            suggestion=suggest(str(value), spec.allowed),
        )
        return False, None
    return True, value


def _kind_words(kind: str, value: Any) -> str:
    return {
        "number": f"the number {value}",
        "date": f"the date {value}",
        "boolean": f"{str(value).lower()}",
        "word": f"the word {value!r}",
        "text": f"the text {value!r}",
    }[kind]
