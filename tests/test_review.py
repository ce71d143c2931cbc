"""The psychiatric consultant's review list: who is on it, in which order, with which row."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cocm_rules import Engine, InvalidInput
from cocm_rules.batch import read_records
from cocm_rules.review import rank_key, review_list
from cocm_rules.rules import bundled_rulesets_path

AS_OF = dt.date(2026, 6, 30)


def episode(
    pid: str, phq9: list[tuple[str, list[int | None]]], others: tuple[dict[str, Any], ...] = (), **extra: Any
) -> dict[str, Any]:
    """An active CoCM episode with an initial assessment on 2026-03-02 and a recent follow-up."""
    return {
        "patient_id": pid,
        "program": "cocm",
        "enrollment_date": "2026-03-01",
        "status": "active_treatment",
        "assessments": [*({"measure": "phq9", "date": d, "answers": a} for d, a in phq9), *others],
        "contacts": [
            {"date": "2026-03-02", "kind": "initial_assessment", "minutes": 60},
            {"date": "2026-06-25", "kind": "follow_up", "minutes": 30},
            {"date": "2026-03-09", "kind": "case_review", "minutes": 10},
        ],
        **extra,
    }


BASELINE = ("2026-03-02", [3, 3, 2, 2, 2, 2, 2, 2, 0])  # 18
CASELOAD = [
    # a responder: 18 -> 4 (no review reason; only information alerts)
    episode(
        "responder", [BASELINE, ("2026-06-25", [1, 1, 1, 1, 0, 0, 0, 0, 0])], relapse_prevention_plan_date="2026-06-25"
    ),
    # not improving: 18 -> 16 at 17 weeks, last consultant review 2026-03-09
    episode("not-improving", [BASELINE, ("2026-06-25", [2, 2, 2, 2, 2, 2, 2, 2, 0])]),
    # item 9 positive with a low total
    episode("item9", [BASELINE, ("2026-06-25", [0, 0, 0, 0, 0, 0, 0, 0, 1])]),
    # C-SSRS high risk
    episode(
        "cssrs-high",
        [BASELINE, ("2026-06-25", [1, 1, 1, 1, 0, 0, 0, 0, 0])],
        assessments=[{"measure": "cssrs_screener", "date": "2026-06-25", "answers": [1, 1, 0, 1, 0, 0]}],
    ),
    {"patient_id": "broken"},
]
CASELOAD[3]["assessments"] = [
    {"measure": "phq9", "date": BASELINE[0], "answers": BASELINE[1]},
    {"measure": "cssrs_screener", "date": "2026-06-25", "answers": [1, 1, 0, 1, 0, 0]},
]


@pytest.fixture(scope="module")
def reviews() -> Any:
    """The review list of the fixed caseload on the bundled rulesets."""
    return review_list(Engine.load(), CASELOAD, AS_OF)


def test_suicide_risk_first_then_not_improving(reviews: Any) -> None:
    """C-SSRS high (priority 100), PHQ-9 item 9 (95), then the patient not improving (70);
    the responder has no review reason and is not listed."""
    assert ["cssrs-high", "item9", "not-improving"] == [e.patient_id for e in reviews.entries]
    assert [1, 2, 3] == [e.rank for e in reviews.entries]
    assert ["suicide-cssrs-high", "suicide-phq9-item9", "t2t-phq9-not-improving"] == [
        e.reasons[0].rule_id for e in reviews.entries
    ]
    assert 4 == reviews.patients_evaluated


def test_reasons_and_other_alerts(reviews: Any) -> None:
    """Reasons are the review alerts, highest priority first; engagement and billing
    information goes to other_alerts."""
    entry = next(e for e in reviews.entries if e.patient_id == "not-improving")
    assert all(a.category in ("treatment_to_target", "review_priority", "suicide_risk") for a in entry.reasons)
    assert [a.priority for a in entry.reasons] == sorted((a.priority for a in entry.reasons), reverse=True)
    assert all(a.category not in ("treatment_to_target", "suicide_risk") for a in entry.other_alerts)


def test_the_registry_row(reviews: Any) -> None:
    """The row of the not-improving patient, by hand: first PHQ-9 18 on 2026-03-02, last 16 on
    2026-06-25, initial assessment 2026-03-02 (120 days = 17 whole weeks before 2026-06-30),
    last follow-up 2026-06-25, last case review 2026-03-09, 2 sessions (initial + follow-up),
    30 minutes in June (the 06-25 follow-up), no relapse prevention plan."""
    row = next(e for e in reviews.entries if e.patient_id == "not-improving").row
    assert (18, dt.date(2026, 3, 2), 16, dt.date(2026, 6, 25)) == (
        row.phq9_first,
        row.phq9_first_date,
        row.phq9_last,
        row.phq9_last_date,
    )
    assert (dt.date(2026, 3, 2), dt.date(2026, 6, 25), dt.date(2026, 3, 9)) == (
        row.initial_assessment_date,
        row.last_follow_up_date,
        row.last_case_review_date,
    )
    assert (17, 2, 30, None) == (
        row.weeks_since_initial_assessment,
        row.sessions,
        row.minutes_this_month,
        row.relapse_prevention_plan_date,
    )


def test_errors_are_listed(reviews: Any) -> None:
    """The broken record is an error, not a silent omission."""
    assert ["broken"] == [e.patient_id for e in reviews.errors]


def test_limit_and_min_severity() -> None:
    """limit keeps the first N; min_severity=critical keeps the C-SSRS high patient (critical)
    and the positive item 9 (a suicide-risk alert of severity high: never left out), not the
    patient not improving (high) nor the C-SSRS patient's overdue PHQ-9 (moderate)."""
    engine = Engine.load()
    assert ["cssrs-high"] == [e.patient_id for e in review_list(engine, CASELOAD, AS_OF, limit=1).entries]
    critical = review_list(engine, CASELOAD, AS_OF, min_severity="critical")
    assert [("cssrs-high", ["suicide-cssrs-high"]), ("item9", ["suicide-phq9-item9"])] == [
        (e.patient_id, [a.rule_id for a in e.reasons]) for e in critical.entries
    ]
    with pytest.raises(InvalidInput):
        review_list(engine, CASELOAD, AS_OF, min_severity="urgent")


