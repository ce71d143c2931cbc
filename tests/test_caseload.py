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


def patient(
    pid: str,
    cm: str | None,
    status: str,
    assessments: list[Any],
    contacts: list[str],
    *,
    enrolled: str = "2025-04-01",
    reviews: tuple[str, ...] = (),
    program: str = "cocm",
) -> dict[str, Any]:
    """An episode with follow-up contacts on ``contacts`` and systematic case reviews (without
    the patient) on ``reviews``."""
    return {
        "patient_id": pid,
        "program": program,
        "enrollment_date": enrolled,
        "status": status,
        "care_manager": cm,
        "assessments": assessments,
        "contacts": [{"date": d, "kind": "follow_up", "minutes": 30} for d in contacts]
        + [{"date": d, "kind": "case_review", "minutes": 5} for d in reviews],
    }


# The episode cohort as of 2026-06-30: enrolled 2025-07-01 .. 2026-06-30 (365 days up to as_of).
CASELOAD = [
    # A: enrolled 2026-03-15. PHQ-9 20 -> 12 -> 8; responded at 2026-05-15 (8 <= 10), 8 weeks after
    #    baseline; 8 < 10 (significant); contacted in June.
    patient(
        "A",
        "cm1",
        "active_treatment",
        [phq9("2026-03-20", 20), phq9("2026-04-17", 12), phq9("2026-05-15", 8)],
        ["2026-06-10"],
        enrolled="2026-03-15",
    ),
    # B: enrolled 2026-04-25. PHQ-9 15 -> 4 (response and remission at 2026-06-12, 6 weeks after
    #    2026-05-01); follow-up measure in June.
    patient(
        "B",
        "cm1",
        "active_treatment",
        [phq9("2026-05-01", 15), phq9("2026-06-12", 4)],
        ["2026-06-12"],
        enrolled="2026-04-25",
    ),
    # C: enrolled 2026-03-25. PHQ-9 12 -> 11: no response, not < 10; not contacted in June.
    patient(
        "C",
        "cm2",
        "active_treatment",
        [phq9("2026-04-01", 12), phq9("2026-05-01", 11)],
        ["2026-05-01"],
        enrolled="2026-03-25",
    ),
    # D: enrolled 2026-05-20. One PHQ-9 only (14, no follow-up yet); contacted in June.
    patient("D", "cm2", "relapse_prevention_plan", [phq9("2026-06-05", 14)], ["2026-06-05"], enrolled="2026-05-20"),
    # E: enrolled 2025-12-20, discharged: not in the active caseload, but in the episode cohort
    #    with its last measurements. PHQ-9 16 -> 3 (response and remission, 55 days).
    patient(
        "E",
        "cm1",
        "discharged",
        [phq9("2026-01-05", 16), phq9("2026-03-01", 3)],
        ["2026-03-01"],
        enrolled="2025-12-20",
    ),
    # F: enrolled 2025-04-01 (before the cohort). CMS159: index PHQ-9 of 18 on 2025-05-01; window
    #    2026-03-02 .. 2026-06-30; last PHQ-9 in it is 4.
    patient(
        "F",
        None,
        "active_treatment",
        [phq9("2025-05-01", 18), phq9("2026-03-15", 9), phq9("2026-04-20", 4)],
        ["2026-06-20"],
    ),
    # G: enrolled 2025-04-01 (before the cohort). CMS159: index 12 on 2025-04-15; window
    #    2026-02-14 .. 2026-06-14; last PHQ-9 in it is 7: not remitted. GAD-7 12 -> 6 (06-15).
    patient(
        "G",
        None,
        "active_treatment",
        [phq9("2025-04-15", 12), phq9("2026-05-01", 7), gad7("2026-03-01", 12), gad7("2026-06-15", 6)],
        ["2026-06-15"],
    ),
    # H: enrolled 2026-02-01. PHQ-9 12 -> 9: below 10 (significant) but not 50% lower; GAD-7
    #    12 -> 6 (50%: a response by the convention; not < 5). In June only a case review,
    #    without the patient: not contacted.
    patient(
        "H",
        "cm2",
        "active_treatment",
        [phq9("2026-02-05", 12), phq9("2026-04-30", 9), gad7("2026-02-05", 12), gad7("2026-04-30", 6)],
        ["2026-04-30"],
        enrolled="2026-02-01",
        reviews=("2026-06-15",),
    ),
    {"patient_id": "broken", "program": "cocm"},  # no status, no enrollment: an error record
]


