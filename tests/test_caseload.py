"""Caseload metrics, checked against values computed by hand on a small fixed caseload."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocm_rules import InvalidInput
from cocm_rules.caseload import caseload_metrics, load_metric_definitions

AS_OF = dt.date(2026, 6, 30)  # period: 2026-06-01 .. 2026-06-30 (30 days up to and including as_of)


def phq9(date: str, total: int) -> dict[str, Any]:
    """A PHQ-9 administration with the given total (item 9 always 0)."""
    answers = [0] * 9
    left = total
    for i in range(8):
        answers[i] = min(3, left)
        left -= answers[i]
    assert left == 0
    return {"measure": "phq9", "date": date, "answers": answers}


def gad7(date: str, total: int) -> dict[str, Any]:
    """A GAD-7 administration with the given total."""
    answers = [0] * 7
    left = total
    for i in range(7):
        answers[i] = min(3, left)
        left -= answers[i]
    return {"measure": "gad7", "date": date, "answers": answers}


def patient(pid: str, cm: str | None, status: str, assessments: list[Any], contacts: list[str]) -> dict[str, Any]:
    """An episode with follow-up contacts on the given dates."""
    return {
        "patient_id": pid,
        "program": "cocm",
        "enrollment_date": "2025-04-01",
        "status": status,
        "care_manager": cm,
        "assessments": assessments,
        "contacts": [{"date": d, "kind": "follow_up", "minutes": 30} for d in contacts],
    }


CASELOAD = [
    # A: PHQ-9 20 -> 12 -> 8; responded at 2026-05-15 (8 <= 10), 8 weeks after baseline; contacted in June.
    patient(
        "A",
        "cm1",
        "active_treatment",
        [phq9("2026-03-20", 20), phq9("2026-04-17", 12), phq9("2026-05-15", 8)],
        ["2026-06-10"],
    ),
    # B: PHQ-9 15 -> 4 (response and remission at 2026-06-12, 6 weeks after 2026-05-01); follow-up measure in June.
    patient("B", "cm1", "active_treatment", [phq9("2026-05-01", 15), phq9("2026-06-12", 4)], ["2026-06-12"]),
    # C: PHQ-9 12 -> 11: no response; baseline >= 10; not contacted in June.
    patient("C", "cm2", "active_treatment", [phq9("2026-04-01", 12), phq9("2026-05-01", 11)], ["2026-05-01"]),
    # D: one PHQ-9 only (no follow-up): not in the improvement denominator; contacted in June.
    patient("D", "cm2", "relapse_prevention_plan", [phq9("2026-06-05", 14)], ["2026-06-05"]),
    # E: discharged: not in the active caseload. PHQ-9 16 -> 3.
    patient("E", "cm1", "discharged", [phq9("2026-01-05", 16), phq9("2026-03-01", 3)], ["2026-03-01"]),
    # F: CMS159: index PHQ-9 of 18 on 2025-05-01; window 2026-03-02 .. 2026-06-30; last PHQ-9 in it is 4.
    patient(
        "F",
        None,
        "active_treatment",
        [phq9("2025-05-01", 18), phq9("2026-03-15", 9), phq9("2026-04-20", 4)],
        ["2026-06-20"],
    ),
    # G: CMS159: index 12 on 2025-04-15; window 2026-02-14 .. 2026-06-14; last PHQ-9 in it is 7: not remitted.
    #    GAD-7 12 -> 6 (50%: a response by the convention; not < 5).
    patient(
        "G",
        None,
        "active_treatment",
        [phq9("2025-04-15", 12), phq9("2026-05-01", 7), gad7("2026-03-01", 12), gad7("2026-06-15", 6)],
        ["2026-06-15"],
    ),
    {"patient_id": "broken", "program": "cocm"},  # no status, no enrollment: an error record
]


@pytest.fixture(scope="module")
def metrics() -> Any:
    """The metrics of the fixed caseload."""
    return caseload_metrics(CASELOAD, AS_OF)


def test_counts(metrics: Any) -> None:
    """7 valid records; the active caseload leaves out the discharged patient E."""
    assert (7, 6) == (metrics.records, metrics.caseload_size)
    assert {"active_treatment": 5, "discharged": 1, "relapse_prevention_plan": 1} == metrics.by_status
    assert dt.date(2026, 6, 1) == metrics.period_start


def test_the_bad_record_is_reported_not_dropped(metrics: Any) -> None:
    """The record without status or enrollment date comes back as an error record."""
    assert [(7, "broken")] == [(e.record, e.patient_id) for e in metrics.errors]


def test_contacted_in_the_period(metrics: Any) -> None:
    """Active patients contacted 2026-06-01..06-30: A, B, D, F, G (not C): 5 of 6."""
    assert (5, 6, 83.3) == (metrics.contacted.numerator, metrics.contacted.denominator, metrics.contacted.percent)


def test_follow_up_measure_in_the_period(metrics: Any) -> None:
    """A follow-up (not the first) PHQ-9/GAD-7/PCL-5 in June: B (PHQ-9 06-12) and G (GAD-7
    06-15); D's only PHQ-9 in June is its baseline: 2 of 6."""
    assert (2, 6) == (metrics.follow_up_measure.numerator, metrics.follow_up_measure.denominator)


