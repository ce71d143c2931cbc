"""Episode facts of enrollment, engagement and time: the program and status, the initial
assessment and weeks in treatment, contacts and follow-ups, consultant reviews, care-team
minutes this month, the relapse prevention plan and pending consultant recommendations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from ..episode import PROGRAMS, STATUSES
from ..light_episode import AnyContact
from .rows import ViewFn, episode_fact
from .spec import Fact
from .view import CONSULTANT_REVIEWS, PATIENT_CONTACTS, EpisodeView

__all__ = ["EPISODE_FACTS"]


def _dated(date_name: str, days_name: str, what: str, date: ViewFn) -> Iterator[Fact]:
    """A date fact and its "days since" twin, from one description and one date function."""
    yield episode_fact(date_name, "date", f"date of {what}", date)
    yield episode_fact(days_name, "integer", f"days since {what}", lambda v: v.days(date(v)), unit="days", minimum=0)


def _minutes_since(contacts: list[AnyContact], first: dt.date) -> int:
    """Minutes of the contacts dated on or after ``first`` (contacts are in date order)."""
    total = 0
    for x in reversed(contacts):
        if x.date < first:
            break
        total += x.minutes or 0
    return total


def _months_between(a: dt.date, b: dt.date) -> int:
    return (b.year - a.year) * 12 + (b.month - a.month)


def _weeks_in_treatment(v: EpisodeView) -> Any:
    d = v.days(v.first_contact("initial_assessment"))
    return None if d is None else d // 7


def _plan_date(v: EpisodeView) -> dt.date | None:
    d = v.episode.relapse_prevention_plan_date
    return d if d is not None and d <= v.as_of else None


EPISODE_FACTS = (
    episode_fact(
        "program",
        "text",
        "cocm (primary care Collaborative Care) or smi (serious mental illness)",
        lambda v: v.episode.program,
        allowed=PROGRAMS,
    ),
    episode_fact("status", "text", "registry status of the episode", lambda v: v.episode.status, allowed=STATUSES),
    episode_fact("care_manager", "text", "the episode's care manager id (free text)", lambda v: v.episode.care_manager),
    episode_fact("enrollment_date", "date", "referral / enrollment date", lambda v: v.episode.enrollment_date),
    episode_fact(
        "days_since_enrollment",
        "integer",
        "days from enrollment to as_of",
        lambda v: v.days(v.episode.enrollment_date),
        unit="days",
    ),
    episode_fact(
        "has_initial_assessment",
        "boolean",
        "an initial assessment contact is recorded",
        lambda v: v.first_contact("initial_assessment") is not None,
    ),
    *_dated(
        "initial_assessment_date",
        "days_since_initial_assessment",
        "the initial assessment",
        lambda v: v.first_contact("initial_assessment"),
    ),
    episode_fact(
        "weeks_in_treatment",
        "integer",
        "whole weeks since the initial assessment (treatment start)",
        _weeks_in_treatment,
        unit="weeks",
        minimum=0,
    ),
    *_dated(
        "last_contact_date",
        "days_since_last_contact",
        "the latest contact with the patient (a case review without the patient does not count)",
        lambda v: v.last_contact(),
    ),
    *_dated(
        "last_follow_up_date",
        "days_since_last_follow_up",
        "the latest follow-up contact",
        lambda v: v.last_contact("follow_up"),
    ),
    episode_fact(
        "contacts_last_30d",
        "integer",
        "contacts with the patient in the 30 days up to and including as_of (case reviews do not count)",
        lambda v: sum(1 for x in v.contacts if x.kind in PATIENT_CONTACTS and (v.as_of - x.date).days < 30),
        unit="count",
        minimum=0,
    ),
    episode_fact(
        "follow_up_contacts",
        "integer",
        "number of follow-up contacts so far",
        lambda v: sum(1 for x in v.contacts if x.kind == "follow_up"),
        unit="count",
        minimum=0,
    ),
    episode_fact(
        "sessions",
        "integer",
        "number of initial assessment and follow-up contacts so far (registry 'sessions')",
        lambda v: sum(1 for x in v.contacts if x.kind in ("initial_assessment", "follow_up")),
        unit="count",
        minimum=0,
    ),
    *_dated(
        "last_psych_consult_date",
        "days_since_psych_consult",
        "the latest psychiatric consultation",
        lambda v: v.last_contact("psychiatric_consultation"),
    ),
    *_dated(
        "last_case_review_date",
        "days_since_case_review",
        "the latest systematic case review with the consultant",
        lambda v: v.last_contact("case_review"),
    ),
    episode_fact(
        "days_since_consultant_review",
        "integer",
        "days since the patient was last discussed with the psychiatric consultant (consultation or case review)",
        lambda v: v.days(v.last_contact(*CONSULTANT_REVIEWS)),
        unit="days",
        minimum=0,
    ),
    episode_fact(
        "minutes_this_month",
        "integer",
        "care-team minutes in the calendar month of as_of, up to as_of",
        lambda v: _minutes_since(v.contacts, v.as_of.replace(day=1)),
        unit="minutes",
        minimum=0,
    ),
    episode_fact(
        "cocm_month",
        "integer",
        "calendar month of care-manager activity: 1 in the month of the first contact",
        lambda v: _months_between(v.contacts[0].date, v.as_of) + 1 if v.contacts else None,
        unit="months",
        minimum=1,
    ),
    episode_fact(
        "has_relapse_prevention_plan",
        "boolean",
        "a relapse prevention plan is dated on or before as_of",
        lambda v: _plan_date(v) is not None,
    ),
    *_dated(
        "relapse_prevention_plan_date",
        "days_since_relapse_prevention_plan",
        "the relapse prevention plan, if dated on or before as_of",
        _plan_date,
    ),
    episode_fact(
        "pending_recommendations",
        "integer",
        "psychiatric consultant recommendations not yet acted on",
        lambda v: len(v.pending),
        unit="count",
        minimum=0,
    ),
    episode_fact(
        "days_since_oldest_pending_recommendation",
        "integer",
        "days since the oldest recommendation still pending",
        lambda v: v.days(min(r.date for r in v.pending)) if v.pending else None,
        unit="days",
        minimum=0,
    ),
)
