"""The Engine: validated rulesets + a backend + the fact builder, one patient at a time.

>>> import datetime as dt
>>> from cocm_rules import Engine
>>> engine = Engine.load()                               # the bundled default rulesets
>>> episode = {"patient_id": "p1", "program": "cocm", "enrollment_date": "2026-10-01",
...            "status": "active_treatment",
...            "assessments": [{"measure": "phq9", "date": "2026-11-02",
...                             "answers": [0, 0, 0, 0, 0, 0, 0, 0, 1]}]}
>>> alerts = engine.evaluate(episode, as_of=dt.date(2026, 11, 2))
>>> alerts[0].category
'suicide_risk'
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import _json
from ._fast import fast_constructor
from ._log import get_logger
from .alerts import Alert, make_alert, sort_alerts
from .episode import Episode, loggable_field, parse_episode, patient_id_of_pairs, patient_id_problem
from .errors import InvalidInput
from .facts import DECIMALS, EpisodeView, FactCatalog, FactSpec, catalog, describe_allowed, value_fits
from .measures import MeasureLibrary
from .rules.compiled import CompiledBackend
from .rules.ir import ProgramIR
from .rules.loader import RulesetSet, load_rulesets

__all__ = ["BACKENDS", "Engine", "PatientResult", "RecordError", "iter_episodes"]

log = get_logger(__name__)

BACKENDS = ("compiled", "durable")


class PatientResult(BaseModel):
    """The alerts of one input record, in review order."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["result"] = "result"
    record: int = Field(description="0-based position of the record in the input")
    patient_id: str
    as_of: dt.date
    alerts: list[Alert]


