"""A patient outside an episode of care: which rules run, and on what.

A patient who is not (yet) enrolled - no episode of care, or one whose status is no registry
status (``planned``, ``waitlist``) - is exactly the one a care team must not miss, so a
positive PHQ-9 item 9, a positive C-SSRS screen or a safety screen that could not be read is
escalated whatever the enrollment. Every other rule (treatment to target, engagement,
review) reads the enrollment and cannot run.

The decision, made here and nowhere else: the rules that run without an enrollment are the
loaded rulesets' rules of the :data:`SAFETY_CATEGORY` (``suicide_risk``), the category the
engine's safety floor (:mod:`cocm_rules.rules.safety`) already requires to escalate its cases
in every program and registry status whatever other facts they read. The episode is
evaluated once for every program and registry status the record does not give, enrolled
(where it does not say when) from the patient's first measure or contact, or ``as_of``; a
suicide-risk alert raised in any of them is kept. Alerts of other categories, which would
rest on an enrollment invented for the purpose, are dropped.

This is core, with no adapter in it: the CDS Hooks service calls it for a patient its FHIR
Bundle does not enroll; any host holding an episode record without its enrollment can. The
function takes the engine's evaluation as a callable, so it can become a method of the
engine (``Engine.evaluate_safety(record, as_of)``) without changing what it decides.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .alerts import Alert, sort_alerts
from .episode import PROGRAMS, STATUSES, Episode, parse_episode
from .vocabulary import SUICIDE_RISK

__all__ = ["ENROLLMENT_FIELDS", "SAFETY_CATEGORY", "enrollment_start", "safety_alerts", "unenrolled_episodes"]

#: The alert category evaluated whatever the enrollment (the safety floor's category).
SAFETY_CATEGORY = SUICIDE_RISK
#: The fields of an episode record that say the enrollment.
ENROLLMENT_FIELDS = ("program", "status", "enrollment_date")


def _dates(entries: Any) -> Iterator[dt.date]:
    """The dates of a record's assessments or contacts that can be read (the episode parser
    reports the others, naming them)."""
    for entry in entries if isinstance(entries, list) else ():
        value = entry.get("date") if isinstance(entry, Mapping) else None
        if isinstance(value, dt.date):
            yield value
        elif isinstance(value, str):
            try:
                yield dt.date.fromisoformat(value)
            except ValueError:
                continue


def enrollment_start(record: Mapping[str, Any], as_of: dt.date) -> dt.date:
    """The start assumed for a patient whose enrollment date is not known: the first measure
    or contact on or before ``as_of``, else ``as_of`` itself."""
    dates = [*_dates(record.get("assessments")), *_dates(record.get("contacts")), as_of]
    return min(d for d in dates if d <= as_of)


def unenrolled_episodes(
    record: Mapping[str, Any], as_of: dt.date, *, record_ref: str | None = None
) -> Iterator[Episode]:
    """The episode of ``record`` in every program and registry status it does not give (in
    the order of :data:`~cocm_rules.episode.PROGRAMS` then
    :data:`~cocm_rules.episode.STATUSES`), with :func:`enrollment_start` as its enrollment
    date when it gives none. A field the record gives is kept as it is."""
    filled = dict(record)
    if filled.get("enrollment_date") is None:
        filled["enrollment_date"] = enrollment_start(record, as_of).isoformat()
    programs = PROGRAMS if filled.get("program") is None else (filled["program"],)
    statuses = STATUSES if filled.get("status") is None else (filled["status"],)
    for program, status in itertools.product(programs, statuses):
        yield parse_episode({**filled, "program": program, "status": status}, record_ref=record_ref)


def safety_alerts(
    evaluate: Callable[[Episode], Iterable[Alert]],
    record: Mapping[str, Any],
    as_of: dt.date,
    *,
    record_ref: str | None = None,
) -> list[Alert]:
    """The suicide-risk alerts of a patient whose record does not give the enrollment, in
    review order: each raised by ``evaluate`` (an engine's evaluation as of ``as_of``) on any
    of :func:`unenrolled_episodes`, once per rule (the first raised). Raises
    :class:`~cocm_rules.InvalidInput` (naming ``record_ref``) for a record that is invalid
    for another reason than its enrollment."""
    found: dict[str, Alert] = {}
    for episode in unenrolled_episodes(record, as_of, record_ref=record_ref):
        for alert in evaluate(episode):
            if alert.category == SAFETY_CATEGORY:
                found.setdefault(alert.rule_id, alert)
    return sort_alerts(found.values())
