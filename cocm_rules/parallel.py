"""Every core of one machine: the batch functions in worker processes, output in input order.

:func:`evaluate_many`, :func:`evaluate_lines`, :func:`review_list` and
:func:`caseload_metrics` give what :meth:`Engine.evaluate_many
<cocm_rules.Engine.evaluate_many>`, :func:`cocm_rules.review.review_list` and
:func:`cocm_rules.caseload.caseload_metrics` give on the same records (the same results, the
same error records, the same order: ``cocm-rules evaluate|review|caseload --jobs N`` writes the
same bytes as ``--jobs 1``), with the per-patient work spread over ``jobs`` worker processes::

    records ─► chunks of CHUNK_SIZE (text lines are cheap to ship) ─► worker processes
               (each builds its Engine ONCE from the rulesets' files and keeps it)
            ◄─ per record: a result / error record / review candidate / PatientOutcome;
               for evaluate_text, one block of text per chunk (one message, one write)
    parent: chunks back in input order (at most 2 per worker in flight: memory stays flat),
            the one-record-per-patient rule (:class:`~cocm_rules._once.FirstRecords`) applied
            in input order, the review list ranked, the caseload counted

The workers are forked from a server process (``forkserver``) that imported the library
and read the bundled measures, metric definitions and rulesets once when it started
(:func:`warm`), so a worker starts in milliseconds; it uses those rulesets only when they
are the batch's files with the SHA-256 the parent loaded, else it reads the files.
:func:`prepare` starts that server early (the command line does, for a file of 1 MB or
more), while the parent loads its own engine.

``jobs=None`` means every core this process may run on; ``jobs=1`` runs in this process, as
does an input of at most one chunk (starting workers would take longer than the work). The
rulesets reach a worker as the paths of their files, never as a pickled engine; a worker
whose rulesets compile to another program than the parent's (a file changed meanwhile)
refuses to work (:class:`~cocm_rules.EngineError`). Records and results travel through
:mod:`multiprocessing`'s pipes as this module's own values; no input is ever unpickled.

Nothing is lost: every input record yields its output. If a worker process dies (killed,
out of memory), the chunks it and the others had in flight are sent once more to a fresh set
of workers; a chunk lost a second time becomes one error record per record ("not
evaluated: a worker process stopped"), and after :data:`MAX_RESTARTS` fresh sets the batch
fails with an :class:`~cocm_rules.EngineError`. An error raised in a worker (a defect) is
raised here.

Logging: the workers' log events (building the engine; loading rulesets, when a worker reads
them itself) are sent back with their chunks and logged here, each with ``worker_pid``. The
per-record ``batch.record_invalid`` warnings and the one ``batch.finished`` summary of
:func:`evaluate_many` are logged here, in input order, as :meth:`Engine.evaluate_many
<cocm_rules.Engine.evaluate_many>` logs them (``batch.finished`` adds ``jobs``, ``chunks`` and
``worker_restarts``); :func:`review_list` and :func:`caseload_metrics` end with one
``parallel.finished`` event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import structlog

from ._log import get_logger
from ._once import FirstRecords
from .caseload import CaseloadCounter, CaseloadMetrics, CaseloadPart, PatientOutcome, load_metric_definitions
from .caseload import caseload_metrics as caseload_in_process
from .engine import Engine, PatientResult, batch_summary, check_as_of
from .episode import loggable_field
from .errors import CocmRulesError, EngineError, InvalidInput
from .measures import load_measures
from .records import JsonLine, JsonObject, RecordError, iter_records, refuse_one_record
from .review import REVIEW_CATEGORIES, REVIEW_MIN_SEVERITY, ReviewEntry, ReviewList, rank_key
from .review import review_list as review_in_process
from .rules.loader import RulesetSet, load_rulesets

__all__ = [
    "CHUNK_SIZE",
    "MAX_RESTARTS",
    "EvaluatedBlock",
    "EvaluatedLine",
    "caseload_metrics",
    "default_jobs",
    "evaluate_lines",
    "evaluate_text",
    "prepare",
    "evaluate_many",
    "review_list",
]

log = get_logger(__name__)

#: Records per chunk sent to a worker (about 50-100 ms of work on one core: few messages).
CHUNK_SIZE = 250
#: Fresh sets of worker processes started after workers died, before the batch fails.
MAX_RESTARTS = 3


def default_jobs() -> int:
    """How many cores this process may run on (its CPU affinity), at least 1."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counter is not None:
        n = counter()
    else:
        try:
            n = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            n = os.cpu_count()
    return max(1, n or 1)


