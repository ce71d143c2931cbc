"""A rule's message template: text and ``{placeholders}`` naming facts or parameters, each
with an optional format (``{phq9.pct_reduction:.0%}``) checked against what it will show; its
title, which may name parameters (``Not improving after {review_after_weeks} weeks``) and is
filled in when the ruleset loads; and the check that neither writes out, as a number, the value
of a parameter the rule's condition uses (``50%`` where ``{response_reduction:.0%}`` belongs),
which would go stale when the parameter changes."""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

from .._text import suggest
from ..facts import FactSpec
from . import language as L
from ._header import normal_unit
from ._report import FileReport
from .ir import MessagePart

__all__ = ["literal_parameters", "message_parts", "title_text"]

#: A number written with a unit (``10 weeks``, ``28-day``, ``5 points``) or as a percentage
#: (``50%``); not a number that is part of a name (``PHQ-9``, ``G2214``) or a range's end (``10-12``).
_WRITTEN = re.compile(
    r"(?<![\w.\-])(?P<number>\d+(?:\.\d+)?)"
    r"(?:(?P<percent>\s?%)|[\s-](?P<unit>weeks?|days?|points?|minutes?|months?|hours?)\b)",
    re.IGNORECASE,
)


def message_parts(
    report: FileReport, text: str, path: tuple[Any, ...], lead: int = 0, what: str = "message"
) -> tuple[MessagePart, ...]:
    """Split a message (or a title: ``what``) into text and placeholders; ``lead`` is where
    ``text`` starts in the YAML value."""
    parts: list[MessagePart] = []
    pos = 0
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        report.bad(path, f"the {what} has a stray brace ({e}); write {{{{ or }}}} for a literal brace")
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


def title_text(report: FileReport, title: str, path: tuple[Any, ...]) -> tuple[str, set[str]]:
    """A rule's title with its parameter placeholders filled in, and the parameters it names.

    A title names the rule the same way for every patient, so a placeholder in it must be a
    parameter (filled in now, from the ruleset); a fact is refused (it belongs in the message).
    """
    text = " ".join(title.split())
    lead = len(title) - len(title.lstrip())
    out: list[str] = []
    used: set[str] = set()
    for part in message_parts(report, text, path, lead, "title"):
        if part.name is None:
            out.append(part.text)
        elif not part.is_param:
            report.bad(
                path,
                f"placeholder {{{part.name}}} in a title: a title names the rule the same way for every "
                f"patient, so only a parameter may fill it; put {part.name} in the message",
                offset=lead + text.find("{" + part.name),
            )
        else:
            used.add(part.name)
            out.append(_shown(report.params[part.name].value, part.spec))
    return "".join(out), used


def _shown(value: Any, spec: str) -> str:
    """A parameter's value as a title shows it (as an alert's message would)."""
    if spec:
        return format(value, spec)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def literal_parameters(
    report: FileReport, text: str, path: tuple[Any, ...], lead: int, used: Iterable[str], where: str
) -> None:
    """Report each number in ``text`` (a title or message, outside its placeholders) that writes
    out the value of a parameter the rule's condition uses (``used``): ``50%`` for a fraction of
    0.5, ``10 weeks`` for 10 weeks. Written out, it would stay when the parameter changes."""
    params = {name: report.params[name] for name in used if name in report.params}
    if not params:
        return
    spans = _placeholder_spans(text)
    for m in _WRITTEN.finditer(text):
        if any(a <= m.start() < b for a, b in spans):
            continue
        number = float(m.group("number"))
        unit = "fraction" if m.group("percent") else normal_unit(m.group("unit"))
        value = number / 100 if unit == "fraction" else number
        for name in _matching(params, value, unit):
            fmt = f"{{{name}:.0%}}" if unit == "fraction" else f"{{{name}}} {normal_unit(m.group('unit'))}"
            report.bad(
                path,
                f"{m.group(0).strip()!r} in the {where} is the value of parameter {name!r}, which this rule's "
                f"condition uses: write {fmt} so the {where} follows the parameter when your team changes it",
                offset=lead + m.start(),
                suggestion=fmt,
            )


def _matching(params: Mapping[str, L.ParameterSpec], value: float, unit: str) -> list[str]:
    """Parameters whose value is ``value`` in ``unit`` (a fraction without a unit counts as a fraction)."""
    out = []
    for name, p in params.items():
        v = p.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        p_unit = normal_unit(p.unit) if p.unit else ("fraction" if isinstance(v, float) and 0 < v < 1 else None)
        if p_unit == unit and abs(v - value) < 1e-9:
            out.append(name)
    return out


def _placeholder_spans(text: str) -> list[tuple[int, int]]:
    """Where each ``{placeholder}`` is in ``text`` (start, end)."""
    spans = []
    for m in re.finditer(r"\{[^{}]*\}", text):
        spans.append((m.start(), m.end()))
    return spans