_result = fast_constructor(
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


def iter_episodes(
    records: Iterable[Any], library: MeasureLibrary | None = None
) -> Iterator[tuple[int, Episode | RecordError]]:
    """Parse a stream of records lazily: each yields its index and its Episode, or the
    RecordError that says why it is not one (a record is never dropped). Measure ids are read
    through ``library`` (the bundled measures by default; see :func:`parse_episode`).

    Raises TypeError for one record (a text, bytes, a mapping, an Episode) or a path given in
    place of an iterable of records.
    """
    refuse_one_record(records)
    for index, record in enumerate(records):
        if isinstance(record, RecordError):  # a reader already failed on this record
            yield index, record if record.record == index else record.model_copy(update={"record": index})
            continue
        try:
            yield index, parse_episode(record, record_ref=str(index), library=library)
        except InvalidInput as e:
            not_json = getattr(record, "invalid_json", None)  # a batch.JsonLine names its line
            error = not_json(index) if not_json is not None else None
            yield (
                index,
                error
                or RecordError(
                    record=index,
                    line=getattr(record, "lineno", None),
                    patient_id=_patient_id(record),
                    field=e.field,
                    error=e.detail,  # the record and line are fields of their own
                ),
            )


def refuse_one_record(records: Any) -> None:
    """Raise TypeError for one record (a text, bytes, a mapping, an Episode) or a path given in
    place of an iterable of records."""
    if isinstance(records, str | bytes | bytearray | Mapping | Episode | Path):
        raise TypeError(
            f"records must be an iterable of episode records (mappings, JSON texts or Episodes), "
            f"not one {type(records).__name__}: pass a list of records, or read_records(path) to read a file"
        )


def _backend(program: ProgramIR, name: str) -> Any:
    if name == "compiled":
        return CompiledBackend(program)
    if name == "durable":
        from .rules._durable import DurableBackend

        return DurableBackend(program)
    raise InvalidInput("unknown backend", field="backend", value=name, allowed=", ".join(BACKENDS))


class Engine:
    """Evaluates a validated set of rulesets on patient episodes."""

    def __init__(
        self,
        rulesets: RulesetSet,
        *,
        backend: str = "compiled",
        safety_floor: bool = True,
        log_patient_ids: bool = False,
        skip_reason: str | None = None,
    ) -> None:
        self.rulesets = rulesets
        self.library: MeasureLibrary = rulesets.library
        self.program = rulesets.program
        self.backend_name = backend
        self.backend = _backend(self.program, backend)
        self.catalog: FactCatalog = catalog(self.library)
        self.needed: tuple[str, ...] = self.program.facts_needed
        self._rule_params = {
            r.rule_id: {name: rs.parameters[name].value for name in rs.parameters}
            for rs in rulesets.rulesets
            for r in rs.rules
        }
        self.log_patient_ids = log_patient_ids
        self.safety_floor_checked = False
        if safety_floor:
            from .rules.safety import check_safety_floor

            check_safety_floor(self)
            self.safety_floor_checked = True
        elif skip_reason is not None:  # an internal, deliberate skip (e.g. running embedded tests)
            log.debug("engine.safety_floor_skipped", reason=skip_reason)
        else:
            log.warning("engine.safety_floor_skipped", rulesets=[rs.name for rs in rulesets.rulesets])
        log.info(
            "engine.loaded",
            backend=backend,
            rulesets=[f"{rs.name}@{rs.version}" for rs in rulesets.rulesets],
            rules=len(self.program.rules),
            facts=len(self.needed),
            program=self.program.digest[:16],
            safety_floor=self.safety_floor_checked,
        )

    @classmethod
    def load(
        cls,
        paths: str | Path | Iterable[str | Path] | None = None,
        *,
        backend: str = "compiled",
        library: MeasureLibrary | None = None,
        safety_floor: bool = True,
        log_patient_ids: bool = False,
    ) -> Engine:
        """Load rulesets (the bundled defaults when ``paths`` is None) and prepare a backend.

        Raises :class:`~cocm_rules.RulesetError` for invalid files and
        :class:`~cocm_rules.SafetyFloorError` if the set does not escalate the built-in
        suicide-risk cases. ``safety_floor=False`` skips that check, loudly (for testing a
        partial ruleset only). ``backend`` is ``"compiled"`` (default) or ``"durable"``.
        """
        if backend not in BACKENDS:
            raise InvalidInput("unknown backend", field="backend", value=backend, allowed=", ".join(BACKENDS))
        rulesets = load_rulesets(paths, library=library)
        return cls(rulesets, backend=backend, safety_floor=safety_floor, log_patient_ids=log_patient_ids)

    # -- evaluation ---------------------------------------------------------------------------
    def facts(self, episode: Episode | Mapping[str, Any], as_of: dt.date) -> dict[str, Any]:
        """The facts this engine's rules read, for ``episode`` as of ``as_of``."""
        ep = parse_episode(episode, library=self.library)
        _check_as_of(as_of)
        return self._facts(EpisodeView(ep, as_of, self.library))

    def _facts(self, ctx: EpisodeView) -> dict[str, Any]:
        """Every fact the rules read, computed now (in catalog order)."""
        lazy = _LazyFacts(ctx, self.catalog.fns)
        return {name: lazy[name] for name in self.needed}

    def evaluate(self, episode: Episode | Mapping[str, Any], as_of: dt.date) -> list[Alert]:
        """Alerts for one patient as of ``as_of``, highest priority first.

        Raises :class:`~cocm_rules.InvalidInput` for an invalid episode record.
        """
        ep = parse_episode(episode, library=self.library)
        return self._evaluate(ep, as_of)

    def _evaluate(self, ep: Episode, as_of: dt.date) -> list[Alert]:
        _check_as_of(as_of)
        # Facts are computed as the rules read them: a rule that fails on its first comparison
        # never needs the rest (about half the facts, on the example caseload).
        facts = _LazyFacts(EpisodeView(ep, as_of, self.library), self.catalog.fns)
        return self._alerts(facts, as_of, ep.patient_id)

    def assess(
        self, episode: Episode | Mapping[str, Any], as_of: dt.date, extra_facts: Iterable[str] = ()
    ) -> tuple[list[Alert], dict[str, Any]]:
        """Alerts and facts from one pass over the episode: the facts the rules read plus
        ``extra_facts`` (e.g. the registry columns of the review list)."""
        ep = parse_episode(episode, library=self.library)
        _check_as_of(as_of)
        ctx = EpisodeView(ep, as_of, self.library)
        facts = self._facts(ctx)
        fns = self.catalog.fns
        for name in extra_facts:
            if name not in facts:
                if name not in fns:
                    raise InvalidInput("unknown fact", field=name, suggestion=self.catalog.suggest(name))
                facts[name] = fns[name](ctx)
        return self._alerts(facts, as_of, ep.patient_id), facts

    def evaluate_facts(self, facts: Mapping[str, Any], as_of: dt.date, patient_id: str | None = None) -> list[Alert]:
        """Alerts for a prepared set of facts (facts not given are missing).

        Each value is checked against the catalog (type, allowed values and, for numbers, the
        fact's range; a number must also be within the range of a float) and fractional
        numbers are rounded to the catalog's precision, as the fact builder does, so every
        backend sees the same values. Raises :class:`~cocm_rules.InvalidInput` otherwise.
        """
        _check_as_of(as_of)
        full: dict[str, Any] = dict.fromkeys(self.needed)
        for name, value in facts.items():
            spec = self.catalog.specs.get(name)
            if spec is None:
                raise InvalidInput("unknown fact", field=name, suggestion=self.catalog.suggest(name))
            if value is not None:
                if not value_fits(spec, value):
                    raise InvalidInput(f"a value of {name} must be {describe_allowed(spec)}", field=name, value=value)
                if spec.type in ("number", "integer"):
                    _check_number(spec, value)
                if isinstance(value, float):
                    value = int(value) if value.is_integer() else round(value, DECIMALS) + 0.0
            if name in full:
                full[name] = value
        return self._alerts(full, as_of, patient_id)

    def _alerts(self, facts: Mapping[str, Any], as_of: dt.date, patient_id: str | None) -> list[Alert]:
        rules = self.backend.matches(facts)
        if not rules:
            return []
        alerts = [make_alert(r, facts, as_of, patient_id, self._rule_params[r.rule_id]) for r in rules]
        return sort_alerts(alerts) if len(alerts) > 1 else alerts

    def evaluate_many(
        self, records: Iterable[Mapping[str, Any] | str | bytes | Episode], as_of: dt.date
    ) -> Iterator[PatientResult | RecordError]:
        """Evaluate a stream of records lazily: each record yields a result or an error record.

        Memory stays flat in the number of patients: one record is held at a time.
        """
        _check_as_of(as_of)
        started = time.perf_counter()
        counts: Counter[str] = Counter()
        tally = {"results": 0, "errors": 0}
        try:
            for index, item in iter_episodes(records, self.library):
                if isinstance(item, RecordError):
                    tally["errors"] += 1
                    pid = item.patient_id
                    log.warning(
                        "batch.record_invalid",
                        record=index,
                        **({"line": item.line} if item.line is not None else {}),
                        field=loggable_field(item.field),  # a made-up key may hold free text
                        **({"patient_id": pid} if self.log_patient_ids and pid else {}),
                    )
                    yield item
                    continue
                alerts = self._evaluate(item, as_of)
                tally["results"] += 1
                for a in alerts:
                    counts[a.category] += 1
                yield _result(
                    {"kind": "result", "record": index, "patient_id": item.patient_id, "as_of": as_of, "alerts": alerts}
                )
        finally:  # also when the consumer stops early
            log.info(
                "batch.finished",
                records=tally["results"] + tally["errors"],
                results=tally["results"],
                errors=tally["errors"],
                alerts=sum(counts.values()),
                alerts_by_category=dict(sorted(counts.items())),
                seconds=round(time.perf_counter() - started, 3),
            )


class _LazyFacts(dict):  # type: ignore[type-arg]
    """A patient's facts, each computed when first read with ``facts[name]`` (and kept).

    ``get``, ``in`` and iteration see only the facts read so far: the backends and alert
    builders read facts by subscript only.
    """

    __slots__ = ("ctx", "fns")

    def __init__(self, ctx: EpisodeView, fns: Mapping[str, Any]) -> None:
        super().__init__()
        self.ctx = ctx
        self.fns = fns

    def __missing__(self, name: str) -> Any:
        value = self[name] = self.fns[name](self.ctx)
        return value


def _check_number(spec: FactSpec, value: int | float) -> None:
    """Refuse a number outside the fact's range, or beyond the range of a float (which no fact
    can hold, and which would fail later where the number is compared or written out)."""
    if abs(value) > sys.float_info.max:
        raise InvalidInput(
            f"a value of {spec.name} must be within the range of a floating-point number (about 1.8e308)",
            field=spec.name,
            value=value,
        )
    if (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum):
        raise InvalidInput(
            f"a value of {spec.name} is out of range; it must be {describe_allowed(spec)}", field=spec.name, value=value
        )


def _check_as_of(as_of: Any) -> None:
    if isinstance(as_of, str):
        raise InvalidInput(
            "as_of must be a datetime.date, not text: use datetime.date.fromisoformat(...)", field="as_of", value=as_of
        )
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise InvalidInput("as_of must be a date (YYYY-MM-DD), not a date-time", field="as_of", value=as_of)


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