def _jobs(jobs: int | None) -> int:
    if jobs is None:
        return default_jobs()
    if not isinstance(jobs, int) or isinstance(jobs, bool):
        raise TypeError(f"jobs must be an int or None, not {type(jobs).__name__}")
    if jobs < 1:
        raise InvalidInput("there must be at least one job", field="jobs", value=jobs, allowed="1 or more")
    return jobs


# -- what a worker needs -----------------------------------------------------------------------


@dataclass(frozen=True)
class _EngineSpec:
    """An Engine as data: its ruleset files (with the SHA-256 of the bytes the parent loaded),
    backend and settings, and the program digest the parent compiled (a worker that reads
    other bytes or compiles another program refuses to work)."""

    files: tuple[str, ...]
    sha256: tuple[str, ...]
    backend: str
    digest: str
    safety_floor: bool
    log_patient_ids: bool

    @classmethod
    def of(cls, engine: Engine) -> _EngineSpec:
        if engine.library is not load_measures():
            raise InvalidInput(
                "jobs > 1 needs an engine over the bundled measure library (each worker process loads "
                "it itself); use jobs=1 for another library",
                field="jobs",
            )
        files = tuple(rs.file for rs in engine.rulesets.rulesets)
        for file in files:
            if not Path(file).is_file():
                raise InvalidInput(
                    "jobs > 1 needs rulesets loaded from files (each worker process loads them again); "
                    f"{file!r} is not a file: use jobs=1",
                    field="jobs",
                )
        return cls(
            files,
            tuple(rs.sha256 for rs in engine.rulesets.rulesets),
            engine.backend_name,
            engine.program.digest,
            engine.safety_floor_checked,
            engine.log_patient_ids,
        )


_ENGINES: dict[_EngineSpec, Engine] = {}
_COUNTERS: dict[dt.date, CaseloadCounter] = {}


#: The bundled rulesets the worker server read when it started (:func:`warm`).
_WARM: list[RulesetSet] = []


def warm() -> None:
    """In the server process that forks the workers (``cocm_rules._warm`` calls it when it
    starts): load the bundled measure library and metric definitions and read the bundled
    rulesets, so that each worker forked from it starts with them. Its log events are not
    kept (no worker did that work; each worker logs its own engine). A problem is left for
    the workers to meet: they load again, and report it with their batch."""
    _capture_logs()
    try:
        load_measures()
        load_metric_definitions()
        _WARM.append(load_rulesets())
    except CocmRulesError:
        pass
    finally:
        _EVENTS.clear()


def _rulesets(spec: _EngineSpec) -> RulesetSet:
    """The spec's rulesets: those :func:`warm` read, when they are the same files with the
    same SHA-256 (the bytes the parent loaded), else read from the files here."""
    for rulesets in _WARM:
        loaded = rulesets.rulesets
        if tuple(rs.file for rs in loaded) == spec.files and tuple(rs.sha256 for rs in loaded) == spec.sha256:
            return rulesets
    return load_rulesets(list(spec.files))


def _engine(spec: _EngineSpec) -> Engine:
    """The spec's Engine, loaded once per worker process. The safety floor is not run again:
    the parent ran it (or skipped it) on the same bytes, compiled to the same program."""
    engine = _ENGINES.get(spec)
    if engine is not None:
        return engine
    rulesets = _rulesets(spec)
    changed = (
        "a worker process read other rulesets than the batch started with (the SHA-256 of a file, or "
        "the compiled program, differs): a ruleset file changed meanwhile; run the batch again"
    )
    if tuple(rs.sha256 for rs in rulesets.rulesets) != spec.sha256:
        raise EngineError(changed)
    reason = "checked by the parent process" if spec.safety_floor else "skipped by the parent process"
    engine = Engine(
        rulesets,
        backend=spec.backend,
        safety_floor=False,
        log_patient_ids=spec.log_patient_ids,
        skip_reason=f"a worker process; {reason} on the same rulesets",
    )
    if engine.program.digest != spec.digest:
        raise EngineError(changed)
    _ENGINES[spec] = engine
    return engine


def _pack(record: Any) -> Any:
    """A record as a plain value for the trip to a worker (a JSON Lines line as its text and
    line number; a parsed line as its object and line number)."""
    if isinstance(record, JsonLine):
        return ("L", str(record), record.lineno)
    if isinstance(record, JsonObject):
        return ("O", dict(record), record.lineno)
    return ("R", record, None)


def _unpack(packed: Any) -> Any:
    kind, value, line = packed
    if kind == "L":
        return JsonLine(value, line)
    if kind == "O":
        return JsonObject(value, line)
    return value


