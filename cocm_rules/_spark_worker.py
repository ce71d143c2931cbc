"""What runs on Spark's executors for :mod:`cocm_rules.spark`: the per-partition functions.

Each function takes the Arrow record batches of one partition (columns ``record``: the
0-based input position, ``line``: a JSON Lines line number or null, ``episode``: JSON text,
UTF-8 bytes or a struct) and yields record batches of results, one output row per input
row, so nothing is dropped. The work itself is the library's own, unchanged:
:meth:`Engine.evaluate_many <cocm_rules.Engine.evaluate_many>`,
:func:`~cocm_rules.review.review_list` and the caseload module's per-patient summary; this
module only converts rows to records and results to rows.

The rulesets reach an executor as data (their files' bytes, see :class:`RulesetBundle`),
never as a pickled engine; each Python worker process loads them once and keeps the Engine.
This module imports pyarrow only (never pyspark): the executors' Python needs no more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic_core import to_json

from . import caseload as _caseload
from .batch import JsonLine
from .engine import Engine, PatientResult, RecordError, iter_episodes
from .episode import not_utf8
from .errors import EngineError
from .measures import load_measures
from .review import review_list
from .rules.language import SEVERITIES

__all__ = [
    "ALERT_FIELDS",
    "CASELOAD_SCHEMA",
    "LINES_SCHEMA",
    "RESULT_SCHEMA",
    "REVIEW_SCHEMA",
    "RulesetBundle",
    "Task",
    "caseload_batches",
    "engine_for",
    "evaluate_batches",
    "review_batches",
]

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
    ("source", pa.string()),
    ("evidence", pa.string()),
    ("parameters", pa.string()),
)

#: One row per input record: a result with its alerts, or an error record; ``json`` is the
#: line ``cocm-rules evaluate`` writes for it (``model_dump_json``).
RESULT_SCHEMA = pa.schema(
    [
        ("record", pa.int64()),
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

#: One row per input record for the review list: ``listed`` (``json`` is the ReviewEntry,
#: rank 0 until ranked), ``not_listed`` or ``error`` (``json`` is the RecordError).
REVIEW_SCHEMA = pa.schema(
    [
        ("record", pa.int64()),
        ("kind", pa.string()),
        ("patient_id", pa.string()),
        ("priority", pa.int32()),
        ("severity_rank", pa.int32()),
        ("reasons", pa.int32()),
        ("json", pa.string()),
    ]
)

#: One row per input record for the caseload metrics: ``patient`` (``json`` is the summary
#: the metrics need) or ``error`` (``json`` is the RecordError).
CASELOAD_SCHEMA = pa.schema([("record", pa.int64()), ("kind", pa.string()), ("json", pa.string())])

_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


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
    """One row's episode as a record for :func:`~cocm_rules.engine.iter_episodes`: JSON text
    (a :class:`~cocm_rules.batch.JsonLine` when the line number is known, so a line that is
    not JSON is reported as the CLI reports it), a dict, or the RecordError of bytes that are
    not UTF-8. A null stays None and becomes an error record."""
    if value is None:
        return None
    if kind == "struct":
        return _without_nulls(value)
    if kind == "binary":
        try:
            value = bytes(value).decode("utf-8-sig" if line == 1 else "utf-8")
        except UnicodeDecodeError as e:
            return RecordError(record=0, error=not_utf8(e, line))  # numbered by iter_episodes
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


def _renumbered(item: Any, index: int, local: int) -> Any:
    """A result or error record of the library, numbered by its place in the whole input:
    the library numbered it ``local``, its place in what it was given (a batch, or one
    record), and an error message that starts by naming that record names the real one."""
    if item.record == index == local:
        return item
    update: dict[str, Any] = {"record": index}
    error = getattr(item, "error", None)
    prefix = f"record {local}"
    if error is not None and error.startswith(prefix) and error[len(prefix) : len(prefix) + 1] in (":", ","):
        update["error"] = f"record {index}{error[len(prefix) :]}"
    return item.model_copy(update=update)


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
        if task.lines_only:
            lines = [
                _renumbered(item, indexes[i], i).model_dump_json()
                for i, item in enumerate(engine.evaluate_many(records, task.as_of))
            ]
            yield pa.RecordBatch.from_arrays(
                [pa.array(indexes, pa.int64()), pa.array(lines, pa.string())], schema=LINES_SCHEMA
            )
            continue
        rows = [
            _result_row(_renumbered(item, indexes[i], i))
            for i, item in enumerate(engine.evaluate_many(records, task.as_of))
        ]
        yield pa.RecordBatch.from_pylist(rows, schema=RESULT_SCHEMA)


# -- review list -------------------------------------------------------------------------------


def review_batches(task: Task, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each row through :func:`~cocm_rules.review.review_list` on its own: listed (with its
    entry), not listed, or an error record (REVIEW_SCHEMA). The driver ranks the entries."""
    engine = engine_for(task.bundle())
    for batch in batches:
        indexes, records = _rows(batch, task)
        rows = []
        for index, record in zip(indexes, records, strict=True):
            one = review_list(engine, [record], task.as_of, categories=task.categories, min_severity=task.min_severity)
            if one.errors:
                error = _renumbered(one.errors[0], index, 0)
                rows.append(
                    {"record": index, "kind": "error", "patient_id": error.patient_id, "json": error.model_dump_json()}
                )
            elif one.entries:
                e = one.entries[0]
                rows.append(
                    {
                        "record": index,
                        "kind": "listed",
                        "patient_id": e.patient_id,
                        "priority": e.priority,
                        "severity_rank": _SEVERITY_RANK.get(e.severity, 0),
                        "reasons": len(e.reasons),
                        "json": e.model_copy(update={"rank": 0}).model_dump_json(),
                    }
                )
            else:
                rows.append({"record": index, "kind": "not_listed"})
        yield pa.RecordBatch.from_pylist(rows, schema=REVIEW_SCHEMA)


