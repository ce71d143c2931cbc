"""Tests for the patient episode model: parsing, error messages, and the JSON Schema."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cocm_rules import Episode, InvalidInput, episode_json_schema, parse_episode
from cocm_rules.episode import Assessment, BilledService, Contact, Recommendation, SmiEvent

RICH = Path(__file__).parent / "fixtures" / "episodes" / "rich.json"


def _base(**fields: Any) -> dict[str, Any]:
    """A minimal valid episode record for patient 'p1', with ``fields`` added or replaced."""
    record: dict[str, Any] = {
        "patient_id": "p1",
        "program": "cocm",
        "enrollment_date": "2026-01-05",
        "status": "active_treatment",
    }
    record.update(fields)
    return record


def _rich() -> dict[str, Any]:
    return json.loads(RICH.read_text(encoding="utf-8"))


def _error(record: Any, **kw: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse_episode(record, **kw)
    return info.value


# -- valid records -----------------------------------------------------------------------------


def test_full_episode_parses_from_a_mapping():
    """A record with every kind of content (assessments, contacts, recommendations, plan, SMI
    events) parses, with dates turned into ``date`` objects and lists kept in order."""
    episode = parse_episode(_rich())

    assert "rich-1" == episode.patient_id
    assert "smi" == episode.program
    assert "active_treatment" == episode.status
    assert "female" == episode.sex
    assert dt.date(2025, 11, 20) == episode.enrollment_date
    assert 28 == len(episode.assessments)
    assert dt.date(2025, 12, 1) == episode.assessments[0].date
    assert [3, 3, 3, 3, 2, 2, 2, 1, 1] == episode.assessments[0].answers
    assert 9 == episode.assessments[1].total
    assert ["initial_assessment", "follow_up", "psychiatric_consultation", "case_review", "follow_up", "other"] == [
        c.kind for c in episode.contacts
    ]
    assert 60 == episode.contacts[0].minutes
    assert dt.date(2026, 1, 20) == episode.recommendations[1].resolved_date
    assert dt.date(2026, 2, 23) == episode.relapse_prevention_plan_date
    assert ("housing", "unstable") == (episode.smi_events[3].kind, episode.smi_events[3].status)
    assert ["care_manager", "care_manager", "psychiatric_consultant", "care_manager", None, None] == [
        c.role for c in episode.contacts
    ]
    assert dt.date(2025, 12, 1) == episode.consent_date
    assert [("99492", dt.date(2025, 12, 31)), ("99484", dt.date(2026, 2, 27))] == [
        (b.code, b.date) for b in episode.billed_services
    ]


def test_full_episode_parses_from_json_text_and_bytes():
    """The same record given as JSON text or UTF-8 bytes gives an equal Episode."""
    expected = parse_episode(_rich())
    text = RICH.read_text(encoding="utf-8")

    assert expected == parse_episode(text)
    assert expected == parse_episode(text.encode("utf-8"))


def test_an_episode_instance_passes_through():
    """An Episode is returned as it is (no copy, no re-validation)."""
    episode = parse_episode(_base())

    assert episode is parse_episode(episode)


def test_date_objects_are_accepted():
    """Python ``date`` objects are accepted wherever an ISO date string is."""
    episode = parse_episode(_base(enrollment_date=dt.date(2026, 1, 5)))

    assert dt.date(2026, 1, 5) == episode.enrollment_date


def test_optional_lists_default_to_empty():
    """A minimal record has no assessments, contacts, recommendations, plan, consent, billed
    services or SMI events."""
    episode = parse_episode(_base())

    assert ([], [], [], None, None, [], []) == (
        episode.assessments,
        episode.contacts,
        episode.recommendations,
        episode.relapse_prevention_plan_date,
        episode.consent_date,
        episode.billed_services,
        episode.smi_events,
    )


def test_an_assessment_may_report_a_total_without_answers():
    """A reported total alone is a valid assessment (it is scored as a total only later)."""
    episode = parse_episode(_base(assessments=[{"measure": "phq9", "date": "2026-01-05", "total": 12}]))

    assert (None, 12) == (episode.assessments[0].answers, episode.assessments[0].total)


def test_the_model_is_frozen():
    """A parsed episode cannot be changed in place (facts are derived, never stored)."""
    episode = parse_episode(_base())

    with pytest.raises(ValueError, match="frozen"):
        episode.status = "discharged"  # type: ignore[misc]


# -- invalid records ---------------------------------------------------------------------------

# (record, field path, fragments that must appear: the bad value and what is allowed)
BAD_RECORDS = [
    pytest.param(
        _base(program="ccm"),
        "program",
        ["ccm", "allowed", "cocm", "smi"],
        id="unknown-program",
    ),
    pytest.param(
        _base(status="active"),
        "status",
        ["'active' (text)", "allowed", "active_treatment", "relapse_prevention_plan", "discharged", "inactive"],
        id="unknown-status",
    ),
    pytest.param(
        _base(
            assessments=[
                {"measure": "phq9", "date": "2026-01-05", "total": 3},
                {"measure": "phq9", "date": "2026-02-01T25:00:00", "total": 3},
            ]
        ),
        "assessments[1].date",
        ["2026-02-01T25:00:00", "YYYY-MM-DD", "date-time"],
        id="date-time-with-hour-25",
    ),
    pytest.param(
        _base(
            assessments=[
                {"measure": "phq9", "date": "2026-01-05", "total": 3},
                {"measure": "phq9", "date": "2026-13-01", "total": 3},
            ]
        ),
        "assessments[1].date",
        ["2026-13-01", "YYYY-MM-DD"],
        id="month-13",
    ),
    pytest.param(
        _base(enrollment_date="11/02/2026"),
        "enrollment_date",
        ["11/02/2026", "YYYY-MM-DD"],
        id="us-style-date",
    ),
    pytest.param(
        _base(relapse_prevention_plan_date=20260201),
        "relapse_prevention_plan_date",
        ["20260201 (number)", "YYYY-MM-DD"],
        id="date-as-a-number",
    ),
    pytest.param(
        _base(contacts=[{"date": "2026-01-05", "kind": "visit"}]),
        "contacts[0].kind",
        ["visit", "allowed", "initial_assessment", "follow_up", "psychiatric_consultation", "case_review", "other"],
        id="unknown-contact-kind",
    ),
    pytest.param(
        _base(contacts=[{"date": "2026-01-05", "kind": "follow_up", "minutes": -5}]),
        "contacts[0].minutes",
        ["-5", "greater than or equal to 0"],
        id="negative-minutes",
    ),
    pytest.param(
        _base(contacts=[{"date": "2026-01-05", "kind": "follow_up", "minutes": 20, "role": "care manager"}]),
        "contacts[0].role",
        ["'care manager'", "care_manager, psychiatric_consultant, pcp, other", "did you mean 'care_manager'?"],
        id="unknown-contact-role",
    ),
    pytest.param(
        _base(consent_date="yes"),
        "consent_date",
        ["'yes'", "YYYY-MM-DD"],
        id="consent-date-not-a-date",
    ),
    pytest.param(
        _base(billed_services=[{"code": "99484", "date": "2026-01-31"}, {"code": "994", "date": "2026-01-31"}]),
        "billed_services[1].code",
        ["'994' (text)", "CPT or HCPCS code", "5 digits or capital letters"],
        id="billed-code-not-a-cpt-code",
    ),
    pytest.param(
        _base(billed_services=[{"code": "99484"}]),
        "billed_services[0].date",
        ["is required"],
        id="billed-service-without-a-date",
    ),
    pytest.param(
        _base(assessments=[{"measure": "phq9", "date": "2026-01-05"}]),
        "assessments[0]",
        ["'answers'", "'total'"],
        id="assessment-without-answers-or-total",
    ),
    pytest.param(
        _base(program="smi", smi_events=[{"date": "2026-01-05", "kind": "housing"}]),
        "smi_events[0]",
        ["housing", "null", "stable, unstable, homeless"],
        id="housing-without-status",
    ),
    pytest.param(
        _base(program="smi", smi_events=[{"date": "2026-01-05", "kind": "housing", "status": "employed"}]),
        "smi_events[0]",
        ["'employed'", "stable, unstable, homeless"],
        id="housing-with-an-employment-status",
    ),
    pytest.param(
        _base(program="smi", smi_events=[{"date": "2026-01-05", "kind": "hospitalization", "status": "stable"}]),
        "smi_events[0]",
        ["hospitalization", "has no status"],
        id="hospitalization-with-a-status",
    ),
    pytest.param(
        _base(patient_id=""),
        "patient_id",
        ["''", "at least 1 character"],
        id="empty-patient-id",
    ),
]


@pytest.mark.parametrize(("record", "path", "fragments"), BAD_RECORDS)
def test_bad_record_names_the_record_field_value_and_what_is_allowed(record, path, fragments):
    """Each bad record raises InvalidInput (a ValueError) whose message names the record (by
    ``record_ref``), the field path, the bad value and what is allowed."""
    error = _error(record, record_ref="line 7")
    message = str(error)

    assert isinstance(error, ValueError)
    assert message.startswith("record line 7: ")
    assert f"{path}: " in message
    for fragment in fragments:
        assert fragment in message
    assert path == error.field


def test_without_record_ref_the_record_is_named_by_its_patient_id():
    """With no ``record_ref``, the message names the record as ``patient 'p1'``."""
    error = _error(_base(status="active"))

    assert "patient 'p1'" == error.record
    assert str(error).startswith("record patient 'p1': status: ")


def test_record_ref_wins_over_the_patient_id():
    """A given ``record_ref`` names the record even when a patient id is present."""
    error = _error(_base(status="active"), record_ref="#12")

    assert "#12" == error.record
    assert "patient 'p1'" not in str(error)


def test_missing_patient_id_is_reported():
    """A record without ``patient_id`` says the field is required, naming the record by its
    ``record_ref`` (there is no patient id to name it by)."""
    record = _base()
    del record["patient_id"]

    error = _error(record, record_ref="line 3")

    assert "record line 3: patient_id: is required" == str(error)
    assert "patient_id" == error.field


def test_patient_id_of_the_wrong_type_is_reported():
    """A numeric patient id is refused (strict: no silent conversion) and the value shown."""
    error = _error(_base(patient_id=5), record_ref="line 1")

    assert "patient_id: " in str(error)
    assert "5 (number)" in str(error)


def test_unknown_top_level_field_is_reported():
    """An unknown top-level field is named, with the record, and refused."""
    error = _error(_base(diagnosis="F32.1"))

    assert str(error).startswith("record patient 'p1': diagnosis: ")
    assert "is not a known field" in str(error)
    assert "diagnosis" == error.field


def test_unknown_top_level_field_lists_the_known_fields():
    """The message for an unknown field says what is allowed: the known field names
    (STYLE.md: run-time errors name the record, field, value and what is allowed)."""
    error = _error(_base(enrolment_date="2026-01-05"))
    message = str(error)

    assert "enrolment_date" in message
    for known in ("patient_id", "program", "enrollment_date", "status", "assessments", "contacts", "smi_events"):
        assert known in message.split("enrolment_date", 1)[1]


@pytest.mark.parametrize("text", ["20260105", "2026-W02-1"])
def test_only_extended_calendar_dates_are_accepted(text):
    """Dates must be ``YYYY-MM-DD`` as the schema (``format: date``, RFC 3339 full-date) and
    the error message promise; Python 3.11's ``date.fromisoformat`` would also accept the ISO
    basic (``20260105``) and week (``2026-W02-1``) forms, which must be refused."""
    error = _error(_base(enrollment_date=text))

    assert "enrollment_date" == error.field
    assert text in str(error)


def test_every_problem_in_one_record_is_listed():
    """Several problems in one record are all listed in one message."""
    record = _base(
        program="ccm",
        status="x",
        contacts=[{"date": "2026-01-05", "kind": "follow_up", "minutes": -1}],
        assessments=[{"measure": "phq9", "date": "2026-02-30", "total": 3}],
    )

    message = str(_error(record))

    for path in ("program: ", "status: ", "contacts[0].minutes: ", "assessments[0].date: "):
        assert path in message
    assert "ccm" in message
    assert "2026-02-30" in message


def test_non_json_text_is_reported_with_the_record():
    """Text that is not JSON raises InvalidInput naming the record and the JSON error position
    (read by the strict reader, so no foreign exception is kept as the cause)."""
    error = _error('{"patient_id": "p1", ', record_ref="line 4")

    assert str(error).startswith("record line 4: not valid JSON (")
    assert "line 1 column" in str(error)
    assert None is error.__cause__


def test_non_json_bytes_are_reported():
    """Bytes that are not JSON are refused like text."""
    error = _error(b"\x7bnot json")

    assert str(error).startswith("not valid JSON (")


@pytest.mark.parametrize("record", ["[1, 2]", "null", "42", [1, 2]])
def test_a_record_must_be_an_object(record):
    """A JSON value that is not an object (list, null, number) is refused, showing the value."""
    error = _error(record, record_ref="line 2")

    assert str(error).startswith("record line 2: an episode must be a JSON object (got ")


def test_validation_errors_are_chained():
    """The pydantic error is kept as the cause, and no pydantic exception escapes."""
    error = _error(_base(status="x"))

    assert "ValidationError" == type(error.__cause__).__name__


# -- the JSON Schema -----------------------------------------------------------------------------


def test_json_schema_describes_an_episode():
    """The schema is a JSON Schema object document with ``$schema``, a title, the core
    properties and the required fields, and it survives a JSON round trip."""
    schema = episode_json_schema()

    assert "https://json-schema.org/draft/2020-12/schema" == schema["$schema"]
    assert "object" == schema["type"]
    assert schema["title"]
    assert {"patient_id", "program", "status", "assessments"} <= set(schema["properties"])
    assert {"patient_id", "program", "enrollment_date", "status"} <= set(schema["required"])
    assert False is schema["additionalProperties"]
    assert schema == json.loads(json.dumps(schema))


def test_json_schema_lists_every_episode_property():
    """Every field of Episode appears in the schema's properties, and every field of the nested
    models appears in its definition."""
    schema = episode_json_schema()

    assert set(Episode.model_fields) == set(schema["properties"])
    for model in (Assessment, BilledService, Contact, Recommendation, SmiEvent):
        assert set(model.model_fields) == set(schema["$defs"][model.__name__]["properties"])


def test_json_schema_closed_vocabularies_match_the_model():
    """The enumerations in the schema are the values the parser accepts."""
    schema = episode_json_schema()

    assert ["cocm", "smi"] == schema["properties"]["program"]["enum"]
    assert ["active_treatment", "relapse_prevention_plan", "discharged", "inactive"] == schema["properties"]["status"][
        "enum"
    ]
    assert "date" == schema["properties"]["enrollment_date"]["anyOf"][0]["format"]  # or a date-time (issue 11)
    assert ["initial_assessment", "follow_up", "psychiatric_consultation", "case_review", "other"] == schema["$defs"][
        "Contact"
    ]["properties"]["kind"]["enum"]
    assert ["care_manager", "psychiatric_consultant", "pcp", "other"] == schema["$defs"]["Contact"]["properties"][
        "role"
    ]["anyOf"][0]["enum"]


@pytest.mark.parametrize(
    "text",
    [
        "0",  # pydantic's own date parser reads these digits as a Unix time: 1970-01-01
        "1767225600",  # ... and this as 2026-01-01
        "2026-01-05T24:00:00",
        "2026-01-05T10:30:00+5",
        "2026-01-05Z",
        "2026-W01-1",  # an ISO week date, which date.fromisoformat accepts
        "20260105",
        "２０２６-01-05",  # full-width digits
        "2026-02-30",
        " 2026-01-05",
    ],
)
def test_json_text_and_mapping_refuse_the_same_dates(text: str) -> None:
    """A record given as JSON text takes a faster path for dates; it refuses exactly what the
    mapping path refuses, with the same message."""
    record = _base(enrollment_date=text)
    from_mapping = _error(record)
    from_text = _error(json.dumps(record))

    assert "enrollment_date" == from_text.field
    assert str(from_mapping) == str(from_text)


def test_json_text_and_mapping_read_a_date_alike() -> None:
    """Both paths give the same date objects."""
    record = _base(enrollment_date="2024-02-29", assessments=[{"measure": "phq9", "date": "2026-01-05", "total": 3}])

    assert parse_episode(record) == parse_episode(json.dumps(record))
    assert dt.date(2024, 2, 29) == parse_episode(json.dumps(record)).enrollment_date


@pytest.mark.parametrize("text", ['"p6"', "[1, 2]", "12", "null"])
def test_json_text_that_is_not_an_object_says_so(text: str) -> None:
    """Valid JSON that is not an object is refused as such (a JSON string is not read again
    as JSON text)."""
    error = _error(text, record_ref="4")

    assert "record 4: an episode must be a JSON object" in str(error)


# -- patient ids, text that is not UTF-8, records nested too deeply ---------------------------


@pytest.mark.parametrize(
    ("pid", "problem"),
    [
        ("p\x00", "must not hold control characters (such as NUL, a tab or a line break) or lone surrogates"),
        ("a\nb", "must not hold control characters (such as NUL, a tab or a line break) or lone surrogates"),
        ("p\x85", "must not hold control characters (such as NUL, a tab or a line break) or lone surrogates"),
        ("   ", "must not be blank"),
    ],
)
@pytest.mark.parametrize("as_text", [False, True])
def test_a_patient_id_with_control_characters_or_blank_is_refused(pid: str, problem: str, as_text: bool) -> None:
    """A patient id with NUL or other control characters, or only whitespace, is refused
    (from a mapping and from JSON text alike), naming the field and the value."""
    record = _base(patient_id=pid)
    error = _error(json.dumps(record) if as_text else record, record_ref="3")

    assert ("patient_id", f"record 3: patient_id: {problem} (got {pid!r} (text))") == (error.field, str(error))


def test_a_patient_id_with_a_lone_surrogate_is_refused() -> None:
    """A patient id holding a lone surrogate is refused, and the message can be written out as
    UTF-8: in JSON text (``\\ud800``) by the strict JSON reader, from a mapping by the model."""
    from_text = _error('{"patient_id": "S\\ud800", "program": "cocm"}', record_ref="0")
    from_mapping = _error(_base(patient_id="S\ud800"), record_ref="0")

    assert str(from_text).startswith("record 0: not valid JSON (a \\u escape is a lone surrogate")
    assert "patient_id" == from_mapping.field
    assert str(from_mapping).startswith("record 0: patient_id: is not valid Unicode text: it holds a lone surrogate")
    for error in (from_text, from_mapping):
        assert str(error) == str(error).encode("utf-8").decode("utf-8")


def test_bytes_that_are_not_utf8_are_reported() -> None:
    """JSON bytes that are not UTF-8 raise InvalidInput naming the record and the byte."""
    error = _error(b'{"patient_id": "caf\xe9"}', record_ref="4")

    expected = "record 4: line 1: not valid UTF-8 (byte 0xe9 at byte 20 of the line); the input must be UTF-8 text"
    assert expected == str(error)


def test_json_text_nested_too_deeply_is_reported() -> None:
    """JSON text nested thousands of levels deep raises InvalidInput, not RecursionError."""
    deep = '{"a": ' * 3000 + "{}" + "}" * 3000
    error = _error(json.dumps(_base(sex=0)).replace('"sex": 0', '"sex": ' + deep), record_ref="5")

    expected = (
        "record 5: not valid JSON: nested too deeply (objects and lists may be nested a few hundred levels at most)"
    )
    assert expected == str(error)


@pytest.mark.parametrize(
    ("field", "logged"),
    [
        (None, None),
        ("status", "status"),
        ("assessments[0].answers", "assessments[0].answers"),
        ("Jane Doe MRN12345 says she wants to die", "<unknown field>"),
        ("contacts[2].Jane Doe. MRN [12]", "contacts[2].<unknown field>"),
        ("smi_events[1].status.x[3]", "smi_events[1].status.<unknown field>"),
        ("status[123456]", "status.<unknown field>"),
        ("assessments[0][1]", "assessments[0].<unknown field>"),
    ],
)
def test_loggable_field_keeps_schema_names_and_indices_only(field: str | None, logged: str | None) -> None:
    """A field path for a log keeps episode field names and list indices; any other name is
    replaced by a placeholder."""
    from cocm_rules.episode import loggable_field

    assert logged == loggable_field(field)


# -- repeated keys in JSON text (issue 11) -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "key"),
    [
        (
            '{"patient_id": "p1", "program": "cocm", "enrollment_date": "2026-01-05", "status": "active_treatment",'
            ' "assessments": [{"measure": "phq9", "date": "2026-01-05", "answers": {"item9": 3, "item9": 0}}]}',
            "assessments[0].answers",
            "item9",
        ),
        (
            '{"patient_id": "p1", "program": "cocm", "enrollment_date": "2026-01-05", "status": "active_treatment",'
            ' "assessments": [{"measure": "phq9", "date": "2026-01-05", "answers": [0, 0, 0, 0, 0, 0, 0, 0, 3],'
            ' "answers": [0, 0, 0, 0, 0, 0, 0, 0, 0]}]}',
            "assessments[0]",
            "answers",
        ),
        (
            '{"patient_id": "p1", "program": "cocm", "enrollment_date": "2026-01-05", "status": "active_treatment",'
            ' "assessments": [{"measure": "phq9", "date": "2026-01-05", "answers": [0, 0, 0, 0, 0, 0, 0, 0, 3]}],'
            ' "assessments": []}',
            None,
            "assessments",
        ),
    ],
    ids=["item9-in-an-answer-mapping", "answers-of-one-assessment", "assessments"],
)
def test_json_text_with_a_repeated_key_is_refused(text: str, path: str | None, key: str) -> None:
    """A repeated key at any depth would let the last value win and hide a positive item 9: the
    record is refused, naming the record (its patient id when no ref is given), the path of the
    object and the key."""
    error = _error(text)

    assert (path, "patient 'p1'") == (error.field, error.record)
    assert f"the key {key!r} appears more than once" in str(error)


def test_a_repeated_patient_id_is_refused_and_not_used_to_name_the_record() -> None:
    """Two patient ids in one record: refused, and the record is named by its ref only (which of
    the two ids is the patient's would be a guess)."""
    text = '{"patient_id": "p1", "patient_id": "p2", "program": "cocm"}'

    assert "record 3: the key 'patient_id' appears more than once in the top-level object" in str(
        _error(text, record_ref="3")
    )
    assert None is _error(text).record


# -- dates with times and offsets (issue 11) ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01T10:30:00Z", dt.date(2026, 11, 1)),
        ("2026-11-02T23:30:00-05:00", dt.date(2026, 11, 2)),  # 04:30 UTC on 3 November: not shifted
        ("2026-11-02T00:15:00+14:00", dt.date(2026, 11, 2)),
        ("2026-11-02T10:30", dt.date(2026, 11, 2)),
        ("2026-11-02 10:30:15.123456", dt.date(2026, 11, 2)),
        ("2026-11-02t23:59:60z", dt.date(2026, 11, 2)),  # RFC 3339 lower case, a leap second
    ],
)
@pytest.mark.parametrize("as_text", [False, True])
def test_a_date_time_means_its_calendar_date_as_written(text: str, expected: dt.date, as_text: bool) -> None:
    """Every date field accepts a date-time and keeps its calendar date as written (no time-zone
    shift), from a mapping and from JSON text alike."""
    record = _base(
        enrollment_date=text,
        relapse_prevention_plan_date=text,
        assessments=[{"measure": "phq9", "date": text, "total": 3}],
        contacts=[{"date": text, "kind": "follow_up"}],
        recommendations=[{"date": text, "status": "implemented", "resolved_date": text}],
        smi_events=[{"date": text, "kind": "ed_visit"}],
    )

    episode = parse_episode(json.dumps(record) if as_text else record)

    dates = [
        episode.enrollment_date,
        episode.relapse_prevention_plan_date,
        episode.assessments[0].date,
        episode.contacts[0].date,
        episode.recommendations[0].date,
        episode.recommendations[0].resolved_date,
        episode.smi_events[0].date,
    ]
    assert [expected] * 7 == dates


