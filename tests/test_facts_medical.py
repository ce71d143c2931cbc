"""Medical outcomes in the episode (observations, antipsychotics) and their facts
(cocm_rules.facts.medical), with expected values worked out by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cocm_rules import InvalidInput, parse_episode
from cocm_rules import derive_facts as facts
from cocm_rules._units import CANONICAL_UNITS, UNITS
from cocm_rules.episode import OBSERVATION_KINDS, Observation
from cocm_rules.facts.medical import CHECKS, KINDS

D = dt.date.fromisoformat
AS_OF = D("2026-11-20")


def _episode(observations: list[dict[str, Any]] | None = None, medications: list[dict[str, Any]] | None = None) -> dict:
    record: dict[str, Any] = {
        "patient_id": "m1",
        "program": "smi",
        "enrollment_date": "2026-01-05",
        "status": "active_treatment",
    }
    if observations is not None:
        record["observations"] = observations
    if medications is not None:
        record["medications"] = medications
    return record


def _obs(date: str, kind: str, value: float | None = None, unit: str | None = None, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"date": date, "kind": kind, **kw}
    if value is not None:
        out["value"], out["unit"] = value, unit
    return out


# -- the episode data --------------------------------------------------------------------------


def test_every_numeric_kind_has_its_units_and_fact_names():
    """The observation kinds of the episode, the unit table and the fact family agree: each
    numeric kind has a canonical unit that is also an accepted unit, and facts named for it."""
    numeric = [k for k in OBSERVATION_KINDS if k != "smoking_status"]

    assert set(numeric) == set(UNITS) == set(CANONICAL_UNITS) == set(KINDS)
    assert all(CANONICAL_UNITS[k] in UNITS[k] for k in numeric)
    assert set(Observation.model_fields["kind"].annotation.__args__) == set(OBSERVATION_KINDS)
    assert {k for kinds, _ in CHECKS.values() for k in kinds} == set(numeric)


def test_a_unit_not_accepted_is_refused_naming_the_allowed_ones():
    """'lb' is not UCUM ('[lb_av]' is): the record is refused naming the field, the unit and
    what is allowed; nothing is guessed."""
    with pytest.raises(InvalidInput) as info:
        parse_episode(_episode([_obs("2026-11-02", "body_weight", 180, "lb")]))

    assert "observations[0]" == info.value.field
    assert (
        "observations[0]: the unit 'lb' (text) is not accepted for body_weight; allowed (UCUM): kg, g, [lb_av]"
        in str(info.value)
    )


@pytest.mark.parametrize(
    ("observation", "reason"),
    [
        ({"date": "2026-11-02", "kind": "hba1c", "unit": "%"}, "a hba1c observation needs a value"),
        (_obs("2026-11-02", "ldl", 0, "mg/dL"), "a finite number above 0"),
        (_obs("2026-11-02", "ldl", float("nan"), "mg/dL"), "a finite number above 0"),
        (_obs("2026-11-02", "ldl", 10**400, "mg/dL"), "a finite number above 0"),
        (_obs("2026-11-02", "ldl", True, "mg/dL"), "observations[0].value"),
        (_obs("2026-11-02", "smoking_status"), "needs a status"),
        (_obs("2026-11-02", "smoking_status", 1, "%", status="never"), "has no value or unit"),
        (_obs("2026-11-02", "bmi", 31, "kg/m2", status="never"), "not a status"),
        (_obs("2026-11-02", "smoking_status", status="sometimes"), "observations[0].status"),
    ],
)
def test_an_impossible_observation_is_refused(observation, reason):
    """A number that is missing, not above 0, not finite or a yes/no; a smoking status
    without its word, or with a number; a status on a number; an unknown status word."""
    with pytest.raises(InvalidInput) as info:
        parse_episode(_episode([observation]))

    assert reason in str(info.value)


def test_a_medication_stopped_before_it_started_is_refused():
    """Dates out of order are refused, naming the medication."""
    with pytest.raises(InvalidInput) as info:
        parse_episode(
            _episode(medications=[{"kind": "antipsychotic", "start_date": "2026-05-01", "stop_date": "2026-04-01"}])
        )

    assert "medications[0]: stop_date 2026-04-01 is before start_date 2026-05-01" in str(info.value)


def test_episodes_without_medical_data_stay_valid():
    """Both lists are optional: an episode without them is valid and has none."""
    episode = parse_episode(_episode())

    assert ([], []) == (episode.observations, episode.medications)


# -- latest values, converted ------------------------------------------------------------------


def test_values_are_converted_to_the_unit_in_the_fact_name():
    """176 lb = 79.8323 kg (x 0.45359237); glucose 7.0 mmol/L = 126.112 mg/dL (x 18.016); LDL
    5.0 mmol/L = 193.35 mg/dL and HDL 1.1 mmol/l = 42.537 (x 38.67); triglycerides 5.7 mmol/L =
    504.849 mg/dL (x 88.57); HbA1c 48 mmol/mol = 0.09148 x 48 + 2.152 = 6.5430%; 1500 g = 1.5 kg."""
    f = facts(
        _episode(
            [
                _obs("2026-11-02", "body_weight", 176, "[lb_av]"),
                _obs("2026-11-02", "fasting_glucose", 7.0, "mmol/L"),
                _obs("2026-11-02", "ldl", 5.0, "mmol/L"),
                _obs("2026-11-02", "hdl", 1.1, "mmol/l"),
                _obs("2026-11-02", "triglycerides", 5.7, "mmol/L"),
                _obs("2026-11-02", "hba1c", 48, "mmol/mol"),
                _obs("2026-11-02", "total_cholesterol", 212, "mg/dl"),
                _obs("2026-11-02", "glucose", 140, "mg/dL"),
                _obs("2026-11-02", "bmi", 31.4, "kg/m2"),
                _obs("2026-11-02", "systolic_bp", 142, "mm[Hg]"),
                _obs("2026-11-02", "diastolic_bp", 91, "mm[Hg]"),
            ]
        ),
        AS_OF,
    )

    assert 79.8323 == f["weight_latest_kg"]
    assert 126.112 == f["fasting_glucose_latest_mg_dl"]
    assert 193.35 == f["ldl_latest_mg_dl"]
    assert 42.537 == f["hdl_latest_mg_dl"]
    assert 504.849 == f["triglycerides_latest_mg_dl"]
    assert 6.543 == f["hba1c_latest_percent"]
    assert (212, 140, 31.4) == (f["total_cholesterol_latest_mg_dl"], f["glucose_latest_mg_dl"], f["bmi_latest_kg_m2"])
    assert (142, 91) == (f["systolic_bp_latest_mm_hg"], f["diastolic_bp_latest_mm_hg"])
    assert 1.5 == facts(_episode([_obs("2026-11-02", "body_weight", 1500, "g")]), AS_OF)["weight_latest_kg"]


def test_the_latest_is_the_last_dated_on_or_before_as_of():
    """Observations after as_of do not count; of two on the same date the later in the list is
    the latest; the date and days since follow the latest."""
    f = facts(
        _episode(
            [
                _obs("2026-12-01", "ldl", 250, "mg/dL"),  # after as_of
                _obs("2026-10-01", "ldl", 120, "mg/dL"),
                _obs("2026-10-01", "ldl", 125, "mg/dL"),
                _obs("2026-03-01", "ldl", 180, "mg/dL"),
            ]
        ),
        AS_OF,
    )

    assert (125, D("2026-10-01"), 50) == (f["ldl_latest_mg_dl"], f["ldl_latest_date"], f["days_since_ldl"])


def test_without_observations_the_values_are_missing():
    """No observation: every value, date and day count is missing; not on an antipsychotic."""
    f = facts(_episode(), AS_OF)

    for stem, suffix, _ in KINDS.values():
        assert (None, None, None) == (f[f"{stem}_latest_{suffix}"], f[f"{stem}_latest_date"], f[f"days_since_{stem}"])
    assert (None, None, None) == (f["smoking_status"], f["smoking_status_date"], f["days_since_smoking_status"])
    assert False is f["on_antipsychotic"]
    assert None is f["weeks_on_antipsychotic"]


def test_smoking_status_is_the_latest_recorded():
    """The latest smoking status (a quit recorded later replaces a current status)."""
    f = facts(
        _episode(
            [
                _obs("2026-01-10", "smoking_status", status="current_every_day"),
                _obs("2026-09-10", "smoking_status", status="former"),
            ]
        ),
        AS_OF,
    )

    assert ("former", D("2026-09-10"), 71) == (
        f["smoking_status"],
        f["smoking_status_date"],
        f["days_since_smoking_status"],
    )


# -- the antipsychotic and the monitoring schedule ---------------------------------------------


def test_antipsychotic_start_and_weeks():
    """Started 2026-08-14: 98 days = 14 whole weeks by 2026-11-20; a future start does not count."""
    f = facts(_episode(medications=[{"kind": "antipsychotic", "start_date": "2026-08-14"}]), AS_OF)

    assert (True, D("2026-08-14"), 14) == (
        f["on_antipsychotic"],
        f["antipsychotic_start_date"],
        f["weeks_on_antipsychotic"],
    )
    later = facts(_episode(medications=[{"kind": "antipsychotic", "start_date": "2026-12-01"}]), AS_OF)
    assert (False, None) == (later["on_antipsychotic"], later["antipsychotic_start_date"])


def test_a_stopped_antipsychotic_no_longer_counts():
    """Stopped on as_of: not on an antipsychotic. Stopped the day after: still on it."""
    stopped = [{"kind": "antipsychotic", "start_date": "2026-01-10", "stop_date": "2026-11-20"}]
    running = [{"kind": "antipsychotic", "start_date": "2026-01-10", "stop_date": "2026-11-21"}]

    assert False is facts(_episode(medications=stopped), AS_OF)["on_antipsychotic"]
    assert True is facts(_episode(medications=running), AS_OF)["on_antipsychotic"]


def test_a_switch_starts_the_schedule_again():
    """A second antipsychotic started 2026-10-30 (the first stopped 2026-11-05): the current
    treatment starts 2026-10-30, 3 weeks before as_of."""
    meds = [
        {"kind": "antipsychotic", "start_date": "2024-02-01", "stop_date": "2026-11-05"},
        {"kind": "antipsychotic", "start_date": "2026-10-30"},
    ]

    f = facts(_episode(medications=meds), AS_OF)

    assert (D("2026-10-30"), 3) == (f["antipsychotic_start_date"], f["weeks_on_antipsychotic"])


def test_checks_count_any_observation_of_their_group():
    """A BMI counts as the weight check, an HbA1c as the glucose check, an HDL as the lipid
    check; days from the start are negative for a check before it (2026-08-10 is 4 days before
    2026-08-14) and positive after (2026-11-06 is 84 days after)."""
    observations = [
        _obs("2026-08-10", "hdl", 50, "mg/dL"),
        _obs("2026-08-10", "diastolic_bp", 80, "mm[Hg]"),
        _obs("2026-11-06", "bmi", 27, "kg/m2"),
        _obs("2026-11-06", "hba1c", 5.6, "%"),
        _obs("2026-11-06", "systolic_bp", 120, "mm[Hg]"),
    ]
    f = facts(_episode(observations, [{"kind": "antipsychotic", "start_date": "2026-08-14"}]), AS_OF)

    assert (14, 14, 14, 102) == (
        f["days_since_weight_check"],
        f["days_since_bp_check"],
        f["days_since_glucose_check"],
        f["days_since_lipid_check"],
    )
    assert (84, 84, -4) == (
        f["bp_check_days_from_antipsychotic_start"],
        f["glucose_check_days_from_antipsychotic_start"],
        f["lipid_check_days_from_antipsychotic_start"],
    )


def test_checks_from_the_start_are_missing_without_an_antipsychotic():
    """Not on an antipsychotic: where a check falls in the treatment is missing; how long
    since the check is still known."""
    f = facts(_episode([_obs("2026-11-06", "systolic_bp", 120, "mm[Hg]")]), AS_OF)

    assert (None, 14) == (f["bp_check_days_from_antipsychotic_start"], f["days_since_bp_check"])


def test_weight_gain_is_measured_from_the_weight_at_the_start():
    """The reference is the latest weight on or before the start (80 kg on 2026-08-10, not 78
    kg in June); 85.2 kg later is (85.2 - 80) / 80 = 0.065 heavier."""
    observations = [
        _obs("2026-06-01", "body_weight", 78, "kg"),
        _obs("2026-08-10", "body_weight", 80, "kg"),
        _obs("2026-10-01", "body_weight", 83, "kg"),
        _obs("2026-11-06", "body_weight", 85.2, "kg"),
    ]
    f = facts(_episode(observations, [{"kind": "antipsychotic", "start_date": "2026-08-14"}]), AS_OF)

    assert (80, D("2026-08-10")) == (f["weight_at_antipsychotic_start_kg"], f["weight_at_antipsychotic_start_date"])
    assert 0.065 == f["weight_pct_gain_on_antipsychotic"]


def test_without_a_weight_before_the_start_the_first_after_it_is_the_reference():
    """No weight before the start: the first after it (90 kg) is the reference; 81 kg later is
    a loss, -0.1."""
    observations = [_obs("2026-08-20", "body_weight", 90, "kg"), _obs("2026-11-01", "body_weight", 81, "kg")]
    f = facts(_episode(observations, [{"kind": "antipsychotic", "start_date": "2026-08-14"}]), AS_OF)

    assert (90, -0.1) == (f["weight_at_antipsychotic_start_kg"], f["weight_pct_gain_on_antipsychotic"])


def test_weight_gain_needs_a_later_weight_and_an_antipsychotic():
    """One weight only: no gain. Not on an antipsychotic: no reference and no gain."""
    one = facts(
        _episode(
            [_obs("2026-08-10", "body_weight", 80, "kg")], [{"kind": "antipsychotic", "start_date": "2026-08-14"}]
        ),
        AS_OF,
    )
    off = facts(
        _episode([_obs("2026-08-10", "body_weight", 80, "kg"), _obs("2026-11-01", "body_weight", 90, "kg")]), AS_OF
    )

    assert (80, None) == (one["weight_at_antipsychotic_start_kg"], one["weight_pct_gain_on_antipsychotic"])
    assert (None, None) == (off["weight_at_antipsychotic_start_kg"], off["weight_pct_gain_on_antipsychotic"])