def _line_of(record: Any) -> int | None:
    return record.lineno if isinstance(record, JsonLine | JsonObject) else None


def _renumbered(item: Any, index: int) -> Any:
    """A result or error record numbered by its place in the whole input (the worker's
    library call numbered it by its place in the chunk)."""
    return item if item.record == index else item.model_copy(update={"record": index})


# -- the workers' side -------------------------------------------------------------------------


class _Sink:
    """structlog's logger in a worker: the events were kept by :func:`_keep` before it."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or "cocm_rules"

    def msg(self, *args: Any, **kwargs: Any) -> None:  # never reached: _keep drops the event
        return None

    debug = info = warning = error = critical = exception = log = msg


_EVENTS: list[tuple[str, str, str, dict[str, Any]]] = []


def _keep(logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    fields = dict(event_dict)
    event = str(fields.pop("event", ""))
    level = str(fields.pop("level", "info"))
    _EVENTS.append((getattr(logger, "name", "cocm_rules"), level, event, fields))
    raise structlog.DropEvent


def _capture_logs() -> None:
    """In a worker process: keep every log event, to send back with the chunk's outputs."""
    if getattr(_capture_logs, "done", False):
        return
    structlog.configure(
        processors=[structlog.processors.add_log_level, _keep],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=_Sink,
        cache_logger_on_first_use=False,
    )
    _capture_logs.done = True  # type: ignore[attr-defined]


class _Done(NamedTuple):
    """What a worker sends back for one chunk."""

    outputs: list[Any]
    events: list[tuple[str, str, str, dict[str, Any]]]
    pid: int
    failure: str | None = None


def _work(task: Callable[[int, list[Any]], list[Any]], start: int, packed: list[Any]) -> _Done:
    """Run ``task`` on one chunk in a worker process: its outputs, one per record, and the log
    events of the work. A CocmRulesError is sent back as its message (the parent raises it as
    an EngineError): the library's errors are not all rebuilt from a pickle."""
    _capture_logs()
    _EVENTS.clear()
    try:
        outputs = task(start, [_unpack(p) for p in packed])
    except CocmRulesError as e:
        return _Done([], list(_EVENTS), os.getpid(), f"{type(e).__name__}: {e}")
    return _Done(outputs, list(_EVENTS), os.getpid())


class EvaluatedLine(NamedTuple):
    """One record's output of :func:`evaluate_lines`: the line ``cocm-rules evaluate`` writes
    for it (its JSON, without the newline), its error record (None for a result), and its
    number of alerts and their categories."""

    text: str
    error: RecordError | None
    alerts: int
    categories: tuple[str, ...]

    @classmethod
    def of(cls, item: PatientResult | RecordError) -> EvaluatedLine:
        """The line of a result or an error record."""
        if isinstance(item, RecordError):
            return cls(item.model_dump_json(), item, 0, ())
        return cls(item.model_dump_json(), None, len(item.alerts), tuple(a.category for a in item.alerts))


class EvaluatedBlock(NamedTuple):
    """The output of :func:`evaluate_text` for consecutive records: the lines ``cocm-rules
    evaluate`` writes for them (each with its newline), their error records, and their
    number of results and alerts, and of alerts by category."""

    text: str
    errors: list[RecordError]
    results: int
    alerts: int
    categories: dict[str, int]

    @classmethod
    def of(cls, items: Iterable[PatientResult | RecordError]) -> EvaluatedBlock:
        """The block of these results and error records, in their order."""
        lines: list[str] = []
        errors: list[RecordError] = []
        counts: Counter[str] = Counter()
        results = alerts = 0
        for item in items:
            lines.append(item.model_dump_json())
            if isinstance(item, RecordError):
                errors.append(item)
            else:
                results += 1
                alerts += len(item.alerts)
                counts.update(a.category for a in item.alerts)
        lines.append("")
        return cls("\n".join(lines), errors, results, alerts, dict(counts))


@dataclass(frozen=True)
class _Evaluate:
    """Evaluate a chunk: each record's result or error record (as its JSON line with
    ``text``), or with ``block`` one :class:`EvaluatedBlock` of the whole chunk."""

    spec: _EngineSpec
    as_of: dt.date
    text: bool
    block: bool = False

    def __call__(self, start: int, records: list[Any]) -> list[Any]:
        engine = _engine(self.spec)
        items = (_renumbered(item, start + i) for i, item in enumerate(engine.evaluate_many(records, self.as_of)))
        if self.block:
            return [EvaluatedBlock.of(items)]
        return [EvaluatedLine.of(item) if self.text else item for item in items]


