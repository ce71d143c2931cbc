"""Tests for batch input and output: reading caseload files and streams, writing JSON Lines."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

from cocm_rules import InvalidInput, PatientResult, RecordError
from cocm_rules.batch import read_records, write_jsonl


def _patient(pid: str) -> dict[str, Any]:
    return {"patient_id": pid, "program": "cocm", "enrollment_date": "2026-01-05", "status": "active_treatment"}


P1, P2, P3 = _patient("p1"), _patient("p2"), _patient("p3")


def test_json_file_with_a_list(tmp_path):
    """A .json file holding a list yields each element in order."""
    path = tmp_path / "caseload.json"
    path.write_text(json.dumps([P1, P2, P3]), encoding="utf-8")

    assert [P1, P2, P3] == list(read_records(path))


def test_json_file_with_one_object(tmp_path):
    """A .json file holding one object yields that one record (path given as text)."""
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(P1, indent=2), encoding="utf-8")

    assert [P1] == list(read_records(str(path)))


def test_json_file_with_a_patients_key(tmp_path):
    """A .json file of the form ``{"patients": [...]}`` yields the patients."""
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"patients": [P1, P2]}), encoding="utf-8")

    assert [P1, P2] == list(read_records(path))


@pytest.mark.parametrize(
    "record",
    [dict(P1, patients=[]), dict(P1, patients=[P2]), {"generated": "2026-02-01", "patients": [P1, P2]}],
)
def test_an_object_with_patients_and_other_keys_is_one_record(tmp_path, record):
    """Only an object whose one key is ``patients`` is a wrapper: an episode that also has a
    ``patients`` key is one record (not dropped as an empty wrapper), which the engine then
    refuses for its unknown field."""
    from cocm_rules import Engine

    path = tmp_path / "patient.json"
    path.write_text(json.dumps(record), encoding="utf-8")

    records = list(read_records(path))
    out = list(Engine.load().evaluate_many(records, dt.date(2026, 2, 10)))

    assert [record] == records
    assert [("error", True)] == [(r.kind, "patients: is not a known field" in r.error) for r in out]


def test_json_file_with_an_empty_list(tmp_path):
    """An empty caseload yields nothing."""
    path = tmp_path / "empty.json"
    path.write_text("[]", encoding="utf-8")

    assert [] == list(read_records(path))


def test_jsonl_bad_line_becomes_a_record_error_in_its_place(tmp_path):
    """In a .jsonl file, a line that is not JSON becomes a RecordError at its position (record
    index and line number), and the records around it are intact with the right indices."""
    path = tmp_path / "caseload.jsonl"
    lines = [json.dumps(P1), '{"patient_id": "p2", "program": ', json.dumps(P3)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    records = list(read_records(path))

    assert 3 == len(records)
    assert P1 == records[0]
    assert P3 == records[2]
    error = records[1]
    assert isinstance(error, RecordError)
    assert (1, 2) == (error.record, error.line)
    assert "error" == error.kind
    assert error.error.startswith("not valid JSON (")  # record and line are fields, not a prefix (issue 11)
    assert str(error).startswith("record 1 (line 2): not valid JSON (")


def test_jsonl_blank_lines_are_skipped_without_shifting_indices(tmp_path):
    """Blank lines are not records: a bad line after blank lines still gets the index of its
    record (not of its line), while its ``line`` is its line number in the file."""
    path = tmp_path / "caseload.ndjson"
    path.write_text(json.dumps(P1) + "\n\n   \n" + "not json\n" + json.dumps(P2) + "\n", encoding="utf-8")

    records = list(read_records(path))

    assert [P1, P2] == [records[0], records[2]]
    assert (1, 4) == (records[1].record, records[1].line)


def test_a_text_stream_is_read_as_json_lines():
    """A text stream is read as JSON Lines, with bad lines as RecordError."""
    stream = io.StringIO(json.dumps(P1) + "\n[oops\n" + json.dumps(P2) + "\n")

    records = list(read_records(stream))

    assert [P1, P2] == [records[0], records[2]]
    assert isinstance(records[1], RecordError)
    assert 1 == records[1].record


def test_dash_reads_standard_input(monkeypatch):
    """``-`` reads JSON Lines from standard input."""
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(P1) + "\n" + json.dumps(P2) + "\n"))

    assert [P1, P2] == list(read_records("-"))


def test_a_missing_file_raises_invalid_input(tmp_path):
    """A caseload file that cannot be opened raises InvalidInput naming the path."""
    path = tmp_path / "nope.json"

    with pytest.raises(InvalidInput) as info:
        list(read_records(path))

    assert str(path) == info.value.field
    assert "cannot read the caseload" in str(info.value)


def test_a_json_file_that_is_not_json_raises_invalid_input(tmp_path):
    """A .json file that is not valid JSON cannot be split into records: InvalidInput names
    the file and the position."""
    path = tmp_path / "broken.json"
    path.write_text('[{"patient_id": "p1"},\n', encoding="utf-8")

    with pytest.raises(InvalidInput) as info:
        list(read_records(path))

    assert str(path) == info.value.field
    assert "not valid JSON" in str(info.value)
    assert "line 2" in str(info.value)


def test_write_jsonl_writes_one_line_per_result():
    """Each result or error record is one JSON line; the count written is returned."""
    results = [
        PatientResult(record=0, patient_id="p1", as_of=dt.date(2026, 2, 1), alerts=[]),
        RecordError(record=1, patient_id="p2", field="status", error="status: x is not allowed"),
        RecordError(record=2, error="line 3: not valid JSON"),
    ]
    out = io.StringIO()

    written = write_jsonl(results, out)

    text = out.getvalue()
    assert 3 == written
    assert text.endswith("\n")
    lines = text.splitlines()
    assert 3 == len(lines)
    parsed = [json.loads(line) for line in lines]
    assert [("result", 0), ("error", 1), ("error", 2)] == [(p["kind"], p["record"]) for p in parsed]
    assert {"kind": "result", "record": 0, "patient_id": "p1", "as_of": "2026-02-01", "alerts": []} == parsed[0]
    assert "status" == parsed[1]["field"]
    assert None is parsed[2]["patient_id"]


def test_write_jsonl_of_nothing_writes_nothing():
    """No results write no lines."""
    out = io.StringIO()

    assert 0 == write_jsonl([], out)
    assert "" == out.getvalue()


def test_read_then_write_round_trip(tmp_path):
    """Every input record yields exactly one output line, in order, bad lines included."""
    path = tmp_path / "caseload.jsonl"
    path.write_text(json.dumps(P1) + "\n{\n" + json.dumps(P2) + "\n", encoding="utf-8")
    as_of = dt.date(2026, 2, 1)

    outputs = [
        r if isinstance(r, RecordError) else PatientResult(record=i, patient_id=r["patient_id"], as_of=as_of, alerts=[])
        for i, r in enumerate(read_records(path))
    ]
    out = io.StringIO()
    write_jsonl(outputs, out)

    assert [0, 1, 2] == [json.loads(line)["record"] for line in out.getvalue().splitlines()]


# -- JSON Lines read as text --------------------------------------------------------------------


def _mixed_jsonl() -> str:
    bad_status = dict(_patient("p4"), status="active")
    later = dict(_patient("p5"), assessments=[{"measure": "phq9", "date": "2026-02-01", "answers": [0] * 8 + [2]}])
    lines = [json.dumps(P1), "", "not json", json.dumps(bad_status), "[1, 2]", "12", json.dumps(later)]
    return "\n".join(lines) + "\n"


def test_lines_as_text_give_the_same_results_and_errors_as_parsed_lines(tmp_path):
    """Read as text (the fast path), JSON Lines yield exactly the results and error records
    they yield when parsed first: same indices, line numbers, patient ids, fields and messages."""
    from cocm_rules import Engine

    path = tmp_path / "caseload.jsonl"
    path.write_text(_mixed_jsonl(), encoding="utf-8")
    engine = Engine.load()
    as_of = dt.date(2026, 2, 10)

    parsed = list(engine.evaluate_many(read_records(path), as_of))
    as_text = list(engine.evaluate_many(read_records(path, lines_as_text=True), as_of))

    assert [r.model_dump() for r in parsed] == [r.model_dump() for r in as_text]
    assert ["result", "error", "error", "error", "error", "result"] == [r.kind for r in as_text]
    assert (3, "not valid JSON (") == (as_text[1].line, as_text[1].error[:16])
    assert [3, 4, 5, 6] == [r.line for r in parsed if isinstance(r, RecordError)]  # on both paths
    assert "p4" == as_text[2].patient_id
    assert "status" == as_text[2].field
    assert "suicide-phq9-item9" in [a.rule_id for a in as_text[5].alerts]


@pytest.mark.parametrize("lines_as_text", [False, True])
def test_a_json_lines_string_is_not_read_twice(lines_as_text):
    """A line holding a JSON string is refused as not an object (its content is not decoded
    again as if it were the record's JSON text)."""
    from cocm_rules.engine import iter_episodes

    stream = io.StringIO(json.dumps(P1) + "\n" + json.dumps(json.dumps(P2)) + "\n")
    items = [item for _, item in iter_episodes(read_records(stream, lines_as_text=lines_as_text))]

    assert "p1" == items[0].patient_id
    assert isinstance(items[1], RecordError)
    assert "an episode must be a JSON object" in items[1].error


def test_lines_as_text_are_json_lines_with_their_line_numbers():
    """Each record is its line's text, stripped, with the line number in the file."""
    records = list(read_records(io.StringIO(_mixed_jsonl()), lines_as_text=True))

    assert [json.dumps(P1), "not json"] == records[:2]
    assert [1, 3] == [r.lineno for r in records[:2]]


def test_review_and_caseload_metrics_read_lines_as_text_alike(tmp_path):
    """The review list and the caseload metrics give the same answer from text lines."""
    from cocm_rules import Engine
    from cocm_rules.caseload import caseload_metrics
    from cocm_rules.review import review_list

    path = tmp_path / "caseload.jsonl"
    path.write_text(_mixed_jsonl(), encoding="utf-8")
    engine = Engine.load()
    as_of = dt.date(2026, 2, 10)

    assert review_list(engine, read_records(path), as_of) == review_list(
        engine, read_records(path, lines_as_text=True), as_of
    )
    assert caseload_metrics(read_records(path), as_of) == caseload_metrics(
        read_records(path, lines_as_text=True), as_of
    )


# -- bytes that are not UTF-8, byte order marks, records nested too deeply ---------------------

NOT_UTF8 = b'{"patient_id": "caf\xe9"}'


@pytest.mark.parametrize("lines_as_text", [False, True])
def test_a_jsonl_line_that_is_not_utf8_is_an_error_record_in_its_place(tmp_path, lines_as_text):
    """A JSON Lines line with bytes that are not UTF-8 becomes an error record naming its line
    and the byte; the lines after it are still read."""
    path = tmp_path / "caseload.jsonl"
    path.write_bytes(json.dumps(P1).encode() + b"\n" + NOT_UTF8 + b"\n" + json.dumps(P2).encode() + b"\n")

    records = list(read_records(path, lines_as_text=lines_as_text))

    assert [P1, P2] == [json.loads(r) if lines_as_text else r for r in (records[0], records[2])]
    expected = RecordError(
        record=1, line=2, error="not valid UTF-8 (byte 0xe9 at byte 20 of the line); the input must be UTF-8 text"
    )
    assert expected == records[1]


def test_standard_input_is_read_as_bytes_line_by_line(monkeypatch):
    """``-`` reads the bytes of standard input, so a line that is not UTF-8 is one error record."""

    class Stdin(io.StringIO):
        buffer = io.BytesIO(NOT_UTF8 + b"\n" + json.dumps(P1).encode() + b"\n")

    monkeypatch.setattr("sys.stdin", Stdin())
    records = list(read_records("-"))

    assert [(True, False), (False, True)] == [(isinstance(r, RecordError), isinstance(r, dict)) for r in records]
    assert (1, True) == (records[0].line, records[0].error.startswith("not valid UTF-8 (byte 0xe9 "))


def test_a_json_file_that_is_not_utf8_raises_invalid_input(tmp_path):
    """A .json file that is not UTF-8 raises InvalidInput naming the file, the line and the byte."""
    path = tmp_path / "caseload.json"
    path.write_bytes(b"[" + json.dumps(P1).encode() + b",\n" + NOT_UTF8 + b"]")

    with pytest.raises(InvalidInput) as info:
        list(read_records(path))

    assert str(path) == info.value.field
    expected = "line 2: not valid UTF-8 (byte 0xe9 at byte 20 of the line); the input must be UTF-8 text"
    assert expected == info.value.reason


@pytest.mark.parametrize("lines_as_text", [False, True])
@pytest.mark.parametrize("name", ["caseload.jsonl", "caseload.json"])
def test_a_byte_order_mark_is_skipped(tmp_path, name, lines_as_text):
    """A file that starts with a UTF-8 byte order mark is read as if it had none."""
    path = tmp_path / name
    text = "\n".join(json.dumps(p) for p in (P1, P2)) if name.endswith("l") else json.dumps([P1, P2])
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())

    records = list(read_records(path, lines_as_text=lines_as_text))

    assert [P1, P2] == [json.loads(r) if isinstance(r, str) else r for r in records]


