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
