"""The fact catalog and the fact builder: an episode, as of a date, becomes named facts.

The catalog is the one table of every fact a ruleset may use: its name, type, unit and
meaning. Measure facts are named ``<measure>.<stat>`` (``phq9.latest``,
``phq9.pct_reduction``, ``cssrs_screener.level``); episode facts are plain names
(``weeks_in_treatment``, ``days_since_last_contact``). A fact that cannot be computed is
``None`` (missing). Only events dated on or before ``as_of`` count; no wall clock is read.

Conventions: units are in the name (``days_``, ``weeks_``, ``minutes_``, ``pct_`` = a fraction,
0.5 when a score halves); ``pct_reduction`` is positive when a score falls. Totals, bands and
changes come from *valid* administrations; flags, safety items and derived results come from
the *latest* administration, whatever its state, so an incomplete or invalid latest safety
screen fails closed (``safety_item_missing``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Literal

from ._text import join, suggest
from .episode import (
    EDUCATION,
    EMPLOYMENT,
    HOUSING,
    PROGRAMS,
    STATUSES,
    Assessment,
    Episode,
    parse_episode,
)
from .errors import InvalidInput
from .measures import MeasureDefinition, MeasureLibrary, load_measures
from .scoring import SAFETY_ITEM_MISSING, Score, ScoreData, scorer_for

__all__ = [
    "FactCatalog",
    "FactSpec",
    "ScoredAssessment",
    "catalog",
    "catalog_markdown",
    "facts",
    "scored_assessments",
]

FactType = Literal["number", "integer", "boolean", "date", "text"]
#: Contact kinds that involve the patient (a case review is the team and consultant only).
PATIENT_CONTACTS = ("initial_assessment", "follow_up", "psychiatric_consultation", "other")
#: Decimal places kept for fractional facts, so every backend compares identical values.
DECIMALS = 4


@dataclass(frozen=True)
class FactSpec:
    """One entry of the catalog."""

    name: str
    type: FactType
    meaning: str
    unit: str | None = None
    allowed: tuple[str, ...] | None = None  # for text facts
    minimum: float | None = None  # for number facts: the lowest possible value
    maximum: float | None = None
    measure: str | None = None  # for measure facts
    group: str = "episode"


@dataclass(frozen=True)
class ScoredAssessment:
    """An assessment and its score, or the reason it could not be scored."""

    index: int
    assessment: Assessment
    score: Score | ScoreData | None
    error: str | None = None

    @property
    def date(self) -> dt.date:
        """Date of the administration."""
        return self.assessment.date


# -- the per-measure series ------------------------------------------------------------------


def _ctx_for(defn: MeasureDefinition, a: Assessment, episode: Episode) -> dict[str, Any]:
    ctx = dict(a.context)
    if "sex" in defn.context and "sex" not in ctx and episode.sex is not None:
        ctx["sex"] = episode.sex
    return ctx


def scored_assessments(
    episode: Episode, library: MeasureLibrary | None = None, *, measure: str | None = None
) -> list[ScoredAssessment]:
    """Score every assessment of the episode (or of one measure) through the measure library.

    Invalid answers do not raise: the entry carries the error, naming the record and field.
    """
    lib = library if library is not None else load_measures()
    out = []
    for i, a in enumerate(episode.assessments):
        if measure is not None and a.measure != measure and lib.resolve(a.measure) != measure:
            continue
        out.append(_score_one(i, a, episode, lib))
    return out


def _score_one(
    i: int, a: Assessment, episode: Episode, lib: MeasureLibrary, *, fast: bool = False, scorer: Any = None
) -> ScoredAssessment:
    try:
        if scorer is None:
            scorer = scorer_for(lib.get_measure(lib.resolve(a.measure) or a.measure))
        defn = scorer.defn
        ctx = _ctx_for(defn, a, episode) if (a.context or scorer.needs_context) else {}
        s = scorer.score_data(a.answers, ctx, a.total) if fast else scorer.score(a.answers, ctx, a.total)
        return ScoredAssessment(i, a, s)
    except InvalidInput as e:
        return ScoredAssessment(i, a, None, str(e.in_record(f"patient {episode.patient_id!r}", f"assessments[{i}]")))


class _cached:
    """A lock-free ``cached_property`` (Python 3.11's takes a lock on every first access,
    which the fact builder does thousands of times per patient). Objects here are never
    shared between threads while they are being built."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


class _Series:
    """A measure's administrations up to ``as_of``, in date order, scored only when read.

    Most facts need the first valid, the last valid and the latest administration; those are
    found by scoring from either end until a valid one appears.
    """

    def __init__(
        self, defn: MeasureDefinition, entries: list[tuple[int, Assessment]], episode: Episode, library: MeasureLibrary
    ) -> None:
        self.defn = defn
        self.entries = entries  # sorted by (date, index)
        self.episode = episode
        self.library = library
        self.has_total = defn.total is not None
        self.scorer = scorer_for(defn)
        self._scored: list[ScoredAssessment | None] = [None] * len(entries)

    def at(self, k: int) -> ScoredAssessment:
        sa = self._scored[k]
        if sa is None:
            i, a = self.entries[k]
            sa = self._scored[k] = _score_one(i, a, self.episode, self.library, fast=True, scorer=self.scorer)
        return sa

    @_cached
    def valid_count(self) -> int:
        """Valid administrations, counted without scoring those whose answers are plainly
        valid (a complete list of allowed codes: see ``_Scorer.plain``)."""
        plain = self.scorer.plain
        n = 0
        for k, (_, a) in enumerate(self.entries):
            sa = self._scored[k]
            if sa is None and not a.context and a.total is None and plain(a.answers):
                n += 1  # valid without scoring
            elif self._ok(sa if sa is not None else self.at(k)):
                n += 1
        return n

    def _ok(self, sa: ScoredAssessment) -> bool:
        sc = sa.score
        return sc is not None and sc.valid and (sc.total is not None or not self.has_total)

    @_cached
    def admins(self) -> list[ScoredAssessment]:
        return [self.at(k) for k in range(len(self.entries))]

    @_cached
    def latest_any(self) -> ScoredAssessment | None:
        """The latest administration, valid or not. When several share the latest date, the
        one of most concern counts (see ``_concern``): their order in the record must not
        decide whether a suicide risk is seen."""
        n = len(self.entries)
        if not n:
            return None
        last = self.at(n - 1)
        if n == 1 or self.entries[n - 2][1].date != last.date:
            return last
        best, rank = last, _concern(last, self.defn)
        k = n - 1
        while k and self.entries[k - 1][1].date == last.date:
            k -= 1
            sa = self.at(k)
            r = _concern(sa, self.defn)
            if r > rank:
                best, rank = sa, r
        return best

    @_cached
    def baseline(self) -> ScoredAssessment | None:
        for k in range(len(self.entries)):
            if self._ok(sa := self.at(k)):
                return sa
        return None

    def _from_end(self, skip: int) -> ScoredAssessment | None:
        for k in range(len(self.entries) - 1, -1, -1):
            if self._ok(sa := self.at(k)):
                if not skip:
                    return sa
                skip -= 1
        return None

    @_cached
    def latest(self) -> ScoredAssessment | None:
        return self._from_end(0)

    @_cached
    def previous(self) -> ScoredAssessment | None:
        return self._from_end(1)

    @_cached
    def has_follow_up(self) -> bool:
        """At least two valid administrations (a baseline and a later one)."""
        return self.previous is not None


