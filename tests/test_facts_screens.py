"""Facts about what followed a screen (``cocm_rules.facts.screens``): the full instrument after
a brief screen, and a discussion with the psychiatric consultant after a positive one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cocm_rules import catalog
from cocm_rules import derive_facts as facts

AS_OF = dt.date(2026, 11, 20)
PHQ2_POSITIVE = [2, 2]  # 4, at or above the cut-point of 3
PHQ9_12 = [2, 2, 2, 1, 1, 1, 1, 2, 0]  # 12; item 9 = 0
PHQA_12 = [2, 2, 2, 1, 1, 1, 1, 2, 0]
GAD7_9 = [2, 1, 1, 1, 2, 1, 1]  # 9
MDQ_POSITIVE = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, "yes", 2]  # 8 symptoms, same period, moderate


def _episode(assessments: list[dict[str, Any]], contacts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "patient_id": "p-screens",
        "program": "cocm",
        "enrollment_date": "2026-09-01",
        "status": "active_treatment",
        "assessments": assessments,
        "contacts": contacts or [],
    }


def _a(measure: str, date: str, answers: list[Any]) -> dict[str, Any]:
    return {"measure": measure, "date": date, "answers": answers}


def _fact(episode: dict[str, Any], name: str) -> Any:
    return facts(episode, AS_OF, names=[name])[name]


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        (None, False),
        (_a("phq9", "2026-11-01", PHQ9_12), False),  # before the screen
        (_a("phq9", "2026-11-10", PHQ9_12), True),  # the same visit
        (_a("phq9", "2026-11-12", PHQ9_12), True),
        (_a("phqa", "2026-11-12", PHQA_12), True),  # the adolescent version completes it too
        (_a("PHQ-9M", "2026-11-12", PHQA_12), True),  # sent under its alias
        (_a("phq9", "2026-11-12", [5, 2, 2, 1, 1, 1, 1, 2, 0]), False),  # an impossible answer: not valid
        (_a("phq9", "2026-11-21", PHQ9_12), False),  # after as_of: not yet
    ],
)
def test_phq2_followed_by_full_instrument(full: dict[str, Any] | None, expected: bool) -> None:
    """A PHQ-9 or PHQ-A completed (valid) on or after the latest PHQ-2's date, up to as_of,
    completes the screen; one before it, an invalid one or a later one does not."""
    assessments = [_a("phq2", "2026-11-10", PHQ2_POSITIVE)] + ([full] if full else [])
    assert expected == _fact(_episode(assessments), "phq2.followed_by_full_instrument")


def test_a_later_phq2_needs_its_own_full_instrument() -> None:
    """The fact looks at the latest PHQ-2: a PHQ-9 after an earlier screen does not complete a
    new one."""
    episode = _episode(
        [
            _a("phq2", "2026-10-01", PHQ2_POSITIVE),
            _a("phq9", "2026-10-01", PHQ9_12),
            _a("phq2", "2026-11-10", PHQ2_POSITIVE),
        ]
    )
    assert False is _fact(episode, "phq2.followed_by_full_instrument")


def test_gad2_followed_by_full_instrument() -> None:
    """A GAD-7 completes a GAD-2; a PHQ-9 does not."""
    screen = _a("gad2", "2026-11-10", [2, 1])
    assert True is _fact(_episode([screen, _a("gad7", "2026-11-10", GAD7_9)]), "gad2.followed_by_full_instrument")
    assert False is _fact(_episode([screen, _a("phq9", "2026-11-12", PHQ9_12)]), "gad2.followed_by_full_instrument")


def test_screen_facts_are_missing_without_the_screen() -> None:
    """Without a PHQ-2 (or an MDQ) the facts are missing, not false: there is nothing to follow."""
    values = facts(
        _episode([_a("phq9", "2026-11-10", PHQ9_12)]),
        AS_OF,
        names=["phq2.followed_by_full_instrument", "mdq.consultant_reviewed_since_latest"],
    )
    assert {"phq2.followed_by_full_instrument": None, "mdq.consultant_reviewed_since_latest": None} == values


@pytest.mark.parametrize(
    ("contact", "expected"),
    [
        (None, False),
        ({"date": "2026-11-05", "kind": "case_review"}, False),  # before the MDQ
        ({"date": "2026-11-12", "kind": "case_review"}, True),  # the same day
        ({"date": "2026-11-14", "kind": "psychiatric_consultation"}, True),
        ({"date": "2026-11-14", "kind": "follow_up"}, False),  # a care-manager contact is not a review
        ({"date": "2026-11-21", "kind": "case_review"}, False),  # after as_of
    ],
)
def test_mdq_consultant_reviewed_since_latest(contact: dict[str, Any] | None, expected: bool) -> None:
    """A psychiatric consultation or case review on or after the latest MDQ's date, up to
    as_of, counts as the consultant having seen the screen."""
    episode = _episode([_a("mdq", "2026-11-12", MDQ_POSITIVE)], [contact] if contact else [])
    assert expected == _fact(episode, "mdq.consultant_reviewed_since_latest")


def test_the_screen_facts_are_in_the_catalog_with_their_meaning() -> None:
    """Full-instrument facts exist for the brief screens only; the consultant fact for each
    measure with a positive screen (and none without one)."""
    cat = catalog()
    names = set(cat.specs)
    assert {"phq2.followed_by_full_instrument", "gad2.followed_by_full_instrument"} == {
        n for n in names if n.endswith(".followed_by_full_instrument")
    }
    assert {
        "phq2",
        "gad2",
        "phq9",
        "phqa",
        "gad7",
        "pcl5",
        "auditc",
        "asrm",
        "mdq",
    } == {n.split(".")[0] for n in names if n.endswith(".consultant_reviewed_since_latest")}
    assert "boolean" == cat["mdq.consultant_reviewed_since_latest"].type
    assert "PHQ-9 or a PHQ-A" in cat["phq2.followed_by_full_instrument"].meaning
