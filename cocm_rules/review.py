"""The psychiatric consultant's review list: who to discuss this week, why, and their registry row.

Suicide risk comes first, structurally: every patient with a ``suicide_risk`` reason ranks
above every patient without one, whatever priorities the rulesets set. Within each of the two
groups, patients are ranked by their first reason in review order (the highest priority, then
severity, as :func:`cocm_rules.alerts.sort_alerts` orders alerts), then by the number of
reasons, then by patient id so the order is deterministic. ``min_severity`` leaves out
alerts below a severity, never a suicide-risk alert: a C-SSRS screen of low risk (moderate)
or a positive PHQ-9 item 9 (high) puts the patient on the list whatever the threshold.
Each entry carries its reasons (the alerts, like the FLAGS column of the AIMS registry) and
the registry row: status, first and last PHQ-9 / GAD-7 / PCL-5 with dates, initial assessment,
last follow-up, last psychiatric consultation and case review, relapse prevention plan date,
sessions, weeks since the initial assessment and minutes this month.

Given acknowledgements (e.g. from :mod:`cocm_rules.store`), each reason carries its state
(new, acknowledged, snoozed until a day, refired): an acknowledged or snoozed reason is still
listed and still ranks, so a host or the consultant sees what is new and what is back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._once import episodes_once
from .alerts import Acknowledgement, Alert, sort_alerts
from .engine import Engine
from .errors import InvalidInput
from .lifecycle import parse_acknowledgements
from .records import RecordError
from .vocabulary import REVIEW_CATEGORIES, SEVERITIES, SUICIDE_RISK, review_order, severity_rank

__all__ = [
    "REVIEW_CATEGORIES",
    "REVIEW_MIN_SEVERITY",
    "ROW_FACTS",
    "RegistryRow",
    "ReviewEntry",
    "ReviewList",
    "rank_key",
    "review_list",
    "review_reasons",
]

#: Lowest severity of a review alert that puts a patient on the list.
REVIEW_MIN_SEVERITY = "moderate"

#: Registry columns, as facts.
ROW_FACTS = {
    "status": "status",
    "program": "program",
    "care_manager": "care_manager",
    "phq9_first": "phq9.baseline",
    "phq9_first_date": "phq9.baseline_date",
    "phq9_last": "phq9.latest",
    "phq9_last_date": "phq9.latest_date",
    "gad7_first": "gad7.baseline",
    "gad7_first_date": "gad7.baseline_date",
    "gad7_last": "gad7.latest",
    "gad7_last_date": "gad7.latest_date",
    "pcl5_first": "pcl5.baseline",
    "pcl5_first_date": "pcl5.baseline_date",
    "pcl5_last": "pcl5.latest",
    "pcl5_last_date": "pcl5.latest_date",
    "initial_assessment_date": "initial_assessment_date",
    "last_follow_up_date": "last_follow_up_date",
    "last_psych_consult_date": "last_psych_consult_date",
    "last_case_review_date": "last_case_review_date",
    "relapse_prevention_plan_date": "relapse_prevention_plan_date",
    "sessions": "sessions",
    "weeks_since_initial_assessment": "weeks_in_treatment",
    "minutes_this_month": "minutes_this_month",
}


class RegistryRow(BaseModel):
    """One patient's registry columns as of the review date (missing values are null)."""

    model_config = ConfigDict(frozen=True)

    patient_id: str
    status: str
    program: str
    care_manager: str | None = None
    phq9_first: int | float | None = None
    phq9_first_date: dt.date | None = None
    phq9_last: int | float | None = None
    phq9_last_date: dt.date | None = None
    gad7_first: int | float | None = None
    gad7_first_date: dt.date | None = None
    gad7_last: int | float | None = None
    gad7_last_date: dt.date | None = None
    pcl5_first: int | float | None = None
    pcl5_first_date: dt.date | None = None
    pcl5_last: int | float | None = None
    pcl5_last_date: dt.date | None = None
    initial_assessment_date: dt.date | None = None
    last_follow_up_date: dt.date | None = None
    last_psych_consult_date: dt.date | None = None
    last_case_review_date: dt.date | None = None
    relapse_prevention_plan_date: dt.date | None = None
    sessions: int = 0
    weeks_since_initial_assessment: int | None = None
    minutes_this_month: int = 0


class ReviewEntry(BaseModel):
    """A patient on the review list: rank, the reasons (alerts) and the registry row."""

    model_config = ConfigDict(frozen=True)

    rank: int
    patient_id: str
    record: int = Field(description="0-based position of the patient's record in the input")
    line: int | None = Field(default=None, description="1-based line of the record in a JSON Lines input")
    priority: int = Field(description="priority of the first reason (suicide risk first, then highest priority)")
    severity: str = Field(description="severity of the first reason")
    reasons: list[Alert] = Field(description="the review alerts in review order: suicide risk first, then priority")
    other_alerts: list[Alert] = Field(default_factory=list, description="the patient's other alerts (e.g. engagement)")
    row: RegistryRow


