"""What runs on Spark's executors for :mod:`cocm_rules.spark`: the per-partition functions.

Each function takes the Arrow record batches of one partition (columns ``record``: the
0-based input position, ``line``: a JSON Lines line number or null, ``episode``: JSON text,
UTF-8 bytes or a struct) and yields record batches of results, one output row per input
row, so nothing is dropped. The work itself is the library's own, unchanged:
:meth:`Engine.evaluate_many <cocm_rules.Engine.evaluate_many>`,
:func:`~cocm_rules.review.review_list` and :meth:`CaseloadCounter.outcome
<cocm_rules.caseload.CaseloadCounter.outcome>`; this module only converts rows to records and
results to rows. Whether a patient was sent twice is not known here (the rows of one patient
may be on different executors): the review and caseload rows carry the ``patient_id`` of
each valid episode, and :mod:`cocm_rules.spark` applies the one-record-per-patient rule.

The rulesets reach an executor as data (their files' bytes, see :class:`RulesetBundle`),
never as a pickled engine; each Python worker process loads them once and keeps the Engine.
This module imports pyarrow only (never pyspark): the executors' Python needs no more.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic_core import to_json

from ._json import not_utf8
from .caseload import CaseloadCounter
from .engine import Engine
from .errors import EngineError
from .records import JsonLine, PatientResult, RecordError, iter_records
from .review import rank_key, review_list

__all__ = [
    "ALERT_FIELDS",
    "CASELOAD_SCHEMA",
    "LINES_SCHEMA",
    "ORDER_FIELDS",
    "RESULT_SCHEMA",
    "REVIEW_SCHEMA",
    "RulesetBundle",
    "Task",
    "caseload_batches",
    "engine_for",
    "evaluate_batches",
    "review_batches",
]

#: How the rows of one record name it: its 0-based position and its JSON Lines line (or null).
_WHERE = [("record", pa.int64()), ("line", pa.int64())]

#: Alert fields as columns of the alerts table (``evidence`` and ``parameters`` as JSON text).
ALERT_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("rule_id", pa.string()),
    ("ruleset", pa.string()),
    ("ruleset_version", pa.string()),
    ("title", pa.string()),
    ("category", pa.string()),
    ("severity", pa.string()),
    ("priority", pa.int32()),
    ("message", pa.string()),
    ("action", pa.string()),
    ("action_text", pa.string()),
    ("recipients", pa.list_(pa.string())),
    ("source", pa.string()),
    ("evidence", pa.string()),
    ("parameters", pa.string()),
    ("alert_id", pa.string()),
    ("state", pa.string()),
)

#: One row per input record: a result with its alerts, or an error record; ``json`` is the
#: line ``cocm-rules evaluate`` writes for it (``model_dump_json``).
RESULT_SCHEMA = pa.schema(
    [
        *_WHERE,
        ("kind", pa.string()),
        ("patient_id", pa.string()),
        ("as_of", pa.date32()),
        ("alerts", pa.list_(pa.struct(list(ALERT_FIELDS)))),
        ("field", pa.string()),
        ("error", pa.string()),
        ("json", pa.string()),
    ]
)

#: The lines alone (for ``Evaluation.lines`` and ``write_text``: no alert structs to build).
LINES_SCHEMA = pa.schema([("record", pa.int64()), ("json", pa.string())])

#: Where a listed patient ranks: :func:`~cocm_rules.review.rank_key` of its entry, as a
#: struct (Spark orders structs field by field, as Python orders tuples; UTF-8 text sorts as
#: its code points).
ORDER_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("not_suicide_risk", pa.bool_()),
    ("minus_priority", pa.int64()),
    ("minus_severity", pa.int64()),
    ("minus_reasons", pa.int64()),
    ("patient_id", pa.string()),
)

#: One row per input record for the review list: ``listed`` (``json`` is the ReviewEntry,
#: rank 0 until ranked; ``order`` where it ranks), ``not_listed`` or ``error`` (``json`` is
#: the RecordError). ``patient_id`` of a listed or not listed record is its valid episode's.
REVIEW_SCHEMA = pa.schema(
    [
        *_WHERE,
        ("kind", pa.string()),
        ("patient_id", pa.string()),
        ("order", pa.struct(list(ORDER_FIELDS))),
        ("json", pa.string()),
    ]
)

#: One row per input record for the caseload metrics: ``patient`` (``json`` is the values of
#: its :class:`~cocm_rules.caseload.PatientOutcome`, ``patient_id`` its valid episode's) or
#: ``error`` (``json`` is the RecordError).
CASELOAD_SCHEMA = pa.schema([*_WHERE, ("kind", pa.string()), ("patient_id", pa.string()), ("json", pa.string())])


@dataclass(frozen=True)
class RulesetBundle:
    """The ruleset files of a validated set, as data: ``(name, bytes)`` in load order, the
    backend, and the program digest the driver computed (an executor whose installed
    cocm-rules reads them differently refuses to run)."""

    files: tuple[tuple[str, bytes], ...]
    backend: str
    digest: str

    @property
    def key(self) -> str:
        """A digest of the bundle: the cache key of its Engine in a worker process."""
        h = hashlib.sha256(self.backend.encode())
        for name, data in self.files:
            h.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(data).digest())
        return h.hexdigest()


@dataclass(frozen=True)
class Task:
    """What a per-partition function needs besides the rows (small; shipped with the function).

    ``rulesets`` is a :class:`RulesetBundle` or a Spark broadcast of one (anything with
    ``.value``); ``episode`` says how the ``episode`` column holds an episode: ``text``
    (JSON), ``binary`` (UTF-8 JSON) or ``struct``.
    """

    as_of: dt.date
    episode: str
    rulesets: Any = None
    lines_only: bool = False
    categories: tuple[str, ...] = ()
    min_severity: str = "moderate"

    def bundle(self) -> RulesetBundle:
        """The ruleset bundle, read from the broadcast if it is one."""
        value = getattr(self.rulesets, "value", self.rulesets)
        if not isinstance(value, RulesetBundle):
            raise TypeError(f"the task holds no ruleset bundle (got {type(value).__name__})")
        return value


_ENGINES: dict[str, Engine] = {}


def engine_for(bundle: RulesetBundle) -> Engine:
    """The Engine of a bundle, loaded once per worker process from the files' bytes."""
    key = bundle.key
    engine = _ENGINES.get(key)
    if engine is not None:
        return engine
    with tempfile.TemporaryDirectory(prefix="cocm-rules-") as tmp:
        for i, (name, data) in enumerate(bundle.files):  # the prefix keeps the driver's load order
            (Path(tmp) / f"{i:04d}-{Path(name).name}").write_bytes(data)
        engine = Engine.load(tmp, backend=bundle.backend)
    if engine.program.digest != bundle.digest:
        raise EngineError(
            "the rulesets compile differently on this executor than on the driver "
            f"(program {engine.program.digest[:16]} here, {bundle.digest[:16]} on the driver): "
            "install the same cocm-rules version on the driver and every executor"
        )
    _ENGINES[key] = engine
    return engine


