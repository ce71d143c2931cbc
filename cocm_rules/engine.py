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
from typing import Any

from ._log import get_logger
from ._text import suggest
from .alerts import Acknowledgement, Alert, AlertMaker, sort_alerts
from .episode import Episode, loggable_field, parse_episode
from .errors import InvalidInput
from .facts import DECIMALS, EpisodeView, FactCatalog, FactSpec, catalog, describe_allowed, value_fits
from .lifecycle import (
    IdentityPlan,
    alert_identity,
    apply_acknowledgements,
    evidence_identity,
    identity_plans,
    parse_acknowledgements,
)
from .light_episode import AnyEpisode
from .measures import MeasureLibrary
from .records import PatientResult, RecordError, iter_episodes, iter_light_episodes, make_result
from .rules.compiled import CompiledBackend
from .rules.coverage import Coverage, coverage
from .rules.ir import ProgramIR, RuleIR
from .rules.loader import RulesetSet, load_rulesets
from .rules.safety import check_safety_floor
from .rules.testing import CaseResult, run_cases
from .rules.trace import Explanation, explain_rule

__all__ = [
    "BACKENDS",
    "Engine",
    "PatientResult",
    "RecordError",
    "batch_summary",
    "check_as_of",
    "iter_episodes",
    "run_tests",
    "ruleset_coverage",
]

log = get_logger(__name__)