def test_a_byte_order_mark_in_a_text_stream_is_skipped():
    """A text stream whose first line starts with a byte order mark reads that line as JSON."""
    records = list(read_records(io.StringIO("\ufeff" + json.dumps(P1) + "\n" + json.dumps(P2) + "\n")))

    assert [P1, P2] == records


def _deep(levels: int) -> str:
    return '{"a": ' * levels + "{}" + "}" * levels


@pytest.mark.parametrize("lines_as_text", [False, True])
def test_a_jsonl_record_nested_too_deeply_is_an_error_record(tmp_path, lines_as_text):
    """A line nested thousands of levels deep is an error record naming its line (on both read
    paths, through the engine), not a RecursionError that ends the batch."""
    from cocm_rules import Engine

    deep = json.dumps(dict(P2, assessments=[{"measure": "phq9", "date": "2026-01-05", "total": 1, "context": 0}]))
    deep = deep.replace('"context": 0', '"context": ' + _deep(3000))
    path = tmp_path / "caseload.jsonl"
    path.write_text("\n".join([json.dumps(P1), deep, json.dumps(P3)]) + "\n", encoding="utf-8")

    out = list(Engine.load().evaluate_many(read_records(path, lines_as_text=lines_as_text), dt.date(2026, 2, 10)))

    assert ["result", "error", "result"] == [r.kind for r in out]
    expected = "not valid JSON: nested too deeply (objects and lists may be nested a few hundred levels at most)"
    assert (expected, 2, None) == (out[1].error, out[1].line, out[1].patient_id)