def test_phq9_improvement(metrics: Any) -> None:
    """Denominator: active, PHQ-9 baseline >= 10, a follow-up: A, B, C, F, G = 5.
    >= 50% lower at the latest: A (20 -> 8), B (15 -> 4), F (18 -> 4), G (12 -> 7? no: 7 > 6)
    = 3. Remission (< 5): B, F = 2. Weeks to the first response: A 8.0 (03-20 -> 05-15),
    B 6.0 (05-01 -> 06-12), F 45.4 (2025-05-01 -> 2026-03-15: 9 <= 0.5 x 18): median 8.0."""
    phq = next(i for i in metrics.improvement if i.measure == "phq9")
    assert (3, 5) == (phq.improved_50.numerator, phq.improved_50.denominator)
    assert (2, 5) == (phq.remission.numerator, phq.remission.denominator)
    assert 8.0 == phq.median_weeks_to_response
    assert [] == phq.unconfirmed


def test_gad7_improvement_is_marked_unconfirmed(metrics: Any) -> None:
    """G: GAD-7 12 -> 6 is a 50% fall (response by the convention), not < 5; the rate says
    its definitions are unconfirmed."""
    gad = next(i for i in metrics.improvement if i.measure == "gad7")
    assert (1, 1) == (gad.improved_50.numerator, gad.improved_50.denominator)
    assert (0, 1) == (gad.remission.numerator, gad.remission.denominator)
    assert gad.unconfirmed


def test_cms159_remission_at_12_months(metrics: Any) -> None:
    """Index = first PHQ-9 > 9 whose 12 months + 60 days window closed by 2026-06-30:
    A (index 2026-03-20), B, C, D: not closed. E (2026-01-05): not closed. F (2025-05-01,
    window to 2026-06-30): in, last PHQ-9 in window 4 -> remitted. G (2025-04-15, window to
    2026-06-14): in, last 7 -> not. 1 of 2."""
    cms = metrics.cms159_remission_12m
    assert (1, 2, 50.0) == (cms.numerator, cms.denominator, cms.percent)


