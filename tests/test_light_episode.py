"""The light episode reader (the engine's batch path) mirrors the Episode: same fields, same
checks; what it does not accept as plainly valid goes to ``parse_episode``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import msgspec
import pytest

from cocm_rules import Engine, InvalidInput, parse_episode
from cocm_rules.light_episode import TWINS, LightEpisode, read_light
from cocm_rules.synth import generate

BASE: dict[str, Any] = {
    "patient_id": "P1",
    "program": "smi",
    "enrollment_date": "2026-09-01",
    "status": "active_treatment",
    "assessments": [{"measure": "phq9", "date": "2026-10-01", "answers": [1, 1, 1, 1, 1, 1, 1, 1, 1]}],
    "contacts": [{"date": "2026-09-02", "kind": "initial_assessment", "minutes": 30}],
    "recommendations": [{"date": "2026-09-10", "status": "pending"}],
    "smi_events": [{"date": "2026-09-20", "kind": "housing", "status": "stable"}],
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
    assert {("Assessment", "_something"), ("SmiEvent", "_status_fits")} == validators
    dates = {(m, "date"): ["_IsoDate"] for m in ("Assessment", "Contact", "Recommendation", "SmiEvent")}
    assert {
        ("Episode", "patient_id"): ["MinLen(min_length=1)", "AfterValidator(_patient_id)"],
        ("Episode", "enrollment_date"): ["_IsoDate"],
        **dates,
        ("Contact", "minutes"): ["Ge(ge=0)", "Le(le=1440)"],
        ("SetAside", "reason"): ["MinLen(min_length=1)"],
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


def test_the_engine_reads_a_batch_of_json_texts_through_the_light_path() -> None:
    """``evaluate_many`` of JSON texts gives the alerts ``evaluate`` gives for the same records
    (the light path for the texts, the Episode for the mappings)."""
    engine = Engine.load()
    as_of = dt.date(2026, 11, 20)
    records = list(generate(60, seed=5, as_of=as_of))
    expected = [[a.model_dump() for a in engine.evaluate(r, as_of)] for r in records]
    actual = [[a.model_dump() for a in r.alerts] for r in engine.evaluate_many([json.dumps(r) for r in records], as_of)]  # type: ignore[union-attr]
    assert expected == actual