BACKENDS = ("compiled", "durable")


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
        # The fact plan: the needed facts of each measure, all missing for a patient who has no
        # administration of it (so they are never computed one by one), and those missing
        # facts by the set of measures a patient has (a few dozen sets on a real caseload).
        by_measure: dict[str, list[str]] = {}
        for name in self.needed:
            measure = self.catalog.series_of.get(name)
            if measure is not None:
                by_measure.setdefault(measure, []).append(name)
        self._facts_by_measure = {m: tuple(names) for m, names in by_measure.items()}
        self._absent: dict[frozenset[str], dict[str, None]] = {}
        # each rule's alert builder: its fields, message text and parameters prepared once
        params_of = {
            r.rule_id: {name: rs.parameters[name].value for name in rs.parameters}
            for rs in rulesets.rulesets
            for r in rs.rules
        }
        self._makers = {r.rule_id: AlertMaker(r, params_of[r.rule_id]) for r in self.program.rules}
        caps = {r.rule_id: rs.max_snooze_days for rs in rulesets.rulesets for r in rs.rules}
        self.identity: dict[str, IdentityPlan] = identity_plans(self.program, self.catalog, self.library, caps)
        self.log_patient_ids = log_patient_ids
        self.safety_floor_checked = False
        if safety_floor:
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
        check_as_of(as_of)
        return self._facts(EpisodeView(ep, as_of, self.library))

    def _facts(self, ctx: EpisodeView) -> dict[str, Any]:
        """Every fact the rules read, computed now (in catalog order)."""
        lazy = self._lazy_facts(ctx)
        return {name: lazy[name] for name in self.needed}

    def _lazy_facts(self, ctx: EpisodeView) -> _LazyFacts:
        """The patient's facts, computed as they are read; those of measures the patient has
        no administration of are missing from the start (see the fact plan in ``__init__``)."""
        facts = _LazyFacts(ctx, self.catalog.fns)
        administered = ctx.administered
        absent = self._absent.get(administered)
        if absent is None:
            absent = {
                name: None for m, names in self._facts_by_measure.items() if m not in administered for name in names
            }
            if len(self._absent) < _ABSENT_SETS:
                self._absent[administered] = absent
        facts.update(absent)
        return facts

    def evaluate(
        self,
        episode: Episode | Mapping[str, Any],
        as_of: dt.date,
        acknowledgements: Iterable[Acknowledgement | Mapping[str, Any]] | None = None,
    ) -> list[Alert]:
        """Alerts for one patient as of ``as_of``, highest priority first.

        Each alert has a stable ``alert_id`` and a ``state`` given ``acknowledgements`` (those
        of other patients, or recorded after ``as_of``, are ignored): acknowledged and snoozed
        alerts stay in the list, with their state (see :mod:`cocm_rules.lifecycle`).

        Raises :class:`~cocm_rules.InvalidInput` for an invalid episode record or acknowledgement.
        """
        ep = parse_episode(episode, library=self.library)
        acks = parse_acknowledgements(acknowledgements)
        return self._evaluate(ep, as_of, [k for k in acks if k.patient_id == ep.patient_id])

    def _evaluate(self, ep: AnyEpisode, as_of: dt.date, acks: list[Acknowledgement] | None = None) -> list[Alert]:
        check_as_of(as_of)
        # Facts are computed as the rules read them: a rule that fails on its first comparison
        # never needs the rest (about half the facts, on the example caseload).
        facts = self._lazy_facts(EpisodeView(ep, as_of, self.library))
        return self._alerts(facts, as_of, ep.patient_id, acks)

    def assess(
        self,
        episode: Episode | Mapping[str, Any],
        as_of: dt.date,
        extra_facts: Iterable[str] = (),
        acknowledgements: Iterable[Acknowledgement | Mapping[str, Any]] | None = None,
    ) -> tuple[list[Alert], dict[str, Any]]:
        """Alerts and facts from one pass over the episode: the facts the rules read plus
        ``extra_facts`` (e.g. the registry columns of the review list); the alerts' states
        as :meth:`evaluate` gives them."""
        ep = parse_episode(episode, library=self.library)
        acks = [k for k in parse_acknowledgements(acknowledgements) if k.patient_id == ep.patient_id]
        check_as_of(as_of)
        lazy = _LazyFacts(EpisodeView(ep, as_of, self.library), self.catalog.fns)
        facts = {name: lazy[name] for name in self.needed}
        fns = self.catalog.fns
        for name in extra_facts:
            if name not in facts:
                if name not in fns:
                    raise InvalidInput("unknown fact", field=name, suggestion=self.catalog.suggest(name))
                facts[name] = lazy[name]
        return self._alerts(lazy, as_of, ep.patient_id, acks), facts

    def evaluate_facts(self, facts: Mapping[str, Any], as_of: dt.date, patient_id: str | None = None) -> list[Alert]:
        """Alerts for a prepared set of facts (facts not given are missing).

        Each value is checked against the catalog (type, allowed values and, for numbers, the
        fact's range; a number must also be within the range of a float) and fractional
        numbers are rounded to the catalog's precision, as the fact builder does, so every
        backend sees the same values. Raises :class:`~cocm_rules.InvalidInput` otherwise.
        """
        check_as_of(as_of)
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

    def _alerts(
        self,
        facts: Mapping[str, Any],
        as_of: dt.date,
        patient_id: str | None,
        acks: list[Acknowledgement] | None = None,
    ) -> list[Alert]:
        rules = self.backend.matches(facts)
        if not rules:
            return []
        read = facts.__getitem__ if isinstance(facts, _LazyFacts) else facts.get
        makers, identity = self._makers, self.identity
        alerts = [
            makers[r.rule_id](
                facts,
                as_of,
                patient_id,
                alert_identity(patient_id, r.rule_id, evidence_identity(identity[r.rule_id], read, as_of)),
            )
            for r in rules
        ]
        if acks:
            alerts = apply_acknowledgements(alerts, acks, self.identity, as_of, read)
        return sort_alerts(alerts) if len(alerts) > 1 else alerts

    def explain(self, episode: Episode | Mapping[str, Any], as_of: dt.date, rule_id: str) -> Explanation:
        """Why rule ``rule_id`` fires or does not for ``episode`` as of ``as_of``: each part of its
        condition with the fact's value (or missing), the comparison, the threshold (and the
        parameter it came from) and the result. Works as well for a rule that did not fire.

        Raises :class:`~cocm_rules.InvalidInput` for an unknown rule id or an invalid episode.
        """
        rule = self.rule(rule_id)
        ep = parse_episode(episode, library=self.library)
        check_as_of(as_of)
        facts = _LazyFacts(EpisodeView(ep, as_of, self.library), self.catalog.fns)
        return explain_rule(rule, facts, as_of, ep.patient_id)

    def rule(self, rule_id: str) -> RuleIR:
        """The loaded rule ``rule_id``; :class:`~cocm_rules.InvalidInput` (with "did you mean")
        when no loaded ruleset has it."""
        for rule in self.program.rules:
            if rule.rule_id == rule_id:
                return rule
        ids = [r.rule_id for r in self.program.rules]
        raise InvalidInput(
            "no loaded ruleset has this rule", field="rule", value=rule_id, suggestion=suggest(rule_id, ids)
        )

    def evidence_identity(self, alert: Alert, episode: Episode | Mapping[str, Any]) -> dict[str, Any]:
        """The evidence identity an alert's ``alert_id`` is a hash of (for explaining it)."""
        ep = parse_episode(episode, library=self.library)
        facts = _LazyFacts(EpisodeView(ep, alert.as_of, self.library), self.catalog.fns)
        return evidence_identity(self.identity[alert.rule_id], facts.__getitem__, alert.as_of)

    def evaluate_many(
        self,
        records: Iterable[Mapping[str, Any] | str | bytes | Episode],
        as_of: dt.date,
        acknowledgements: Iterable[Acknowledgement | Mapping[str, Any]] | None = None,
    ) -> Iterator[PatientResult | RecordError]:
        """Evaluate a stream of records lazily: each record yields a result or an error record.

        Memory stays flat in the number of patients: one record is held at a time (and the
        ``acknowledgements``, grouped by patient id, which set the alerts' states).
        """
        check_as_of(as_of)
        by_patient: dict[str, list[Acknowledgement]] = {}
        for ack in parse_acknowledgements(acknowledgements):
            by_patient.setdefault(ack.patient_id, []).append(ack)
        started = time.perf_counter()
        counts: Counter[str] = Counter()
        tally = {"results": 0, "errors": 0}
        try:
            for index, item in iter_light_episodes(records, self.library):
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
                alerts = self._evaluate(item, as_of, by_patient.get(item.patient_id))
                tally["results"] += 1
                for a in alerts:
                    counts[a.category] += 1
                yield make_result(
                    {"kind": "result", "record": index, "patient_id": item.patient_id, "as_of": as_of, "alerts": alerts}
                )
        finally:  # also when the consumer stops early
            log.info("batch.finished", **batch_summary(tally, counts, started))