@pytest.fixture(scope="module")
def metrics() -> Any:
    """The metrics of the fixed caseload."""
    return caseload_metrics(CASELOAD, AS_OF)


def test_counts(metrics: Any) -> None:
    """8 valid records; the active caseload leaves out the discharged patient E."""
    assert (8, 7) == (metrics.records, metrics.caseload_size)
    assert {"active_treatment": 6, "discharged": 1, "relapse_prevention_plan": 1} == metrics.by_status
    assert {"cocm": 8} == metrics.by_program
    assert dt.date(2026, 6, 1) == metrics.period_start


def test_the_bad_record_is_reported_not_dropped(metrics: Any) -> None:
    """The record without status or enrollment date comes back as an error record."""
    assert [(8, "broken")] == [(e.record, e.patient_id) for e in metrics.errors]


def test_contacted_counts_only_contacts_with_the_patient(metrics: Any) -> None:
    """Active patients with a contact with the patient 2026-06-01..06-30: A, B, D, F, G (not C:
    its last contact is in May; not H: its only June contact is a case review, which is held
    without the patient): 5 of 7 (issue 12, item 13)."""
    assert (5, 7, 71.4) == (metrics.contacted.numerator, metrics.contacted.denominator, metrics.contacted.percent)


@pytest.mark.parametrize(
    ("kind", "contacted"),
    [
        ("case_review", False),
        ("initial_assessment", True),
        ("follow_up", True),
        ("psychiatric_consultation", True),
        ("other", True),
    ],
)
def test_contacted_by_contact_kind(kind: str, contacted: bool) -> None:
    """One active patient with one contact in the period: every kind counts but a case review."""
    record = patient("K", None, "active_treatment", [], [], enrolled="2026-06-01")
    record["contacts"] = [{"date": "2026-06-20", "kind": kind}]

    rate = caseload_metrics([record], AS_OF).contacted

    assert (int(contacted), 1) == (rate.numerator, rate.denominator)


def test_follow_up_measure_in_the_period(metrics: Any) -> None:
    """A follow-up (not the first) PHQ-9/GAD-7/PCL-5 in June: B (PHQ-9 06-12) and G (GAD-7
    06-15); D's only PHQ-9 in June is its baseline: 2 of 7."""
    assert (2, 7) == (metrics.follow_up_measure.numerator, metrics.follow_up_measure.denominator)


def test_the_episode_cohort(metrics: Any) -> None:
    """Enrolled 2025-07-01..2026-06-30, any status: A, B, C, D, E (discharged), H; not F and G
    (enrolled 2025-04-01)."""
    cohort = metrics.cohort
    assert (dt.date(2025, 7, 1), AS_OF, 6) == (cohort.enrolled_from, cohort.enrolled_to, cohort.patients)
    assert "enrolled in the 365 days up to as_of (2025-07-01 to 2026-06-30), any status" in cohort.label


def test_phq9_improvement(metrics: Any) -> None:
    """Cohort patients with a PHQ-9 baseline >= 10: A, B, C, D, E, H; with a follow-up: A, B,
    C, E, H = 5 (D has none yet: listed apart). >= 50% lower at the latest: A (20 -> 8), B
    (15 -> 4), E (16 -> 3) = 3 (not C 12 -> 11, not H 12 -> 9). Remission (< 5): B, E = 2.
    Weeks to the first response: A 8.0 (03-20 -> 05-15), B 6.0 (05-01 -> 06-12), E 7.9
    (01-05 -> 03-01, 55 days): median 7.9. F and G (active, improved) are not in the cohort."""
    phq = next(i for i in metrics.improvement if i.measure == "phq9")
    assert (3, 5) == (phq.improved_50.numerator, phq.improved_50.denominator)
    assert (2, 5) == (phq.remission.numerator, phq.remission.denominator)
    assert 1 == phq.without_follow_up
    assert 7.9 == phq.median_weeks_to_response
    assert [] == phq.unconfirmed