def test_a_low_risk_c_ssrs_screen_is_listed_whatever_min_severity() -> None:
    """A C-SSRS screen of low risk (a wish to be dead, no method: severity moderate) puts the
    patient on the list at min_severity high and critical too: the threshold thins the other
    reasons, never suicide risk (before, min_severity=high left this patient off the list)."""
    engine = Engine.load()
    low = episode(
        "cssrs-low",
        [BASELINE, ("2026-06-25", [1, 1, 1, 1, 0, 0, 0, 0, 0])],
        assessments=[{"measure": "cssrs_screener", "date": "2026-06-25", "answers": [1, 0, 0, 0, 0, 0]}],
    )
    for min_severity in ("moderate", "high", "critical"):
        listed = review_list(engine, [low], AS_OF, min_severity=min_severity)
        assert [("cssrs-low", "suicide-cssrs-low", "moderate")] == [
            (e.patient_id, e.reasons[0].rule_id, e.reasons[0].severity) for e in listed.entries
        ], min_severity


def test_no_priority_outranks_a_patient_with_suicide_risk() -> None:
    """A ruleset gives a treat-to-target rule priority 100 and severity critical: the patient it
    fires for (PHQ-9 18, item 9 at 0) still ranks below the patient with item 9 at 1 and a total
    of 1 (priority 95, high), and below the C-SSRS high patient; the entry shows the reason that
    ranks it, suicide risk first."""
    outranking = Path(__file__).parent / "fixtures" / "rulesets_ok" / "outranking.yaml"
    engine = Engine.load([bundled_rulesets_path() / "suicide_risk.yaml", outranking])
    severe = episode("severe-no-risk", [BASELINE, ("2026-06-25", [3, 3, 2, 2, 2, 2, 2, 2, 0])])
    item9 = episode("item9-total-1", [("2026-06-25", [0, 0, 0, 0, 0, 0, 0, 0, 1])])
    both = episode("item9-and-severe", [("2026-06-25", [3, 3, 2, 2, 2, 2, 2, 2, 1])])
    entries = review_list(engine, [severe, item9, both], AS_OF).entries
    assert [
        ("item9-and-severe", "suicide-phq9-item9", 95, "high"),
        ("item9-total-1", "suicide-phq9-item9", 95, "high"),
        ("severe-no-risk", "fx-outrank-not-improving", 100, "critical"),
    ] == [(e.patient_id, e.reasons[0].rule_id, e.priority, e.severity) for e in entries]
    assert ["suicide-phq9-item9", "fx-outrank-not-improving"] == [a.rule_id for a in entries[0].reasons]