def _concern(sa: ScoredAssessment, defn: MeasureDefinition) -> tuple[bool, bool, bool, int, int]:
    """How much safety concern an administration shows, for choosing among same-day ones:
    urgent suicide risk, then suicide risk, then safety data missing or unreadable (which fails
    closed), then the higher band, then the higher safety answers."""
    sc = sa.score
    if sc is None:
        return (False, False, True, -1, 0)
    flags = sc.flags
    band = sc.band
    level = defn.band_names.index(band) if band is not None and band in defn.band_names else -1
    answers = sc.answers
    safety = sum(answers.get(i) or 0 for i in defn.safety_items)
    return ("urgent_suicide_risk" in flags, "suicide_risk" in flags, SAFETY_ITEM_MISSING in flags, level, safety)


def _round(x: float) -> float:
    if isinstance(x, int) or x.is_integer():
        return int(x)
    return round(x, DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


# -- the episode context ---------------------------------------------------------------------


_date = attrgetter("date")


def _entry_key(entry: tuple[int, Assessment]) -> tuple[dt.date, int]:
    return entry[1].date, entry[0]


class _Context:
    """Everything the fact functions need, computed lazily once per (episode, as_of)."""

    def __init__(self, episode: Episode, as_of: dt.date, library: MeasureLibrary) -> None:
        self.episode = episode
        self.as_of = as_of
        self.library = library
        self._series: dict[str, _Series | None] = {}

    def days(self, d: dt.date | None) -> int | None:
        return None if d is None else (self.as_of - d).days

    def series(self, measure: str) -> _Series | None:
        try:
            return self._series[measure]
        except KeyError:
            pass
        defn = self.library.get(measure)
        entries = self._by_measure.get(measure)
        result = None if defn is None or entries is None else _Series(defn, entries, self.episode, self.library)
        self._series[measure] = result
        return result

    @_cached
    def _by_measure(self) -> dict[str, list[tuple[int, Assessment]]]:
        """Administrations on or before as_of by measure, each list sorted by (date, index)."""
        as_of = self.as_of
        known = self.library.ids
        resolve = self.library.resolve
        out: dict[str, list[tuple[int, Assessment]]] = {}
        for i, a in enumerate(self.episode.assessments):
            if a.date <= as_of:
                measure = a.measure
                if measure not in known:  # an alias in an Episode built by hand, or an unknown id
                    measure = resolve(measure) or measure
                entries = out.get(measure)
                if entries is None:
                    out[measure] = [(i, a)]
                else:
                    if a.date < entries[-1][1].date:
                        entries.append((i, a))
                        entries.sort(key=_entry_key)
                        continue
                    entries.append((i, a))
        return out

    @_cached
    def administered(self) -> frozenset[str]:
        """Measures with at least one administration on or before as_of."""
        return frozenset(self._by_measure)

    @_cached
    def contacts(self) -> list[Any]:
        as_of = self.as_of
        return sorted([c for c in self.episode.contacts if c.date <= as_of], key=_date)

    def last_contact(self, *kinds: str) -> dt.date | None:
        """Latest contact of these kinds (default: any contact with the patient)."""
        wanted = kinds or PATIENT_CONTACTS
        for c in reversed(self.contacts):
            if c.kind in wanted:
                return c.date
        return None

    def first_contact(self, kind: str) -> dt.date | None:
        for c in self.contacts:
            if c.kind == kind:
                return c.date
        return None

    @_cached
    def smi(self) -> list[Any]:
        as_of = self.as_of
        return sorted([e for e in self.episode.smi_events if e.date <= as_of], key=_date)

    def smi_status(self, kind: str) -> str | None:
        for e in reversed(self.smi):
            if e.kind == kind:
                return e.status
        return None

    def smi_count(self, kind: str, days: int) -> int:
        return sum(1 for e in self.smi if e.kind == kind and (self.as_of - e.date).days < days)

    def smi_last(self, kind: str) -> int | None:
        for e in reversed(self.smi):
            if e.kind == kind:
                return self.days(e.date)
        return None

    def smi_lost(self, kind: str, good: tuple[str, ...]) -> int | None:
        """Days since a change from a good status to another one, while it lasts (None once
        the status is good again, or if it never was)."""
        prev = None
        lost = None
        for e in self.smi:
            if e.kind != kind:
                continue
            if prev in good and e.status not in good:
                lost = e.date
            elif e.status in good:
                lost = None
            prev = e.status
        return self.days(lost)

    @_cached
    def pending(self) -> list[Any]:
        return [
            r
            for r in self.episode.recommendations
            if r.date <= self.as_of
            and (r.status == "pending" or (r.resolved_date is not None and r.resolved_date > self.as_of))
        ]

    def any_measure_flag(self, flag: str) -> bool:
        administered = self.administered
        for measure in _flagging(self.library).get(flag, ()):
            if measure in administered:
                s = self.series(measure)
                if s and s.latest_any and s.latest_any.score and flag in s.latest_any.score.flags:
                    return True
        return False

    def count_latest(self, test: Callable[[ScoredAssessment], bool]) -> int:
        """Number of measures whose latest administration passes ``test``."""
        n = 0
        for measure in self.administered:
            s = self.series(measure)
            if s is not None and s.latest_any is not None and test(s.latest_any):
                n += 1
        return n

    @_cached
    def unrecognized(self) -> list[str]:
        """Measure ids administered on or before as_of that the library does not recognize, as
        written, in order."""
        return sorted(m for m in self._by_measure if m not in self.library.ids)

    @_cached
    def set_aside(self) -> list[Any]:
        """Records set aside (see :class:`~cocm_rules.episode.SetAside`) dated on or before
        as_of, or undated."""
        as_of = self.as_of
        return [x for x in self.episode.set_aside if x.date is None or x.date <= as_of]

    @_cached
    def set_aside_safety(self) -> list[str]:
        """Administrations set aside that may have held a safety answer newer than any read:
        of a measure with safety items, or of no recognized measure, undated or dated on or
        after that measure's latest administration. Each, in words."""
        out = []
        library = self.library
        for x in self.set_aside:
            if x.kind != "assessment":
                continue
            measure = (
                None if x.measure is None else (x.measure if x.measure in library.ids else library.resolve(x.measure))
            )
            when = x.date.isoformat() if x.date is not None else "undated"
            if measure is not None:
                if not library[measure].safety_items:
                    continue
                s = self.series(measure)
                latest = s.latest_any if s is not None else None
                if latest is not None and x.date is not None and x.date < latest.date:
                    continue  # older than an administration that was read: that one counts
            what = (
                library[measure].name if measure is not None else f"measure {x.measure!r}" if x.measure else "a measure"
            )
            out.append(f"an administration of {what} ({when}) could not be read: {x.reason}")
        return out

    def safety_missing_reasons(self) -> list[str]:
        """What makes suicide risk impossible to rule out, in words, one entry per measure."""
        out = [f"measure id {m!r} is not recognized (it may have been a safety screen)" for m in self.unrecognized]
        out += self.set_aside_safety
        administered = self.administered
        for measure in _flagging(self.library).get(SAFETY_ITEM_MISSING, ()):
            if measure in administered:
                s = self.series(measure)
                if s is not None and _safety_missing(s) is True:
                    out.append(_why_safety_missing(s))
        return out

    @_cached
    def invalid(self) -> list[str]:
        """Recognized measures whose latest administration could not be scored, sorted."""
        out = []
        for measure in self.administered:
            s = self.series(measure)
            if s is not None and s.latest_any is not None and s.latest_any.score is None:
                out.append(measure)
        return sorted(out)

    @_cached
    def safety_missing(self) -> bool:
        """The ``safety_item_missing`` fact (computed once: two facts read it)."""
        return self.any_safety_missing()

    def any_safety_missing(self) -> bool:
        administered = self.administered
        if self.unrecognized:
            return True  # an unrecognized measure id may be a safety screen: fails closed
        if self.episode.set_aside and self.set_aside_safety:
            return True  # a safety screen that could not be read fails closed
        for measure in _flagging(self.library).get(SAFETY_ITEM_MISSING, ()):
            if measure in administered:
                s = self.series(measure)
                if s and _safety_missing(s) is True:
                    return True
        return False


_FLAGGING: dict[int, tuple[MeasureLibrary, dict[str, tuple[str, ...]]]] = {}


def _flagging(library: MeasureLibrary) -> dict[str, tuple[str, ...]]:
    """Measures by the flags they can raise (safety_item_missing: measures with safety items)."""
    hit = _FLAGGING.get(id(library))
    if hit is not None and hit[0] is library:
        return hit[1]
    out: dict[str, list[str]] = {}
    for defn in library.values():
        for flag in defn.flags:
            out.setdefault(flag.name, []).append(defn.id)
        if defn.safety_items:
            out.setdefault(SAFETY_ITEM_MISSING, []).append(defn.id)
    table = {k: tuple(v) for k, v in out.items()}
    _FLAGGING[id(library)] = (library, table)
    return table


def _safety_missing(s: _Series) -> bool | None:
    last = s.latest_any
    if last is None:
        return None
    if last.score is None:
        return True  # invalid safety data fails closed
    return SAFETY_ITEM_MISSING in last.score.flags


def _items_phrase(defn: MeasureDefinition, item_ids: list[str], what: str) -> str:
    """``PHQ-9 item 9 was not sent``; ``C-SSRS screener items q3, q4 and q5 were not sent``."""
    names = [i.removeprefix("item") if i.removeprefix("item").isdigit() else i for i in item_ids]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{defn.label} item{'s' if len(names) > 1 else ''} {listed} {'were' if len(names) > 1 else 'was'} {what}"


def _sent_items(scorer: Any, answers: Any) -> set[str]:
    """The items a host sent a value for (null included): by position in a list, by key
    (item id, ``measure.item`` or LOINC code) in a mapping; none for a total alone."""
    if isinstance(answers, Mapping):
        return {scorer.alias[k] for k in answers if isinstance(k, str) and k in scorer.alias}
    if isinstance(answers, list):
        return set(scorer.ids[: len(answers)])
    return set()


def _why_safety_missing(s: _Series) -> str:
    """Why the latest administration of a measure with safety items cannot rule risk out."""
    last = s.latest_any
    assert last is not None
    defn = s.defn
    when = last.date.isoformat()
    if last.score is None:
        return f"the {defn.label} of {when} could not be scored (an invalid answer)"
    sent = _sent_items(s.scorer, last.assessment.answers)
    missing = [i for i in defn.safety_items if last.score.answers.get(i) is None and i in _required_now(s, last)]
    parts = [
        _items_phrase(defn, ids, what)
        for ids, what in (
            ([i for i in missing if i not in sent], "not sent"),
            ([i for i in missing if i in sent], "left unanswered"),
        )
        if ids
    ]
    return f"{'; '.join(parts) or f'a {defn.label} safety item was not answered'} ({when})"


def _required_now(s: _Series, sa: ScoredAssessment) -> set[str]:
    """The safety items the administration had to answer: those asked unconditionally, and
    those its skip logic asked (listed as missing by the scorer)."""
    score = sa.score
    assert score is not None
    return set(s.scorer.safety_ids) | set(score.missing_items)


def _set_aside_text(x: Any) -> str:
    when = x.date.isoformat() if x.date is not None else "undated"
    where = f", {x.source}" if x.source else ""
    what = x.kind.replace("_", " ") + (f" of {x.measure}" if x.measure else "")
    return f"{what} ({when}{where}): {x.reason}"


def _minutes_since(contacts: list[Any], first: dt.date) -> int:
    """Minutes of the contacts dated on or after ``first`` (contacts are in date order)."""
    total = 0
    for x in reversed(contacts):
        if x.date < first:
            break
        total += x.minutes or 0
    return total


def _months_between(a: dt.date, b: dt.date) -> int:
    return (b.year - a.year) * 12 + (b.month - a.month)


# -- the catalog -------------------------------------------------------------------------------

FactFn = Callable[[_Context], Any]


@dataclass
class FactCatalog:
    """All facts available for one measure library: specs in order, and how to compute each."""

    specs: dict[str, FactSpec] = field(default_factory=dict)
    fns: dict[str, FactFn] = field(default_factory=dict)

    def add(self, spec: FactSpec, fn: FactFn) -> None:
        """Register a fact (names are unique)."""
        if spec.name in self.specs:
            raise ValueError(f"fact {spec.name!r} defined twice")
        self.specs[spec.name] = spec
        self.fns[spec.name] = fn

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def __getitem__(self, name: str) -> FactSpec:
        return self.specs[name]

    def __iter__(self) -> Any:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def suggest(self, name: str) -> str | None:
        """The closest fact name ("did you mean")."""
        return suggest(name, self.specs, cutoff=0.75) or suggest(name, self.specs)

    def spec(self, name: str) -> FactSpec:
        """The spec of ``name``; raise InvalidInput with "did you mean" if unknown."""
        try:
            return self.specs[name]
        except KeyError:
            raise InvalidInput("unknown fact", field=name, suggestion=self.suggest(name)) from None

    def build(
        self,
        episode: Episode | Mapping[str, Any],
        as_of: dt.date,
        names: Iterable[str] | None = None,
        library: MeasureLibrary | None = None,
    ) -> dict[str, Any]:
        """Compute facts (all, or ``names``) for ``episode`` as of ``as_of``."""
        if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
            raise InvalidInput("as_of must be a date (not a date-time)", field="as_of", value=as_of)
        lib = library if library is not None else load_measures()
        ep = parse_episode(episode, library=lib)
        ctx = _Context(ep, as_of, lib)
        fns = self.fns
        if names is None:
            return {name: fn(ctx) for name, fn in fns.items()}
        return {name: fns[name](ctx) for name in names}


def _measure_facts(cat: FactCatalog, defn: MeasureDefinition) -> None:
    m = defn.id
    has_total = defn.total is not None
    lo, hi = defn.total.range if defn.total else (None, None)
    span = (hi - lo) if has_total else None

    def add(stat: str, type_: FactType, meaning: str, fn: Callable[[_Series, _Context], Any], **kw: Any) -> None:
        def f(ctx: _Context, _fn: Any = fn) -> Any:
            try:
                s = ctx._series[m]
            except KeyError:
                s = ctx.series(m)
            return None if s is None else _fn(s, ctx)

        name = f"{m}.{stat}"
        cat.add(FactSpec(name, type_, meaning, measure=m, group=m, **kw), f)

    def total_of(a: ScoredAssessment | None) -> Any:
        return None if a is None or a.score is None else a.score.total

    add(
        "count",
        "integer",
        f"number of valid {defn.name} administrations so far",
        lambda s, c: s.valid_count,
        unit="count",
        minimum=0,
    )
    add(
        "latest_date",
        "date",
        "date of the latest valid administration",
        lambda s, c: s.latest.date if s.latest else None,
    )
    add(
        "days_since_latest",
        "integer",
        "days from the latest valid administration to as_of",
        lambda s, c: c.days(s.latest.date) if s.latest else None,
        unit="days",
        minimum=0,
    )
    add(
        "last_administered_date",
        "date",
        "date of the latest administration, valid or not (safety facts and flags come from it)",
        lambda s, c: s.latest_any.date if s.latest_any else None,
    )
    add(
        "invalid_count",
        "integer",
        "administrations that could not be scored (invalid answers)",
        lambda s, c: sum(1 for a in s.admins if a.score is None),
        unit="count",
        minimum=0,
    )
    if has_total:
        rng = {"minimum": lo, "maximum": hi, "unit": "points"}
        add(
            "baseline",
            "number",
            "total of the first valid administration (the baseline)",
            lambda s, c: total_of(s.baseline),
            **rng,
        )
        add(
            "baseline_date",
            "date",
            "date of the baseline administration",
            lambda s, c: s.baseline.date if s.baseline else None,
        )
        add("latest", "number", "total of the latest valid administration", lambda s, c: total_of(s.latest), **rng)
        add(
            "previous",
            "number",
            "total of the valid administration before the latest",
            lambda s, c: total_of(s.previous),
            **rng,
        )
        add(
            "previous_date",
            "date",
            "date of the previous valid administration",
            lambda s, c: s.previous.date if s.previous else None,
        )

        def change(s: _Series, c: _Context) -> Any:
            if not s.has_follow_up:
                return None
            return _round(total_of(s.latest) - total_of(s.baseline))

        add(
            "change",
            "number",
            "latest minus baseline, in points (negative when the score fell); missing until there is a follow-up",
            change,
            unit="points",
            minimum=-span,
            maximum=span,
        )

        def change_prev(s: _Series, c: _Context) -> Any:
            if s.previous is None:
                return None
            return _round(total_of(s.latest) - total_of(s.previous))

        add(
            "change_from_previous",
            "number",
            "latest minus previous, in points (positive when the score rose)",
            change_prev,
            unit="points",
            minimum=-span,
            maximum=span,
        )

        def pct(sign: int) -> Callable[[_Series, _Context], Any]:
            def f(s: _Series, c: _Context) -> Any:
                if not s.has_follow_up:
                    return None
                b = total_of(s.baseline) - lo
                if b == 0:
                    return None
                return _round(sign * (total_of(s.latest) - total_of(s.baseline)) / b)

            return f

        floor_note = f" (measured from the lowest possible total, {lo})" if lo else ""
        add(
            "pct_change",
            "number",
            f"(latest - baseline) / baseline{floor_note}, a fraction: -0.5 when the score "
            "halves; missing without a follow-up or with a baseline at the floor",
            pct(1),
            unit="fraction",
            maximum=None,
        )
        add(
            "pct_reduction",
            "number",
            f"(baseline - latest) / baseline{floor_note}, a fraction: 0.5 when the "
            "score halves; missing without a follow-up or with a baseline at the floor",
            pct(-1),
            unit="fraction",
            maximum=1,
        )
    if defn.bands is not None and defn.band_names:
        allowed = tuple(defn.band_names)
        if defn.bands.ranges:
            add(
                "band",
                "text",
                "band of the latest valid administration",
                lambda s, c: s.latest.score.band if s.latest and s.latest.score else None,
                allowed=allowed,
            )
            add(
                "baseline_band",
                "text",
                "band of the baseline administration",
                lambda s, c: s.baseline.score.band if s.baseline and s.baseline.score else None,
                allowed=allowed,
            )
        else:
            add(
                "band",
                "text",
                "level of the latest administration (null while undetermined)",
                lambda s, c: s.latest_any.score.band if s.latest_any and s.latest_any.score else None,
                allowed=allowed,
            )
    targets = defn.targets
    if targets is not None and targets.response is not None and targets.response.min_reduction is not None:
        share = targets.response.min_reduction

        def response(s: _Series, c: _Context) -> Any:
            if not s.has_follow_up:
                return None
            b, latest = total_of(s.baseline) - lo, total_of(s.latest) - lo
            if b <= 0:
                return None  # a baseline at the floor cannot fall by a share of itself
            return latest <= (1 - share) * b

        add(
            "response",
            "boolean",
            f"latest total at least {share:.0%} below the baseline "
            f"({targets.response.source}, {targets.response.status}); missing without a follow-up",
            response,
        )
    if targets is not None and targets.remission is not None and targets.remission.below is not None:
        below = targets.remission.below
        add(
            "remission",
            "boolean",
            f"latest total below {below} ({targets.remission.source}, {targets.remission.status})",
            lambda s, c: (total_of(s.latest) < below) if s.latest else None,
        )

    def run_weeks(ok: Callable[[Any, Any], bool]) -> Callable[[_Series, _Context], Any]:
        """Whole weeks from the first to the latest administration of the current run of valid
        administrations meeting ``ok(total, baseline_total)``; 0 when the latest does not.
        Walks back from the latest, scoring only as far as the run goes."""

        def f(s: _Series, c: _Context) -> Any:
            latest, first = s.latest, s.baseline
            if latest is None or first is None:
                return None
            base = total_of(first)
            start = None
            for k in range(len(s.entries) - 1, -1, -1):
                a = s.at(k)
                if not s._ok(a):
                    continue
                if (a is first and start is not None) or not ok(total_of(a), base):
                    break
                start = a.date
            return 0 if start is None else (latest.date - start).days // 7

        return f

    if targets is not None and targets.remission is not None and targets.remission.below is not None:
        cut = targets.remission.below
        add(
            "remission_weeks",
            "integer",
            f"whole weeks the current run of administrations below {cut} has "
            "lasted (first to latest of the run); 0 when the latest is not in remission",
            run_weeks(lambda t, b, _cut=cut: t < _cut),
            unit="weeks",
            minimum=0,
        )
    if targets is not None and targets.response is not None and targets.response.min_reduction is not None:
        keep = 1 - targets.response.min_reduction

        def responded(t: Any, b: Any, _keep: float = keep, _lo: Any = lo) -> bool:
            return b - _lo > 0 and t - _lo <= _keep * (b - _lo)

        add(
            "response_weeks",
            "integer",
            "whole weeks the current run of follow-up administrations meeting the "
            "response definition has lasted; 0 when the latest is not a response",
            run_weeks(responded),
            unit="weeks",
            minimum=0,
        )
    for name in ("reliable_change", "meaningful_change"):
        target = getattr(targets, name, None) if targets else None
        if target is not None and target.points is not None:
            pts = target.points
            word = "better" if targets is not None and targets.higher_is == "better" else "worse"

            def improved(s: _Series, c: _Context, _pts: int = pts, _word: str = word) -> Any:
                if not s.has_follow_up:
                    return None
                delta = total_of(s.latest) - total_of(s.baseline)
                return (delta >= _pts) if _word == "better" else (-delta >= _pts)

            add(
                f"{name.split('_')[0]}_improvement",
                "boolean",
                f"improved by at least {pts} points from baseline ({name.replace('_', ' ')}; {target.source}, "
                f"{target.status})",
                improved,
            )

    # Latest administration: flags, safety items, results, subscores.
    def latest_score(s: _Series) -> Score | ScoreData | None:
        return s.latest_any.score if s.latest_any else None

    for flag in defn.flags:

        def flag_fn(s: _Series, c: _Context, _flag: str = flag.name) -> Any:
            sc = latest_score(s)
            if sc is None or _flag in sc.undetermined_flags:
                return None  # cannot be ruled out: safety_item_missing says why
            return _flag in sc.flags

        add(flag.name, "boolean", f"latest administration flags {flag.name}: {flag.description}", flag_fn)
    if defn.safety_items:
        add(
            "safety_item_missing",
            "boolean",
            "latest administration has a safety item unanswered, or could not be scored (fails closed)",
            lambda s, c: _safety_missing(s),
        )
    for item_id in defn.safety_items:
        it = defn.item(item_id)
        vals = [v.value for v in defn.scales[it.scale].values]

        def item_fn(s: _Series, c: _Context, _id: str = item_id) -> Any:
            sc = latest_score(s)
            return None if sc is None else sc.answers.get(_id)

        add(
            f"{item_id}_latest",
            "integer",
            f"answer to {item_id} ({it.label}) in the latest administration",
            item_fn,
            minimum=min(vals),
            maximum=max(vals),
        )
    for res in defn.results:
        if res.kind == "condition":
            kw: dict[str, Any] = {}
            type_: FactType = "boolean"
        elif res.kind == "first_match":
            type_ = "text"
            kw = {"allowed": (*(c.value for c in res.cases or []), res.otherwise)}
        else:
            type_ = "number"
            kw = {}

        def res_fn(s: _Series, c: _Context, _id: str = res.id) -> Any:
            sc = latest_score(s)
            return None if sc is None else sc.results.get(_id)

        add(res.id, type_, f"{res.id} of the latest administration: {res.description.strip()}", res_fn, **kw)
    for sub in defn.subscores:

        def sub_fn(s: _Series, c: _Context, _id: str = sub.id) -> Any:
            return s.latest.score.subscores.get(_id) if s.latest and s.latest.score else None

        add(sub.id, "integer", f"subscore {sub.label} of the latest valid administration", sub_fn, unit="points")
    if defn.report_item_levels:
        ids = [i.id for i in defn.items]
        for it in defn.items:
            vals = [v.value for v in defn.scales[it.scale].values if not v.missing]

            def lvl(s: _Series, c: _Context, _id: str = it.id) -> Any:
                sc = latest_score(s)
                return None if sc is None else sc.answers.get(_id)

            def lvl_change(s: _Series, c: _Context, _id: str = it.id) -> Any:
                scored = [a.score for a in s.admins if a.score is not None]
                if len(scored) < 2:
                    return None
                new, old = scored[-1].answers.get(_id), scored[-2].answers.get(_id)
                return None if new is None or old is None else new - old

            add(
                f"{it.id}_latest",
                "integer",
                f"{it.label}: rating in the latest administration",
                lvl,
                minimum=min(vals),
                maximum=max(vals),
            )
            add(
                f"{it.id}_change",
                "integer",
                f"{it.label}: latest rating minus the previous one",
                lvl_change,
                minimum=min(vals) - max(vals),
                maximum=max(vals) - min(vals),
            )

        def worsened(s: _Series, c: _Context) -> Any:
            scored = [a.score for a in s.admins if a.score is not None]
            if len(scored) < 2:
                return None
            new, old = scored[-1].answers, scored[-2].answers
            return sum(1 for i in ids if new.get(i) is not None and old.get(i) is not None and new[i] > old[i])

        add(
            "items_worsened",
            "integer",
            "number of items rated higher than in the previous administration",
            worsened,
            unit="count",
            minimum=0,
            maximum=len(ids),
        )

    def mismatch(s: _Series, c: _Context) -> Any:
        sc = latest_score(s)
        return None if sc is None or sc.total_agrees is None else not sc.total_agrees

    if has_total:
        add(
            "total_mismatch",
            "boolean",
            "the latest administration's reported total differs from the total recomputed from its items",
            mismatch,
        )


def _episode_facts(cat: FactCatalog) -> None:
    def add(name: str, type_: FactType, meaning: str, fn: FactFn, **kw: Any) -> None:
        cat.add(FactSpec(name, type_, meaning, **kw), fn)

    def add_dated(date_name: str, days_name: str, what: str, date: FactFn) -> None:
        """A date fact and its "days since" twin, from one description and one date function."""
        add(date_name, "date", f"date of {what}", date)
        add(days_name, "integer", f"days since {what}", lambda c: c.days(date(c)), unit="days", minimum=0)

    add(
        "program",
        "text",
        "cocm (primary care Collaborative Care) or smi (serious mental illness)",
        lambda c: c.episode.program,
        allowed=PROGRAMS,
    )
    add("status", "text", "registry status of the episode", lambda c: c.episode.status, allowed=STATUSES)
    add("care_manager", "text", "the episode's care manager id (free text)", lambda c: c.episode.care_manager)
    add("enrollment_date", "date", "referral / enrollment date", lambda c: c.episode.enrollment_date)
    add(
        "days_since_enrollment",
        "integer",
        "days from enrollment to as_of",
        lambda c: c.days(c.episode.enrollment_date),
        unit="days",
    )
    add(
        "has_initial_assessment",
        "boolean",
        "an initial assessment contact is recorded",
        lambda c: c.first_contact("initial_assessment") is not None,
    )
    add_dated(
        "initial_assessment_date",
        "days_since_initial_assessment",
        "the initial assessment",
        lambda c: c.first_contact("initial_assessment"),
    )
    add(
        "weeks_in_treatment",
        "integer",
        "whole weeks since the initial assessment (treatment start)",
        lambda c: None if (d := c.days(c.first_contact("initial_assessment"))) is None else d // 7,
        unit="weeks",
        minimum=0,
    )
    add_dated(
        "last_contact_date",
        "days_since_last_contact",
        "the latest contact with the patient (a case review without the patient does not count)",
        lambda c: c.last_contact(),
    )
    add_dated(
        "last_follow_up_date",
        "days_since_last_follow_up",
        "the latest follow-up contact",
        lambda c: c.last_contact("follow_up"),
    )
    add(
        "contacts_last_30d",
        "integer",
        "contacts with the patient in the 30 days up to and including as_of (case reviews do not count)",
        lambda c: sum(1 for x in c.contacts if x.kind in PATIENT_CONTACTS and (c.as_of - x.date).days < 30),
        unit="count",
        minimum=0,
    )
    add(
        "follow_up_contacts",
        "integer",
        "number of follow-up contacts so far",
        lambda c: sum(1 for x in c.contacts if x.kind == "follow_up"),
        unit="count",
        minimum=0,
    )
    add(
        "sessions",
        "integer",
        "number of initial assessment and follow-up contacts so far (registry 'sessions')",
        lambda c: sum(1 for x in c.contacts if x.kind in ("initial_assessment", "follow_up")),
        unit="count",
        minimum=0,
    )
    add_dated(
        "last_psych_consult_date",
        "days_since_psych_consult",
        "the latest psychiatric consultation",
        lambda c: c.last_contact("psychiatric_consultation"),
    )
    add_dated(
        "last_case_review_date",
        "days_since_case_review",
        "the latest systematic case review with the consultant",
        lambda c: c.last_contact("case_review"),
    )
    add(
        "days_since_consultant_review",
        "integer",
        "days since the patient was last discussed with the psychiatric consultant (consultation or case review)",
        lambda c: c.days(c.last_contact("psychiatric_consultation", "case_review")),
        unit="days",
        minimum=0,
    )
    add(
        "minutes_this_month",
        "integer",
        "care-team minutes in the calendar month of as_of, up to as_of",
        lambda c: _minutes_since(c.contacts, c.as_of.replace(day=1)),
        unit="minutes",
        minimum=0,
    )
    add(
        "cocm_month",
        "integer",
        "calendar month of care-manager activity: 1 in the month of the first contact",
        lambda c: _months_between(c.contacts[0].date, c.as_of) + 1 if c.contacts else None,
        unit="months",
        minimum=1,
    )
    add(
        "has_relapse_prevention_plan",
        "boolean",
        "a relapse prevention plan is dated on or before as_of",
        lambda c: (
            c.episode.relapse_prevention_plan_date is not None and c.episode.relapse_prevention_plan_date <= c.as_of
        ),
    )
    add_dated(
        "relapse_prevention_plan_date",
        "days_since_relapse_prevention_plan",
        "the relapse prevention plan, if dated on or before as_of",
        lambda c: d if (d := c.episode.relapse_prevention_plan_date) is not None and d <= c.as_of else None,
    )
    add(
        "pending_recommendations",
        "integer",
        "psychiatric consultant recommendations not yet acted on",
        lambda c: len(c.pending),
        unit="count",
        minimum=0,
    )
    add(
        "days_since_oldest_pending_recommendation",
        "integer",
        "days since the oldest recommendation still pending",
        lambda c: c.days(min(r.date for r in c.pending)) if c.pending else None,
        unit="days",
        minimum=0,
    )
    add(
        "suicide_risk",
        "boolean",
        "the latest administration of any measure flags suicide_risk",
        lambda c: c.any_measure_flag("suicide_risk"),
    )
    add(
        "urgent_suicide_risk",
        "boolean",
        "the latest administration of any measure flags urgent_suicide_risk",
        lambda c: c.any_measure_flag("urgent_suicide_risk"),
    )
    add(
        "safety_item_missing",
        "boolean",
        "the latest administration of a measure with safety items has one "
        "unanswered or could not be scored, or a measure the library does not know was "
        "administered (it may have been a safety screen): risk cannot be ruled out",
        lambda c: c.safety_missing,
    )
    add(
        "safety_missing_reason",
        "text",
        "why suicide risk cannot be ruled out, in words: which safety item of which measure was not "
        "sent or was left unanswered (e.g. 'PHQ-9 item 9 was not sent (2026-11-02)'), which administration "
        "could not be scored, which measure id was not recognized; missing when safety_item_missing is not true",
        lambda c: "; ".join(c.safety_missing_reasons()) if c.safety_missing else None,
    )
    add(
        "set_aside_count",
        "integer",
        "records the host or a reader could not use as sent (an unreadable administration, a contact "
        "or its minutes, a plan), dated on or before as_of or undated",
        lambda c: len(c.set_aside),
        unit="count",
        minimum=0,
    )
    add(
        "set_aside_reasons",
        "text",
        "what was set aside and why, in words (missing when nothing was)",
        lambda c: "; ".join(_set_aside_text(x) for x in c.set_aside) or None,
    )
    add(
        "measures_latest_invalid",
        "integer",
        "measures whose latest administration could not be scored (an invalid answer or unknown measure)",
        lambda c: len(c.invalid) + len(c.unrecognized),
        unit="count",
        minimum=0,
    )
    add(
        "measures_latest_invalid_names",
        "text",
        "the measures measures_latest_invalid counts: each measure id, and each id that is not recognized "
        "as sent, marked so (e.g. \"gad7, 'PHQ9x' (not recognized)\"); missing when there are none",
        lambda c: ", ".join([*c.invalid, *(f"{m!r} (not recognized)" for m in c.unrecognized)]) or None,
    )
    add(
        "measures_total_mismatch",
        "integer",
        "measures whose latest administration has a reported total that differs from the recomputed one",
        lambda c: c.count_latest(lambda a: a.score is not None and a.score.total_agrees is False),
        unit="count",
        minimum=0,
    )
    add(
        "days_since_last_assessment",
        "integer",
        "days since the latest administration of any measure",
        lambda c: c.days(max((entries[-1][1].date for entries in c._by_measure.values()), default=None)),
        unit="days",
        minimum=0,
    )
    # SMI outcomes (SMI Adviser domains).
    add(
        "hospitalizations_last_90d",
        "integer",
        "psychiatric hospitalizations in the 90 days up to as_of",
        lambda c: c.smi_count("hospitalization", 90),
        unit="count",
        minimum=0,
        group="smi",
    )
    add(
        "ed_visits_last_90d",
        "integer",
        "emergency department visits in the 90 days up to as_of",
        lambda c: c.smi_count("ed_visit", 90),
        unit="count",
        minimum=0,
        group="smi",
    )
    add(
        "days_since_last_hospitalization",
        "integer",
        "days since the latest hospitalization",
        lambda c: c.smi_last("hospitalization"),
        unit="days",
        minimum=0,
        group="smi",
    )
    add(
        "days_since_last_ed_visit",
        "integer",
        "days since the latest emergency department visit",
        lambda c: c.smi_last("ed_visit"),
        unit="days",
        minimum=0,
        group="smi",
    )
    # (domain, allowed statuses, the good status, how the loss reads)
    for kind, allowed, good, lost in (
        ("housing", HOUSING, "stable", "from stable to unstable or homeless"),
        ("employment", EMPLOYMENT, "employed", "from employed to another status"),
        ("education", EDUCATION, "enrolled", "from enrolled to not enrolled"),
    ):
        add(
            f"{kind}_status",
            "text",
            f"latest recorded {kind} status",
            lambda c, _kind=kind: c.smi_status(_kind),
            allowed=allowed,
            group="smi",
        )
        add(
            f"days_since_{kind}_lost",
            "integer",
            f"days since {kind} changed {lost}; missing once it is {good} again",
            lambda c, _kind=kind, _good=(good,): c.smi_lost(_kind, _good),
            unit="days",
            minimum=0,
            group="smi",
        )


_CATALOGS: dict[int, tuple[MeasureLibrary, FactCatalog]] = {}


def catalog(library: MeasureLibrary | None = None) -> FactCatalog:
    """The fact catalog for a measure library (the bundled one by default); cached."""
    lib = library if library is not None else load_measures()
    hit = _CATALOGS.get(id(lib))
    if hit is not None and hit[0] is lib:
        return hit[1]
    cat = FactCatalog()
    _episode_facts(cat)
    for defn in lib.values():
        _measure_facts(cat, defn)
    _CATALOGS[id(lib)] = (lib, cat)
    return cat


def facts(
    episode: Episode | Mapping[str, Any],
    as_of: dt.date,
    *,
    names: Iterable[str] | None = None,
    library: MeasureLibrary | None = None,
) -> dict[str, Any]:
    """Facts of ``episode`` as of ``as_of``: every catalog fact, or only ``names``.

    Raises :class:`~cocm_rules.InvalidInput` for an invalid episode record or an unknown
    fact name (with "did you mean").
    """
    cat = catalog(library)
    if names is not None:
        names = list(names)
        for n in names:
            if n not in cat:
                raise InvalidInput(
                    "unknown fact", field=n, allowed="see `cocm-rules facts --catalog`", suggestion=cat.suggest(n)
                )
    return cat.build(episode, as_of, names, library)


def value_fits(spec: FactSpec, value: Any) -> bool:
    """Whether a (non-missing) value has the fact's type and is one of its allowed values."""
    if spec.type == "boolean":
        return isinstance(value, bool)
    if spec.type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.type == "number":  # an int is never turned into a float: one beyond float range still fits the type
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value)
        )
    if spec.type == "date":
        return isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    return isinstance(value, str) and (spec.allowed is None or value in spec.allowed)


