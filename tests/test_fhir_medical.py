"""Vital signs, laboratory results and the smoking status read from a patient Bundle into the
episode's observations (cocm_rules.fhir._medical): LOINC-coded Observations with UCUM units,
kept as sent, set aside (never guessed) when they cannot be used."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cocm_rules import Engine, InvalidInput, fhir

BUNDLE = Path(__file__).resolve().parent / "fixtures" / "fhir" / "patient-bundle.json"
UCUM = "http://unitsofmeasure.org"
AS_OF = dt.date(2026, 11, 6)


def _bundle(*observations: dict[str, Any]) -> dict[str, Any]:
    bundle = json.loads(BUNDLE.read_text(encoding="utf-8"))
    bundle["entry"] += [{"resource": copy.deepcopy(o)} for o in observations]
    return bundle


def _obs(rid: str, code: str, date: str | None = "2026-11-02", **value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/p-fhir-1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        **value,
    }
    if date is not None:
        out["effectiveDateTime"] = date
    return out


def _qty(value: Any, code: str | None, unit: str | None = None, system: str | None = UCUM) -> dict[str, Any]:
    q: dict[str, Any] = {"value": value}
    if code is not None:
        q["code"] = code
    if unit is not None:
        q["unit"] = unit
    if system is not None:
        q["system"] = system
    return {"valueQuantity": q}


def _component(code: str, value: Any) -> dict[str, Any]:
    return {"code": {"coding": [{"system": "http://loinc.org", "code": code}]}, **_qty(value, "mm[Hg]", "mmHg")}


BP = _obs("bp", "85354-9", component=[_component("8480-6", 186), _component("8462-4", 96)])
WEIGHT = _obs("w", "29463-7", **_qty(190, "[lb_av]", "lb"))
SMOKER = _obs(
    "s", "72166-2", valueCodeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "449868002"}]}
)


def test_vital_signs_labs_and_smoking_become_observations_as_sent():
    """Weight in pounds, a blood pressure panel, glucose in mmol/L, an LDL by direct assay,
    HbA1c and the smoking status are read with their dates and units as sent (the panel's two
    components as two observations), and none is 'unrecognized' (the default refuses that)."""
    bundle = _bundle(
        WEIGHT,
        BP,
        _obs("g", "1558-6", **_qty(7.4, "mmol/L")),
        _obs("l", "18262-6", **_qty(131, "mg/dL")),
        _obs("a", "4548-4", **_qty(7.2, "%")),
        SMOKER,
    )

    episode = fhir.read_episode(bundle)

    assert [
        ("body_weight", 190, "[lb_av]", None, "w"),
        ("systolic_bp", 186, "mm[Hg]", None, None),
        ("diastolic_bp", 96, "mm[Hg]", None, None),
        ("fasting_glucose", 7.4, "mmol/L", None, "g"),
        ("ldl", 131, "mg/dL", None, "l"),
        ("hba1c", 7.2, "%", None, "a"),
        ("smoking_status", None, None, "current_every_day", "s"),
    ] == [(o.kind, o.value, o.unit, o.status, o.id) for o in episode.observations]
    assert {dt.date(2026, 11, 2)} == {o.date for o in episode.observations}


def test_medical_observations_drive_the_medical_rules():
    """Read from FHIR, the blood pressure 186/96 raises the severe-range alert and the smoking
    status the cessation prompt."""
    episode = fhir.read_episode(_bundle(BP, SMOKER))

    fired = {a.rule_id for a in Engine.load().evaluate(episode, AS_OF)}

    assert {"smi-med-bp-severe", "smi-med-current-smoker"} <= fired


@pytest.mark.parametrize(
    ("observation", "path", "reason"),
    [
        (_obs("t", "2571-8", **_qty(1.3, "g/L")), "valueQuantity.code", "this unit is not accepted for triglycerides"),
        (_obs("t", "2571-8", **_qty(130, "mg/dL", system="http://example.org/units")), "valueQuantity.system", "UCUM"),
        (_obs("t", "2571-8", **_qty(130, None, "mg/dL (fasting)")), "valueQuantity.code", "not accepted"),
        (_obs("t", "2571-8", **_qty(-1, "mg/dL")), "valueQuantity.value", "not a number above 0"),
        (_obs("t", "2571-8", valueString="high"), "valueQuantity", "needs a valueQuantity"),
        (_obs("t", "2571-8", date=None, **_qty(130, "mg/dL")), "effectiveDateTime", "needs its date"),
        (
            _obs("t", "72166-2", valueCodeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}),
            "valueCodeableConcept",
            "one SNOMED CT smoking status code",
        ),
    ],
)
def test_an_observation_that_cannot_be_used_is_set_aside_not_guessed(observation, path, reason):
    """A unit that is not UCUM or not accepted for the kind, a value that is no number above
    0, a value of the wrong type, no date, an unknown smoking status code: the patient is kept,
    the observation is set aside (kind ``observation``) naming the resource, the path and why,
    and the data-quality alert names it."""
    reading = fhir.read_patient(_bundle(observation))

    assert [] == reading.episode.observations
    [note] = reading.notes
    assert ("Observation/t", path) == (note.resource, note.path)
    assert reason in note.reason
    [aside] = reading.episode.set_aside
    assert ("observation", "Observation/t " + path) == (aside.kind, aside.source)
    fired = {a.rule_id for a in Engine.load().evaluate(reading.episode, AS_OF)}
    assert "dq-set-aside" in fired


def test_a_unit_without_a_code_is_read_only_when_it_is_itself_an_accepted_code():
    """``unit: "kg"`` with no ``code`` is the UCUM code kg; nothing else is inferred."""
    episode = fhir.read_episode(_bundle(_obs("w", "29463-7", **_qty(82.5, None, "kg", system=None))))

    assert [("body_weight", 82.5, "kg")] == [(o.kind, o.value, o.unit) for o in episode.observations]


def test_no_value_and_the_vital_signs_panel_are_skipped_not_set_aside():
    """An Observation with a dataAbsentReason and no value was not measured: skipped, not a
    data problem. A vital signs panel (85353-1) holds no value: its members are read."""
    absent = _obs("x", "39156-5", dataAbsentReason={"coding": [{"code": "not-performed"}]})
    panel = _obs("vs", "85353-1", hasMember=[{"reference": "Observation/w"}])

    reading = fhir.read_patient(_bundle(absent, panel, WEIGHT))

    assert ["body_weight"] == [o.kind for o in reading.episode.observations]
    assert [] == reading.notes
    assert ("Observation/x", "no value (dataAbsentReason)") in {(n.resource, n.reason) for n in reading.skipped}


def test_a_medical_observation_about_another_patient_is_refused():
    """Every resource of a patient Bundle must be about its Patient."""
    other = _obs("w", "29463-7", **_qty(80, "kg"))
    other["subject"] = {"reference": "Patient/someone-else"}

    with pytest.raises(InvalidInput) as info:
        fhir.read_episode(_bundle(other))

    assert ("Observation/w", "subject") == (info.value.record, info.value.field)


def test_scoring_skips_medical_observations_instead_of_calling_them_unrecognized():
    """``score_fhir`` and ``read_assessments`` are about measures: a weight Observation (alone
    or in a Bundle) is listed as skipped, not refused as unrecognized."""
    report = fhir.score_fhir(WEIGHT)
    reading = fhir.read_assessments(_bundle(WEIGHT))

    assert ([], [], ["Observation/w"]) == (report.scores, report.unrecognized, [n.resource for n in report.skipped])
    assert "Observation/w" in {n.resource for n in reading.skipped}
