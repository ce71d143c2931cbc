"""The cheap constructor of already-valid models builds what ``model_construct`` builds."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from cocm_rules._fast import fast_constructor
from cocm_rules.engine import PatientResult, RecordError


def _fields() -> dict:
    return {"kind": "result", "record": 3, "patient_id": "p3", "as_of": dt.date(2026, 2, 1), "alerts": []}


def test_fast_constructor_builds_what_model_construct_builds() -> None:
    build = fast_constructor(PatientResult, _fields())
    fast, slow = build(_fields()), PatientResult.model_construct(**_fields())

    assert slow == fast
    assert slow.model_dump() == fast.model_dump()
    assert slow.model_dump_json() == fast.model_dump_json()
    assert {"kind", "record", "patient_id", "as_of", "alerts"} == fast.model_fields_set


def test_a_sample_that_is_not_every_field_in_order_falls_back_to_model_construct() -> None:
    """A sample that leaves a field out cannot prove the shortcut: the public API is used."""
    partial = {"record": 1, "error": "bad"}
    build = fast_constructor(RecordError, partial)

    built = build(dict(partial))
    assert "error" == built.kind  # the default, filled in by model_construct
    assert RecordError.model_construct(**partial) == built


def test_fast_constructor_falls_back_when_pydantic_differs() -> None:
    """If building by hand fails for a model, the constructor is model_construct."""

    class Odd(BaseModel):
        x: int

        def __eq__(self, other: object) -> bool:  # never equal: the self-check cannot pass
            return False

        __hash__ = None  # type: ignore[assignment]

    build = fast_constructor(Odd, {"x": 1})
    assert 1 == build({"x": 1}).x
    assert build.__name__ == "<lambda>"