def test_a_json_file_nested_too_deeply_raises_invalid_input(tmp_path):
    """A .json file nested too deeply to read raises InvalidInput naming the file."""
    path = tmp_path / "caseload.json"
    path.write_text("[" + _deep(3000) + "]", encoding="utf-8")

    with pytest.raises(InvalidInput) as info:
        list(read_records(path))

    assert (str(path), "not valid JSON: nested too deeply") == (info.value.field, info.value.reason.split(" (")[0])


def test_the_record_invalid_event_names_the_line_too(tmp_path):
    """From JSON Lines, the ``batch.record_invalid`` warning names the line as well as the
    record (blank lines make them differ), and still no value."""
    from structlog.testing import capture_logs

    from cocm_rules import Engine

    path = tmp_path / "caseload.jsonl"
    path.write_text(json.dumps(P1) + "\n\n" + json.dumps(dict(P2, status="SECRET")) + "\n", encoding="utf-8")
    with capture_logs() as logs:
        list(Engine.load().evaluate_many(read_records(path, lines_as_text=True), dt.date(2026, 2, 10)))

    invalid = [e for e in logs if e["event"] == "batch.record_invalid"]
    assert [{"event": "batch.record_invalid", "log_level": "warning", "record": 1, "line": 3, "field": "status"}] == (
        invalid
    )


