"""The light episode reader (the engine's batch path) mirrors the Episode: same fields, same
checks; what it does not accept as plainly valid goes to ``parse_episode``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cocm_rules import Engine, InvalidInput, parse_episode
from cocm_rules.light_episode import TWINS, LightEpisode, read_light
from cocm_rules.synth import generate

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

BASE: dict[str, Any] = {
    "patient_id": "P1",
    "program": "smi",
    "enrollment_date": "2026-09-01",
    "status": "active_treatment",
    "assessments": [{"measure": "phq9", "date": "2026-10-01", "answers": [1, 1, 1, 1, 1, 1, 1, 1, 1]}],
    "contacts": [{"date": "2026-09-02", "kind": "initial_assessment", "minutes": 30, "role": "care_manager"}],
    "recommendations": [{"date": "2026-09-10", "status": "pending"}],
    "consent_date": "2026-09-02",
    "billed_services": [{"code": "99484", "date": "2026-09-30"}],
    "smi_events": [{"date": "2026-09-20", "kind": "housing", "status": "stable"}],
    "observations": [
        {"date": "2026-09-02", "kind": "body_weight", "value": 81.5, "unit": "kg"},
        {"date": "2026-09-02", "kind": "smoking_status", "status": "former"},
    ],
    "medications": [{"kind": "antipsychotic", "start_date": "2026-09-05", "stop_date": "2026-10-05"}],
    "set_aside": [{"kind": "contact", "reason": "no date"}],
}


def _plain(light: Any) -> Any:
    if isinstance(light, msgspec.Struct):
        return {f: _plain(getattr(light, f)) for f in light.__struct_fields__}
    if isinstance(light, list):
        return [_plain(x) for x in light]
    return light


def _with(path: str, value: Any) -> str:
    """BASE as JSON text, with the value at ``path`` (``contacts.0.minutes``) replaced (or
    removed, for ``...``)."""
    record = json.loads(json.dumps(BASE))
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    holder = record
    for p in parents:
        holder = holder[p]
    if value is ...:
        del holder[last]
    else:
        holder[last] = value
    return json.dumps(record)


def test_each_light_struct_has_the_fields_and_defaults_of_its_pydantic_twin() -> None:
    """Field names, order and defaults agree, so the fact builder reads either the same way
    (a field added to the Episode and not here sends every record carrying it to the full path,
    and fails this test)."""
    for light, model in TWINS.items():
        fields = msgspec.structs.fields(light)
        assert list(model.model_fields) == [f.name for f in fields], light.__name__
        for f in fields:
            info = model.model_fields[f.name]
            expected = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
            actual = f.default_factory() if f.default_factory is not msgspec.NODEFAULT else f.default
            if info.is_required():
                assert msgspec.NODEFAULT is actual, (light.__name__, f.name)
            else:
                assert expected == actual, (light.__name__, f.name)


def test_the_episode_checks_the_light_reader_repeats_are_all_the_episode_has() -> None:
    """The Episode's validators and field constraints are the ones the light reader makes (a
    new one must be mirrored in ``cocm_rules.light_episode``, or this test fails)."""
    validators = {
        (model.__name__, name)
        for model in TWINS.values()
        for kind in ("model_validators", "field_validators")
        for name in getattr(model.__pydantic_decorators__, kind)
    }
    constraints = {
        (model.__name__, name): [_constraint(m) for m in info.metadata]
        for model in TWINS.values()
        for name, info in model.model_fields.items()
        if info.metadata
    }
    assert {
        ("Assessment", "_something"),
        ("SmiEvent", "_status_fits"),
        ("Observation", "_fits"),
        ("Medication", "_dates_in_order"),
    } == validators
    dates = {
        (m, "date"): ["_IsoDate"]
        for m in ("Assessment", "Contact", "Recommendation", "SmiEvent", "BilledService", "Observation")
    }
    assert {
        ("Episode", "patient_id"): ["MinLen(min_length=1)", "AfterValidator(_patient_id)"],
        ("Episode", "enrollment_date"): ["_IsoDate"],
        **dates,
        ("Contact", "minutes"): ["Ge(ge=0)", "Le(le=1440)"],
        ("SetAside", "reason"): ["MinLen(min_length=1)"],
        ("BilledService", "code"): ["AfterValidator(_service_code)"],
        ("Medication", "start_date"): ["_IsoDate"],
    } == constraints


def _constraint(m: Any) -> str:
    if isinstance(m, type):
        return m.__name__
    func = getattr(m, "func", None)
    return f"{type(m).__name__}({func.__name__})" if func is not None else repr(m)


def test_the_synthetic_caseload_is_read_by_the_light_path_with_the_same_values() -> None:
    """Every patient of the benchmark's caseload takes the light path, with the values the
    Episode has."""
    for record in generate(200, seed=2026, as_of=dt.date(2026, 11, 20)):
        text = json.dumps(record)
        light = read_light(text)
        assert isinstance(light, LightEpisode)
        assert parse_episode(text).model_dump() == _plain(light)


ACCEPTED = [
    ("contacts.0.minutes", 1440),
    ("contacts.0.minutes", 0),
    ("contacts.0.minutes", None),
    ("smi_events.0.status", "homeless"),
    ("assessments.0.total", 9),
    ("assessments.0.answers", ...),  # a total alone would need "total": see REFUSED
    ("set_aside", ...),
    ("contacts.0.role", "psychiatric_consultant"),
    ("contacts.0.role", None),
    ("consent_date", None),
    ("billed_services.0.code", "G0512"),
    ("observations.0.value", 81),
    ("observations.0.value", 5e-324),
    ("observations.0.value", 10**20),
    ("observations.0.unit", "[lb_av]"),
    ("observations.0.unit", "g"),
    ("observations.1.status", "current_every_day"),
    ("observations.0.id", "obs-1"),
    ("medications.0.stop_date", "2026-09-05"),
    ("medications.0.stop_date", ...),
    ("medications.0.name", "aripiprazole"),
    ("set_aside.0.kind", "consent"),
    ("set_aside.0.kind", "observation"),
]
REFUSED_OR_FULL_PATH = [
    ("contacts.0.minutes", 1441),
    ("contacts.0.minutes", -1),
    ("contacts.0.minutes", 5.0),
    ("contacts.0.minutes", True),
    ("contacts.0.kind", "follow-up"),
    ("assessments.0.measure", "PHQ-9"),  # an alias: the full path resolves it
    ("assessments.0.measure", "phq9x"),  # not recognized: the full path keeps it as written
    ("assessments.0.date", "2026-10-01T23:30:00-05:00"),  # a date-time: the full path reads it
    ("assessments.0.date", "2026-02-30"),
    ("assessments.0.date", "2026-1-02"),
    ("assessments.0.total", True),
    ("assessments.0.answers", None),  # neither answers nor a total
    ("assessments.0.context", []),
    ("patient_id", ""),
    ("patient_id", "   "),
    ("patient_id", "P\x00"),
    ("patient_id", "P\u2028"),
    ("patient_id", 7),
    ("smi_events.0.status", ...),
    ("smi_events.0.status", "employed"),
    ("smi_events.0.kind", "ed_visit"),
    ("recommendations.0.status", "done"),
    ("set_aside.0.reason", ""),
    ("status", "Active"),
    ("enrollment_date", ...),
    ("sex", "F"),
    ("extra", 1),
    ("contacts.0.role", "care manager"),
    ("contacts.0.role", "psychiatrist"),
    ("consent_date", "2026-09-02T10:00:00Z"),  # a date-time: the full path reads it
    ("consent_date", "2026-09-31"),
    ("billed_services.0.code", "9948"),
    ("billed_services.0.code", "99484 "),
    ("billed_services.0.code", "99484\n"),
    ("billed_services.0.code", "g0512"),
    ("billed_services.0.code", 99484),
    ("billed_services.0.date", ...),
    ("observations.0.kind", "weight"),
    ("observations.0.value", 0),
    ("observations.0.value", -1.5),
    ("observations.0.value", 10**400),  # an integer beyond float range is not finite
    ("observations.0.value", True),
    ("observations.0.value", "81.5"),
    ("observations.0.value", ...),
    ("observations.0.unit", "KG"),
    ("observations.0.unit", "mg/dL"),  # a unit of another kind
    ("observations.0.unit", ...),
    ("observations.0.status", "former"),  # a status on a number
    ("observations.1.status", ...),
    ("observations.1.status", "smoker"),
    ("observations.1.value", 1),  # a value on a smoking status
    ("observations.1.unit", "kg"),
    ("medications.0.stop_date", "2026-09-04"),  # stopped before it started
    ("medications.0.kind", "antidepressant"),
    ("medications.0.start_date", ...),
    ("set_aside.0.kind", "medication"),
]


def _edge_id(case: tuple[str, Any]) -> str:
    return f"{case[0]}={case[1]!r}"


EDGES = ACCEPTED + REFUSED_OR_FULL_PATH


@pytest.mark.parametrize("case", EDGES, ids=[_edge_id(c) for c in EDGES])
def test_the_light_reader_gives_the_episode_or_leaves_the_record_to_parse_episode(case: tuple[str, Any]) -> None:
    """At the edges of every check, the light reader either gives the Episode's values or
    gives None (then ``parse_episode`` reads the record: the Episode or its error)."""
    path, value = case
    text = _with(path, value)
    if case == ("assessments.0.answers", ...):
        text = text.replace('"date": "2026-10-01"', '"date": "2026-10-01", "total": 9')
    light = read_light(text)
    assert (case in ACCEPTED) == (light is not None)
    if light is not None:
        assert parse_episode(text).model_dump() == _plain(light)


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(BASE).replace('"status": "active_treatment"', '"status": "inactive", "status": "active_treatment"'),
        json.dumps(BASE).replace('"minutes": 30', '"minutes": 30, "minutes": 0'),
        json.dumps(BASE).replace("[1, 1, 1, 1, 1, 1, 1, 1, 1]", "[1, 1, 1, 1, 1, 1, 1, 1, 1e400]"),
        json.dumps(BASE).replace('"minutes": 30', '"minutes": NaN'),
        json.dumps(BASE).replace('"P1"', '"P\\ud800"'),
        json.dumps(BASE) + " {}",
        json.dumps(BASE).replace("[1, 1, 1, 1, 1, 1, 1, 1, 1]", "[" + "1" * 5000 + "]"),
    ],
    ids=["repeated key", "repeated nested key", "1e400", "NaN", "lone surrogate", "trailing text", "5000 digits"],
)
def test_what_the_strict_reader_refuses_the_light_reader_refuses(text: str) -> None:
    """Repeated keys at any depth, numbers beyond float range, NaN, lone surrogates, trailing
    text and integers too long to read: the light reader gives None, and ``parse_episode``
    refuses the text."""
    assert None is read_light(text)
    with pytest.raises(InvalidInput):
        parse_episode(text)


def test_the_example_caseload_takes_the_light_path_and_gives_the_alerts_of_parse_episode() -> None:
    """Every record of examples/caseload.jsonl (contact roles, consent dates, medical
    observations and medications) is read by the light path with the Episode's values, and the
    engine gives the same alerts from either reading."""
    engine = Engine.load()
    as_of = dt.date(2026, 11, 20)
    lines = (EXAMPLES / "caseload.jsonl").read_text(encoding="utf-8").splitlines()
    lights = [read_light(line) for line in lines]
    assert [] == [i for i, light in enumerate(lights) if light is None]
    for line, light in zip(lines, lights, strict=True):
        assert light is not None
        episode = parse_episode(line)
        assert episode.model_dump() == _plain(light)
        expected = [a.model_dump() for a in engine._evaluate(episode, as_of)]
        assert expected == [a.model_dump() for a in engine._evaluate(light, as_of)]
    new_fields = {"consent_date", "observations", "medications"}
    assert new_fields == {f for light in lights for f in new_fields if getattr(light, f)}
    assert any(c.role is not None for light in lights if light is not None for c in light.contacts)


def test_the_engine_reads_a_batch_of_json_texts_through_the_light_path() -> None:
    """``evaluate_many`` of JSON texts gives the alerts ``evaluate`` gives for the same records
    (the light path for the texts, the Episode for the mappings)."""
    engine = Engine.load()
    as_of = dt.date(2026, 11, 20)
    records = list(generate(60, seed=5, as_of=as_of))
    expected = [[a.model_dump() for a in engine.evaluate(r, as_of)] for r in records]
    actual = [[a.model_dump() for a in r.alerts] for r in engine.evaluate_many([json.dumps(r) for r in records], as_of)]  # type: ignore[union-attr]
    assert expected == actual