class ReviewList(BaseModel):
    """The review list for one date, plus the records that could not be evaluated."""

    model_config = ConfigDict(frozen=True)

    as_of: dt.date
    patients_evaluated: int
    entries: list[ReviewEntry]
    errors: list[RecordError] = Field(default_factory=list)


def _is_review(alert: Alert, categories: tuple[str, ...], min_rank: int) -> bool:
    # a suicide-risk alert is never below the threshold: the list must not hide a risk
    return alert.category in categories and (
        alert.category == SUICIDE_RISK or severity_rank(alert.severity) >= min_rank
    )


def review_reasons(
    alerts: Iterable[Alert],
    categories: Iterable[str] = REVIEW_CATEGORIES,
    min_severity: str = REVIEW_MIN_SEVERITY,
) -> list[Alert]:
    """The alerts that put a patient on the review list, in review order (empty: not listed)."""
    cats, min_rank = tuple(categories), severity_rank(min_severity)
    return sort_alerts(a for a in alerts if _is_review(a, cats, min_rank))


def rank_key(reasons: list[Alert], patient_id: str) -> tuple[bool, int, int, int, str]:
    """Where a patient with these review ``reasons`` (in review order, as on a
    :class:`ReviewEntry`) ranks: the list is sorted by this key, ascending (then by input
    order). Suicide risk first (:func:`~cocm_rules.vocabulary.review_order` of the first
    reason), then its priority and severity (highest first), then the number of reasons
    (most first), then the patient id."""
    top = reasons[0]
    return (*review_order(top.category, top.priority, top.severity, "")[:3], -len(reasons), patient_id)


def review_list(
    engine: Engine,
    records: Iterable[Any],
    as_of: dt.date,
    *,
    categories: Iterable[str] = REVIEW_CATEGORIES,
    min_severity: str = REVIEW_MIN_SEVERITY,
    limit: int | None = None,
    acknowledgements: Iterable[Any] | None = None,
) -> ReviewList:
    """Rank the patients the psychiatric consultant should review as of ``as_of``.

    ``acknowledgements`` (those of the store, say) set each reason's ``state``; an acknowledged
    or snoozed reason is still listed and ranks as before.

    Every record is evaluated; a record that cannot be is returned in ``errors``, never
    dropped. A patient is listed once: a later record with a ``patient_id`` already seen is
    an error record naming the first one, and is not evaluated. ``categories`` and
    ``min_severity`` choose which alerts put a patient on the list (``min_severity`` never
    leaves out a suicide-risk alert); ``limit`` keeps the
    first N entries. Every patient with a suicide-risk reason ranks above every patient
    without one, whatever the priorities.
    """
    cats = tuple(categories)
    if min_severity not in SEVERITIES:
        raise InvalidInput("unknown severity", field="min_severity", value=min_severity, allowed=", ".join(SEVERITIES))
    by_patient: dict[str, list[Acknowledgement]] = {}
    for ack in parse_acknowledgements(acknowledgements):
        by_patient.setdefault(ack.patient_id, []).append(ack)
    candidates: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    errors: list[RecordError] = []
    evaluated = 0
    for index, line, item in episodes_once(records):
        if isinstance(item, RecordError):
            errors.append(item)
            continue
        ep = item
        alerts, facts = engine.assess(ep, as_of, ROW_FACTS.values(), by_patient.get(ep.patient_id))
        evaluated += 1
        reasons = review_reasons(alerts, cats, min_severity)
        if not reasons:
            continue
        others = [a for a in alerts if a not in reasons]
        top = reasons[0]  # suicide risk first, whatever the priorities
        row = RegistryRow(patient_id=ep.patient_id, **{col: facts[name] for col, name in ROW_FACTS.items()})
        candidates.append(
            (
                rank_key(reasons, ep.patient_id),
                {
                    "patient_id": ep.patient_id,
                    "record": index,
                    "line": line,
                    "priority": top.priority,
                    "severity": top.severity,
                    "reasons": reasons,
                    "other_alerts": others,
                    "row": row,
                },
            )
        )
    candidates.sort(key=lambda c: c[0])
    if limit is not None:
        candidates = candidates[:limit]
    entries = [ReviewEntry(rank=i + 1, **c[1]) for i, c in enumerate(candidates)]
    return ReviewList(as_of=as_of, patients_evaluated=evaluated, entries=entries, errors=errors)
