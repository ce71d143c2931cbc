"""Tests for batch input and output: reading caseload files and streams, writing JSON Lines."""

from __future__ import annotations

import datetime as dt
import io
import json
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
    path.write_text(json.dumps({"generated": "2026-02-01", "patients": [P1, P2]}), encoding="utf-8")

    assert [P1, P2] == list(read_records(path))


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
    assert 1 == error.record
    assert "error" == error.kind
    assert error.error.startswith("line 2: not valid JSON (")


def test_jsonl_blank_lines_are_skipped_without_shifting_indices(tmp_path):
    """Blank lines are not records: a bad line after blank lines still gets the index of its
    record (not of its line), while its message gives the line number in the file."""
    path = tmp_path / "caseload.ndjson"
    path.write_text(json.dumps(P1) + "\n\n   \n" + "not json\n" + json.dumps(P2) + "\n", encoding="utf-8")

    records = list(read_records(path))

    assert [P1, P2] == [records[0], records[2]]
    assert 1 == records[1].record
    assert records[1].error.startswith("line 4: ")


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
    they yield when parsed first: same indices, patient ids, fields and messages (a line that
    is not JSON still names its line in the file)."""
    from cocm_rules import Engine

    path = tmp_path / "caseload.jsonl"
    path.write_text(_mixed_jsonl(), encoding="utf-8")
    engine = Engine.load()
    as_of = dt.date(2026, 2, 10)

    parsed = list(engine.evaluate_many(read_records(path), as_of))
    as_text = list(engine.evaluate_many(read_records(path, lines_as_text=True), as_of))

    assert [r.model_dump() for r in parsed] == [r.model_dump() for r in as_text]
    assert ["result", "error", "error", "error", "error", "result"] == [r.kind for r in as_text]
    assert as_text[1].error.startswith("line 3: not valid JSON (")
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