def test_rank_key_is_the_order_of_the_list() -> None:
    """``rank_key`` of each entry (the key a distributed host ranks by) sorts the entries
    into the list's order, whatever order they come in: suicide risk first, then priority."""
    outranking = Path(__file__).parent / "fixtures" / "rulesets_ok" / "outranking.yaml"
    engine = Engine.load([bundled_rulesets_path() / "suicide_risk.yaml", outranking])
    severe = episode("severe-no-risk", [BASELINE, ("2026-06-25", [3, 3, 2, 2, 2, 2, 2, 2, 0])])
    item9 = episode("item9-total-1", [("2026-06-25", [0, 0, 0, 0, 0, 0, 0, 0, 1])])
    entries = review_list(engine, [*CASELOAD, severe, item9], AS_OF).entries
    shuffled = sorted(entries, key=lambda e: e.patient_id, reverse=True)
    assert [e.patient_id for e in entries] == [
        e.patient_id for e in sorted(shuffled, key=lambda e: rank_key(e.reasons, e.patient_id))
    ]
    assert "severe-no-risk" == entries[-1].patient_id


# -- a patient sent twice (issue 11) ----------------------------------------------------------


def test_a_patient_sent_twice_is_listed_once_and_the_later_record_is_an_error(reviews: Any) -> None:
    """The same patient again at the end of the batch: listed once (from the first record),
    evaluated once, and the later record comes back as an error record naming the first."""
    twice = review_list(Engine.load(), [*CASELOAD, CASELOAD[2]], AS_OF)

    assert ["cssrs-high", "item9", "not-improving"] == [e.patient_id for e in twice.entries]
    assert (4, reviews.entries) == (twice.patients_evaluated, twice.entries)
    later = twice.errors[-1]
    assert (5, "item9", "patient_id") == (later.record, later.patient_id, later.field)
    assert later.error.startswith("this patient_id was already in record 2: a patient is counted once")


def test_the_duplicate_error_names_the_lines_of_both_records(tmp_path: Path) -> None:
    """From JSON Lines (blank lines are not records), both records are named by line too."""
    path = tmp_path / "twice.jsonl"
    path.write_text(json.dumps(CASELOAD[2]) + "\n\n" + json.dumps(CASELOAD[0]) + "\n" + json.dumps(CASELOAD[2]) + "\n")

    for lines_as_text in (False, True):
        result = review_list(Engine.load(), read_records(path, lines_as_text=lines_as_text), AS_OF)

        assert [("item9", 0, 1)] == [(e.patient_id, e.record, e.line) for e in result.entries]
        assert [(2, 4)] == [(e.record, e.line) for e in result.errors]
        assert result.errors[0].error.startswith("this patient_id was already in record 0 (line 1): ")


def test_evaluate_many_is_per_record_and_evaluates_both() -> None:
    """``evaluate_many`` answers per record: a patient sent twice gets two results, each on its
    own record's data (dropping either could hide a risk); only what counts patients (the
    review list, the caseload metrics) refuses the later record."""
    out = list(Engine.load().evaluate_many([CASELOAD[2], CASELOAD[2]], AS_OF))

    assert [("result", "item9"), ("result", "item9")] == [(r.kind, r.patient_id) for r in out]