# -- rows to records ---------------------------------------------------------------------------


def _without_nulls(value: Any) -> Any:
    """A struct row as an episode record: a null struct field is an absent field (Spark
    cannot tell the two apart); nulls inside lists (an unanswered item) are kept."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _record(value: Any, line: int | None, kind: str) -> Any:
    """One row's episode as a record for :func:`~cocm_rules.records.iter_records`: JSON text
    or bytes as they are, a dict, or, when the line number is known, a
    :class:`~cocm_rules.records.JsonLine` (or the RecordError of a line that is not UTF-8), so
    the line is read and reported as ``cocm-rules evaluate`` reads and reports it. A null
    stays None and becomes an error record."""
    if value is None:
        return None
    if kind == "struct":
        return _without_nulls(value)
    if kind == "binary" and line is None:
        return bytes(value)
    if kind == "binary":
        try:
            value = bytes(value).decode("utf-8-sig" if line == 1 else "utf-8")
        except UnicodeDecodeError as e:
            return RecordError(record=0, line=line, error=not_utf8(e, line))  # numbered by iter_records
    if line is None:
        return value
    return JsonLine(value.strip(), line)


def _rows(batch: pa.RecordBatch, task: Task) -> tuple[list[int], list[Any]]:
    """The record indexes and records of one batch."""
    indexes = batch.column("record").to_pylist()
    if None in indexes:
        raise EngineError("the record index column holds null: every row needs its 0-based input position")
    lines = batch.column("line").to_pylist()
    column = batch.column("episode")
    values = column.to_pylist(maps_as_pydicts="strict") if task.episode == "struct" else column.to_pylist()
    return indexes, [_record(v, ln, task.episode) for v, ln in zip(values, lines, strict=True)]


def _renumbered(item: Any, index: int) -> Any:
    """A result or error record of the library, numbered by its place in the whole input
    (the library numbered it by its place in what it was given: a batch, or one record)."""
    return item if item.record == index else item.model_copy(update={"record": index})


# -- evaluate ----------------------------------------------------------------------------------


def _alert_row(alert: Any) -> dict[str, Any]:
    row = {name: getattr(alert, name) for name, _ in ALERT_FIELDS}
    row["evidence"] = to_json(alert.evidence).decode()
    row["parameters"] = to_json(alert.parameters).decode()
    return row


def _result_row(item: PatientResult | RecordError) -> dict[str, Any]:
    if isinstance(item, RecordError):
        return {
            "record": item.record,
            "line": item.line,
            "kind": "error",
            "patient_id": item.patient_id,
            "field": item.field,
            "error": item.error,
            "json": item.model_dump_json(),
        }
    return {
        "record": item.record,
        "kind": "result",
        "patient_id": item.patient_id,
        "as_of": item.as_of,
        "alerts": [_alert_row(a) for a in item.alerts],
        "json": item.model_dump_json(),
    }


def evaluate_batches(task: Task, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Evaluate each row's episode: one result or error row per input row (RESULT_SCHEMA,
    or LINES_SCHEMA with ``task.lines_only``)."""
    engine = engine_for(task.bundle())
    for batch in batches:
        indexes, records = _rows(batch, task)
        results = engine.evaluate_many(records, task.as_of)
        if task.lines_only:
            lines = [_renumbered(item, indexes[i]).model_dump_json() for i, item in enumerate(results)]
            yield pa.RecordBatch.from_arrays(
                [pa.array(indexes, pa.int64()), pa.array(lines, pa.string())], schema=LINES_SCHEMA
            )
            continue
        rows = [_result_row(_renumbered(item, indexes[i])) for i, item in enumerate(results)]
        yield pa.RecordBatch.from_pylist(rows, schema=RESULT_SCHEMA)


