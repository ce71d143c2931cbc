"""A patient outside an episode of care (``cocm_rules.unenrolled``): which rules run, on what."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cocm_rules import Engine, InvalidInput
from cocm_rules.alerts import Alert
from cocm_rules.episode import PROGRAMS, STATUSES, Episode
from cocm_rules.unenrolled import (
    ENROLLMENT_FIELDS,
    SAFETY_CATEGORY,
    enrollment_start,
    safety_alerts,
    unenrolled_episodes,
)

AS_OF = dt.date(2026, 11, 20)
NOT_IMPROVING = [2, 3, 2, 2, 2, 2, 2, 1, 0]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def record(item9: int = 0, **fields: Any) -> dict[str, Any]:
    """A patient not improving on the PHQ-9 over 13 weeks, with no enrollment unless given."""
    answers = [*NOT_IMPROVING[:8], item9]
    return {
        "patient_id": "p1",
        "assessments": [
            {"measure": "phq9", "date": "2026-08-17", "answers": NOT_IMPROVING},
            {"measure": "phq9", "date": "2026-11-09", "answers": answers},
        ],
        "contacts": [{"date": "2026-08-10", "kind": "initial_assessment", "minutes": 50}],
        **fields,
    }


def test_the_safety_category_is_the_suicide_risk_category() -> None:
    """The rules run without an enrollment are those of the safety floor's category."""
    assert ("suicide_risk", ("program", "status", "enrollment_date")) == (SAFETY_CATEGORY, ENROLLMENT_FIELDS)


def test_a_positive_item9_escalates_without_an_enrollment(engine: Engine) -> None:
    """PHQ-9 item 9 answered 1 and no enrollment: the suicide-risk alert, and no alert of
    another category (not improving would need the enrollment it does not have)."""
    alerts = safety_alerts(lambda ep: engine.evaluate(ep, AS_OF), record(item9=1), AS_OF)
    assert ["suicide-phq9-item9"] == [a.rule_id for a in alerts]
    assert {SAFETY_CATEGORY} == {a.category for a in alerts}


def test_without_risk_no_alert_at_all(engine: Engine) -> None:
    """Item 9 answered 0: nothing, although an enrolled patient would get treatment-to-target
    alerts (they rest on an enrollment)."""
    enrolled = record(program="cocm", status="active_treatment", enrollment_date="2026-08-10")
    assert {a.category for a in engine.evaluate(enrolled, AS_OF)} - {SAFETY_CATEGORY}
    assert [] == safety_alerts(lambda ep: engine.evaluate(ep, AS_OF), record(), AS_OF)


def test_every_program_and_status_is_tried_when_none_is_given() -> None:
    """The episode is evaluated in every program and registry status, enrolled from the first
    measure or contact."""
    episodes = list(unenrolled_episodes(record(), AS_OF))
    assert [(p, s) for p in PROGRAMS for s in STATUSES] == [(e.program, e.status) for e in episodes]
    assert {dt.date(2026, 8, 10)} == {e.enrollment_date for e in episodes}


def test_what_the_record_gives_is_kept() -> None:
    """A program and an enrollment date the record gives are used as they are: only the
    missing status is tried in every value."""
    episodes = list(unenrolled_episodes(record(program="smi", enrollment_date="2026-09-01"), AS_OF))
    assert [("smi", s, dt.date(2026, 9, 1)) for s in STATUSES] == [
        (e.program, e.status, e.enrollment_date) for e in episodes
    ]


def alert(rule_id: str, category: str, priority: int, message: str = "m") -> Alert:
    """An alert as an engine would raise it."""
    return Alert(
        rule_id=rule_id,
        ruleset="r",
        ruleset_version="1",
        title="t",
        category=category,
        severity="high",
        priority=priority,
        message=message,
        action="a",
        source="s",
        evidence={},
        as_of=AS_OF,
    )


def test_the_first_alert_of_each_rule_is_kept_in_review_order() -> None:
    """Each rule is reported once (from the first episode that raised it), suicide risk only,
    in review order."""
    seen: list[Episode] = []

    def evaluate(ep: Episode) -> list[Alert]:
        seen.append(ep)
        return [
            alert("later", "suicide_risk", 10, message=ep.status),
            alert("first", "suicide_risk", 90),
            alert("t2t", "treatment_to_target", 99),
        ]

    alerts = safety_alerts(evaluate, record(), AS_OF)
    assert len(PROGRAMS) * len(STATUSES) == len(seen)
    assert [("first", "m"), ("later", STATUSES[0])] == [(a.rule_id, a.message) for a in alerts]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, dt.date(2026, 8, 10)),  # the first contact
        ({"contacts": []}, dt.date(2026, 8, 17)),  # the first measure
        ({"contacts": [], "assessments": []}, AS_OF),  # nothing: as_of
        ({"contacts": [{"date": "2027-01-01"}], "assessments": []}, AS_OF),  # after as_of: not counted
        ({"contacts": [{"date": "not a date"}], "assessments": []}, AS_OF),  # unreadable: the parser says so
    ],
)
def test_the_assumed_enrollment_start(fields: dict[str, Any], expected: dt.date) -> None:
    """The first measure or contact on or before as_of, else as_of."""
    assert expected == enrollment_start(record(**fields), AS_OF)


def test_an_invalid_record_names_itself(engine: Engine) -> None:
    """A record invalid for another reason than its enrollment raises InvalidInput naming it."""
    bad = record()
    bad["assessments"][0]["answers"] = [9, 9, 9, 9, 9, 9, 9, 9, 9]
    bad["contacts"][0]["kind"] = "chat"
    with pytest.raises(InvalidInput, match="record Bundle/b1"):
        safety_alerts(lambda ep: engine.evaluate(ep, AS_OF), bad, AS_OF, record_ref="Bundle/b1")