def test_phq9_significant_improvement_beside_the_50_percent_one(metrics: Any) -> None:
    """The other published definition (Bauer 2016: PHQ-9 < 10 or >= 50% lower) beside the
    50% one, each labelled: A, B, E and H (9 < 10, not 50% lower) = 4 of 5."""
    phq = next(i for i in metrics.improvement if i.measure == "phq9")
    assert (4, 5) == (phq.significantly_improved.numerator, phq.significantly_improved.denominator)
    assert phq.improved_50.label.startswith("PHQ-9 >= 50% improvement at the latest (baseline >= 10")
    assert phq.significantly_improved.label.startswith("PHQ-9 < 10 or >= 50% improvement at the latest")
    assert "Bauer 2016" in phq.significantly_improved.label
    assert phq.remission.label.startswith("PHQ-9 remission: latest < 5")


def test_a_patient_who_improved_and_was_discharged_stays_counted() -> None:
    """Issue 12, item 14: E improved (16 -> 3) and was discharged. Counted on the active
    caseload, E dropped out (0/0); in the episode cohort E counts with the last measurements
    (1/1 improved, significantly improved and remitted)."""
    phq = caseload_metrics([CASELOAD[4]], AS_OF).improvement[0]

    rates = (phq.improved_50, phq.significantly_improved, phq.remission)
    assert [(1, 1)] * 3 == [(r.numerator, r.denominator) for r in rates]


@pytest.mark.parametrize(
    ("enrolled", "in_cohort"),
    [("2025-06-30", False), ("2025-07-01", True), ("2026-06-30", True), ("2026-07-01", False)],
)
def test_the_cohort_edges(enrolled: str, in_cohort: bool) -> None:
    """Enrolled on the cohort's first day (as_of - 364 days) or on as_of: in; a day before or
    after: out (a PHQ-9 of 12 -> 5 counts only in the cohort)."""
    record = patient(
        "K", None, "active_treatment", [phq9("2025-06-01", 12), phq9("2026-06-01", 5)], [], enrolled=enrolled
    )

    m = caseload_metrics([record], AS_OF)

    assert (int(in_cohort), int(in_cohort)) == (m.cohort.patients, m.improvement[0].improved_50.denominator)


def test_gad7_improvement_is_marked_unconfirmed(metrics: Any) -> None:
    """H (in the cohort): GAD-7 12 -> 6 is a 50% fall (response by the convention), not < 5;
    G's GAD-7 is out of the cohort. The rates say their definitions are unconfirmed; the GAD-7
    has no published "significant improvement" definition, so none is given."""
    gad = next(i for i in metrics.improvement if i.measure == "gad7")
    assert (1, 1) == (gad.improved_50.numerator, gad.improved_50.denominator)
    assert (0, 1) == (gad.remission.numerator, gad.remission.denominator)
    assert gad.unconfirmed
    assert gad.improved_50.label.endswith("(definition unconfirmed)")
    assert gad.significantly_improved is None


def test_cms159_remission_at_12_months(metrics: Any) -> None:
    """Index = first PHQ-9 > 9 whose 12 months + 60 days window closed by 2026-06-30:
    A (index 2026-03-20), B, C, D, H: not closed. E (2026-01-05): not closed. F (2025-05-01,
    window to 2026-06-30): in, last PHQ-9 in window 4 -> remitted. G (2025-04-15, window to
    2026-06-14): in, last 7 -> not. 1 of 2."""
    cms = metrics.cms159_remission_12m
    assert (1, 2, 50.0) == (cms.numerator, cms.denominator, cms.percent)


