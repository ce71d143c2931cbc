"""Tests for the fact catalog and the fact builder, with expected values computed by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from cocm_rules import InvalidInput, catalog, load_measures, parse_episode
from cocm_rules import derive_facts as facts
from cocm_rules.facts import scored_assessments
from cocm_rules.strategies import AS_OF as AS_OF_PROPERTY
from cocm_rules.strategies import episodes

RICH = Path(__file__).parent / "fixtures" / "episodes" / "rich.json"
D = dt.date.fromisoformat

# PHQ-9 answer lists (items 1-9) with their totals worked out.
PHQ9_20 = [3, 3, 3, 3, 2, 2, 2, 1, 1]  # 3*4 + 2*3 + 1 + 1 = 20; item 9 = 1
PHQ9_14 = [2, 2, 2, 2, 2, 1, 1, 1, 1]  # 2*5 + 1*4 = 14; item 9 = 1
PHQ9_9 = [2, 2, 1, 1, 1, 1, 1, 0, 0]  # 2 + 2 + 1*5 = 9; item 9 = 0
PHQ9_4 = [1, 1, 1, 1, 0, 0, 0, 0, 0]  # 4; item 9 = 0
PHQ9_0 = [0, 0, 0, 0, 0, 0, 0, 0, 0]


def _episode(**fields: Any) -> dict[str, Any]:
    """A minimal valid episode for patient 'p1' with ``fields`` added or replaced."""
    record: dict[str, Any] = {
        "patient_id": "p1",
        "program": "cocm",
        "enrollment_date": "2026-01-05",
        "status": "active_treatment",
    }
    record.update(fields)
    return record


def _a(measure: str, date: str, answers: Any = None, **kw: Any) -> dict[str, Any]:
    """One assessment record."""
    out: dict[str, Any] = {"measure": measure, "date": date, **kw}
    if answers is not None:
        out["answers"] = answers
    return out


def _phq9(*dated: tuple[str, list[Any]]) -> dict[str, Any]:
    return _episode(assessments=[_a("phq9", d, answers) for d, answers in dated])


def _pick(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k.startswith(prefix)}


def _rich() -> dict[str, Any]:
    return json.loads(RICH.read_text(encoding="utf-8"))


# -- a PHQ-9 series: 20 -> 14 -> 9 over 12 weeks -------------------------------------------------

SERIES = _phq9(("2026-01-05", PHQ9_20), ("2026-02-02", PHQ9_14), ("2026-03-30", PHQ9_9))
SERIES_AS_OF = D("2026-04-06")  # 7 days after the latest; 2026-01-05 + 84 days (12 weeks) = 2026-03-30


def test_phq9_series_totals_and_dates():
    """Baseline, latest and previous come from the first, last and second-to-last valid
    administrations, with their dates."""
    f = facts(SERIES, SERIES_AS_OF)

    assert 20 == f["phq9.baseline"]
    assert D("2026-01-05") == f["phq9.baseline_date"]
    assert 9 == f["phq9.latest"]
    assert D("2026-03-30") == f["phq9.latest_date"]
    assert D("2026-03-30") == f["phq9.last_administered_date"]
    assert 14 == f["phq9.previous"]
    assert D("2026-02-02") == f["phq9.previous_date"]
    assert 3 == f["phq9.count"]
    assert 0 == f["phq9.invalid_count"]
    # 2026-03-30 -> 2026-04-06 = 7 days
    assert 7 == f["phq9.days_since_latest"]
    assert 7 == f["days_since_last_assessment"]


def test_phq9_series_changes():
    """Change is latest minus baseline; pct_reduction is (baseline - latest) / baseline."""
    f = facts(SERIES, SERIES_AS_OF)

    assert -11 == f["phq9.change"]  # 9 - 20
    assert -5 == f["phq9.change_from_previous"]  # 9 - 14
    assert -0.55 == f["phq9.pct_change"]  # (9 - 20) / 20
    assert 0.55 == f["phq9.pct_reduction"]  # (20 - 9) / 20


def test_phq9_series_targets():
    """Response (latest <= 0.5 x baseline, DRR-E), remission (< 5, CMS159) and meaningful
    improvement (>= 5 points, Löwe 2004) for 20 -> 9."""
    f = facts(SERIES, SERIES_AS_OF)

    assert True is f["phq9.response"]  # 9 <= 0.5 * 20 = 10
    assert False is f["phq9.remission"]  # 9 is not < 5
    assert True is f["phq9.meaningful_improvement"]  # 20 - 9 = 11 >= 5


def test_phq9_series_bands_and_latest_item_results():
    """Bands (Kroenke 2001), the screen, the provisional diagnosis and the safety item come from
    the latest administration; item 9 was 1 before but is 0 in the latest."""
    f = facts(SERIES, SERIES_AS_OF)

    assert "mild" == f["phq9.band"]  # 9 is in 5-9
    assert "severe" == f["phq9.baseline_band"]  # 20 is in 20-27
    assert 0 == f["phq9.item9_latest"]
    assert False is f["phq9.suicide_risk"]
    assert False is f["phq9.safety_item_missing"]
    assert False is f["phq9.positive_screen"]  # 9 < cut-point 10
    # items 1 and 2 at 2 are present (>= 2), nothing else is: 2 symptoms incl. a core one
    assert "other_depressive_syndrome" == f["phq9.provisional_diagnosis"]
    assert None is f["phq9.total_mismatch"]  # no total was reported


def test_phq9_item9_in_the_latest_flags_suicide_risk():
    """Item 9 >= 1 in the latest administration gives phq9.suicide_risk and the episode-level
    suicide_risk, whatever the total."""
    f = facts(_phq9(("2026-01-05", [0, 0, 0, 0, 0, 0, 0, 0, 1])), D("2026-01-05"))

    assert 1 == f["phq9.latest"]
    assert 1 == f["phq9.item9_latest"]
    assert True is f["phq9.suicide_risk"]
    assert True is f["suicide_risk"]
    assert "minimal" == f["phq9.band"]


def test_phq9_remission_when_latest_is_4():
    """A latest total of 4 is remission (< 5, CMS159)."""
    f = facts(_phq9(("2026-01-05", PHQ9_20), ("2026-03-30", PHQ9_4)), SERIES_AS_OF)

    assert True is f["phq9.remission"]
    assert True is f["phq9.response"]  # 4 <= 10
    assert "minimal" == f["phq9.band"]


@pytest.mark.parametrize(
    ("latest", "expected"),
    [
        ([2, 1, 1, 1, 1, 1, 1, 1, 1], True),  # 10 <= 0.5 * 20 = 10: exactly half is a response
        ([2, 2, 1, 1, 1, 1, 1, 1, 1], False),  # 11 > 10
    ],
)
def test_phq9_response_boundary(latest, expected):
    """Response is ``followup <= 0.5 x baseline`` (DRR-E): 20 -> 10 responds, 20 -> 11 does not."""
    f = facts(_phq9(("2026-01-05", PHQ9_20), ("2026-03-30", latest)), SERIES_AS_OF)

    assert expected is f["phq9.response"]


@pytest.mark.parametrize(
    ("latest", "expected"),
    [
        ([2, 2, 2, 2, 2, 2, 1, 1, 1], True),  # 15: 20 - 15 = 5 points, the MCID
        ([2, 2, 2, 2, 2, 2, 2, 1, 1], False),  # 16: 4 points
    ],
)
def test_phq9_meaningful_improvement_boundary(latest, expected):
    """Meaningful improvement is a fall of at least 5 points (Löwe 2004)."""
    f = facts(_phq9(("2026-01-05", PHQ9_20), ("2026-03-30", latest)), SERIES_AS_OF)

    assert expected is f["phq9.meaningful_improvement"]


# -- facts that cannot be computed ------------------------------------------------------------


def test_single_administration_has_no_change():
    """With one administration the baseline is the latest, and previous, change,
    pct_reduction, response and meaningful improvement are missing."""
    f = facts(_phq9(("2026-01-05", PHQ9_20)), D("2026-01-19"))

    assert (20, 20, 1) == (f["phq9.baseline"], f["phq9.latest"], f["phq9.count"])
    for name in (
        "phq9.previous",
        "phq9.previous_date",
        "phq9.change",
        "phq9.change_from_previous",
        "phq9.pct_change",
        "phq9.pct_reduction",
        "phq9.response",
        "phq9.meaningful_improvement",
    ):
        assert None is f[name], name


def test_baseline_zero_has_no_pct_reduction():
    """A baseline of 0 cannot be divided by: pct_reduction and pct_change are missing, while
    the change in points is known (1 - 0 = 1)."""
    f = facts(_phq9(("2026-01-05", PHQ9_0), ("2026-02-02", [1, 0, 0, 0, 0, 0, 0, 0, 0])), SERIES_AS_OF)

    assert None is f["phq9.pct_reduction"]
    assert None is f["phq9.pct_change"]
    assert 1 == f["phq9.change"]


def test_every_fact_of_a_measure_never_administered_is_missing():
    """For a measure with no administration, every one of its facts is None (not 0, not False)."""
    f = facts(SERIES, SERIES_AS_OF)
    gad7 = [spec.name for spec in catalog().specs.values() if spec.measure == "gad7"]

    assert len(gad7) > 10
    assert dict.fromkeys(gad7) == {name: f[name] for name in gad7}


def test_every_measure_fact_is_missing_for_an_empty_episode():
    """With no assessments at all, every per-measure fact is None."""
    f = facts(_episode(), SERIES_AS_OF)
    measure_facts = [spec.name for spec in catalog().specs.values() if spec.measure is not None]

    assert [] == [name for name in measure_facts if f[name] is not None]


# -- as_of, order and determinism --------------------------------------------------------------


def test_assessments_after_as_of_are_ignored():
    """As of 2026-03-01 the 2026-03-30 administration has not happened: latest is 14."""
    f = facts(SERIES, D("2026-03-01"))

    assert 14 == f["phq9.latest"]
    assert 20 == f["phq9.previous"]
    assert 2 == f["phq9.count"]
    assert -6 == f["phq9.change"]  # 14 - 20
    assert 0.3 == f["phq9.pct_reduction"]  # (20 - 14) / 20
    assert False is f["phq9.response"]  # 14 > 10
    # 2026-02-02 -> 2026-03-01 = 27 days
    assert 27 == f["phq9.days_since_latest"]
    assert 27 == f["days_since_last_assessment"]
    assert True is f["phq9.suicide_risk"]  # item 9 = 1 in the 14


def test_as_of_before_every_assessment_leaves_the_measure_missing():
    """As of the day before the first administration, the measure has no facts."""
    f = facts(SERIES, D("2026-01-04"))

    assert None is f["phq9.latest"]
    assert None is f["phq9.count"]
    assert None is f["days_since_last_assessment"]


def test_an_administration_on_as_of_counts():
    """An administration dated on as_of is included (on or before)."""
    f = facts(SERIES, D("2026-03-30"))

    assert 9 == f["phq9.latest"]
    assert 0 == f["phq9.days_since_latest"]


def test_same_date_administrations_the_later_in_the_list_is_latest():
    """Two administrations on one date keep their order in the list: the later one is the
    latest, and list order does not matter across different dates."""
    episode = _phq9(("2026-02-02", PHQ9_14), ("2026-02-02", PHQ9_9), ("2026-01-05", PHQ9_20))

    f = facts(episode, SERIES_AS_OF)

    assert 9 == f["phq9.latest"]
    assert 14 == f["phq9.previous"]
    assert 20 == f["phq9.baseline"]  # the earliest date, although last in the list


def test_same_episode_and_as_of_give_identical_facts():
    """Facts are a pure function of (episode, as_of): two evaluations are equal, and a
    parsed Episode gives the same facts as its record."""
    record = _rich()
    as_of = D("2026-03-02")

    first = facts(record, as_of)

    assert first == facts(record, as_of)
    assert first == facts(parse_episode(record), as_of)


def test_no_wall_clock_far_past():
    """As of a date long before the episode, nothing has happened yet; days are measured from
    as_of, not from today."""
    as_of = D("1990-01-01")
    f = facts(_rich(), as_of)

    # 1990-01-01 -> 2025-11-20: 35 years of 365 days plus 9 leap days (1992..2024), plus
    # 2025-01-01 -> 2025-11-20 = 323 days: 12775 + 9 + 323 = 13107 days, so -13107.
    assert -13107 == f["days_since_enrollment"]
    assert None is f["days_since_last_contact"]
    assert None is f["phq9.latest"]
    assert None is f["housing_status"]
    assert False is f["has_relapse_prevention_plan"]
    assert 0 == f["contacts_last_30d"]


def test_no_wall_clock_far_future():
    """As of a date long after the episode, days count up to that as_of."""
    as_of = D("2100-01-01")
    f = facts(_rich(), as_of)

    # 2026-02-23 -> 2100-01-01: 2026-02-23 -> 2027-01-01 is 312 days; 2027..2099 is 73 years,
    # 73 * 365 = 26645 plus 18 leap days (2028, 2032, ..., 2096) = 26663; 312 + 26663 = 26975.
    assert 26975 == f["phq9.days_since_latest"]
    # the last contact is 2026-03-01, 6 days after 2026-02-23
    assert 26975 - 6 == f["days_since_last_contact"]
    assert 0 == f["contacts_last_30d"]
    assert 0 == f["minutes_this_month"]
    assert 0 == f["hospitalizations_last_90d"]
    assert "unstable" == f["housing_status"]


# -- invalid administrations ---------------------------------------------------------------------

INVALID_LATEST = _phq9(("2026-01-05", PHQ9_20), ("2026-02-02", [2, 2, 2, 2, 2, 1, 1, 1, 7]))


def test_an_out_of_range_answer_does_not_raise_from_facts():
    """Item 9 = 7 (allowed 0-3) makes the administration invalid; facts() still returns."""
    f = facts(INVALID_LATEST, SERIES_AS_OF)

    assert 1 == f["phq9.invalid_count"]
    assert 1 == f["phq9.count"]
    assert 1 == f["measures_latest_invalid"]


def test_an_invalid_latest_administration_fails_closed():
    """An invalid latest PHQ-9 cannot rule out risk: phq9.safety_item_missing and the episode's
    safety_item_missing are True, while totals come from the latest valid administration."""
    f = facts(INVALID_LATEST, SERIES_AS_OF)

    assert True is f["phq9.safety_item_missing"]
    assert True is f["safety_item_missing"]
    assert 20 == f["phq9.latest"]
    assert D("2026-01-05") == f["phq9.latest_date"]
    assert D("2026-02-02") == f["phq9.last_administered_date"]
    assert None is f["phq9.item9_latest"]
    assert None is f["phq9.previous"]  # only one valid administration


def test_an_invalid_earlier_administration_does_not_fail_closed():
    """An invalid administration followed by a valid one is counted, but the safety facts come
    from the valid latest one."""
    episode = _phq9(("2026-01-05", [1, 1, 1, 1, 1, 1, 1, 1, 7]), ("2026-02-02", PHQ9_9))

    f = facts(episode, SERIES_AS_OF)

    assert 1 == f["phq9.invalid_count"]
    assert 9 == f["phq9.latest"]
    assert 9 == f["phq9.baseline"]  # the first VALID administration
    assert False is f["phq9.safety_item_missing"]
    assert False is f["safety_item_missing"]


@pytest.mark.parametrize(
    "assessment",
    [
        pytest.param(_a("phq9", "2026-01-05", [1, 1]), id="too-few-answers"),
        pytest.param(_a("phq9", "2026-01-05", ["a"] * 9), id="text-answers"),
        pytest.param(_a("phq9", "2026-01-05", PHQ9_4, context={"sex": "female"}), id="unknown-context"),
        pytest.param(_a("phq9", "2026-01-05", total=28), id="total-out-of-range"),
        pytest.param(_a("phq9", "2026-01-05", {"item1": 1, "44250-9": 2}), id="item-given-twice"),
        pytest.param(_a("phq9", "2026-01-05", {"item99": 1}), id="unknown-item"),
    ],
)
def test_invalid_administrations_are_counted_never_raised(assessment):
    """Every kind of invalid administration is counted in invalid_count and fails closed."""
    f = facts(_episode(assessments=[assessment]), SERIES_AS_OF)

    assert (1, 0, None) == (f["phq9.invalid_count"], f["phq9.count"], f["phq9.latest"])
    assert True is f["phq9.safety_item_missing"]


def test_an_unknown_measure_is_counted_not_raised():
    """An assessment of a measure the library does not know (``phq8``) does not make facts()
    raise; it is counted in measures_latest_invalid ("an invalid answer or unknown measure")."""
    episode = _episode(assessments=[_a("phq9", "2026-01-05", PHQ9_4), _a("phq8", "2026-01-06", [1] * 8)])

    f = facts(episode, SERIES_AS_OF)

    assert 1 == f["measures_latest_invalid"]
    assert 4 == f["phq9.latest"]
    # 2026-01-06 -> 2026-04-06 = 26 (to 02-01) + 28 (to 03-01) + 31 (to 04-01) + 5 = 90 days
    assert 90 == f["days_since_last_assessment"]


def test_scored_assessments_carry_the_error_of_an_invalid_answer():
    """scored_assessments scores every administration; an invalid one carries an error naming
    the record, the field (its position), the item and the value, instead of raising."""
    episode = parse_episode(INVALID_LATEST)

    scored = scored_assessments(episode)

    assert [0, 1] == [s.index for s in scored]
    assert 20 == scored[0].score.total
    assert None is scored[0].error
    assert None is scored[1].score
    for fragment in ("record patient 'p1'", "field 'assessments[1]'", "measure 'phq9'", "item 'item9'", "7 (number)"):
        assert fragment in scored[1].error


def test_a_total_only_phq9_is_scored_and_fails_closed():
    """A PHQ-9 reported as a total (no answers) gives that total as latest, but item 9 is
    unknown, so safety_item_missing is True for the measure and the episode."""
    f = facts(_episode(assessments=[_a("phq9", "2026-01-05", total=12)]), SERIES_AS_OF)

    assert 12 == f["phq9.latest"]
    assert "moderate" == f["phq9.band"]
    assert 1 == f["phq9.count"]
    assert True is f["phq9.safety_item_missing"]
    assert True is f["safety_item_missing"]
    assert None is f["phq9.item9_latest"]
    assert None is f["phq9.provisional_diagnosis"]
    assert None is f["phq9.total_mismatch"]


def test_a_reported_total_disagreeing_with_items_is_flagged():
    """A reported total of 10 beside answers summing to 8 is a mismatch; the recomputed 8 is
    used as the total (scores are never trusted from outside)."""
    answers = [1, 1, 1, 1, 1, 1, 1, 1, 0]  # 8
    f = facts(_episode(assessments=[_a("phq9", "2026-01-05", answers, total=10)]), SERIES_AS_OF)

    assert True is f["phq9.total_mismatch"]
    assert 8 == f["phq9.latest"]
    assert 1 == f["measures_total_mismatch"]


def test_a_reported_total_agreeing_with_items_is_not_flagged():
    """A reported total equal to the recomputed one is not a mismatch."""
    f = facts(_episode(assessments=[_a("phq9", "2026-01-05", PHQ9_4, total=4)]), SERIES_AS_OF)

    assert False is f["phq9.total_mismatch"]
    assert 0 == f["measures_total_mismatch"]


def test_a_prorated_latest_with_item9_missing_fails_closed():
    """One missing item is prorated (NHS DD: 8 answered summing 8 -> 8 x 9 / 8 = 9), but a
    missing item 9 means risk cannot be ruled out."""
    f = facts(_phq9(("2026-01-05", [1, 1, 1, 1, 1, 1, 1, 1, None])), SERIES_AS_OF)

    assert 9 == f["phq9.latest"]
    assert None is f["phq9.item9_latest"]
    assert True is f["phq9.safety_item_missing"]
    assert True is f["safety_item_missing"]


# -- C-SSRS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "level", "risk", "urgent"),
    [
        pytest.param(["no", "no", None, None, None, "no"], "none", False, False, id="all-no"),
        pytest.param(["yes", "no", None, None, None, "no"], "low", True, False, id="wish-to-be-dead"),
        pytest.param([1, 1, 0, 0, 0, 0], "low", True, False, id="thoughts"),
        pytest.param([1, 1, 1, 0, 0, 0], "moderate", True, False, id="method"),
        pytest.param([0, 0, None, None, None, 1, 0], "moderate", True, False, id="behaviour-over-3-months-ago"),
        pytest.param([1, 1, 0, 1, 0, 0], "high", True, True, id="intent"),
        pytest.param([1, 1, 1, 0, 1, 0], "high", True, True, id="plan"),
        pytest.param([0, 0, None, None, None, 1, 1], "high", True, True, id="behaviour-in-3-months"),
    ],
)
def test_cssrs_levels(answers, level, risk, urgent):
    """C-SSRS screener triage (Columbia/Blueprint: 1-2 low, 3 or old behaviour moderate, 4, 5 or
    recent behaviour high): level, band, the measure flags and the episode-level aggregates."""
    f = facts(_episode(assessments=[_a("cssrs_screener", "2026-01-05", answers)]), SERIES_AS_OF)

    assert level == f["cssrs_screener.level"]
    assert level == f["cssrs_screener.band"]
    assert risk is f["cssrs_screener.suicide_risk"]
    assert urgent is f["cssrs_screener.urgent_suicide_risk"]
    assert risk is f["suicide_risk"]
    assert urgent is f["urgent_suicide_risk"]
    assert False is f["cssrs_screener.safety_item_missing"]
    assert False is f["safety_item_missing"]


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param([0, 0, None, None, None, 1], id="6b-missing-after-yes-to-6"),
        pytest.param([1, 1, None, None, None, 0], id="3-5-missing-after-yes-to-2"),
        pytest.param([None, 0, None, None, None, 0], id="first-question-missing"),
    ],
)
def test_cssrs_incomplete_screen_has_no_level_and_fails_closed(answers):
    """An incomplete screen has no level (unknown, not 'none') and sets safety_item_missing for
    the measure and the episode."""
    f = facts(_episode(assessments=[_a("cssrs_screener", "2026-01-05", answers)]), SERIES_AS_OF)

    assert None is f["cssrs_screener.level"]
    assert None is f["cssrs_screener.band"]
    assert True is f["cssrs_screener.safety_item_missing"]
    assert True is f["safety_item_missing"]
    assert 0 == f["cssrs_screener.count"]


def test_cssrs_latest_screen_decides_the_episode_risk():
    """A high screen followed by an all-no screen: the latest (none) decides the flags."""
    episode = _episode(
        assessments=[
            _a("cssrs_screener", "2026-01-05", [1, 1, 0, 1, 0, 0]),
            _a("cssrs_screener", "2026-02-05", [0, 0, None, None, None, 0]),
        ]
    )

    f = facts(episode, SERIES_AS_OF)

    assert "none" == f["cssrs_screener.level"]
    assert (False, False) == (f["suicide_risk"], f["urgent_suicide_risk"])


def test_safety_aggregates_combine_measures():
    """Episode-level suicide_risk and urgent_suicide_risk hold when any measure's latest
    administration flags them; safety_item_missing when any safety measure's latest has a
    safety item missing."""
    episode = _episode(
        assessments=[
            _a("phq9", "2026-01-05", [1, 1, 1, 1, 1, 1, 1, 1, None]),  # item 9 missing
            _a("cssrs_screener", "2026-01-05", [1, 1, 0, 1, 0, 0]),  # high
        ]
    )

    f = facts(episode, SERIES_AS_OF)

    assert None is f["phq9.suicide_risk"]  # item 9 unanswered: risk can neither be set nor ruled out
    assert True is f["phq9.safety_item_missing"]
    assert True is f["cssrs_screener.urgent_suicide_risk"]
    assert (True, True, True) == (f["suicide_risk"], f["urgent_suicide_risk"], f["safety_item_missing"])


def test_safety_aggregates_are_false_without_risk():
    """With no risk anywhere, the aggregates are False (not missing)."""
    f = facts(SERIES, SERIES_AS_OF)

    assert (False, False, False) == (f["suicide_risk"], f["urgent_suicide_risk"], f["safety_item_missing"])


# -- floors and direction ----------------------------------------------------------------------


def _two(measure: str, first: list[int], second: list[int]) -> dict[str, Any]:
    return facts(
        _episode(program="smi", assessments=[_a(measure, "2026-01-05", first), _a(measure, "2026-02-05", second)]),
        SERIES_AS_OF,
    )


def test_bprs_pct_reduction_is_measured_from_the_floor():
    """BPRS totals start at 18 (all items 'not present'): 58 -> 38 is (40 - 20) / 40 = 0.5,
    not (58 - 38) / 58."""
    first = [4, 4, 4, 4] + [3] * 14  # 16 + 42 = 58
    second = [3, 3] + [2] * 16  # 6 + 32 = 38
    f = _two("bprs", first, second)

    assert (58, 38, -20) == (f["bprs.baseline"], f["bprs.latest"], f["bprs.change"])
    assert 0.5 == f["bprs.pct_reduction"]  # ((58 - 18) - (38 - 18)) / (58 - 18) = 20 / 40
    assert -0.5 == f["bprs.pct_change"]


def test_bprs_baseline_at_the_floor_has_no_pct_reduction():
    """A BPRS baseline of 18 is 0 above the floor: pct_reduction cannot be computed."""
    f = _two("bprs", [1] * 18, [2] + [1] * 17)

    assert None is f["bprs.pct_reduction"]
    assert 1 == f["bprs.change"]  # 19 - 18


def test_whodas_pct_reduction_is_measured_from_the_floor():
    """WHODAS 12-item simple scores start at 12: 36 -> 24 is (24 - 12) / 24 = 0.5."""
    f = _two("whodas12", [3] * 12, [2] * 12)  # 36 -> 24

    assert (36, 24) == (f["whodas12.baseline"], f["whodas12.latest"])
    assert 0.5 == f["whodas12.pct_reduction"]  # ((36 - 12) - (24 - 12)) / (36 - 12) = 12 / 24
    assert 25.0 == f["whodas12.percent_of_max"]  # (24 - 12) / 48 * 100
    assert 4 == f["whodas12.mobility"]  # items 1 and 7: 2 + 2


def test_ras_higher_is_better():
    """RAS (24-120, higher = more recovery): 48 -> 72 is a rise of 24 points, +100% from the
    floor of 24 ((72 - 48) / (48 - 24) = 1), so pct_reduction is -1; RAS has no response,
    remission or improvement thresholds, so those facts do not exist."""
    f = _two("ras", [2] * 24, [3] * 24)  # 48 -> 72

    assert 24 == f["ras.change"]
    assert 1 == f["ras.pct_change"]
    assert -1 == f["ras.pct_reduction"]
    cat = catalog()
    for name in ("ras.response", "ras.remission", "ras.meaningful_improvement", "ras.band"):
        assert name not in cat


def test_pcl5_reliable_and_meaningful_improvement():
    """PCL-5 40 -> 32 is an 8-point fall: reliable (>= 5) but not clinically meaningful
    (>= 10), per NCPTSD."""
    first = [2] * 20  # 40
    second = [2] * 12 + [1] * 8  # 24 + 8 = 32
    f = _two("pcl5", first, second)

    assert -8 == f["pcl5.change"]
    assert True is f["pcl5.reliable_improvement"]
    assert False is f["pcl5.meaningful_improvement"]


# -- psychosis dimensions and AUDIT-C ----------------------------------------------------------


def test_psychosis_dimensions_per_domain_facts():
    """Each domain has its latest rating and change; items_worsened counts domains rated higher
    than last time."""
    first = [3, 2, 0, 0, 1, 0, 2, 0]
    second = [1, 3, 0, 1, 1, 0, 0, 0]
    f = _two("psychosis_dimensions", first, second)

    assert 1 == f["psychosis_dimensions.hallucinations_latest"]
    assert -2 == f["psychosis_dimensions.hallucinations_change"]  # 1 - 3
    assert 3 == f["psychosis_dimensions.delusions_latest"]
    assert 1 == f["psychosis_dimensions.delusions_change"]  # 3 - 2
    assert 1 == f["psychosis_dimensions.abnormal_psychomotor_behavior_change"]  # 1 - 0
    assert 0 == f["psychosis_dimensions.negative_symptoms_change"]  # 1 - 1
    assert -2 == f["psychosis_dimensions.depression_change"]  # 0 - 2
    # worse: delusions (2 -> 3) and abnormal psychomotor behaviour (0 -> 1)
    assert 2 == f["psychosis_dimensions.items_worsened"]
    assert "psychosis_dimensions.latest" not in catalog()  # no total is defined


def test_psychosis_dimensions_single_rating_has_no_change():
    """With one rating, levels are known and changes are missing."""
    f = facts(_episode(assessments=[_a("psychosis_dimensions", "2026-01-05", [0, 1, 2, 3, 4, 0, 1, 2])]), SERIES_AS_OF)

    assert 4 == f["psychosis_dimensions.negative_symptoms_latest"]
    assert None is f["psychosis_dimensions.negative_symptoms_change"]
    assert None is f["psychosis_dimensions.items_worsened"]


@pytest.mark.parametrize(
    ("sex", "context", "expected"),
    [
        ("female", None, True),  # women: 3 >= 3 (Bush 1998)
        ("male", None, False),  # men: 3 < 4
        ("female", {"sex": "male"}, False),  # the assessment's own context wins
    ],
)
def test_auditc_uses_the_episode_sex(sex, context, expected):
    """AUDIT-C [2, 1, 0] = 3 screens positive for a woman and not for a man; the episode's sex
    is used when the assessment has no context."""
    assessment = _a("auditc", "2026-01-05", [2, 1, 0])
    if context is not None:
        assessment["context"] = context
    f = facts(_episode(sex=sex, assessments=[assessment]), SERIES_AS_OF)

    assert 3 == f["auditc.latest"]
    assert expected is f["auditc.positive_screen"]


def test_auditc_without_sex_is_invalid_not_a_crash():
    """Without a sex anywhere, AUDIT-C cannot be scored: it is counted as invalid."""
    f = facts(_episode(assessments=[_a("auditc", "2026-01-05", [2, 1, 0])]), SERIES_AS_OF)

    assert 1 == f["auditc.invalid_count"]
    assert 0 == f["auditc.count"]
    assert None is f["auditc.latest"]
    assert None is f["auditc.positive_screen"]
    assert 1 == f["measures_latest_invalid"]


# -- episode facts -------------------------------------------------------------------------------

OPS_AS_OF = D("2026-02-10")
OPS = _episode(
    enrollment_date="2025-12-01",
    contacts=[
        {"date": "2025-12-15", "kind": "initial_assessment", "minutes": 60},
        {"date": "2026-01-02", "kind": "follow_up", "minutes": 30},
        {"date": "2026-01-11", "kind": "other", "minutes": 5},  # 30 days before as_of
        {"date": "2026-01-12", "kind": "follow_up", "minutes": 15},  # 29 days before as_of
        {"date": "2026-01-20", "kind": "psychiatric_consultation", "minutes": 20},
        {"date": "2026-01-31", "kind": "other", "minutes": 45},
        {"date": "2026-02-01", "kind": "case_review", "minutes": 10},
        {"date": "2026-02-02", "kind": "follow_up", "minutes": 25},
        {"date": "2026-02-10", "kind": "other"},  # on as_of, no minutes recorded
        {"date": "2026-02-11", "kind": "follow_up", "minutes": 50},  # after as_of
    ],
    recommendations=[
        {"date": "2026-01-20", "status": "pending"},
        {"date": "2026-01-10", "status": "implemented", "resolved_date": "2026-02-15"},  # resolved later
        {"date": "2026-01-05", "status": "declined", "resolved_date": "2026-01-06"},
        {"date": "2026-02-12", "status": "pending"},  # after as_of
    ],
    relapse_prevention_plan_date="2026-02-20",  # after as_of
    assessments=[_a("phq9", "2026-02-03", PHQ9_9)],
)


def test_episode_identity_facts():
    """program and status are copied; days_since_enrollment counts from enrollment."""
    f = facts(OPS, OPS_AS_OF)

    assert ("cocm", "active_treatment") == (f["program"], f["status"])
    assert D("2025-12-01") == f["enrollment_date"]
    # 2025-12-01 -> 2026-01-01 = 31, -> 2026-02-01 = 31, -> 2026-02-10 = 9: 71
    assert 71 == f["days_since_enrollment"]


def test_initial_assessment_and_weeks_in_treatment():
    """Treatment starts at the initial assessment; weeks are whole weeks (floor)."""
    f = facts(OPS, OPS_AS_OF)

    assert True is f["has_initial_assessment"]
    assert D("2025-12-15") == f["initial_assessment_date"]
    # 2025-12-15 -> 2026-01-01 = 17, -> 2026-02-01 = 31, -> 2026-02-10 = 9: 57 days
    assert 57 == f["days_since_initial_assessment"]
    assert 8 == f["weeks_in_treatment"]  # 57 // 7 = 8 (8 weeks and 1 day)


@pytest.mark.parametrize(("days", "weeks"), [(0, 0), (6, 0), (7, 1), (13, 1), (14, 2), (84, 12)])
def test_weeks_in_treatment_are_whole_weeks(days, weeks):
    """weeks_in_treatment = floor(days since the initial assessment / 7)."""
    start = D("2026-01-05")
    episode = _episode(contacts=[{"date": "2026-01-05", "kind": "initial_assessment"}])

    f = facts(episode, start + dt.timedelta(days=days))

    assert weeks == f["weeks_in_treatment"]


def test_no_initial_assessment():
    """Without an initial assessment contact (or with one only after as_of), treatment has not
    started: has_initial_assessment is False and the day and week counts are missing."""
    episode = _episode(contacts=[{"date": "2026-03-01", "kind": "initial_assessment"}])

    f = facts(episode, D("2026-02-01"))

    assert False is f["has_initial_assessment"]
    assert None is f["initial_assessment_date"]
    assert None is f["days_since_initial_assessment"]
    assert None is f["weeks_in_treatment"]
    assert None is f["cocm_month"]
    assert None is f["days_since_last_contact"]


def test_contact_facts():
    """Contacts after as_of are ignored; the latest of each kind gives the day counts."""
    f = facts(OPS, OPS_AS_OF)

    assert D("2026-02-10") == f["last_contact_date"]
    assert 0 == f["days_since_last_contact"]
    assert 8 == f["days_since_last_follow_up"]  # 2026-02-02 (the 2026-02-11 one is after as_of)
    assert 3 == f["follow_up_contacts"]  # 01-02, 01-12, 02-02
    assert 4 == f["sessions"]  # the initial assessment + 3 follow-ups
    assert 21 == f["days_since_psych_consult"]  # 2026-01-20 -> 2026-02-10
    assert 9 == f["days_since_case_review"]  # 2026-02-01 -> 2026-02-10
    assert 9 == f["days_since_consultant_review"]  # min(21, 9)


def test_contacts_last_30d_boundary():
    """contacts_last_30d counts the 30 days up to and including as_of: a contact 29 days before
    counts, 30 days before does not."""
    f = facts(OPS, OPS_AS_OF)

    # 2026-01-12 (29 days), 01-20, 01-31, 02-02, 02-10; not 01-11 (30 days), 02-11 (after as_of)
    # or the 02-01 case review (the patient is not there: not a contact with the patient)
    assert 5 == f["contacts_last_30d"]


def test_consultant_review_is_the_more_recent_of_both_kinds():
    """days_since_consultant_review takes a consultation when it is more recent than a review."""
    episode = _episode(
        contacts=[
            {"date": "2026-01-05", "kind": "case_review"},
            {"date": "2026-01-25", "kind": "psychiatric_consultation"},
        ]
    )

    f = facts(episode, D("2026-02-01"))

    assert (27, 7, 7) == (f["days_since_case_review"], f["days_since_psych_consult"], f["days_since_consultant_review"])


def test_minutes_this_month():
    """Only minutes in the calendar month of as_of and on or before as_of count: February has
    10 (02-01) + 25 (02-02) + none recorded (02-10) = 35; 01-31 and 02-11 do not count."""
    f = facts(OPS, OPS_AS_OF)

    assert 35 == f["minutes_this_month"]


def test_minutes_this_month_at_a_month_start_with_no_contacts_is_zero():
    """On the first of a month with no contact yet, minutes_this_month is 0."""
    f = facts(OPS, D("2026-03-01"))

    # the 2026-02-11 follow-up is in February; nothing in March yet
    assert 0 == f["minutes_this_month"]


@pytest.mark.parametrize(
    ("as_of", "month"),
    [
        ("2025-12-15", 1),  # the day of the first contact
        ("2025-12-31", 1),
        ("2026-01-01", 2),  # next calendar month, across the year boundary
        ("2026-02-10", 3),
        ("2026-12-01", 13),
    ],
)
def test_cocm_month(as_of, month):
    """cocm_month is 1 in the calendar month of the first contact, 2 the next month, and so on
    across a year boundary (first contact 2025-12-15)."""
    f = facts(OPS, D(as_of))

    assert month == f["cocm_month"]


# -- billing: care-manager minutes, 99494 units, consent, 99484 ------------------------------------

BILLING_AS_OF = D("2026-02-10")
BILLING = _episode(
    enrollment_date="2026-01-05",
    consent_date="2026-01-05",
    contacts=[
        {"date": "2026-01-05", "kind": "initial_assessment", "minutes": 50, "role": "care_manager"},  # January
        {"date": "2026-02-02", "kind": "follow_up", "minutes": 30, "role": "care_manager"},
        {"date": "2026-02-03", "kind": "case_review", "minutes": 40, "role": "psychiatric_consultant"},
        {"date": "2026-02-04", "kind": "follow_up", "minutes": 20, "role": "pcp"},
        {"date": "2026-02-05", "kind": "other", "minutes": 10, "role": "other"},
        {"date": "2026-02-06", "kind": "follow_up", "minutes": 15},  # no role
        {"date": "2026-02-07", "kind": "case_review", "minutes": 12, "role": "care_manager"},
        {"date": "2026-02-08", "kind": "other", "role": "care_manager"},  # no minutes recorded
        {"date": "2026-02-11", "kind": "follow_up", "minutes": 45, "role": "care_manager"},  # after as_of
    ],
)


def test_bhcm_minutes_count_only_the_care_manager_role():
    """The CoCM codes count behavioral health care manager time: in February up to as_of the
    care manager's 30 + 12 = 42 minutes; the consultant's 40, the PCP's 20, other 10 and the 15
    without a role are not counted; minutes_this_month still counts all 127."""
    f = facts(BILLING, BILLING_AS_OF)

    assert 42 == f["bhcm_minutes_this_month"]
    assert 15 == f["minutes_without_role_this_month"]
    assert 30 + 40 + 20 + 10 + 15 + 12 == f["minutes_this_month"]


def _care_manager_minutes(first: str, day: str, minutes: int) -> dict[str, Any]:
    """An episode whose first contact is on ``first`` and whose care manager spends ``minutes``
    on ``day`` (the initial assessment, when the two are the same day)."""
    contacts = [{"date": first, "kind": "initial_assessment", "minutes": 0, "role": "care_manager"}]
    contacts.append({"date": day, "kind": "follow_up", "minutes": minutes, "role": "care_manager"})
    return _episode(enrollment_date="2025-12-01", contacts=contacts)


@pytest.mark.parametrize(
    ("first", "minutes", "units"),
    [
        # First CoCM month: 99492 covers the first 70 minutes; a 99494 unit of 30 minutes counts from 16.
        ("2026-02-01", 85, 0),  # 15 beyond 70
        ("2026-02-01", 86, 1),  # 16 beyond 70
        ("2026-02-01", 115, 1),  # 30 + 15
        ("2026-02-01", 116, 2),  # 30 + 16
        ("2026-02-01", 146, 3),  # 60 + 16
        # A later month: 99493 covers the first 60 minutes.
        ("2025-12-15", 75, 0),  # 15 beyond 60
        ("2025-12-15", 76, 1),
        ("2025-12-15", 106, 2),  # 30 + 16
        ("2025-12-15", 196, 5),  # 120 + 16: above a cap of four is the ruleset's business
        ("2025-12-15", 0, 0),
    ],
)
def test_cocm_99494_units_this_month(first, minutes, units):
    """Units of the add-on 99494: each 30 care-manager minutes beyond the base code's 70 (first
    CoCM month) or 60 minutes, a unit counting from 16 minutes (more than half)."""
    f = facts(_care_manager_minutes(first, "2026-02-09", minutes), BILLING_AS_OF)

    assert (minutes, units) == (f["bhcm_minutes_this_month"], f["cocm_99494_units_this_month"])


def test_cocm_99494_units_without_contacts_is_missing():
    """No contact: no CoCM month, so no 99494 units (missing), and no minutes."""
    f = facts(_episode(), BILLING_AS_OF)

    assert (None, 0, 0) == (
        f["cocm_99494_units_this_month"],
        f["bhcm_minutes_this_month"],
        f["minutes_without_role_this_month"],
    )


@pytest.mark.parametrize(
    ("consent_date", "has_consent", "date"),
    [(None, False, None), ("2026-02-10", True, D("2026-02-10")), ("2026-02-11", False, None)],
)
def test_consent_counts_from_its_date(consent_date, has_consent, date):
    """Consent recorded on or before as_of counts (the same day too); one dated after as_of
    does not exist yet."""
    record = _episode() if consent_date is None else _episode(consent_date=consent_date)
    f = facts(record, BILLING_AS_OF)

    assert (has_consent, date) == (f["has_consent"], f["consent_date"])


@pytest.mark.parametrize(
    ("billed", "expected"),
    [
        ([], False),
        ([{"code": "99484", "date": "2026-02-01"}], True),  # this month, before as_of
        ([{"code": "99484", "date": "2026-02-10"}], True),  # on as_of
        ([{"code": "99484", "date": "2026-01-31"}], False),  # last month
        ([{"code": "99484", "date": "2026-02-11"}], False),  # after as_of
        ([{"code": "99484", "date": "2025-02-05"}], False),  # the same month a year before
        ([{"code": "99493", "date": "2026-02-05"}], False),  # a CoCM code
    ],
)
def test_general_bhi_billed_this_month(billed, expected):
    """A 99484 with a date of service in the calendar month of as_of, on or before as_of."""
    f = facts(_episode(billed_services=billed), BILLING_AS_OF)

    assert expected is f["general_bhi_billed_this_month"]


def test_relapse_prevention_plan_dated_after_as_of_does_not_count():
    """A plan dated 2026-02-20 does not exist yet as of 2026-02-10."""
    f = facts(OPS, OPS_AS_OF)

    assert False is f["has_relapse_prevention_plan"]
    assert None is f["days_since_relapse_prevention_plan"]


def test_relapse_prevention_plan_on_or_before_as_of():
    """As of 2026-02-25 the 2026-02-20 plan exists and is 5 days old."""
    f = facts(OPS, D("2026-02-25"))

    assert True is f["has_relapse_prevention_plan"]
    assert 5 == f["days_since_relapse_prevention_plan"]


def test_pending_recommendations_as_of():
    """A recommendation resolved after as_of is still pending as of as_of; one dated after
    as_of does not exist yet; a resolved one is not pending."""
    f = facts(OPS, OPS_AS_OF)

    # pending: 01-20 (pending) and 01-10 (resolved 02-15, after as_of)
    assert 2 == f["pending_recommendations"]
    # oldest pending is 2026-01-10 -> 2026-02-10 = 31 days
    assert 31 == f["days_since_oldest_pending_recommendation"]


def test_pending_recommendations_after_resolution():
    """As of 2026-02-15 the 01-10 recommendation is resolved; the 02-12 one is now pending."""
    f = facts(OPS, D("2026-02-15"))

    assert 2 == f["pending_recommendations"]  # 01-20 and 02-12
    assert 26 == f["days_since_oldest_pending_recommendation"]  # 2026-01-20 -> 2026-02-15


def test_no_pending_recommendations():
    """Without recommendations, the count is 0 and the age is missing."""
    f = facts(_episode(), OPS_AS_OF)

    assert (0, None) == (f["pending_recommendations"], f["days_since_oldest_pending_recommendation"])


def test_days_since_last_assessment():
    """Days since the latest administration of any measure."""
    f = facts(OPS, OPS_AS_OF)

    assert 7 == f["days_since_last_assessment"]  # 2026-02-03 -> 2026-02-10


# -- SMI outcomes --------------------------------------------------------------------------------

SMI = _episode(
    program="smi",
    smi_events=[
        {"date": "2025-11-12", "kind": "hospitalization"},  # 90 days before as_of
        {"date": "2025-11-13", "kind": "hospitalization"},  # 89 days before as_of
        {"date": "2025-11-12", "kind": "ed_visit"},  # 90 days
        {"date": "2026-01-10", "kind": "ed_visit"},  # 31 days
        {"date": "2026-02-11", "kind": "ed_visit"},  # after as_of
        {"date": "2025-12-01", "kind": "housing", "status": "stable"},
        {"date": "2026-01-05", "kind": "housing", "status": "unstable"},
        {"date": "2026-01-20", "kind": "housing", "status": "homeless"},
        {"date": "2025-12-01", "kind": "employment", "status": "employed"},
        {"date": "2026-01-25", "kind": "employment", "status": "not_in_labor_force"},
        {"date": "2025-12-01", "kind": "education", "status": "not_enrolled"},
        {"date": "2026-01-25", "kind": "education", "status": "enrolled"},
    ],
)


def test_smi_event_counts_over_90_days():
    """Events 89 days before as_of count in the last 90 days; 90 days before do not.
    2025-11-13 -> 2026-02-10: 18 + 31 + 31 + 9 = 89 days (to 12-01, 01-01, 02-01, 02-10)."""
    f = facts(SMI, OPS_AS_OF)

    assert 1 == f["hospitalizations_last_90d"]
    assert 89 == f["days_since_last_hospitalization"]
    assert 1 == f["ed_visits_last_90d"]
    assert 31 == f["days_since_last_ed_visit"]  # 2026-01-10 (02-11 is after as_of)


def test_smi_statuses_and_losses():
    """Statuses are the latest recorded; a loss is a change from stable (employed, enrolled) to
    another status, dated at the first step away (stable -> unstable on 2026-01-05, 36 days)."""
    f = facts(SMI, OPS_AS_OF)

    assert "homeless" == f["housing_status"]
    assert 36 == f["days_since_housing_lost"]  # 2026-01-05 -> 2026-02-10 = 26 + 10
    assert "not_in_labor_force" == f["employment_status"]
    assert 16 == f["days_since_employment_lost"]  # 2026-01-25 -> 2026-02-10
    assert "enrolled" == f["education_status"]
    assert None is f["days_since_education_lost"]  # not_enrolled -> enrolled is a gain


def test_smi_loss_needs_a_change_from_the_good_status():
    """Homeless from the first record on is a status, not a loss: days_since_housing_lost is
    missing; so is a move between two non-stable statuses."""
    episode = _episode(
        program="smi",
        smi_events=[
            {"date": "2026-01-01", "kind": "housing", "status": "homeless"},
            {"date": "2026-01-20", "kind": "housing", "status": "unstable"},
            {"date": "2026-01-01", "kind": "employment", "status": "unemployed"},
        ],
    )

    f = facts(episode, OPS_AS_OF)

    assert "unstable" == f["housing_status"]
    assert None is f["days_since_housing_lost"]
    assert "unemployed" == f["employment_status"]
    assert None is f["days_since_employment_lost"]


def test_smi_facts_without_events():
    """Without SMI events, counts are 0 and statuses and day counts are missing."""
    f = facts(_episode(), OPS_AS_OF)

    assert (0, 0) == (f["hospitalizations_last_90d"], f["ed_visits_last_90d"])
    for name in (
        "days_since_last_hospitalization",
        "days_since_last_ed_visit",
        "housing_status",
        "days_since_housing_lost",
        "employment_status",
        "days_since_employment_lost",
        "education_status",
        "days_since_education_lost",
    ):
        assert None is f[name], name


def test_smi_events_after_as_of_are_ignored():
    """As of 2026-01-10 the housing loss of 2026-01-05 is 5 days old and homelessness (01-20)
    has not happened yet."""
    f = facts(SMI, D("2026-01-10"))

    assert "unstable" == f["housing_status"]
    assert 5 == f["days_since_housing_lost"]
    assert "employed" == f["employment_status"]


# -- the catalog ---------------------------------------------------------------------------------

TYPES = {"number", "integer", "boolean", "date", "text"}
#: Text facts that are free text on purpose (ids), so they have no list of allowed values.
FREE_TEXT = {
    "care_manager",
    "safety_missing_reason",
    "measures_latest_invalid_names",
    "set_aside_reasons",
    *(f"psychosis_dimensions.items_at_or_above_{level}" for level in ("equivocal", "mild", "moderate", "severe")),
}


def test_every_spec_is_complete():
    """Every catalog entry has a name (its key), a known type and a meaning; text facts list
    their allowed values, except the few declared free-text ids."""
    cat = catalog()

    assert len(cat) > 100
    for name, spec in cat.specs.items():
        assert name == spec.name
        assert spec.type in TYPES, name
        assert spec.meaning.strip(), name
        if spec.type == "text" and name not in FREE_TEXT:
            assert spec.allowed, name
            assert all(isinstance(v, str) for v in spec.allowed), name
    assert {name for name in FREE_TEXT if cat[name].type == "text" and cat[name].allowed is None} == FREE_TEXT


def test_measure_facts_are_named_after_a_bundled_measure():
    """Every per-measure fact is ``<measure id>.<stat>`` for a bundled measure, and every
    bundled measure has facts; episode facts have no dot."""
    cat = catalog()
    ids = set(load_measures())

    for name, spec in cat.specs.items():
        if spec.measure is None:
            assert "." not in name, name
        else:
            assert spec.measure in ids, name
            assert name.startswith(spec.measure + "."), name
    assert ids == {spec.measure for spec in cat.specs.values() if spec.measure is not None}


def test_catalog_lists_the_documented_fact_names():
    """The fact names the design documents and the rulesets rely on exist."""
    cat = catalog()
    documented = [
        "phq9.baseline",
        "phq9.latest",
        "phq9.previous",
        "phq9.count",
        "phq9.change",
        "phq9.pct_reduction",
        "phq9.response",
        "phq9.remission",
        "phq9.item9_latest",
        "phq9.latest_date",
        "phq9.days_since_latest",
        "gad7.band",
        "cssrs_screener.level",
        "weeks_in_treatment",
        "days_since_last_contact",
        "contacts_last_30d",
        "days_since_psych_consult",
        "minutes_this_month",
        "status",
        "program",
        "has_relapse_prevention_plan",
        "hospitalizations_last_90d",
        "ed_visits_last_90d",
        "housing_status",
        "employment_status",
    ]

    assert [] == [name for name in documented if name not in cat]


def _has_type(value: Any, type_: str) -> bool:
    if type_ == "boolean":
        return isinstance(value, bool)
    if type_ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_ == "date":
        return isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    return isinstance(value, str)


@pytest.mark.parametrize("as_of", ["2025-12-01", "2026-01-15", "2026-02-23", "2026-03-02", "2027-01-01"])
def test_fact_values_have_their_declared_type(as_of):
    """On a rich episode (every bundled measure twice, contacts, recommendations, SMI events),
    every fact is None or a value of its declared type, within its declared range, and a text
    fact is one of its allowed values."""
    cat = catalog()
    values = facts(_rich(), D(as_of))

    assert set(cat.specs) == set(values)
    for name, value in values.items():
        if value is None:
            continue
        spec = cat[name]
        assert _has_type(value, spec.type), (name, value, spec.type)
        if spec.type == "text" and name not in FREE_TEXT:
            assert value in spec.allowed, (name, value)
        if spec.type in ("number", "integer"):
            assert spec.minimum is None or value >= spec.minimum, (name, value)
            assert spec.maximum is None or value <= spec.maximum, (name, value)


def test_the_rich_episode_computes_most_facts():
    """As of 2026-03-02 nearly every fact of the rich episode is known, so the type loop above
    checks real values: the missing ones are only optional items, skipped C-SSRS questions,
    total_mismatch where no total was reported, and lists that are empty (no domain severe)."""
    values = facts(_rich(), D("2026-03-02"))

    missing = {name for name, value in values.items() if value is None}
    allowed = {
        "cssrs_screener.q3_latest",
        "cssrs_screener.q4_latest",
        "cssrs_screener.q5_latest",
        "cssrs_screener.q6b_latest",
        "phqa.serious_thoughts_past_month_latest",
        "phqa.attempt_ever_latest",
        "safety_missing_reason",  # present only when something is missing or invalid
        "measures_latest_invalid_names",
        "set_aside_reasons",  # present only when a record was set aside
        "psychosis_dimensions.items_at_or_above_severe",  # present only when a domain is rated severe
    }
    assert set() == {name for name in missing if name not in allowed and not name.endswith(".total_mismatch")}
    assert False is values["phq9.total_mismatch"]


def test_selected_names_only():
    """``names=`` computes just those facts, equal to the full computation."""
    full = facts(SERIES, SERIES_AS_OF)

    some = facts(SERIES, SERIES_AS_OF, names=["phq9.latest", "weeks_in_treatment"])

    assert {"phq9.latest": full["phq9.latest"], "weeks_in_treatment": full["weeks_in_treatment"]} == some


def test_an_unknown_fact_name_suggests_the_closest():
    """A misspelt fact name raises InvalidInput with "did you mean"."""
    with pytest.raises(InvalidInput) as info:
        facts(SERIES, SERIES_AS_OF, names=["phq9.lastest"])

    assert "phq9.latest" == info.value.suggestion
    assert "phq9.lastest" == info.value.field
    assert "did you mean 'phq9.latest'?" in str(info.value)


@pytest.mark.parametrize(
    "as_of",
    [dt.datetime(2026, 4, 6, 12, 0), "2026-04-06", None, 20260406],
    ids=["datetime", "text", "none", "number"],
)
def test_as_of_must_be_a_date(as_of):
    """as_of must be a ``date``: a date-time, a string, None or a number raises InvalidInput."""
    with pytest.raises(InvalidInput) as info:
        facts(SERIES, as_of)

    assert "as_of" == info.value.field
    assert "must be a date" in str(info.value)


def test_an_invalid_episode_raises_invalid_input():
    """facts() validates the record: a bad record raises InvalidInput naming it."""
    with pytest.raises(InvalidInput, match="record patient 'p1': status: "):
        facts(_episode(status="open"), SERIES_AS_OF)


def test_housing_lost_clears_once_housing_is_stable_again():
    """days_since_housing_lost describes a loss that still lasts: once housing is stable again
    it is missing, so the SMI rule stops firing on an old loss."""
    events = [
        {"date": "2025-12-01", "kind": "housing", "status": "stable"},
        {"date": "2026-01-05", "kind": "housing", "status": "unstable"},
    ]
    still_lost = facts(_episode(smi_events=events), D("2026-02-10"))
    regained = facts(
        _episode(smi_events=[*events, {"date": "2026-01-20", "kind": "housing", "status": "stable"}]), D("2026-02-10")
    )

    assert 36 == still_lost["days_since_housing_lost"]  # 2026-01-05 -> 2026-02-10
    assert ("stable", None) == (regained["housing_status"], regained["days_since_housing_lost"])


def test_unanswered_optional_phqa_questions_do_not_make_risk_undetermined():
    """The PHQ-A's extra suicide questions are optional: left blank they were not asked, so
    with item 9 at 0 the PHQ-A rules suicide risk out (False), rather than 'undetermined'."""
    f = facts(_episode(assessments=[_a("phqa", "2026-01-05", [1, 1, 1, 1, 1, 1, 1, 1, 0])]), SERIES_AS_OF)

    assert (False, False) == (f["phqa.suicide_risk"], f["phqa.safety_item_missing"])


def test_a_flag_that_cannot_be_ruled_out_is_missing_not_false():
    """A PHQ-9 reported as a total only cannot rule item 9 out: phq9.suicide_risk is missing,
    and safety_item_missing says why."""
    f = facts(_episode(assessments=[{"measure": "phq9", "date": "2026-01-05", "total": 3}]), SERIES_AS_OF)

    assert (None, True, True) == (f["phq9.suicide_risk"], f["phq9.safety_item_missing"], f["safety_item_missing"])


@settings(max_examples=200)
@given(record=episodes())
def test_valid_count_skips_scoring_only_plainly_valid_answers(record: dict[str, Any]) -> None:
    """``<measure>.count`` (counted without scoring plainly valid answers) equals the number
    of administrations that score as valid, for every measure of any generated episode."""
    from cocm_rules.facts import EpisodeView

    ctx = EpisodeView(parse_episode(record), AS_OF_PROPERTY, load_measures())
    for measure in ctx.administered:
        s = ctx.series(measure)
        if s is not None:
            assert sum(1 for k in range(len(s.entries)) if s.is_valid(s.at(k))) == s.valid_count
            fresh = ctx.__class__(ctx.episode, ctx.as_of, ctx.library).series(measure)
            assert fresh is not None
            assert s.valid_count == fresh.valid_count  # counted before anything was scored


# -- same-day administrations and unrecognised measures: safety fails closed -----------------

ITEM9_2 = [1, 1, 1, 1, 1, 1, 1, 1, 2]  # total 10, item 9 = 2


@pytest.mark.parametrize("order", ["positive first", "positive last"])
def test_same_day_phq9s_the_one_of_most_concern_is_the_latest(order: str) -> None:
    """Two PHQ-9s on one day, item 9 = 2 and item 9 = 0: whichever the record lists last, the
    latest safety facts come from the positive one (record order must not hide a risk)."""
    pair = [("2026-02-02", ITEM9_2), ("2026-02-02", PHQ9_0)]
    f = facts(_phq9(("2026-01-05", PHQ9_20), *(pair if order == "positive first" else pair[::-1])), D("2026-02-03"))

    assert (2, True, False) == (f["phq9.item9_latest"], f["phq9.suicide_risk"], f["safety_item_missing"])
    assert f["suicide_risk"] is True


@pytest.mark.parametrize("order", [1, -1])
def test_same_day_cssrs_screens_the_higher_level_counts(order: int) -> None:
    """A C-SSRS screen at high risk and one at no risk on the same day: high, in either order;
    moderate beats low the same way."""
    high, none, moderate, low = [1, 1, 0, 1, 0, 0], [0, 0, None, None, None, 0], [1, 1, 1, 0, 0, 0], [1, 0]
    for pair, level in (([high, none], "high"), ([moderate, low], "moderate")):
        screens = [_a("cssrs_screener", "2026-02-02", answers) for answers in pair[::order]]
        f = facts(_episode(assessments=screens), D("2026-02-03"))
        assert level == f["cssrs_screener.level"]


def test_an_unknown_measure_id_fails_closed() -> None:
    """A PHQ-9 sent under an id the library does not recognize ('PHQ-9x') cannot be read, and it
    may have been a safety screen: safety_item_missing is true, and the engine escalates."""
    from cocm_rules import Engine

    episode = _episode(assessments=[_a("PHQ-9x", "2026-02-02", [0, 0, 0, 0, 0, 0, 0, 0, 3])])
    f = facts(episode, D("2026-02-03"))
    alerts = Engine.load().evaluate(episode, D("2026-02-03"))

    assert (True, 1) == (f["safety_item_missing"], f["measures_latest_invalid"])
    assert "suicide-risk-unknown" == alerts[0].rule_id
    assert facts(_phq9(("2026-02-02", PHQ9_0)), D("2026-02-03"))["safety_item_missing"] is False


# -- issue 11: a total with item 9, what is missing in words, ids as hosts write them -----------


@pytest.mark.parametrize(
    ("item9", "suicide_risk", "safety_missing"),
    [(0, False, False), (1, True, False), (None, None, True)],
    ids=["item9-0", "item9-1", "total-only"],
)
def test_a_phq9_total_with_or_without_item9_gives_baseline_and_latest(
    item9: int | None, suicide_risk: bool | None, safety_missing: bool
) -> None:
    """PHQ-9s sent as total + item 9 (or a total alone) are scored administrations: baseline
    and latest are the reported totals; item 9 decides the suicide facts, and without it risk
    cannot be ruled out."""
    extra = {"answers": {"item9": item9}} if item9 is not None else {}
    episode = _episode(assessments=[_a("phq9", "2026-01-05", total=20), _a("phq9", "2026-03-30", total=9, **extra)])

    f = facts(episode, SERIES_AS_OF)

    assert (20, 9, 2, 0.55) == (f["phq9.baseline"], f["phq9.latest"], f["phq9.count"], f["phq9.pct_reduction"])
    assert (item9, suicide_risk, safety_missing) == (
        f["phq9.item9_latest"],
        f["phq9.suicide_risk"],
        f["safety_item_missing"],
    )
    expected_reason = None if not safety_missing else "PHQ-9 item 9 was not sent (2026-03-30)"
    assert expected_reason == f["safety_missing_reason"]


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ([1, 1, 1, 1, 1, 1, 1, 1, None], "PHQ-9 item 9 was left unanswered (2026-03-30)"),
        ({f"item{n}": 1 for n in range(1, 9)}, "PHQ-9 item 9 was not sent (2026-03-30)"),
        ({"item1": 1, "item9": None}, "PHQ-9 item 9 was left unanswered (2026-03-30)"),
        ([1, 1, 1, 1, 1, 1, 1, 1, 9], "the PHQ-9 of 2026-03-30 could not be scored (an invalid answer)"),
    ],
    ids=["null-in-a-list", "left-out-of-a-mapping", "null-in-a-mapping", "invalid-answer"],
)
def test_safety_missing_reason_says_what_is_missing(answers: Any, reason: str) -> None:
    """The reason tells a safety item that was not sent from one sent empty, and an
    administration that could not be scored."""
    f = facts(_phq9(("2026-03-30", answers)), SERIES_AS_OF)

    assert (True, reason) == (f["safety_item_missing"], f["safety_missing_reason"])


def test_unrecognized_ids_are_listed_in_order_with_the_invalid_measures() -> None:
    """Unrecognized ids are listed as sent, after the recognized measures that could not be
    scored; every reason is given."""
    episode = _episode(
        assessments=[
            _a("zz", "2026-03-01", [1]),
            _a("gad7", "2026-03-01", [1, 1, 1, 1, 1, 1, 9]),
            _a("PHQ-9x", "2026-03-01", [1]),
        ]
    )

    f = facts(episode, SERIES_AS_OF)

    assert (3, "gad7, 'PHQ-9x' (not recognized), 'zz' (not recognized)") == (
        f["measures_latest_invalid"],
        f["measures_latest_invalid_names"],
    )
    assert (
        "measure id 'PHQ-9x' is not recognized (it may have been a safety screen); "
        "measure id 'zz' is not recognized (it may have been a safety screen)"
    ) == f["safety_missing_reason"]


def test_an_episode_built_with_aliases_gives_the_facts_of_its_ids() -> None:
    """An Episode built directly (not parsed) with measure aliases still has its facts read
    under the measures' ids."""
    from cocm_rules import Episode

    built = Episode(
        patient_id="p1",
        program="cocm",
        enrollment_date=D("2026-01-05"),
        status="active_treatment",
        assessments=[{"measure": "PHQ-9", "date": D("2026-03-30"), "answers": [1] * 9}],
    )

    f = facts(built, SERIES_AS_OF)

    assert (9, 0, None) == (f["phq9.latest"], f["measures_latest_invalid"], f["measures_latest_invalid_names"])


