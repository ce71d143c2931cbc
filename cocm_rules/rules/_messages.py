"""A rule's message template: text and ``{placeholders}`` naming facts or parameters, each
with an optional format (``{phq9.pct_reduction:.0%}``) checked against what it will show."""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

from .._text import suggest
from ..facts import FactSpec
from ._header import normal_unit
from ._report import FileReport
from .ir import MessagePart

__all__ = ["message_parts"]


def message_parts(report: FileReport, text: str, path: tuple[Any, ...], lead: int = 0) -> tuple[MessagePart, ...]:
    """Split a message into text and placeholders; ``lead`` is where ``text`` starts in the YAML value."""
    parts: list[MessagePart] = []
    pos = 0
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        report.bad(path, f"the message has a stray brace ({e}); write {{{{ or }}}} for a literal brace")
        return ()
    for literal, name, spec, conversion in parsed:
        if literal:
            parts.append(MessagePart(text=literal))
        if name is None:
            continue
        found = text.find("{" + name, pos)
        pos = found + 1 if found >= 0 else pos
        at = lead + found if found >= 0 else None
        if conversion:
            report.bad(path, f"placeholder {{{name}!{conversion}}}: '!' conversions are not allowed", offset=at)
            continue
        part = _placeholder(report, name, spec, path, at)
        if part is not None:
            parts.append(part)
    return tuple(parts)


def _placeholder(
    report: FileReport, name: str, spec: str | None, path: tuple[Any, ...], at: int | None
) -> MessagePart | None:
    """One ``{name:spec}``: a parameter or a fact whose value the format can show; None (reported) if not."""
    unit: str | None
    if name in report.params:
        sample: Any = report.params[name].value
        unit = report.params[name].unit
        is_param = True
    elif name in report.cat:
        sample = _sample(report.cat[name])
        unit = report.cat[name].unit
        is_param = False
    else:
        report.bad(
            path,
            f"unknown placeholder {{{name}}}: not a fact or a parameter",
            offset=at,
            suggestion=report.cat.suggest(name) or suggest(name, report.params),
        )
        return None
    if spec:
        fraction = normal_unit(unit) == "fraction" if unit else is_param and _is_number(sample) and abs(sample) <= 1
        problem = _format_problem(name, spec, sample, unit, fraction)
        if problem:
            allowed = (
                f"{{{name}}}, or {{{name}:.1f}} for 1 decimal; {{{name}:.0%}} for a fraction (0.25 shows as 25%)"
                if _is_number(sample)
                else f"{{{name}}} without a format (formats such as :.1f are for numbers)"
            )
            report.bad(path, problem, offset=at, allowed=allowed)
            return None
    return MessagePart(name=name, spec=spec or "", is_param=is_param)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _format_problem(name: str, spec: str, sample: Any, unit: str | None, fraction: bool) -> str | None:
    """Why ``{name:spec}`` cannot show ``sample`` (None when it can), in plain words."""
    what = (
        "a date"
        if isinstance(sample, dt.date)
        else "yes/no"
        if isinstance(sample, bool)
        else "text"
        if isinstance(sample, str)
        else "a fraction"
        if fraction
        else f"a number in {unit}"
        if unit
        else "a number"
    )
    if spec.endswith("%") and not fraction:
        return f"placeholder {{{name}:{spec}}}: '%' shows a fraction as a percent, and {name} is {what}"
    try:
        format(sample, spec)
    except (ValueError, TypeError):
        return f"placeholder {{{name}:{spec}}}: the format {spec!r} cannot show {name}, which is {what}"
    return None


def _sample(spec: FactSpec) -> Any:
    """A value of the fact's type, to try a format on."""
    return {"number": 0.5, "integer": 1, "boolean": True, "date": dt.date(2026, 1, 1)}.get(
        spec.type, (spec.allowed or ("text",))[0]
    )
