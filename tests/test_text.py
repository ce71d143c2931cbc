"""Shared message helpers: "did you mean" by meaning before spelling."""

from __future__ import annotations

import pytest

from cocm_rules import InvalidInput, parse_episode
from cocm_rules._text import suggest

STATUSES = ("active_treatment", "relapse_prevention_plan", "discharged", "inactive")


@pytest.mark.parametrize(
    ("typed", "candidates", "expected"),
    [
        ("active", STATUSES, "active_treatment"),  # a word of it, not the closer-spelt 'inactive'
        ("treatment", STATUSES, "active_treatment"),
        ("plan", STATUSES, "relapse_prevention_plan"),
        ("Discharged", STATUSES, "discharged"),  # case only
        ("relapse", STATUSES, "relapse_prevention_plan"),
        ("activ_treatment", STATUSES, "active_treatment"),  # a misspelling: the closest spelling
        ("discharge", STATUSES, "discharged"),  # starts it (3+ characters)
        ("phq9.lastest", ("phq9.latest", "phq9.latest_date", "gad7.latest"), "phq9.latest"),
        ("date", ("phq9.latest_date", "gad7.latest_date"), None),  # a word of two candidates, spelt like neither
        ("severty", ("category", "severity", "priority"), "severity"),
        ("zzz", STATUSES, None),
    ],
)
def test_suggest_by_meaning_then_spelling(typed: str, candidates: tuple[str, ...], expected: str | None) -> None:
    """The one candidate equal but for case, else holding every typed word, else starting with
    it, else the closest spelling; a word shared by several candidates decides nothing."""
    assert expected == suggest(typed, candidates)


def test_an_episode_status_suggests_by_meaning() -> None:
    """``status: active`` in an episode used to suggest 'inactive' (the closest spelling)."""
    record = {"patient_id": "p1", "program": "cocm", "enrollment_date": "2026-01-01", "status": "active"}
    with pytest.raises(InvalidInput) as info:
        parse_episode(record)
    assert str(info.value).endswith("did you mean 'active_treatment'?")