# -- caseload metrics --------------------------------------------------------------------------


def patient_summary(patient: Any, measures: Iterable[str]) -> dict[str, Any]:
    """What the caseload metrics read of one patient (``caseload._Patient``): status, care
    manager, the period flags, and the valid administrations (date, position, total) of the
    measures the improvement and CMS159 metrics use."""
    return {
        "status": patient.ep.status,
        "care_manager": patient.ep.care_manager,
        "active": patient.active,
        "contacted": patient.contacted,
        "follow_up_in_period": patient.follow_up_in_period,
        "series": {
            m: [[a.date.isoformat(), a.index, a.score.total] for a in _caseload._valid(patient.series.get(m, []))]
            for m in measures
            if patient.series.get(m)
        },
    }


def metric_measures(defs: Any) -> tuple[str, ...]:
    """The measures whose series the caseload metrics read."""
    return tuple(dict.fromkeys([*(spec.measure for spec in defs.improvement), *defs.cms159.measures]))


def caseload_batches(task: Task, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each row's caseload summary, or its error record (CASELOAD_SCHEMA)."""
    lib = load_measures()
    defs = _caseload.load_metric_definitions()
    measures = metric_measures(defs)
    for batch in batches:
        indexes, records = _rows(batch, task)
        rows = []
        for i, item in iter_episodes(records):
            if isinstance(item, RecordError):
                rows.append(
                    {"record": indexes[i], "kind": "error", "json": _renumbered(item, indexes[i], i).model_dump_json()}
                )
            else:
                summary = patient_summary(_caseload._Patient(item, task.as_of, lib, defs), measures)
                rows.append({"record": indexes[i], "kind": "patient", "json": to_json(summary).decode()})
        yield pa.RecordBatch.from_pylist(rows, schema=CASELOAD_SCHEMA)
