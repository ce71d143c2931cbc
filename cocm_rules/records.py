"""Input records and what comes out for each: a result, or an error record saying why.

A batch never drops a record: every input record yields exactly one :class:`PatientResult`
or :class:`RecordError`, in input order. This module reads a record into an episode (or the
error record that says why it is not one) and needs nothing of the engine: readers
(:mod:`cocm_rules.batch`, the Spark adapter) and reporters (the review list, the caseload
metrics, the command line) use it without evaluating anything.

JSON Lines records carry their line number (:class:`JsonLine` as text, :class:`JsonObject`
parsed), so an error record names the line a user can find and fix.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import _json
from ._fast import fast_constructor
from .alerts import Alert
from .episode import Episode, loggable_field, parse_episode, patient_id_of_pairs, patient_id_problem
from .errors import InvalidInput
from .light_episode import AnyEpisode, read_light
from .measures import MeasureLibrary

__all__ = [
    "JsonLine",
    "JsonObject",
    "PatientResult",
    "RecordError",
    "iter_episodes",
    "iter_light_episodes",
    "iter_records",
    "make_result",
    "parse_line",
    "refuse_one_record",
]


class PatientResult(BaseModel):
    """The alerts of one input record, in review order."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["result"] = "result"
    record: int = Field(description="0-based position of the record in the input")
    patient_id: str
    as_of: dt.date
    alerts: list[Alert]


make_result = fast_constructor(
    PatientResult, {"kind": "result", "record": 0, "patient_id": "p", "as_of": dt.date(2026, 1, 1), "alerts": []}
)