# -- repeated keys and huge numbers (issue 11) ---------------------------------------------------

REPEATED_ITEM9 = (
    '{"patient_id": "p2", "program": "cocm", "enrollment_date": "2026-01-05", "status": "active_treatment", '
    '"assessments": [{"measure": "phq9", "date": "2026-02-01", "answers": {"item9": 3, "item9": 0}}]}'
)


@pytest.mark.parametrize("lines_as_text", [False, True])
def test_a_jsonl_line_with_a_repeated_key_is_an_error_record_naming_line_path_and_key(tmp_path, lines_as_text):
    """A line whose JSON repeats a key (here a positive item 9 followed by a 0) is one error
    record naming the line, the path and the key, with the patient id (given once); the lines
    around it are evaluated."""
    from cocm_rules import Engine

    path = tmp_path / "caseload.jsonl"
    path.write_text("\n".join([json.dumps(P1), REPEATED_ITEM9, json.dumps(P3)]) + "\n", encoding="utf-8")

    out = list(Engine.load().evaluate_many(read_records(path, lines_as_text=lines_as_text), dt.date(2026, 2, 10)))

    assert ["result", "error", "result"] == [r.kind for r in out]
    assert (1, 2, "p2", "assessments[0].answers") == (out[1].record, out[1].line, out[1].patient_id, out[1].field)
    assert out[1].error.startswith(
        "field 'assessments[0].answers': the key 'item9' appears more than once in one object"
    )