def test_cms159_counts_the_phq_a_as_the_phq9m() -> None:
    """CMS159 counts PHQ-9 and PHQ-9M (the PHQ-A) scores as one series. H: index PHQ-A 15
    on 2025-04-20, remitted by a PHQ-A of 3 in the window (2026-02-19 .. 2026-06-19). I: index
    PHQ-A 14 on 2025-04-10; in the window (to 2026-06-09) a PHQ-A of 2, then (turned 18) a
    PHQ-9 of 7: the most recent score of either counts, so not remitted. J: a PHQ-A of 8 only:
    no index. 1 of 2; with the fixed caseload (F remitted, G not) 2 of 4."""

    def phqa(date: str, total: int) -> dict[str, Any]:
        return {**phq9(date, total), "measure": "phqa"}

    extra = [
        patient("H", None, "active_treatment", [phqa("2025-04-20", 15), phqa("2026-05-02", 3)], []),
        patient(
            "I",
            None,
            "active_treatment",
            [phqa("2025-04-10", 14), phqa("2026-03-01", 2), phq9("2026-05-01", 7)],
            [],
        ),
        patient("J", None, "active_treatment", [phqa("2025-04-10", 8)], []),
    ]
    alone = caseload_metrics(extra, AS_OF).cms159_remission_12m
    both = caseload_metrics(CASELOAD + extra, AS_OF).cms159_remission_12m

    assert (1, 2) == (alone.numerator, alone.denominator)
    assert (2, 4) == (both.numerator, both.denominator)


def test_per_care_manager(metrics: Any) -> None:
    """cm1: A, B, E (E discharged); cm2: C, D. F and G name none and are counted only overall."""
    assert ["cm1", "cm2"] == list(metrics.per_care_manager)
    cm1 = metrics.per_care_manager["cm1"]
    assert (3, 2) == (cm1.records, cm1.caseload_size)
    assert (2, 2) == (cm1.contacted.numerator, cm1.contacted.denominator)
    cm2 = metrics.per_care_manager["cm2"]
    phq = next(i for i in cm2.improvement if i.measure == "phq9")
    assert (0, 1) == (phq.improved_50.numerator, phq.improved_50.denominator)


def test_definitions_are_data_with_sources() -> None:
    """Every number the metrics use comes from metrics/caseload.yaml, with a source."""
    defs = load_metric_definitions()
    assert ["phq9", "phqa"] == defs.cms159.measures
    assert (9, 5, 12, 60) == (
        defs.cms159.index_above,
        defs.cms159.remission_below,
        defs.cms159.months,
        defs.cms159.window_days,
    )
    assert "CMS159" in defs.cms159.source
    assert all(i.source for i in defs.improvement)


def test_as_of_must_be_a_date() -> None:
    """A date-time is refused."""
    with pytest.raises(InvalidInput):
        caseload_metrics(CASELOAD, dt.datetime(2026, 6, 30, 12))  # type: ignore[arg-type]


def test_the_first_day_of_the_calendar_clamps_the_period() -> None:
    """As of 0001-01-01 the 30-day period cannot start 29 days earlier: it starts on the first
    representable date (no OverflowError), and the patients are still counted."""
    m = caseload_metrics(CASELOAD, dt.date.min)

    assert (dt.date.min, caseload_metrics(CASELOAD, AS_OF).records) == (m.period_start, m.records)


def test_a_cms159_window_past_the_last_date_has_not_closed() -> None:
    """As of 9999-12-31, an index PHQ-9 whose 12 months (or the 60 days after them) would end
    after the last representable date has no closed window: not in the denominator (no
    ValueError for the year 10000). An index whose window closes in 9999 still counts."""
    late = [
        patient("K", None, "active_treatment", [phq9("9999-12-02", 15), phq9("9999-12-30", 3)], []),
        patient("L", None, "active_treatment", [phq9("9998-11-15", 15), phq9("9999-11-30", 3)], []),
        patient("M", None, "active_treatment", [phq9("9998-08-01", 15), phq9("9999-08-15", 3)], []),
    ]

    cms = caseload_metrics(late, dt.date.max).cms159_remission_12m

    assert (1, 1) == (cms.numerator, cms.denominator)


# -- a patient sent twice; streaming (issue 11) ---------------------------------------------------