@dataclass(frozen=True)
class _Review:
    """Assess a chunk for the review list: each record's error record, or its patient id and
    its entry (None when the patient is not listed)."""

    spec: _EngineSpec
    as_of: dt.date
    categories: tuple[str, ...]
    min_severity: str

    def __call__(self, start: int, records: list[Any]) -> list[Any]:
        engine = _engine(self.spec)
        out: list[Any] = []
        for i, line, item in iter_records(records):  # the bundled measures, as review_list reads records
            if isinstance(item, RecordError):
                out.append(_renumbered(item, start + i))
                continue
            one = review_in_process(
                engine, [item], self.as_of, categories=self.categories, min_severity=self.min_severity
            )
            entry = (
                one.entries[0].model_copy(update={"rank": 0, "record": start + i, "line": line})
                if one.entries
                else None
            )
            out.append((start + i, line, item.patient_id, entry))
        return out


class _CaseloadChunk(NamedTuple):
    """A chunk reduced for the caseload metrics: per record in input order its error record,
    or its number, line, patient id and whether ``part`` counts it (the first record of its
    patient in the chunk); the outcomes of the valid records (as tuples of their fields, in
    that order); and ``part``, the counts of the outcomes of the records it counts."""

    records: list[RecordError | tuple[int, int | None, str, bool]]
    outcomes: list[tuple[Any, ...]]
    part: CaseloadPart


@dataclass(frozen=True)
class _Caseload:
    """Reduce a chunk for the caseload metrics: one :class:`_CaseloadChunk` (one message,
    with the chunk's counts already made, instead of one outcome per record to count)."""

    as_of: dt.date

    def __call__(self, start: int, records: list[Any]) -> list[Any]:
        counter = _COUNTERS.get(self.as_of)
        if counter is None:
            counter = _COUNTERS[self.as_of] = CaseloadCounter(self.as_of)
        out: list[RecordError | tuple[int, int | None, str, bool]] = []
        outcomes: list[tuple[Any, ...]] = []
        counted: list[PatientOutcome] = []
        seen: set[str] = set()
        for i, line, item in iter_records(records):  # the bundled measures, as caseload_metrics reads records
            if isinstance(item, RecordError):
                out.append(_renumbered(item, start + i))
                continue
            outcome = counter.outcome(item)
            first = item.patient_id not in seen
            if first:
                seen.add(item.patient_id)
                counted.append(outcome)
            out.append((start + i, line, item.patient_id, first))
            outcomes.append(_fields(outcome))
        return [_CaseloadChunk(out, outcomes, counter.part(counted))]


_OUTCOME_FIELDS = tuple(f.name for f in dataclasses.fields(PatientOutcome))


def _fields(outcome: PatientOutcome) -> tuple[Any, ...]:
    return tuple(getattr(outcome, name) for name in _OUTCOME_FIELDS)


# -- the parent's side -------------------------------------------------------------------------


#: What the server process that forks the workers imports when it starts (:func:`warm`).
_PRELOAD = ["__main__", "cocm_rules._warm"]