def _error_row(error: RecordError, index: int) -> dict[str, Any]:
    error = _renumbered(error, index)
    return {
        "record": index,
        "line": error.line,
        "kind": "error",
        "patient_id": error.patient_id,
        "json": error.model_dump_json(),
    }


# -- review list -------------------------------------------------------------------------------


def review_batches(task: Task, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each row's valid episode through :func:`~cocm_rules.review.review_list` on its own:
    listed (with its entry and where it ranks) or not listed; or its error record
    (REVIEW_SCHEMA). The driver drops repeated patients and ranks the entries."""
    engine = engine_for(task.bundle())
    names = [name for name, _ in ORDER_FIELDS]
    for batch in batches:
        indexes, records = _rows(batch, task)
        rows = []
        for i, line, item in iter_records(records):  # the bundled measures, as review_list reads records
            index = indexes[i]
            if isinstance(item, RecordError):
                rows.append(_error_row(item, index))
                continue
            one = review_list(engine, [item], task.as_of, categories=task.categories, min_severity=task.min_severity)
            if not one.entries:
                rows.append({"record": index, "line": line, "kind": "not_listed", "patient_id": item.patient_id})
                continue
            e = one.entries[0].model_copy(update={"rank": 0, "record": index, "line": line})
            rows.append(
                {
                    "record": index,
                    "line": line,
                    "kind": "listed",
                    "patient_id": e.patient_id,
                    "order": dict(zip(names, rank_key(e.reasons, e.patient_id), strict=True)),
                    "json": e.model_dump_json(),
                }
            )
        yield pa.RecordBatch.from_pylist(rows, schema=REVIEW_SCHEMA)


# -- caseload metrics --------------------------------------------------------------------------


def caseload_batches(task: Task, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each row's :class:`~cocm_rules.caseload.PatientOutcome` (its values, as JSON), or its
    error record (CASELOAD_SCHEMA). The driver drops repeated patients and counts."""
    counter = CaseloadCounter(task.as_of)
    for batch in batches:
        indexes, records = _rows(batch, task)
        rows = []
        for i, line, item in iter_records(records):  # the bundled measures, as caseload_metrics reads records
            if isinstance(item, RecordError):
                rows.append(_error_row(item, indexes[i]))
                continue
            values = dataclasses.astuple(counter.outcome(item))
            rows.append(
                {
                    "record": indexes[i],
                    "line": line,
                    "kind": "patient",
                    "patient_id": item.patient_id,
                    "json": to_json(values).decode(),
                }
            )
        yield pa.RecordBatch.from_pylist(rows, schema=CASELOAD_SCHEMA)