def test_a_datetime_object_gives_its_own_date() -> None:
    """A ``datetime`` from Python follows the same rule: its own calendar date, unshifted."""
    moment = dt.datetime(2026, 11, 2, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))

    assert dt.date(2026, 11, 2) == parse_episode(_base(enrollment_date=moment)).enrollment_date


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-02T23:30:00-05:00",
        "2026-11-02T04:30:00Z",
        "2026-11-02",
        "2024-02-29T12:00:00+01:00",
    ],
)
def test_episode_and_fhir_readers_take_the_same_date(text: str) -> None:
    """The episode reader and the FHIR reader read a date-time to the same calendar date."""
    from cocm_rules.fhir._common import Where, to_date

    assert to_date(text, Where("x"), "authored") == parse_episode(_base(enrollment_date=text)).enrollment_date


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2026-11-02T25:00:00Z", "expected a date (YYYY-MM-DD) or a date-time"),
        ("2026-11-02T10:30:00+5", "expected a date (YYYY-MM-DD) or a date-time"),
        ("2026-11-02Tnoon", "expected a date (YYYY-MM-DD) or a date-time"),
        ("2026-02-30T10:00:00Z", "is not a real date"),
        ("2026-11", "is not a full date"),
    ],
)
def test_a_malformed_date_time_is_refused_naming_the_field(text: str, fragment: str) -> None:
    """A date-time that is not one of the accepted forms, or whose date is not real, is refused,
    naming the field and the value, with one message (not one per way a date may be read)."""
    error = _error(_base(assessments=[{"measure": "phq9", "date": text, "total": 3}]))

    assert "assessments[0].date" == error.field
    assert 1 == str(error).count("assessments[0].date: ")
    assert fragment in str(error)
    assert repr(text) in str(error)