def _context() -> multiprocessing.context.BaseContext:
    """Worker processes forked from a fresh server process where the platform has one
    (``forkserver``: nothing of this process's state, threads or locks is inherited; the
    server imports the library and reads the bundled definitions once, see :func:`warm`),
    else spawned."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)  # no effect once the server runs
    return context


def _executor(jobs: int) -> Executor:
    """A pool of ``jobs`` worker processes (see :func:`_context`)."""
    return ProcessPoolExecutor(jobs, mp_context=_context())


#: Inputs smaller than this (bytes) are not worth starting the worker server early for.
PREPARE_MIN_BYTES = 1 << 20


def prepare(jobs: int | None, source: Any = None) -> None:
    """Start the server process that forks the workers now, when ``jobs`` (None: every core)
    is more than 1 and ``source`` (a path; None: unknown) is a file of at least
    :data:`PREPARE_MIN_BYTES`: it imports the library and reads the bundled definitions
    (:func:`warm`) while this process loads its engine, instead of after. Optional: the
    batch functions start it themselves. Returns at once."""
    if _jobs(jobs) == 1:
        return
    if source is not None:
        try:
            if Path(source).stat().st_size < PREPARE_MIN_BYTES:
                return
        except (OSError, TypeError, ValueError):
            return
    context = _context()
    if isinstance(context, multiprocessing.context.ForkServerContext):
        from multiprocessing import forkserver

        forkserver.ensure_running()


@dataclass
class _Chunk:
    start: int
    packed: list[Any]
    lines: list[int | None]
    future: Future[_Done] | None = None
    attempts: int = 0  # times sent to a worker
    lost: bool = False  # its workers died twice: its records are error records


def _lost(chunk: _Chunk) -> list[RecordError]:
    """The error records of a chunk whose worker processes died twice."""
    last = chunk.start + len(chunk.packed) - 1
    error = (
        "not evaluated: worker processes stopped (killed, or out of memory) twice while they had records "
        f"{chunk.start} to {last}; evaluate them again (with --jobs 1 to find a record at fault)"
    )
    return [RecordError(record=chunk.start + i, line=line, error=error) for i, line in enumerate(chunk.lines)]


_LOGGERS: dict[str, Any] = {}


def _relog(done: _Done, skip: frozenset[str]) -> None:
    """Log a worker's events here, each with the worker's pid (those in ``skip`` are logged by
    the parent itself, in input order)."""
    for name, level, event, fields in done.events:
        if event in skip:
            continue
        logger = _LOGGERS.get(name)
        if logger is None:
            logger = _LOGGERS[name] = get_logger(name)
        method = level if level in ("debug", "info", "warning") else "error"
        getattr(logger, method)(event, **fields, worker_pid=done.pid)


def _chunks(records: Iterable[Any], size: int) -> Iterator[_Chunk]:
    start = 0
    iterator = iter(records)
    while True:
        batch = list(itertools.islice(iterator, size))
        if not batch:
            return
        yield _Chunk(start, [_pack(r) for r in batch], [_line_of(r) for r in batch])
        start += len(batch)


class _Pipeline:
    """Chunks through a pool of worker processes, collected in input order, at most two per
    worker in flight; a pool whose workers died is replaced (see the module docstring)."""

    def __init__(
        self,
        task: Callable[[int, list[Any]], list[Any]],
        jobs: int,
        *,
        skip_events: frozenset[str] = frozenset(),
        executor: Callable[[int], Executor] = _executor,
    ) -> None:
        self.task = task
        self.jobs = jobs
        self.skip_events = skip_events
        self.executor = executor
        self.chunks = 0
        self.restarts = 0
        self.pending: deque[_Chunk] = deque()
        self.pool: Executor | None = None

    def run(self, records: Iterable[Any], chunk_size: int) -> Iterator[list[Any]]:
        """The outputs of the task, one list per chunk (one output per record), in input order."""
        self.pool = self.executor(self.jobs)
        try:
            for chunk in _chunks(records, chunk_size):
                self.chunks += 1
                self._submit(chunk)
                self.pending.append(chunk)
                if len(self.pending) >= 2 * self.jobs:
                    yield self._collect()
            while self.pending:
                yield self._collect()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, chunk: _Chunk) -> None:
        assert self.pool is not None
        try:
            chunk.future = self.pool.submit(_work, self.task, chunk.start, chunk.packed)
        except BrokenProcessPool:  # the pool died since the last chunk: _recover() sends it again
            chunk.future = None
            return
        chunk.attempts += 1

    def _collect(self) -> list[Any]:
        chunk = self.pending[0]
        while True:
            if chunk.lost:
                self.pending.popleft()
                return _lost(chunk)
            try:
                if chunk.future is None:
                    raise BrokenProcessPool("not sent: the pool had died")
                done = self._result(chunk.future)
            except BrokenProcessPool:
                self._recover()
                continue
            self.pending.popleft()
            _relog(done, self.skip_events)
            if done.failure is not None:
                raise EngineError(f"a worker process failed: {done.failure}")
            return done.outputs

    def _result(self, future: Future[_Done]) -> _Done:
        """The future's outcome. A worker killed while it wrote its chunk's outputs leaves half
        a message in the pool's result pipe, and the pool's manager thread would wait for the
        rest forever (a limit of :mod:`concurrent.futures`): when a worker has died and the
        outcome has not come, this process's end of that pipe is closed, so that the manager
        reads its end and declares the pool broken (BrokenProcessPool, then :meth:`_recover`)."""
        while True:
            try:
                return future.result(timeout=_STALL_CHECK_S)
            except TimeoutError:
                if self.pool is not None and _a_worker_died(self.pool):
                    _unstick(self.pool)

    def _recover(self) -> None:
        """Replace the pool whose workers died; send the chunks it lost again (once), except
        those already sent twice: their records become error records."""
        assert self.pool is not None
        self.restarts += 1
        log.error("parallel.workers_stopped", jobs=self.jobs, restarts=self.restarts, chunks=len(self.pending))
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.restarts > MAX_RESTARTS:
            raise EngineError(
                f"worker processes stopped {self.restarts} times (killed, or out of memory): the batch stopped "
                f"at record {self.pending[0].start}; every record before it has its output"
            )
        self.pool = self.executor(self.jobs)
        for chunk in self.pending:
            if chunk.lost or _done_before(chunk.future):
                continue  # finished before the pool died (or lost already): its outcome stands
            if chunk.attempts >= 2:
                chunk.lost, chunk.future = True, None
            else:
                self._submit(chunk)


#: Seconds between checks that the workers of a chunk still awaited are alive.
_STALL_CHECK_S = 2.0


def _a_worker_died(pool: Executor) -> bool:
    """Whether a worker process of ``pool`` has ended (they only end when killed, or at shutdown)."""
    processes = getattr(pool, "_processes", None) or {}
    return any(p.exitcode is not None for p in list(processes.values()))


def _unstick(pool: Executor) -> None:
    """Stop the other workers of ``pool`` (it is broken: one died) and close this process's
    write end of its result pipe, so that no end is left open (see :meth:`_Pipeline._result`)."""
    queue = getattr(pool, "_result_queue", None)
    writer = getattr(queue, "_writer", None)
    if writer is None or writer.closed:
        return
    log.warning("parallel.result_pipe_closed", reason="a worker died while it sent its outputs")
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.exitcode is None:
            process.kill()
    writer.close()


def _done_before(future: Future[_Done] | None) -> bool:
    """The chunk was done (with outputs, or an error of its own) before its pool died."""
    if future is None or not future.done() or future.cancelled():
        return False
    return not isinstance(future.exception(), BrokenProcessPool)


def _start(records: Iterable[Any], chunk_size: int) -> tuple[list[Any], Iterable[Any] | None]:
    """The first records and, if there are more than one chunk's worth, the whole input again."""
    refuse_one_record(records)
    iterator = iter(records)
    head = list(itertools.islice(iterator, chunk_size + 1))
    if len(head) <= chunk_size:
        return head, None
    return head, itertools.chain(head, iterator)