# -- how the score moved since the psychiatric consultant's last review (issue 12, item 1) --------

PHQ9_11 = [2, 2, 2, 1, 1, 1, 1, 1, 0]  # 2*3 + 1*5 = 11; item 9 = 0
PHQ9_16 = [3, 3, 2, 2, 2, 2, 1, 1, 0]  # 3*2 + 2*4 + 1*2 = 16; item 9 = 0


def _reviewed(*contacts: tuple[str, str]) -> dict[str, Any]:
    """PHQ-9 20 (01-05), 11 (02-02), 16 (02-16), with the given (date, kind) contacts."""
    return _episode(
        assessments=[
            _a("phq9", "2026-01-05", PHQ9_20),
            _a("phq9", "2026-02-02", PHQ9_11),
            _a("phq9", "2026-02-16", PHQ9_16),
        ],
        contacts=[{"date": d, "kind": kind} for d, kind in contacts],
    )


def test_change_since_consultant_review_compares_with_the_score_known_then():
    """Reviewed on 02-08: the PHQ-9 known then is 11 (02-02); the latest is 16: +5 points."""
    f = facts(_reviewed(("2026-02-08", "case_review")), D("2026-02-20"))

    assert 5 == f["phq9.change_since_consultant_review"]


def test_a_score_on_the_day_of_the_review_was_known_at_it():
    """A PHQ-9 dated the day of the review counts as known at the review: nothing new since, 0."""
    f = facts(_reviewed(("2026-02-16", "psychiatric_consultation")), D("2026-02-20"))

    assert 0 == f["phq9.change_since_consultant_review"]