def test_the_json_schema_states_the_date_rule() -> None:
    """The schema of a date field accepts a date or a date-time and says which date a
    date-time means."""
    date = episode_json_schema()["$defs"]["Assessment"]["properties"]["date"]

    assert "date" == date["anyOf"][0]["format"]
    assert "calendar date as written" in date["anyOf"][1]["description"]


# -- measure ids as hosts write them (issue 11) ------------------------------------------------


@pytest.mark.parametrize(
    ("written", "measure"),
    [
        ("PHQ-9", "phq9"),
        ("PHQ9", "phq9"),
        ("phq-9", "phq9"),
        ("Phq 9", "phq9"),
        ("44249-1", "phq9"),  # the PHQ-9 LOINC panel code
        ("GAD7", "gad7"),
        ("audit-c", "auditc"),
        ("PHQ-9M", "phqa"),
        ("C-SSRS screener", "cssrs_screener"),
        ("55757-9", "phq2"),  # a panel code of status 'secondary' counts too
    ],
)
@pytest.mark.parametrize("as_text", [False, True])
def test_a_measure_alias_becomes_the_measure_id(written: str, measure: str, as_text: bool) -> None:
    """A measure id written as hosts write it is read as the measure's id when the episode is
    parsed, so facts, metrics and outputs all see the id."""
    record = _base(assessments=[{"measure": written, "date": "2026-01-05", "total": 3}])

    episode = parse_episode(json.dumps(record) if as_text else record)

    assert measure == episode.assessments[0].measure


def test_an_unrecognized_measure_id_is_kept_as_written() -> None:
    """An id no measure declares is kept as sent (the facts then fail closed and name it)."""
    episode = parse_episode(_base(assessments=[{"measure": "PHQ-9x", "date": "2026-01-05", "total": 3}]))

    assert "PHQ-9x" == episode.assessments[0].measure


def test_a_fhir_observation_of_a_reported_total_does_not_claim_there_were_no_items() -> None:
    """A total reported beside item 9 is written to FHIR as reported, not recomputed, without
    saying that no item was sent (item 9 is one of its components)."""
    from cocm_rules import fhir, score

    observation = fhir.score_to_observation(score("phq9", {"item9": 0}, reported_total=18), "Patient/p", "2026-11-03")

    assert observation["method"]["text"].endswith("total reported by the source, not recomputed from item answers")
    item9 = next(c for c in observation["component"] if c["code"]["coding"][0]["code"] == "44260-8")
    assert "LA6568-5" == item9["valueCodeableConcept"]["coding"][0]["code"]  # 0 = not at all