def test_cms159_counts_the_phq_a_as_the_phq9m() -> None:
    """CMS159 counts PHQ-9 and PHQ-9M (the PHQ-A) scores as one series. P: index PHQ-A 15
    on 2025-04-20, remitted by a PHQ-A of 3 in the window (2026-02-19 .. 2026-06-19). Q: index
    PHQ-A 14 on 2025-04-10; in the window (to 2026-06-09) a PHQ-A of 2, then (turned 18) a
    PHQ-9 of 7: the most recent score of either counts, so not remitted. R: a PHQ-A of 8 only:
    no index. 1 of 2; with the fixed caseload (F remitted, G not) 2 of 4."""

    def phqa(date: str, total: int) -> dict[str, Any]:
        return {**phq9(date, total), "measure": "phqa"}

    extra = [
        patient("P", None, "active_treatment", [phqa("2025-04-20", 15), phqa("2026-05-02", 3)], []),
        patient(
            "Q",
            None,
            "active_treatment",
            [phqa("2025-04-10", 14), phqa("2026-03-01", 2), phq9("2026-05-01", 7)],
            [],
        ),
        patient("R", None, "active_treatment", [phqa("2025-04-10", 8)], []),
    ]
    alone = caseload_metrics(extra, AS_OF).cms159_remission_12m
    both = caseload_metrics(CASELOAD + extra, AS_OF).cms159_remission_12m

    assert (1, 2) == (alone.numerator, alone.denominator)
    assert (2, 4) == (both.numerator, both.denominator)


def test_per_care_manager(metrics: Any) -> None:
    """cm1: A, B, E (E discharged); cm2: C, D, H. F and G name none and are counted only
    overall. cm2: contacted D only (H had a case review); PHQ-9 followed up C and H: neither 50%
    lower, H < 10; D without a follow-up."""
    assert ["cm1", "cm2"] == list(metrics.per_care_manager)
    cm1 = metrics.per_care_manager["cm1"]
    assert (3, 2) == (cm1.records, cm1.caseload_size)
    assert (2, 2) == (cm1.contacted.numerator, cm1.contacted.denominator)
    cm2 = metrics.per_care_manager["cm2"]
    assert (3, 3) == (cm2.records, cm2.caseload_size)
    assert (1, 3) == (cm2.contacted.numerator, cm2.contacted.denominator)
    phq = next(i for i in cm2.improvement if i.measure == "phq9")
    assert (0, 2) == (phq.improved_50.numerator, phq.improved_50.denominator)
    assert (1, 2) == (phq.significantly_improved.numerator, phq.significantly_improved.denominator)
    assert 1 == phq.without_follow_up


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
    expected = [(8, "broken", "enrollment_date"), (9, "A", "patient_id"), (10, "B", "patient_id")]
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


