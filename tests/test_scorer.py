"""The public :class:`~cocm_rules.scoring.Scorer`: what :func:`~cocm_rules.scoring.scorer_for`
returns, and its fail-closed rule for suicide-risk items (``safety_item_missing``)."""

from __future__ import annotations

from typing import Any

import pytest

from cocm_rules import load_measures, score
from cocm_rules.scoring import Scorer, scorer_for

LIBRARY = load_measures()
N, Y = 0, 1


def scorer(measure_id: str) -> Scorer:
    """The scorer of a bundled measure."""
    return scorer_for(LIBRARY[measure_id])


def test_scorer_for_returns_the_public_scorer() -> None:
    """scorer_for gives a Scorer (a public, documented class), the same one each time."""
    first = scorer("phq9")
    assert Scorer is type(first)
    assert first is scorer("phq9")


def test_scorer_scores_like_score() -> None:
    """Scorer.score gives the Score that cocm_rules.score gives, and score_data the same fields."""
    answers = [1, 2, 0, 1, 3, 0, 1, 2, 1]
    expected = score("phq9", answers)
    assert expected == scorer("phq9").score(answers, {})
    assert expected == scorer("phq9").score_data(answers, {}).to_score()


@pytest.mark.parametrize(
    ("measure_id", "answers", "total_only", "expected"),
    [
        ("phq9", {"item9": None}, False, True),  # the safety item unanswered
        ("phq9", {"item9": 0}, False, False),
        ("phq9", {}, True, True),  # a total without answers: item 9 is unknown
        ("gad7", {}, True, False),  # no safety item at all
        ("cssrs_screener", {"q1": N, "q2": N, "q6": N}, False, False),
        ("cssrs_screener", {"q1": None, "q2": N, "q6": N}, False, True),
    ],
)
def test_safety_item_missing(measure_id: str, answers: dict[str, Any], total_only: bool, expected: bool) -> None:
    """A required safety item without skip logic fails closed when unanswered, and so does a
    total reported alone for a measure that has one."""
    s = scorer(measure_id)
    values = {**dict.fromkeys(s.ids, N), **answers}
    assert expected == s.safety_item_missing(values, [], total_only=total_only)


def test_safety_item_missing_after_skip_logic() -> None:
    """A safety item behind skip logic (C-SSRS Q3) fails closed only when it was asked: listed
    in the missing items, not merely unanswered because "no" to Q2 skipped it."""
    s = scorer("cssrs_screener")
    values = {"q1": N, "q2": Y, "q3": None, "q4": N, "q5": N, "q6": N, "q6b": None}
    assert s.safety_item_missing(values, ["q3"]) is True
    skipped = {**values, "q2": N}
    assert s.safety_item_missing(skipped, []) is False


@pytest.mark.parametrize(
    ("measure_id", "answers", "reported_total"),
    [
        ("phq9", [1, 2, 0, 1, 3, 0, 1, 2, None], None),
        ("phq9", [1, 2, 0, 1, 3, 0, 1, 2, 0], None),
        ("phq9", None, 12),
        ("cssrs_screener", [N, Y, None, None, None, N], None),
        ("cssrs_screener", [N, N, None, None, None, N], None),
    ],
)
def test_the_flag_is_the_rule(measure_id: str, answers: Any, reported_total: int | None) -> None:
    """Score.flags has safety_item_missing exactly when Scorer.safety_item_missing holds."""
    s = scorer(measure_id)
    result = s.score(answers, {}, reported_total)
    rule = s.safety_item_missing(result.answers, result.missing_items, total_only=answers is None)
    assert rule == ("safety_item_missing" in result.flags)
