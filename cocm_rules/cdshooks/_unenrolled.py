"""A patient outside an episode of care: the safety rules still run.

A patient who is not (yet) enrolled - no EpisodeOfCare, or one whose status is no registry
status (``planned``, ``waitlist``) - is exactly the one a care team must not miss, so a
positive PHQ-9 item 9 or an incomplete safety screen is escalated whatever the enrollment.
Every other rule (treatment to target, engagement, review) reads the enrollment and cannot
run; the response says so.

Which rules can run is not decided here: they are the loaded rulesets' rules of the
``suicide_risk`` category, the category the engine's safety floor
(:mod:`cocm_rules.rules.safety`) already requires to escalate its cases in every program
and registry status and whatever other facts the suicide rules read. This module only
supplies what the Bundle leaves out: the episode is evaluated once for every program and
registry status, enrolled from the patient's first measure or contact (or ``as_of``), and
a suicide-risk alert raised in any of them is kept; alerts of other categories, which
would rest on an enrollment invented for the purpose, are dropped.

This is a seam: an engine method evaluating an episode without an enrollment would take its
place (see the project's notes on the CDS Hooks service).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from ..alerts import Alert, sort_alerts
from ..episode import PROGRAMS, STATUSES, Episode
from ..fhir import PatientReading

__all__ = ["SAFETY_CATEGORY", "safety_alerts"]

#: The alert category of the safety floor: evaluated whatever the enrollment.
SAFETY_CATEGORY = "suicide_risk"


def safety_alerts(evaluate: Callable[[Episode], list[Alert]], reading: PatientReading, as_of: dt.date) -> list[Alert]:
    """The suicide-risk alerts of a patient the Bundle does not say is enrolled, in review
    order: each raised by the engine (``evaluate``) in any program and registry status."""
    dates = [*reading.assessment_dates, *reading.contact_dates, as_of]
    start = min(d for d in dates if d <= as_of)
    found: dict[str, Alert] = {}
    for program in PROGRAMS:
        for status in STATUSES:
            episode = reading.episode_with(program=program, status=status, enrollment_date=start)
            for alert in evaluate(episode):
                if alert.category == SAFETY_CATEGORY:
                    found.setdefault(alert.rule_id, alert)
    return sort_alerts(found.values())
