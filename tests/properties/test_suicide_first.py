"""The safety property: a latest PHQ-9 (or PHQ-A) item 9 at 1 or more, or a positive C-SSRS
screener, always yields a suicide-risk alert ranked first - on both backends, whatever
priorities and severities the other rules of the set carry - and every patient with one ranks
above every patient without one on the review list (issue 11, item 2)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from cocm_rules import Engine
from cocm_rules import derive_facts as facts
from cocm_rules.review import review_list
from cocm_rules.rules import _durable, load_rulesets
from cocm_rules.strategies import AS_OF, competing_rulesets, episodes

pytestmark = pytest.mark.skipif(not _durable.available(), reason="durable-rules does not import here")

BUNDLED = load_rulesets()

#: Positive C-SSRS screeners: low (q1 or q2), moderate (method; past behaviour), high (intent,
#: plan, recent behaviour), and one that cannot be ruled out (q6b unanswered after q6 yes).
CSSRS_POSITIVE = (
    [1, 0, None, None, None, 0],
    [1, 1, 0, 0, 0, 0],
    [1, 1, 1, 0, 0, 0],
    [0, 0, None, None, None, 1, 0],
    [1, 1, 0, 1, 0, 0],
    [1, 1, 1, 0, 1, 0],
    [0, 0, None, None, None, 1, 1],
    [0, 0, None, None, None, 1],
)


@st.composite
def screened_episodes(draw: st.DrawFn, patient_id: str) -> dict[str, Any]:
    """A generated episode; in most, a positive screen on ``as_of`` (PHQ-9 or PHQ-A item 9 at
    1-3 with any other answers, or a positive C-SSRS screener), so the property is rarely vacuous."""
    record = draw(episodes())
    record["patient_id"] = patient_id
    screen = draw(st.sampled_from(("phq9", "phqa", "cssrs_screener", None)))
    if screen in ("phq9", "phqa"):
        answers = [*draw(st.lists(st.integers(0, 3), min_size=8, max_size=8)), draw(st.integers(1, 3))]
    elif screen == "cssrs_screener":
        answers = draw(st.sampled_from(CSSRS_POSITIVE))
    if screen is not None:
        record["assessments"] = [
            *record["assessments"],
            {"measure": screen, "date": AS_OF.isoformat(), "answers": answers},
        ]
    return record


def at_risk(record: dict[str, Any]) -> bool:
    """The antecedent, from the patient's facts: the latest PHQ-9 or PHQ-A item 9 at 1 or more,
    or the latest C-SSRS screener flagging suicide risk."""
    f = facts(record, AS_OF, names=("phq9.item9_latest", "phqa.item9_latest", "cssrs_screener.suicide_risk"))
    return (
        (f["phq9.item9_latest"] or 0) >= 1
        or (f["phqa.item9_latest"] or 0) >= 1
        or f["cssrs_screener.suicide_risk"] is True
    )


def suicide_first(alerts: list[Any]) -> bool:
    """Every suicide_risk alert comes before every other alert."""
    flags = [a.category == "suicide_risk" for a in alerts]
    return sorted(flags, reverse=True) == flags


_ALWAYS_CRITICAL = load_rulesets(
    text="""
ruleset: outrank
version: "1"
effective: 2026-01-01
owner: property test
description: A rule that fires for every patient at priority 100, critical.
rules:
  - id: generated-0
    title: Everyone
    source: property test
    when: status is present
    then: {category: treatment_to_target, severity: critical, priority: 100, action: review, message: Everyone.}
""",
    library=BUNDLED.library,
)


def _record(item9: int) -> dict[str, Any]:
    return {
        "patient_id": "p0",
        "program": "cocm",
        "enrollment_date": (AS_OF - dt.timedelta(weeks=12)).isoformat(),
        "status": "active_treatment",
        "assessments": [{"measure": "phq9", "date": AS_OF.isoformat(), "answers": [3, 3, 3, 3, 3, 3, 3, 3, item9]}],
    }


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
@example(data=None)  # a rule at priority 100, critical, that fires for everyone (the case)
def test_a_positive_screen_is_always_escalated_first_on_both_backends(data: st.DataObject | None) -> None:
    """For generated episodes and the bundled rulesets plus generated rules at any priority and
    severity: both backends give identical alerts, suicide_risk alerts always come first, and a
    patient at risk always has one; the review list ranks every patient with a suicide-risk
    reason above every patient without one."""
    if data is None:
        records = [_record(1), {**_record(0), "patient_id": "p1"}]
        rulesets = BUNDLED.extended(_ALWAYS_CRITICAL)
    else:
        records = [
            data.draw(screened_episodes(f"P{i}"), label=f"record {i}") for i in range(data.draw(st.integers(1, 3)))
        ]
        seen: dict[str, list[Any]] = {}
        for record in records:
            for name, value in facts(record, AS_OF).items():
                seen.setdefault(name, []).append(value)
        rulesets = data.draw(competing_rulesets(favour=seen), label="rulesets")
    compiled, durable = (
        Engine(rulesets, backend=b, safety_floor=False, skip_reason="property test") for b in ("compiled", "durable")
    )
    risky: set[str] = set()
    for record in records:
        alerts = compiled.evaluate(record, AS_OF)
        assert [a.model_dump() for a in alerts] == [a.model_dump() for a in durable.evaluate(record, AS_OF)]
        assert suicide_first(alerts), [(a.rule_id, a.category, a.priority) for a in alerts]
        if at_risk(record):
            event("at risk")
            risky.add(record["patient_id"])
            assert "suicide_risk" == alerts[0].category, [(a.rule_id, a.category, a.priority) for a in alerts]
        if any(a.category != "suicide_risk" and a.priority >= 85 for a in alerts):
            event("another alert at priority 85-100")
    entries = review_list(compiled, records, AS_OF).entries
    tiers = [e.reasons[0].category == "suicide_risk" for e in entries]
    assert sorted(tiers, reverse=True) == tiers
    assert risky <= {e.patient_id for e in entries if e.reasons[0].category == "suicide_risk"}
