"""The course of symptoms (cocm_rules.facts.course) and the change from the previous total:
how long a screen has stayed positive, how long a psychosis dimension has stayed at a level,
whether the consultant has reviewed the patient since, with values worked out by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cocm_rules import catalog
from cocm_rules import derive_facts as facts

D = dt.date.fromisoformat
AS_OF = D("2026-11-06")

# ASRM answers (5 items, 0-4): total 8 (positive, >= 6) and total 2 (negative).
ASRM_8 = [2, 2, 2, 1, 1]
ASRM_2 = [1, 1, 0, 0, 0]
# Psychosis dimensions (8 domains, 0-4): hallucinations 4, delusions 2, the rest low.
DIMS = [4, 2, 1, 0, 1, 1, 2, 0]
# BPRS (18 items, 1-7): 14 x 3 + 4 x 1 = 46 and 10 x 4 + 8 x 3 = 64.
BPRS_46 = [3] * 14 + [1] * 4
BPRS_64 = [4] * 10 + [3] * 8


def _episode(assessments: list[tuple[str, str, Any]], contacts: list[dict[str, Any]] | None = None) -> dict:
    return {
        "patient_id": "c1",
        "program": "smi",
        "enrollment_date": "2026-05-01",
        "status": "active_treatment",
        "assessments": [{"measure": m, "date": d, "answers": a} for m, d, a in assessments],
        "contacts": contacts or [],
    }


def test_the_issue_example_psychosis_stuck_at_4_for_five_months():
    """Hallucinations rated 4 on every rating from 2026-06-01 to 2026-11-02: 154 days = 22
    whole weeks at or above moderate (and severe); delusions at 2 are below moderate."""
    dates = ["2026-06-01", "2026-07-06", "2026-08-03", "2026-09-07", "2026-10-05", "2026-11-02"]
    f = facts(_episode([("psychosis_dimensions", d, DIMS) for d in dates]), AS_OF)

    assert 22 == f["psychosis_dimensions.weeks_at_or_above_moderate"]
    assert "hallucinations 22 weeks" == f["psychosis_dimensions.items_at_or_above_moderate"]
    assert 22 == f["psychosis_dimensions.weeks_at_or_above_severe"]
    assert (
        "hallucinations 22 weeks, delusions 22 weeks, depression 22 weeks"
        == (f["psychosis_dimensions.items_at_or_above_mild"])
    )
    assert 0 == f["psychosis_dimensions.items_worsened"]  # why the old rules said nothing


def test_a_run_ends_at_the_last_rating_below_the_level():
    """Hallucinations 4, 2, 3, 4 (2026-06-01, 07-06, 08-03, 09-07): at or above moderate since
    08-03, 35 days = 5 weeks; at or above mild since 06-01, 98 days = 14 weeks."""
    ratings = [("2026-06-01", 4), ("2026-07-06", 2), ("2026-08-03", 3), ("2026-09-07", 4)]
    f = facts(_episode([("psychosis_dimensions", d, [r, 0, 0, 0, 0, 0, 0, 0]) for d, r in ratings]), AS_OF)

    assert 5 == f["psychosis_dimensions.weeks_at_or_above_moderate"]
    assert 14 == f["psychosis_dimensions.weeks_at_or_above_mild"]


def test_an_unrated_domain_neither_extends_nor_breaks_a_run():
    """Hallucinations unrated on 07-06 (the rating is incomplete): the run at or above moderate
    goes on from 06-01 to 08-03, 63 days = 9 weeks. A domain unrated in the latest rating is
    left out (delusions), and with nothing rated at the level the count is 0 and the list missing."""
    unrated = {"hallucinations": None, "delusions": 4, "disorganized_speech": 0, "abnormal_psychomotor_behavior": 0}
    unrated |= {"negative_symptoms": 0, "impaired_cognition": 0, "depression": 0, "mania": 0}
    f = facts(
        _episode(
            [
                ("psychosis_dimensions", "2026-06-01", [3, 4, 0, 0, 0, 0, 0, 0]),
                ("psychosis_dimensions", "2026-07-06", unrated),
                ("psychosis_dimensions", "2026-08-03", [4, None, 0, 0, 0, 0, 0, 0]),
            ]
        ),
        AS_OF,
    )

    assert 9 == f["psychosis_dimensions.weeks_at_or_above_moderate"]
    assert "hallucinations 9 weeks" == f["psychosis_dimensions.items_at_or_above_moderate"]
    low = facts(_episode([("psychosis_dimensions", "2026-08-03", [1, 1, 0, 0, 0, 0, 0, 0])]), AS_OF)
    assert (0, None) == (
        low["psychosis_dimensions.weeks_at_or_above_moderate"],
        low["psychosis_dimensions.items_at_or_above_moderate"],
    )


def test_one_rating_is_a_run_of_0_weeks():
    """A single rating at 3: 0 weeks, listed with '0 weeks'."""
    f = facts(_episode([("psychosis_dimensions", "2026-11-02", [3, 0, 0, 0, 0, 0, 0, 0])]), AS_OF)

    assert (0, "hallucinations 0 weeks") == (
        f["psychosis_dimensions.weeks_at_or_above_moderate"],
        f["psychosis_dimensions.items_at_or_above_moderate"],
    )


def test_levels_are_the_measure_files_own_scale_values():
    """The level facts are named after the scale's values above the lowest (equivocal, mild,
    moderate, severe): no cut-off is written in the code."""
    names = [n for n in catalog() if n.startswith("psychosis_dimensions.weeks_at_or_above_")]

    assert [f"psychosis_dimensions.weeks_at_or_above_{v}" for v in ("equivocal", "mild", "moderate", "severe")] == names


def test_positive_screen_weeks():
    """ASRM positive on 2026-09-07, 09-21 and 10-12 after a negative 08-31: 35 days = 5 weeks;
    negative latest: 0; never administered: missing."""
    positive = [("asrm", "2026-08-31", ASRM_2), ("asrm", "2026-09-07", ASRM_8), ("asrm", "2026-09-21", ASRM_8)]
    f = facts(_episode([*positive, ("asrm", "2026-10-12", ASRM_8)]), AS_OF)
    ended = facts(_episode([*positive, ("asrm", "2026-10-12", ASRM_2)]), AS_OF)

    assert (True, 5) == (f["asrm.positive_screen"], f["asrm.positive_screen_weeks"])
    assert 0 == ended["asrm.positive_screen_weeks"]
    assert None is facts(_episode([]), AS_OF)["asrm.positive_screen_weeks"]


def test_an_unscored_administration_does_not_break_a_positive_run():
    """An ASRM with an out-of-range answer between two positive ones is skipped: 2026-09-07 to
    10-12 is still 5 weeks."""
    f = facts(
        _episode(
            [("asrm", "2026-09-07", ASRM_8), ("asrm", "2026-09-21", [9, 0, 0, 0, 0]), ("asrm", "2026-10-12", ASRM_8)]
        ),
        AS_OF,
    )

    assert 5 == f["asrm.positive_screen_weeks"]


def test_consultant_review_since_the_latest_administration():
    """MDQ on 2026-11-02: a case review the same day counts; one the day before does not; a
    psychiatric consultation counts too; a follow-up does not."""
    mdq = [("mdq", "2026-11-02", [1] * 8 + [0] * 5 + ["yes", 2])]

    def reviewed(kind: str, date: str) -> Any:
        return facts(_episode(mdq, [{"date": date, "kind": kind}]), AS_OF)["mdq.consultant_reviewed_since_latest"]

    assert True is reviewed("case_review", "2026-11-02")
    assert False is reviewed("case_review", "2026-11-01")
    assert True is reviewed("psychiatric_consultation", "2026-11-04")
    assert False is reviewed("follow_up", "2026-11-04")
    assert None is facts(_episode([]), AS_OF)["mdq.consultant_reviewed_since_latest"]


def test_pct_change_from_previous_is_measured_from_the_floor():
    """BPRS 46 -> 64: (64 - 46) / (46 - 18) = 18 / 28 = 0.6429; a previous at the floor (18)
    has no percentage change; one administration has none."""
    f = facts(_episode([("bprs", "2026-10-05", BPRS_46), ("bprs", "2026-11-02", BPRS_64)]), AS_OF)
    floor = facts(_episode([("bprs", "2026-10-05", [1] * 18), ("bprs", "2026-11-02", BPRS_46)]), AS_OF)
    once = facts(_episode([("bprs", "2026-11-02", BPRS_64)]), AS_OF)

    assert 0.6429 == f["bprs.pct_change_from_previous"]
    assert None is floor["bprs.pct_change_from_previous"]
    assert None is once["bprs.pct_change_from_previous"]