def test_a_patient_sent_twice_is_counted_once(metrics: Any) -> None:
    """A and B sent again (B with a different history) change no count: each later record is an
    error record naming the first record of that patient, and is not counted."""
    again = [CASELOAD[0], dict(CASELOAD[1], status="discharged")]

    twice = caseload_metrics(CASELOAD + again, AS_OF)

    assert metrics.model_dump(exclude={"errors"}) == twice.model_dump(exclude={"errors"})
    expected = [(7, "broken", "enrollment_date"), (8, "A", "patient_id"), (9, "B", "patient_id")]
    assert expected == [(e.record, e.patient_id, e.field) for e in twice.errors]
    assert "already in record 1:" in twice.errors[2].error


def test_a_counter_fed_shipped_outcomes_gives_the_same_metrics(metrics: Any) -> None:
    """CaseloadCounter is caseload_metrics in parts: outcomes reduced elsewhere, shipped as
    plain values (JSON of ``dataclasses.astuple``) and added in another order, with the
    error record, give the same metrics, per care manager too (and without them when off)."""
    import dataclasses
    import json

    from cocm_rules.caseload import CaseloadCounter, PatientOutcome
    from cocm_rules.engine import RecordError, iter_episodes

    reducer = CaseloadCounter(AS_OF)
    shipped, errors = [], []
    for _index, item in iter_episodes(CASELOAD):
        if isinstance(item, RecordError):
            errors.append(item)
        else:
            shipped.append(json.dumps(dataclasses.astuple(reducer.outcome(item))))
    counters = CaseloadCounter(AS_OF), CaseloadCounter(AS_OF, per_care_manager=False)
    for counter in counters:
        for text in reversed(shipped):
            counter.add(PatientOutcome(*json.loads(text)))
        for error in errors:
            counter.add(error)

    assert metrics == counters[0].metrics()
    assert caseload_metrics(CASELOAD, AS_OF, per_care_manager=False) == counters[1].metrics()
    assert {} == counters[1].metrics().per_care_manager


def test_a_counter_refuses_what_it_cannot_count() -> None:
    """The counter takes an Episode to reduce and an outcome or error record to add: anything
    else is a TypeError saying what it got; an as_of that is not a date is InvalidInput."""
    from cocm_rules.caseload import CaseloadCounter

    counter = CaseloadCounter(AS_OF)
    with pytest.raises(TypeError, match="episode must be an Episode, not dict"):
        counter.outcome(CASELOAD[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="item must be a PatientOutcome or a RecordError, not dict"):
        counter.add(CASELOAD[0])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        CaseloadCounter("2026-06-30")  # type: ignore[arg-type]


def test_records_are_consumed_one_at_a_time_and_not_kept() -> None:
    """The metrics read a generator lazily and keep no episode: when each record is handed out,
    the episodes handed out before the previous one are gone (no timing or memory figures here;
    the benchmark measures RSS)."""
    import gc
    import weakref

    from cocm_rules.episode import parse_episode

    refs: list[Any] = []
    alive_at_each_step: list[int] = []

    def stream() -> Any:
        for i in range(40):
            record = CASELOAD[i % 7]
            ep = parse_episode(dict(record, patient_id=f"{record['patient_id']}-{i}"))
            gc.collect()
            alive_at_each_step.append(sum(r() is not None for r in refs[:-1]))
            refs.append(weakref.ref(ep))
            yield ep
            del ep

    m = caseload_metrics(stream(), AS_OF)

    assert 40 == m.records
    assert 0 == max(alive_at_each_step)


@given(st.dictionaries(st.integers(0, 3000), st.integers(1, 5), max_size=30))
def test_the_median_from_counts_is_statistics_median(counts: dict[int, int]) -> None:
    """Days to response are counted by value (not kept per patient); the median taken from the
    counts equals ``statistics.median`` of the full list of weeks, for odd and even lengths."""
    import statistics
    from collections import Counter

    from cocm_rules.caseload import _median_weeks

    weeks = [d / 7 for d, n in counts.items() for _ in range(n)]

    assert (statistics.median(weeks) if weeks else None) == _median_weeks(Counter(counts))