def test_counters_merge_parts_counted_elsewhere(metrics: Any) -> None:
    """Outcomes counted in parts (CaseloadCounter.part, pickled as a worker process ships it)
    and merged into one counter, with the error record added, give the metrics of
    caseload_metrics, per care manager too and without them when off; merging an empty
    part changes nothing; a part is not an outcome (TypeError)."""
    import pickle

    from cocm_rules.caseload import CaseloadCounter
    from cocm_rules.engine import RecordError, iter_episodes

    reducer = CaseloadCounter(AS_OF)
    outcomes, errors = [], []
    for _index, item in iter_episodes(CASELOAD):
        if isinstance(item, RecordError):
            errors.append(item)
        else:
            outcomes.append(reducer.outcome(item))
    parts = [pickle.loads(pickle.dumps(reducer.part(outcomes[i : i + 3]))) for i in range(0, len(outcomes), 3)]
    counters = CaseloadCounter(AS_OF), CaseloadCounter(AS_OF, per_care_manager=False)
    for counter in counters:
        counter.merge(reducer.part([]))
        for part in reversed(parts):
            counter.merge(part)
        for error in errors:
            counter.add(error)

    assert metrics == counters[0].metrics()
    assert caseload_metrics(CASELOAD, AS_OF, per_care_manager=False) == counters[1].metrics()
    assert CaseloadCounter(AS_OF).metrics() == reducer.metrics()  # part() counted nothing in reducer
    with pytest.raises(TypeError, match="CaseloadPart"):
        counters[0].merge(outcomes[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="PatientOutcome"):
        reducer.part([errors[0]])  # type: ignore[list-item]


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


# -- caseload size per care manager against the AIMS guidance (issue 12, item 15) ----------------


def _many(cm: str, n: int, status: str = "active_treatment") -> list[dict[str, Any]]:
    """``n`` patients of care manager ``cm`` with nothing but a status."""
    return [patient(f"{cm}-{i}", cm, status, [], [], enrolled="2026-01-01") for i in range(n)]


SIZED = [*_many("cm_a", 70), *_many("cm_b", 45), *_many("cm_c", 1, "discharged")]


def test_caseload_size_against_the_range_for_the_payer_mix() -> None:
    """Default payer mix (Medicaid/uninsured, behavioral: ~60-80 per 1.0 FTE, AIMS 2020).
    cm_a: 70 active, FTE 1.0 -> 60-80, within. cm_b: 45 active at 0.5 FTE -> 30-40, above.
    cm_c: one discharged patient (caseload 0), no FTE given -> compared as 1.0 FTE (assumed),
    below. cm_d: an FTE (0.8) but no patients -> listed with 0 of 48-64, below."""
    m = caseload_metrics(SIZED, AS_OF, care_manager_fte={"cm_a": 1, "cm_b": 0.5, "cm_d": 0.8})

    checks = {cm: per.caseload_size_target for cm, per in m.per_care_manager.items()}
    assert ["cm_a", "cm_b", "cm_c", "cm_d"] == list(checks)
    assert [
        (70, 1.0, False, 60.0, 80.0, "within"),
        (45, 0.5, False, 30.0, 40.0, "above"),
        (0, 1.0, True, 60.0, 80.0, "below"),
        (0, 0.8, False, 48.0, 64.0, "below"),
    ] == [(c.caseload_size, c.fte, c.fte_assumed, c.low, c.high, c.position) for c in checks.values()]
    assert {"medicaid_behavioral"} == {c.payer_mix for c in checks.values()}
    assert "~60-80 per 1.0 FTE" in checks["cm_a"].label
    assert "AIMS Center caseload size guidance, 2020" in checks["cm_a"].label
    assert m.caseload_size_target is None  # the guidance is per care manager


@pytest.mark.parametrize(
    ("payer_mix", "low", "high", "position"),
    [
        ("commercial_behavioral", 90, 120, "below"),
        ("commercial_behavioral_medical", 80, 100, "below"),
        ("medicaid_behavioral", 60, 80, "within"),
        ("medicaid_behavioral_medical", 50, 75, "within"),
    ],
)
def test_each_payer_mix_has_its_range(payer_mix: str, low: int, high: int, position: str) -> None:
    """The four rows of the AIMS Center matrix for a 1.0 FTE care manager, against 70 patients."""
    check = caseload_metrics(SIZED[:70], AS_OF, payer_mix=payer_mix).per_care_manager["cm_a"].caseload_size_target

    assert (payer_mix, low, high, position) == (check.payer_mix, check.low, check.high, check.position)


@pytest.mark.parametrize(("n", "position"), [(59, "below"), (60, "within"), (80, "within"), (81, "above")])
def test_the_range_is_inclusive(n: int, position: str) -> None:
    """60 and 80 patients are within ~60-80; 59 is below and 81 above."""
    check = caseload_metrics(_many("cm_a", n), AS_OF).per_care_manager["cm_a"].caseload_size_target

    assert position == check.position


@pytest.mark.parametrize("fte", [0, -0.5, 1.5, float("nan"), True, "1.0"])
def test_an_fte_out_of_range_is_refused(fte: Any) -> None:
    """An FTE must be a number above 0 and at most 1: the error names the care manager."""
    with pytest.raises(InvalidInput) as info:
        caseload_metrics([], AS_OF, care_manager_fte={"cm_a": fte})

    assert "care_manager_fte['cm_a']" == info.value.field
    assert "0 < FTE <= 1" == info.value.allowed


def test_an_unknown_payer_mix_is_refused_with_the_ranges() -> None:
    """A payer mix that is not a range of the guidance is refused, naming the ranges."""
    with pytest.raises(InvalidInput) as info:
        caseload_metrics([], AS_OF, payer_mix="medicaid_behavioural")

    assert "medicaid_behavioral" == info.value.suggestion
    assert "commercial_behavioral" in info.value.allowed


# -- SMI caseload metrics (issue 12, item 9) ------------------------------------------------------


def _answers(n: int, lo: int, hi: int, total: int) -> list[int]:
    """``n`` answers between ``lo`` and ``hi`` summing to ``total``."""
    answers, left = [lo] * n, total - n * lo
    for i in range(n):
        step = min(hi - lo, left)
        answers[i] += step
        left -= step
    assert left == 0
    return answers


def asrm(date: str, total: int) -> dict[str, Any]:
    """An ASRM with the given total."""
    return {"measure": "asrm", "date": date, "answers": _answers(5, 0, 4, total)}


def bprs(date: str, total: int) -> dict[str, Any]:
    """A BPRS with every item rated, giving the total."""
    return {"measure": "bprs", "date": date, "answers": _answers(18, 1, 7, total)}


def whodas(date: str, total: int) -> dict[str, Any]:
    """A WHODAS-12 simple score."""
    return {"measure": "whodas12", "date": date, "answers": _answers(12, 1, 5, total)}


def ras(date: str, total: int) -> dict[str, Any]:
    """A RAS-R total."""
    return {"measure": "ras", "date": date, "answers": _answers(24, 1, 5, total)}


def dims(date: str, hallucinations: int = 0, others: int = 0, mania: int = 0) -> dict[str, Any]:
    """Psychosis dimensions: hallucinations, the other four psychosis domains at ``others``,
    cognition and depression 0, mania."""
    answers = [hallucinations, others, others, others, others, 0, 0, mania]
    return {"measure": "psychosis_dimensions", "date": date, "answers": answers}


def smi(pid: str, status: str, assessments: list[Any], program: str = "smi") -> dict[str, Any]:
    """An SMI-program patient of care manager cm3."""
    return patient(pid, "cm3", status, assessments, [], enrolled="2026-01-01", program=program)


SMI_CASELOAD = [
    # S1: at target on all five.
    smi(
        "S1",
        "active_treatment",
        [
            asrm("2026-06-01", 3),
            bprs("2026-06-01", 28),
            dims("2026-06-01", 2, 1),
            whodas("2026-01-10", 30),
            whodas("2026-06-01", 28),
            ras("2026-01-10", 70),
            ras("2026-06-01", 75),
        ],
    ),
    # S2: at target on none: ASRM 8, BPRS 46, hallucinations 3, WHODAS 25 -> 30, RAS 80 -> 72.
    smi(
        "S2",
        "active_treatment",
        [
            asrm("2026-06-01", 8),
            bprs("2026-06-01", 46),
            dims("2026-06-01", 3),
            whodas("2026-01-10", 25),
            whodas("2026-06-01", 30),
            ras("2026-01-10", 80),
            ras("2026-06-01", 72),
        ],
    ),
    # S3: edges at target: ASRM 5, BPRS 40, every psychosis domain 2 or less;
    #     a single WHODAS (no follow-up) and no RAS: not measured on those two. An earlier ASRM
    #     of 9 does not count (the latest does).
    smi(
        "S3",
        "relapse_prevention_plan",
        [
            asrm("2026-01-10", 9),
            asrm("2026-06-01", 5),
            bprs("2026-06-01", 40),
            dims("2026-06-01", 2, 2, mania=2),
            whodas("2026-06-01", 20),
        ],
    ),
    # S4: edges not at target: ASRM 6, BPRS 41; WHODAS and RAS unchanged (at target); a
    #     psychosis dimension rating with mania 3 (moderate): not at target.
    smi(
        "S4",
        "active_treatment",
        [
            asrm("2026-06-01", 6),
            bprs("2026-06-01", 41),
            dims("2026-06-01", 0, 0, mania=3),
            whodas("2026-01-10", 30),
            whodas("2026-06-01", 30),
            ras("2026-01-10", 60),
            ras("2026-06-01", 60),
        ],
    ),
    # S5: discharged, S6: the primary-care program: neither is counted.
    smi("S5", "discharged", [asrm("2026-06-01", 2)]),
    smi("S6", "active_treatment", [asrm("2026-06-01", 2)], program="cocm"),
]


def test_smi_share_at_target_per_measure() -> None:
    """Active SMI-program patients S1-S4 (not the discharged S5, not the cocm S6). ASRM < 6:
    S1, S3 of 4. BPRS < 41: S1, S3 of 4. Every psychosis domain <= 2: S1, S3 of 4. WHODAS-12
    no higher than baseline: S1, S4 of S1, S2, S4 (S3 has no follow-up). RAS-R no lower than
    baseline: S1, S4 of S1, S2, S4 (S3 has none)."""
    m = caseload_metrics(SMI_CASELOAD, AS_OF).smi

    assert (["smi"], 4) == (m.programs, m.patients)
    assert [
        ("asrm", 2, 4, 0),
        ("bprs", 2, 4, 0),
        ("psychosis_dimensions", 2, 4, 0),
        ("whodas12", 2, 3, 1),
        ("ras", 2, 3, 1),
    ] == [(t.measure, t.at_target.numerator, t.at_target.denominator, t.not_measured) for t in m.targets]


def test_smi_targets_say_they_are_team_choices() -> None:
    """No source defines "at target" for these measures: each is a team_choice, and its label
    states the definition and says so."""
    targets = caseload_metrics(SMI_CASELOAD, AS_OF).smi.targets
    labels = {t.measure: t.at_target.label for t in targets}

    assert {"team_choice"} == {t.status for t in targets}
    assert labels["asrm"].startswith("ASRM at target: total < 6 (team_choice: no published target")
    assert labels["bprs"].startswith("BPRS at target: total < 41 (team_choice")
    assert labels["psychosis_dimensions"].startswith("psychosis dimensions at target: every item <= 2 (team_choice")
    assert labels["whodas12"].startswith("WHODAS 2.0 (12 items) at target: latest total no higher than the baseline")
    assert labels["ras"].endswith("among active SMI-program patients with a valid baseline RAS-R and a later one")


def test_smi_metrics_per_care_manager_and_none_without_smi_patients(metrics: Any) -> None:
    """The SMI metrics are counted per care manager too; a caseload without SMI patients has
    empty denominators (no percent), not zeros that look like results."""
    per = caseload_metrics(SMI_CASELOAD, AS_OF).per_care_manager["cm3"].smi
    assert 4 == per.patients
    assert 0 == metrics.smi.patients
    assert {None} == {t.at_target.percent for t in metrics.smi.targets}


def test_smi_targets_follow_the_measure_cut_point() -> None:
    """The ASRM target is the measure's own screening cut-off (measures/asrm.yaml)."""
    from cocm_rules import load_measures

    asrm_target = next(t for t in load_metric_definitions().smi.targets if t.measure == "asrm")

    assert load_measures().get_measure("asrm").parameters["cut_point"].value == asrm_target.total_below


def test_smi_targets_are_the_smi_rulesets_not_at_target_thresholds() -> None:
    """The BPRS and psychosis-dimension targets of the metrics are the SMI ruleset's alert
    thresholds (at target = the alert would not fire): BPRS below bprs_moderately_ill, every
    domain below "moderate" (the level the persistent-psychosis rule reads)."""
    from cocm_rules import load_measures, load_rulesets

    targets = {t.measure: t for t in load_metric_definitions().smi.targets}
    (smi,) = [rs for rs in load_rulesets().rulesets if rs.name == "serious-mental-illness"]
    rule = next(r for r in smi.rules if r.rule_id == "smi-psychosis-persistent")
    levels = {
        v.label: v.value
        for sc in load_measures().get_measure("psychosis_dimensions").scales.values()
        for v in sc.values
    }

    assert smi.parameters["bprs_moderately_ill"].value == targets["bprs"].total_below
    assert "psychosis_dimensions.weeks_at_or_above_moderate" in rule.facts
    (moderate,) = [value for label, value in levels.items() if "moderate" in label.lower()]
    assert moderate - 1 == targets["psychosis_dimensions"].items_at_most


# -- every label states its definition; the definitions are checked -------------------------------


def _rates(value: Any) -> list[Any]:
    """Every Rate inside a metrics object."""
    from pydantic import BaseModel

    from cocm_rules.caseload import Rate

    if isinstance(value, Rate):
        return [value]
    if isinstance(value, BaseModel):
        return [r for name in type(value).model_fields for r in _rates(getattr(value, name))]
    if isinstance(value, list | tuple):
        return [r for v in value for r in _rates(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _rates(v)]
    return []


def test_every_rate_states_its_definition(metrics: Any) -> None:
    """Every rate, overall and per care manager, carries a label that states its definition."""
    rates = _rates(metrics)

    assert len(rates) > 20
    assert [] == [r for r in rates if not r.label]
    assert metrics.contacted.label.startswith(
        "active patients with a contact with the patient (initial assessment, follow up, psychiatric consultation "
        "or other; a case review without the patient is not one) in the 30 days up to as_of"
    )


def test_contact_kinds_are_the_facts_contacts_with_the_patient() -> None:
    """The bundled definitions count the same kinds as the days_since_last_contact fact."""
    from cocm_rules.facts import PATIENT_CONTACTS

    assert list(PATIENT_CONTACTS) == load_metric_definitions().contact_kinds.value


def _definitions_with(tmp_path: Any, old: str, new: str) -> Any:
    """The bundled definitions with ``old`` replaced by ``new``, loaded from a file."""
    from cocm_rules.measures import data_dir

    text = (data_dir("metrics") / "caseload.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "caseload.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "value: [initial_assessment, follow_up, psychiatric_consultation, other]",
            "value: [initial_assessment, case_review]",
            "'case_review' (text) is not allowed: a systematic case review is held without the patient",
        ),
        ("value: medicaid_behavioral\n", "value: medicaid\n", "'medicaid' (text) is not a range id"),
        ("value: [smi]", "value: [smi, specialty]", "'specialty' (text) is not allowed"),
        ("total_below: 6", "total_below: 6\n      total_at_most: 5", "a target needs exactly one of"),
        ("        - hallucinations\n", "        - halucinations\n", "'halucinations' (text) is not an item of"),
        ("  - measure: gad7\n", "  - measure: gad-7x\n", "'gad-7x' (text) is not a measure id"),
    ],
)
def test_a_mistake_in_the_definitions_is_located(tmp_path: Any, old: str, new: str, message: str) -> None:
    """A contact kind without the patient, a payer mix with no range, an unknown program, a
    target of two kinds: each is refused at its file:line:column with what is allowed."""
    from cocm_rules import MeasureDefinitionError

    path = _definitions_with(tmp_path, old, new)
    with pytest.raises(MeasureDefinitionError) as info:
        load_metric_definitions(path)

    [problem] = info.value.problems
    assert message in problem.message
    assert path == problem.file
    assert problem.line is not None