#: How many sets of administered measures the fact plan keeps the missing facts of.
_ABSENT_SETS = 4096


def batch_summary(tally: Mapping[str, int], counts: Mapping[str, int], started: float) -> dict[str, Any]:
    """The fields of a batch's one ``batch.finished`` event (counts only, never values):
    records, results and errors (``tally``), alerts in all and by category (``counts``), and
    the seconds since ``started`` (``time.perf_counter()``)."""
    return {
        "records": tally["results"] + tally["errors"],
        "results": tally["results"],
        "errors": tally["errors"],
        "alerts": sum(counts.values()),
        "alerts_by_category": dict(sorted(counts.items())),
        "seconds": round(time.perf_counter() - started, 3),
    }


class _LazyFacts(dict):
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


def check_as_of(as_of: Any) -> None:
    """Raise :class:`~cocm_rules.InvalidInput` unless ``as_of`` is a ``datetime.date`` (not
    text, not a date-time): the check every evaluation makes, for adapters that check before
    they start (e.g. the Spark adapter, on the driver)."""
    if isinstance(as_of, str):
        raise InvalidInput(
            "as_of must be a datetime.date, not text: use datetime.date.fromisoformat(...)", field="as_of", value=as_of
        )
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise InvalidInput("as_of must be a date (YYYY-MM-DD), not a date-time", field="as_of", value=as_of)


def run_tests(rulesets: RulesetSet, *, backend: str = "compiled") -> list[CaseResult]:
    """Run every embedded test case of every ruleset in the set on ``backend`` (the safety
    floor is checked by loading, not here: ``cocm-rules test`` runs both)."""
    engine = Engine(rulesets, backend=backend, safety_floor=False, skip_reason="embedded tests")
    return run_cases(engine)


def ruleset_coverage(rulesets: RulesetSet) -> Coverage:
    """What the embedded test cases of every ruleset in the set exercise: for each rule, the
    cases that fire it, its near misses and the parts of its condition driven true and false
    (see :mod:`cocm_rules.rules.coverage`; traced on the IR, so the same for every backend)."""
    engine = Engine(rulesets, safety_floor=False, skip_reason="embedded test coverage")
    return coverage(engine)
