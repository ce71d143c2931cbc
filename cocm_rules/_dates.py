"""Which calendar date a date or date-time written by a host means: one rule for every reader.

The rule: **the calendar date as written**. ``2026-11-02`` is 2 November 2026, and so are
``2026-11-02T23:30:00-05:00``, ``2026-11-02T04:30:00Z`` and ``2026-11-02T10:30`` - the
time and the offset are checked, then left out; the date is never shifted into another time
zone. A registry records the local date the patient answered, and a care team counts days
and weeks in those dates; converting ``23:30 -05:00`` to UTC would move the answer to the
next day. The episode reader (:mod:`cocm_rules.episode`) and the FHIR reader
(``QuestionnaireResponse.authored``, ``Observation.effectiveDateTime``, ``Period.start``)
both use :func:`calendar_date`. ``as_of`` is a date, never a date-time (the CDS Hooks
service's ``timezone`` setting only says which date "today" is).

Accepted forms (ASCII digits only): ``YYYY-MM-DD``, optionally followed by ``T`` (or ``t``
or a space) and ``hh:mm``, ``hh:mm:ss`` or ``hh:mm:ss.fraction``, optionally followed by
``Z`` or an offset ``+hh:mm`` / ``-hh:mm``. Seconds may be 60 (a leap second).
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["DATE_ONLY_PATTERN", "DATE_TIME_PATTERN", "DateProblem", "calendar_date"]

#: A plain date, ``YYYY-MM-DD`` (the common case, checked without a Python call by pydantic-core).
DATE_ONLY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_TIME = (
    r"[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]"  # hh:mm
    r"(?::(?:[0-5][0-9]|60)(?:\.[0-9]+)?)?"  # :ss, :ss.fraction
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"  # Z or an offset
)
#: A date or a date-time in one of the accepted forms (for JSON Schema and documentation).
DATE_TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:" + _TIME + r")?$"

_PREFIX = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
_REST = re.compile(_TIME)


class DateProblem(ValueError):
    """Why a text is not a date: ``partial`` (no day: ``2026-11``), ``form`` (not one of the
    accepted forms) or ``unreal`` (``2026-02-30``). The message says it in words."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


def calendar_date(text: str, *, whole: bool = True) -> dt.date:
    """The calendar date of a date or date-time, as written (see the module docstring).

    With ``whole=False`` only the leading ``YYYY-MM-DD`` is read and the rest is not checked
    (the FHIR reader, whose resources are checked against the FHIR types elsewhere). Raises
    :class:`DateProblem` (a ``ValueError``) saying why ``text`` is not one.
    """
    m = _PREFIX.match(text)
    if m is None or m.group(3) is None:
        if m is not None and m.end() == len(text):
            raise DateProblem("partial", f"{text!r} is not a full date: a day is needed (YYYY-MM-DD)")
        raise DateProblem("form", _expected(text))
    if whole and m.end() != len(text) and _REST.fullmatch(text, m.end()) is None:
        raise DateProblem("form", _expected(text))
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise DateProblem("unreal", f"{text!r} is not a real date (YYYY-MM-DD)") from None


def _expected(text: str) -> str:
    return (
        f"expected a date (YYYY-MM-DD) or a date-time (YYYY-MM-DDThh:mm:ss, optionally with Z or an "
        f"offset such as -05:00), got {text!r}"
    )