class RecordError(BaseModel):
    """An input record that could not be evaluated, and why (it is never dropped silently).

    ``error`` says why, and may quote the offending value: it belongs in the output, next to
    the results. ``str(error_record)`` adds where (``record 3 (line 5): ...``);
    :meth:`summary` says where without any value, for stderr and logs.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["error"] = "error"
    record: int = Field(description="0-based position of the record in the input (blank lines are not records)")
    line: int | None = Field(
        default=None, description="1-based line of the record in a JSON Lines input; null for other inputs"
    )
    patient_id: str | None = None
    field: str | None = None
    error: str

    def location(self) -> str:
        """Where the record is: ``record 3 (line 5)``, or ``record 3`` when no line is known."""
        return f"record {self.record}" + (f" (line {self.line})" if self.line is not None else "")

    def summary(self) -> str:
        """Where the record is and which field failed, without any input value (for stderr and
        logs): ``record 3 (line 5), field 'status'``. A field name the schema does not know (a
        key the sender made up, which may hold free text) reads ``<unknown field>``."""
        field = loggable_field(self.field)
        return self.location() + (f", field {field!r}" if field else "")

    def __str__(self) -> str:
        return f"{self.location()}: {self.error}"


def iter_records(
    records: Iterable[Any], library: MeasureLibrary | None = None
) -> Iterator[tuple[int, int | None, Episode | RecordError]]:
    """Read a stream of records lazily: each yields its index, its input line (for JSON Lines
    records, else None) and its Episode, or the RecordError that says why it is not one (a
    record is never dropped). Measure ids are read through ``library`` (the bundled measures
    by default; see :func:`~cocm_rules.parse_episode`).

    Raises TypeError for one record (a text, bytes, a mapping, an Episode) or a path given in
    place of an iterable of records.
    """
    return _iter_records(records, library, light=False)  # type: ignore[return-value]


def _iter_records(
    records: Iterable[Any], library: MeasureLibrary | None, *, light: bool
) -> Iterator[tuple[int, int | None, AnyEpisode | RecordError]]:
    """:func:`iter_records`; with ``light``, a record that comes as JSON text (a JSON Lines line
    included) is first offered to :func:`~cocm_rules.light_episode.read_light`."""
    refuse_one_record(records)
    for index, record in enumerate(records):
        if isinstance(record, RecordError):  # a reader already failed on this record
            yield index, record.line, record if record.record == index else record.model_copy(update={"record": index})
            continue
        line = record.lineno if isinstance(record, JsonLine | JsonObject) else None
        if light and isinstance(record, str | bytes):  # a JsonLine is a str
            fast = read_light(record, library)
            if fast is not None:
                yield index, line, fast
                continue  # else read as below: the Episode, or the error record
        if isinstance(record, JsonLine):
            value = parse_line(record, record.lineno, index)
            if isinstance(value, RecordError):
                yield index, line, value
                continue
            if not isinstance(value, dict):
                yield index, line, not_an_object(value, index, record.lineno)
                continue
            record = value
        try:
            yield index, line, parse_episode(record, record_ref=str(index), library=library)
        except InvalidInput as e:
            error = RecordError(
                record=index,
                line=line,
                patient_id=_patient_id(record),
                field=e.field,
                error=e.detail,  # the record and line are fields of their own
            )
            yield index, line, error


def iter_episodes(
    records: Iterable[Any], library: MeasureLibrary | None = None
) -> Iterator[tuple[int, Episode | RecordError]]:
    """:func:`iter_records` without the line numbers: each record's index and its Episode or
    RecordError."""
    for index, _line, item in iter_records(records, library):
        yield index, item


def iter_light_episodes(
    records: Iterable[Any], library: MeasureLibrary | None = None
) -> Iterator[tuple[int, AnyEpisode | RecordError]]:
    """:func:`iter_episodes` for the engine's batch path: a record that comes as JSON text and is
    plainly valid is read by :func:`~cocm_rules.light_episode.read_light` into a
    :class:`~cocm_rules.light_episode.LightEpisode` (the same values; any other record is read
    as :func:`iter_episodes` reads it, with the same errors)."""
    for index, _line, item in _iter_records(records, library, light=True):
        yield index, item


def refuse_one_record(records: Any) -> None:
    """Raise TypeError for one record (a text, bytes, a mapping, an Episode) or a path given in
    place of an iterable of records."""
    if isinstance(records, str | bytes | bytearray | Mapping | Episode | Path):
        raise TypeError(
            f"records must be an iterable of episode records (mappings, JSON texts or Episodes), "
            f"not one {type(records).__name__}: pass a list of records, or read_records(path) to read a file"
        )


class JsonLine(str):
    """One JSON Lines record, still as text, with its line number in the file.

    :func:`iter_records` parses it where it validates it and reports a
    line that is not JSON (or repeats a key) as an error record with its ``line``, as
    :func:`read_records` does when it parses lines itself.
    """

    lineno: int

    def __new__(cls, text: str, lineno: int) -> JsonLine:
        line = super().__new__(cls, text)
        line.lineno = lineno
        return line


class JsonObject(dict):
    """One JSON Lines record, parsed: the object, with its line number in the file (so an
    error record about it can name the line)."""

    __slots__ = ("lineno",)

    def __init__(self, value: dict[str, Any], lineno: int) -> None:
        super().__init__(value)
        self.lineno = lineno


def not_an_object(value: Any, index: int, lineno: int) -> RecordError:
    if isinstance(value, str):  # not shown: its text would be read again downstream, as if JSON
        return RecordError(record=index, line=lineno, error="an episode must be a JSON object")
    return RecordError(
        record=index, line=lineno, error=InvalidInput("an episode must be a JSON object", value=value).detail
    )


_FIRST_LINE = re.compile(r" at line 1 column (\d+)\)$")


def parse_line(text: str, lineno: int, index: int) -> Any:
    """The JSON value of one line, or the RecordError that says why it has none."""
    try:
        return _json.loads(text)
    except _json.DuplicateKey as e:
        pid = patient_id_of_pairs(_json.pairs(text))
        return RecordError(record=index, line=lineno, patient_id=pid, field=e.field, error=e.detail)
    except InvalidInput as e:  # a line is one line: its column is enough
        return RecordError(record=index, line=lineno, error=_FIRST_LINE.sub(r" at column \1)", e.detail))


def _patient_id(record: Any) -> str | None:
    """The patient id of an invalid record, if it has a valid one (an error record echoes it,
    so an id that cannot be written out, e.g. with a lone surrogate, is None)."""
    if isinstance(record, Episode):
        return record.patient_id
    if isinstance(record, str | bytes | bytearray):  # JSON text: read only to name an invalid record
        try:
            record = _json.loads(record)
        except _json.DuplicateKey:  # named by a patient id that is given once
            return patient_id_of_pairs(_json.pairs(record))
        except InvalidInput:
            return None
    if isinstance(record, Mapping):
        pid = record.get("patient_id")
        return pid if isinstance(pid, str) and pid and patient_id_problem(pid) is None else None
    return None