# -- the batch functions -----------------------------------------------------------------------

#: The engine's per-batch events, which the parent logs itself for the whole input.
_BATCH_EVENTS = frozenset({"batch.record_invalid", "batch.finished"})


def evaluate_many(
    engine: Engine,
    records: Iterable[Any],
    as_of: dt.date,
    *,
    jobs: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[PatientResult | RecordError]:
    """:meth:`engine.evaluate_many(records, as_of) <cocm_rules.Engine.evaluate_many>` on
    ``jobs`` processes (None: every core): each record yields its result or error record, in
    input order. Lazy, like the engine's: records are read as the results are consumed, and
    at most two chunks per worker are in flight.

    Raises :class:`~cocm_rules.InvalidInput` for ``jobs`` below 1, or when ``jobs`` > 1 and
    the engine's rulesets are not all files, or its measure library is not the bundled one
    (the workers load both themselves).
    """
    return _evaluate(engine, records, as_of, jobs, chunk_size, text=False)


def evaluate_lines(
    engine: Engine,
    records: Iterable[Any],
    as_of: dt.date,
    *,
    jobs: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[EvaluatedLine]:
    """:func:`evaluate_many` as the JSON lines ``cocm-rules evaluate`` writes (each made in
    the worker that evaluated the record), one :class:`EvaluatedLine` per record."""
    return _evaluate(engine, records, as_of, jobs, chunk_size, text=True)


def evaluate_text(
    engine: Engine,
    records: Iterable[Any],
    as_of: dt.date,
    *,
    jobs: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[EvaluatedBlock]:
    """:func:`evaluate_lines` a block of records at a time: the text of the lines
    ``cocm-rules evaluate`` writes, each block made in the worker that evaluated its records
    (one message per chunk instead of one object per record), in input order. In this
    process (``jobs=1``, or a small input) the blocks are of ``chunk_size`` records."""
    n = _jobs(jobs)
    check_as_of(as_of)
    if n > 1:
        spec = _EngineSpec.of(engine)
        head, rest = _start(records, chunk_size)
        if rest is not None:
            pipeline = _Pipeline(_Evaluate(spec, as_of, True, block=True), n, skip_events=_BATCH_EVENTS)
            return _evaluated_blocks(engine, pipeline, rest, chunk_size)
        records = head
    return _blocks(iter(engine.evaluate_many(records, as_of)), chunk_size)


def _blocks(items: Iterator[PatientResult | RecordError], size: int) -> Iterator[EvaluatedBlock]:
    while True:
        block = list(itertools.islice(items, size))
        if not block:
            return
        yield EvaluatedBlock.of(block)


def _evaluated_blocks(
    engine: Engine, pipeline: _Pipeline, records: Iterable[Any], chunk_size: int
) -> Iterator[EvaluatedBlock]:
    """The pipeline's blocks, logged as ``Engine.evaluate_many`` logs its records."""
    started = time.perf_counter()
    counts: Counter[str] = Counter()
    tally = {"results": 0, "errors": 0}
    try:
        for outputs in pipeline.run(records, chunk_size):
            if outputs and isinstance(outputs[0], RecordError):  # the records of a lost chunk
                outputs = [EvaluatedBlock.of(outputs)]
            for block in outputs:
                for error in block.errors:
                    _log_invalid(engine, error)
                tally["errors"] += len(block.errors)
                tally["results"] += block.results
                counts.update(block.categories)
                yield block
    finally:  # also when the consumer stops early
        _batch_finished(pipeline, tally, counts, started)


def _evaluate(
    engine: Engine, records: Iterable[Any], as_of: dt.date, jobs: int | None, chunk_size: int, *, text: bool
) -> Iterator[Any]:
    n = _jobs(jobs)
    check_as_of(as_of)
    if n == 1:
        results = engine.evaluate_many(records, as_of)
        return (EvaluatedLine.of(r) for r in results) if text else results
    spec = _EngineSpec.of(engine)
    head, rest = _start(records, chunk_size)
    if rest is None:
        results = engine.evaluate_many(head, as_of)
        return (EvaluatedLine.of(r) for r in results) if text else results
    pipeline = _Pipeline(_Evaluate(spec, as_of, text), n, skip_events=_BATCH_EVENTS)
    return _evaluated(engine, pipeline, rest, chunk_size, text=text)


def _evaluated(
    engine: Engine, pipeline: _Pipeline, records: Iterable[Any], chunk_size: int, *, text: bool
) -> Iterator[Any]:
    """The pipeline's outputs, one by one, logged as ``Engine.evaluate_many`` logs them."""
    started = time.perf_counter()
    counts: Counter[str] = Counter()
    tally = {"results": 0, "errors": 0}
    try:
        for outputs in pipeline.run(records, chunk_size):
            for out in outputs:
                if text and isinstance(out, RecordError):
                    out = EvaluatedLine.of(out)  # a record of a lost chunk
                error = out.error if text else out if isinstance(out, RecordError) else None
                if error is not None:
                    tally["errors"] += 1
                    _log_invalid(engine, error)
                else:
                    tally["results"] += 1
                    counts.update(out.categories if text else [a.category for a in out.alerts])
                yield out
    finally:  # also when the consumer stops early
        _batch_finished(pipeline, tally, counts, started)


def _batch_finished(pipeline: _Pipeline, tally: dict[str, int], counts: Counter[str], started: float) -> None:
    """The one summary of a batch evaluated on workers, as ``Engine.evaluate_many`` logs it."""
    log.info(
        "batch.finished",
        **batch_summary(tally, counts, started),
        jobs=pipeline.jobs,
        chunks=pipeline.chunks,
        worker_restarts=pipeline.restarts,
    )


def _log_invalid(engine: Engine, item: RecordError) -> None:
    """The warning ``Engine.evaluate_many`` logs for each record it could not evaluate."""
    pid = item.patient_id
    log.warning(
        "batch.record_invalid",
        record=item.record,
        **({"line": item.line} if item.line is not None else {}),
        field=loggable_field(item.field),  # a made-up key may hold free text
        **({"patient_id": pid} if engine.log_patient_ids and pid else {}),
    )


def review_list(
    engine: Engine,
    records: Iterable[Any],
    as_of: dt.date,
    *,
    jobs: int | None = None,
    categories: Iterable[str] = REVIEW_CATEGORIES,
    min_severity: str = REVIEW_MIN_SEVERITY,
    limit: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ReviewList:
    """:func:`cocm_rules.review.review_list` on ``jobs`` processes (None: every core): each
    worker assesses its records; here the one-record-per-patient rule is applied in input
    order and the list ranked, so the list is the one :func:`~cocm_rules.review.review_list`
    gives. Raises as :func:`evaluate_many` and :func:`~cocm_rules.review.review_list` do."""
    n = _jobs(jobs)
    cats = tuple(categories)
    if n == 1:
        return review_in_process(engine, records, as_of, categories=cats, min_severity=min_severity, limit=limit)
    review_in_process(engine, [], as_of, categories=cats, min_severity=min_severity)  # the checks of the arguments
    check_as_of(as_of)
    spec = _EngineSpec.of(engine)
    head, rest = _start(records, chunk_size)
    if rest is None:
        return review_in_process(engine, head, as_of, categories=cats, min_severity=min_severity, limit=limit)
    started = time.perf_counter()
    pipeline = _Pipeline(_Review(spec, as_of, cats, min_severity), n)
    first = FirstRecords()
    errors: list[RecordError] = []
    chosen: list[ReviewEntry] = []
    evaluated = 0
    for outputs in pipeline.run(rest, chunk_size):
        for out in outputs:
            if isinstance(out, RecordError):
                errors.append(out)
                continue
            index, line, patient_id, entry = out
            repeated = first.repeated(index, line, patient_id)
            if repeated is not None:
                errors.append(repeated)
                continue
            evaluated += 1
            if entry is not None:
                chosen.append(entry)
    chosen.sort(key=lambda e: (rank_key(e.reasons, e.patient_id), e.record))  # review_list's order
    if limit is not None:
        chosen = chosen[:limit]
    entries = [e.model_copy(update={"rank": rank}) for rank, e in enumerate(chosen, start=1)]
    _finished("review", pipeline, evaluated + len(errors), len(errors), started)
    return ReviewList(as_of=as_of, patients_evaluated=evaluated, entries=entries, errors=errors)


def caseload_metrics(
    records: Iterable[Any],
    as_of: dt.date,
    *,
    jobs: int | None = None,
    per_care_manager: bool = True,
    care_manager_fte: Mapping[str, float] | None = None,
    payer_mix: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> CaseloadMetrics:
    """:func:`cocm_rules.caseload.caseload_metrics` (on the bundled measures) on ``jobs``
    processes (None: every core; ``care_manager_fte`` and ``payer_mix`` as there): each
    worker reduces its records to their
    :class:`~cocm_rules.caseload.PatientOutcome`; here the one-record-per-patient rule is
    applied in input order and the outcomes counted, so the metrics are the ones
    :func:`~cocm_rules.caseload.caseload_metrics` gives."""
    n = _jobs(jobs)

    def in_process(records: Iterable[Any]) -> CaseloadMetrics:
        return caseload_in_process(
            records, as_of, per_care_manager=per_care_manager, care_manager_fte=care_manager_fte, payer_mix=payer_mix
        )

    if n == 1:
        return in_process(records)
    counter = CaseloadCounter(
        as_of, per_care_manager=per_care_manager, care_manager_fte=care_manager_fte, payer_mix=payer_mix
    )  # checks as_of
    head, rest = _start(records, chunk_size)
    if rest is None:
        return in_process(head)
    started = time.perf_counter()
    pipeline = _Pipeline(_Caseload(as_of), n)
    first = FirstRecords()
    patients = errors = 0
    for outputs in pipeline.run(rest, chunk_size):
        if not outputs or isinstance(outputs[0], RecordError):  # the records of a lost chunk
            for error in outputs:
                counter.add(error)
            errors += len(outputs)
            continue
        [chunk] = outputs
        valid: list[bool] = []  # per valid record: counted here
        exact = True  # the chunk's part counts exactly the records counted here
        for out in chunk.records:
            if isinstance(out, RecordError):
                counter.add(out)
                errors += 1
                continue
            index, line, patient_id, in_part = out
            repeated = first.repeated(index, line, patient_id)
            if repeated is not None:  # seen in an earlier chunk (in_part) or earlier in this one
                counter.add(repeated)
                errors += 1
            else:
                patients += 1
            valid.append(repeated is None)
            exact = exact and in_part == (repeated is None)
        if exact:
            counter.merge(chunk.part)
        else:  # a patient of an earlier chunk again: count this chunk's first records one by one
            for fields, counts in zip(chunk.outcomes, valid, strict=True):
                if counts:
                    counter.add(PatientOutcome(*fields))
    _finished("caseload", pipeline, patients + errors, errors, started)
    return counter.metrics()


def _finished(what: str, pipeline: _Pipeline, records: int, errors: int, started: float) -> None:
    log.info(
        "parallel.finished",
        batch=what,
        records=records,
        errors=errors,
        jobs=pipeline.jobs,
        chunks=pipeline.chunks,
        worker_restarts=pipeline.restarts,
        seconds=round(time.perf_counter() - started, 3),
    )