def test_a_json_file_record_with_a_repeated_key_is_an_error_record_in_its_place(tmp_path):
    """In a .json file, only the record that repeats a key is an error record (naming the
    record, the path and the key); the other records are read."""
    path = tmp_path / "caseload.json"
    path.write_text('{"patients": [' + json.dumps(P1) + ", " + REPEATED_ITEM9 + ", " + json.dumps(P3) + "]}")

    records = list(read_records(path))

    assert [P1, P3] == [records[0], records[2]]
    error = records[1]
    assert (1, None, "p2", "assessments[0].answers") == (error.record, error.line, error.patient_id, error.field)
    assert error.error.startswith("field 'assessments[0].answers': the key 'item9' appears more than once")


def test_a_json_file_whose_record_repeats_a_top_level_key_says_the_record(tmp_path):
    """A record of a .json list that repeats one of its own keys is an error record that says
    the key is repeated in the record."""
    path = tmp_path / "caseload.json"
    path.write_text('[{"patient_id": "a", "patient_id": "b"}, ' + json.dumps(P1) + "]")

    records = list(read_records(path))

    assert P1 == records[1]
    assert (None, None) == (records[0].patient_id, records[0].field)
    assert (0, "the key 'patient_id' appears more than once in the record") == (
        records[0].record,
        records[0].error.split(";")[0],
    )


def test_a_json_file_whose_wrapper_repeats_a_key_is_refused(tmp_path):
    """``{"patients": [...], "patients": [...]}`` cannot be split into records: refused whole,
    naming the file."""
    path = tmp_path / "caseload.json"
    path.write_text('{"patients": [' + json.dumps(P1) + '], "patients": []}')

    with pytest.raises(InvalidInput) as info:
        list(read_records(path))

    assert str(path) == info.value.field
    assert "the key 'patients' appears more than once in the top-level object" in str(info.value)


@pytest.mark.parametrize("lines_as_text", [False, True])
def test_an_integer_of_5000_digits_is_an_error_record_and_the_batch_goes_on(tmp_path, lines_as_text):
    """An integer too long for Python to read (4,301+ digits) anywhere in a line makes that
    line an error record; the batch is not lost."""
    from cocm_rules import Engine

    huge = json.dumps(dict(P2, care_manager=0)).replace('"care_manager": 0', '"care_manager": 1' + "0" * 5000)
    path = tmp_path / "caseload.jsonl"
    path.write_text("\n".join([json.dumps(P1), huge, json.dumps(P3)]) + "\n", encoding="utf-8")

    out = list(Engine.load().evaluate_many(read_records(path, lines_as_text=lines_as_text), dt.date(2026, 2, 10)))

    assert ["result", "error", "result"] == [r.kind for r in out]
    assert 2 == out[1].line
    assert out[1].error.startswith("not valid JSON (a number is too large (integers may have at most 4,300")
    assert len(out[1].error) < 200


def test_caseload_metrics_see_the_measure_id_of_an_alias():
    """Measure ids written as hosts write them are read as the ids before the metrics are
    computed: the same caseload with 'PHQ-9' and '44249-1' gives the same metrics."""
    from cocm_rules.caseload import caseload_metrics

    as_of = dt.date(2026, 11, 20)
    caseload = Path(__file__).resolve().parent.parent / "examples" / "caseload.jsonl"
    records = [json.loads(line) for line in caseload.read_text(encoding="utf-8").splitlines()[:40]]
    names = iter(["PHQ-9", "44249-1", "phq_9"] * 1000)
    written = [
        dict(r, assessments=[dict(a, measure=next(names)) if a["measure"] == "phq9" else a for a in r["assessments"]])
        for r in records
    ]

    assert caseload_metrics(records, as_of) == caseload_metrics(written, as_of)
    assert written != records