def test_change_since_consultant_review_takes_the_last_review_of_either_kind():
    """A consultation on 01-20 and a case review on 02-10: the later one (score known: 11) counts."""
    f = facts(_reviewed(("2026-01-20", "psychiatric_consultation"), ("2026-02-10", "case_review")), D("2026-02-20"))

    assert 5 == f["phq9.change_since_consultant_review"]


def test_change_since_consultant_review_is_missing_without_a_review_or_a_score_by_then():
    """Never reviewed: missing. Reviewed before the first PHQ-9: nothing known then, missing. A
    review after as_of does not count (missing)."""
    never = facts(_reviewed(("2026-01-05", "initial_assessment")), D("2026-02-20"))
    early = facts(_reviewed(("2026-01-02", "case_review")), D("2026-02-20"))
    later = facts(_reviewed(("2026-02-25", "case_review")), D("2026-02-20"))

    assert [None, None, None] == [x["phq9.change_since_consultant_review"] for x in (never, early, later)]


def test_change_since_consultant_review_skips_an_invalid_score():
    """An administration that cannot be scored (an item out of range) on the review day is not
    the score known at the review: the valid one before it is (11 on 02-02)."""
    episode = _reviewed(("2026-02-08", "case_review"))
    episode["assessments"].append(_a("phq9", "2026-02-08", [9, 9, 9, 9, 9, 9, 9, 9, 0]))

    f = facts(episode, D("2026-02-20"))

    assert 5 == f["phq9.change_since_consultant_review"]