def describe_allowed(spec: FactSpec) -> str:
    """Human description of a fact's type for messages: ``a number (points, 0..27)``."""
    if spec.type == "text":
        return f"text, one of: {join(spec.allowed)}" if spec.allowed else "text"
    if spec.type in ("number", "integer"):
        rng = ""
        if spec.minimum is not None or spec.maximum is not None:
            rng = f", {'' if spec.minimum is None else spec.minimum}..{'' if spec.maximum is None else spec.maximum}"
        return f"a {'whole ' if spec.type == 'integer' else ''}number ({spec.unit or 'no unit'}{rng})"
    return {"boolean": "true or false", "date": "a date (YYYY-MM-DD)"}[spec.type]


def catalog_markdown(library: MeasureLibrary | None = None) -> str:
    """The fact catalog as a Markdown document (``docs/facts.md`` is generated from this)."""
    lib = library if library is not None else load_measures()
    cat = catalog(lib)
    lines = [
        "# Fact catalog",
        "",
        "<!-- Generated from the code by `cocm-rules facts --catalog --markdown`; do not edit by hand. -->",
        "",
        "Rulesets may only use these names. A fact that cannot be computed is *missing*; every",
        "comparison with a missing fact is false, so say `is missing` / `is present` when that is",
        "what you mean. Units are in the names (`days_`, `weeks_`, `minutes_`; `pct_` is a fraction:",
        "0.5 when a score halves). Only events dated on or before `as_of` count.",
        "",
    ]
    groups: dict[str, list[FactSpec]] = {}
    for spec in cat.specs.values():
        groups.setdefault(spec.group, []).append(spec)
    titles = {"episode": "Episode", "smi": "Serious mental illness outcomes"}
    order = ["episode", "smi", *sorted(g for g in groups if g not in ("episode", "smi"))]
    for group in order:
        specs = groups.get(group)
        if not specs:
            continue
        title = titles.get(group) or f"{lib[group].name} (`{group}`)"
        lines += [f"## {title}", "", "| fact | type | unit | meaning |", "|---|---|---|---|"]
        for spec in specs:
            kind = spec.type
            if spec.allowed:
                kind += ": " + ", ".join(f"`{v}`" for v in spec.allowed)
            elif spec.minimum is not None or spec.maximum is not None:
                lo = "" if spec.minimum is None else f"{spec.minimum:g}"
                hi = "" if spec.maximum is None else f"{spec.maximum:g}"
                kind += f" ({lo}..{hi})"
            meaning = " ".join(spec.meaning.split()).replace("|", "/")
            lines.append(f"| `{spec.name}` | {kind} | {spec.unit or ''} | {meaning} |")
        lines.append("")
    return "\n".join(lines)
