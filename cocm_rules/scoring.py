"""The one generic scorer: interprets a :class:`~cocm_rules.measures.MeasureDefinition`.

``score(measure_id, answers, **context)`` validates answers (no clamping, no defaults),
applies the measure's missing-item policy, computes the total, subscores, derived results
(screens, provisional diagnoses, triage levels, conversions), the band and the flags, and
returns a :class:`Score` that says what it did: which items were missing, whether the total
was prorated, and which elements used rest on unconfirmed sources.

Conditions are evaluated with three-valued logic: a missing answer makes a comparison
*unknown*. A flag is set only when its condition is known to hold, so safety flags still
fire from the items that were answered; a missing safety item sets ``safety_item_missing``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._text import join, suggest
from .errors import InvalidInput
from .measures import NOT_CONFIRMED, Condition, MeasureDefinition, MeasureLibrary, load_measures
from .vocabulary import SAFETY_ITEM_MISSING

__all__ = ["SAFETY_ITEM_MISSING", "Score", "ScoreData", "Scorer", "score", "scorer_for"]


Env = dict[str, Any]


class _NotAsked:
    """Marks a question skipped by the form's skip logic: not unknown, and never a match."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_ASKED"


NOT_ASKED: Any = _NotAsked()
Tri = bool | None  # three-valued truth: True, False, or unknown (None)
CondFn = Callable[[Env], Tri]


class Score(BaseModel):
    """The result of scoring one administration of a measure.

    ``valid`` is true when the measure's rules allow a score: every required item answered,
    or the missing ones within the documented proration allowance. ``total`` is ``None`` when
    it cannot be computed; it is never a silent sum over missing items.
    """

    model_config = ConfigDict(frozen=True)

    measure: str = Field(description="measure id, e.g. 'phq9'")
    definition_version: str = Field(description="version of the measure definition file used")
    total: int | float | None = Field(description="total score; float only when prorated")
    total_range: list[int] | None = Field(description="lowest and highest possible total")
    total_source: Literal["items", "prorated", "reported"] | None = Field(
        description="how the total was obtained: summed from items, prorated, or reported by the host (a total "
        "sent alone, or beside answers that do not give a total)"
    )
    band: str | None = Field(description="severity band (or triage level) name, snake_case")
    flags: list[str] = Field(description="sorted flags, e.g. suicide_risk, safety_item_missing")
    undetermined_flags: list[str] = Field(
        default_factory=list,
        description="flags that could neither be set nor ruled out because an item they read is unanswered",
    )
    valid: bool = Field(description="the measure's rules allow a score from these answers")
    complete: bool = Field(description="every required item was answered")
    missing_items: list[str] = Field(description="required items that were not answered")
    prorated: bool = Field(description="the total was prorated under the missing-item policy")
    missing_policy: str = Field(description="the measure's missing-item policy")
    provisional_diagnosis: str | None = Field(
        default=None, description="result of the instrument's provisional diagnostic algorithm, if it has one"
    )
    positive_screen: bool | None = Field(default=None, description="result of the screening cut-off, if any")
    subscores: dict[str, int | None] = Field(default_factory=dict, description="cluster or domain sums")
    results: dict[str, Any] = Field(default_factory=dict, description="every derived result by id")
    item_levels: dict[str, str | None] | None = Field(default=None, description="per-item level names")
    answers: dict[str, int | None] = Field(description="the validated answers, coded, by item id")
    reported_total: int | float | None = Field(default=None, description="total reported by the host")
    total_agrees: bool | None = Field(default=None, description="whether the reported total equals the recomputed one")
    unconfirmed: list[str] = Field(
        default_factory=list, description="elements used that rest on secondary or unconfirmed sources"
    )
    notes: list[str] = Field(default_factory=list, description="what the scorer did, in words")


class ScoreData:
    """What :meth:`Scorer.score_data` gives: the fields of :class:`Score` as plain attributes,
    without pydantic's cost; results, flags and notes are computed when first read.

    The fact builder scores many administrations per patient and reads a few fields of each;
    :meth:`to_score` gives the :class:`Score`.
    """

    #: Besides these, ``safety_item_missing``: whether ``flags`` holds ``safety_item_missing``,
    #: known without computing the flags (the safety facts read it for every patient).
    fields = tuple(Score.model_fields)
    #: Fields computed on first access (most administrations only need validity and total).
    deferred = frozenset(
        {
            "band",
            "flags",
            "undetermined_flags",
            "provisional_diagnosis",
            "positive_screen",
            "results",
            "item_levels",
            "unconfirmed",
            "notes",
        }
    )

    def __init__(self, finish: Callable[[ScoreData], None] | None = None, **fields: Any) -> None:
        self.__dict__.update(fields)
        self._finish = finish

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not yet set: the deferred ones.
        finish = self.__dict__.get("_finish")
        if name in ScoreData.deferred and finish is not None:
            self._finish = None
            finish(self)
            return self.__dict__[name]
        if name == "safety_item_missing":
            return SAFETY_ITEM_MISSING in self.flags
        raise AttributeError(name)

    def to_score(self) -> Score:
        """The public, validated-shape Score."""
        return Score.model_construct(**{name: getattr(self, name) for name in self.fields})


# -- condition compilation --------------------------------------------------------------------


def _and(parts: list[CondFn]) -> CondFn:
    def f(env: Env) -> Tri:
        unknown = False
        for p in parts:
            r = p(env)
            if r is False:
                return False
            if r is None:
                unknown = True
        return None if unknown else True

    return f


def _or(parts: list[CondFn]) -> CondFn:
    def f(env: Env) -> Tri:
        unknown = False
        for p in parts:
            r = p(env)
            if r is True:
                return True
            if r is None:
                unknown = True
        return None if unknown else False

    return f


def _not(part: CondFn) -> CondFn:
    def f(env: Env) -> Tri:
        r = part(env)
        return None if r is None else not r

    return f


def _compile(c: Condition, defn: MeasureDefinition, params: Mapping[str, float]) -> CondFn:
    """A condition as a closure over the environment of one administration (three-valued)."""
    if c.all is not None:
        return _and([_compile(x, defn, params) for x in c.all])
    if c.any is not None:
        return _or([_compile(x, defn, params) for x in c.any])
    if c.not_ is not None:
        return _not(_compile(c.not_, defn, params))
    lo = _bound(c.at_least, params)
    hi = _bound(c.at_most, params)
    if c.count_present is not None:
        return _count_present(tuple((i, defn.item(i).present_at) for i in c.count_present), lo, hi)
    assert c.of is not None
    return _comparison(c.of, _tests(c, lo, hi))


def _bound(value: Any, params: Mapping[str, float]) -> Any:
    """An ``at_least``/``at_most``: a number, or the value of the parameter it names."""
    if value is None:
        return None
    return params[value] if isinstance(value, str) else value


def _count_present(thresholds: tuple[tuple[str, Any], ...], lo: Any, hi: Any) -> CondFn:
    """How many items reach their ``present_at``, compared with ``lo``/``hi``: unknown when
    unanswered items could change the answer."""

    def count(env: Env) -> Tri:
        present = unknown = 0
        for item_id, at in thresholds:
            v = env[item_id]
            if v is None:
                unknown += 1
            elif v is not NOT_ASKED and v >= at:
                present += 1
        # The true count lies in [present, present + unknown]: known only if the answer is
        # the same at both ends (the condition is an interval, so it is the same between).
        most = present + unknown
        if (lo is not None and most < lo) or (hi is not None and present > hi):
            return False
        if (lo is None or present >= lo) and (hi is None or most <= hi):
            return True
        return None

    return count


def _tests(c: Condition, lo: Any, hi: Any) -> list[Callable[[Any], bool]]:
    """The comparisons of an ``of`` condition, one test per key present."""
    tests: list[Callable[[Any], bool]] = []
    if lo is not None:
        tests.append(lambda x: x >= lo)
    if hi is not None:
        tests.append(lambda x: x <= hi)
    if c.equals is not None:
        eq = c.equals
        tests.append(lambda x: x == eq)
    if c.in_ is not None:
        members = frozenset(c.in_)
        tests.append(lambda x: x in members)
    return tests


def _comparison(name: str, tests: list[Callable[[Any], bool]]) -> CondFn:
    """The value of ``name`` passes every test: unknown when it has no value, false when the
    question was not asked."""
    if len(tests) == 1:
        test = tests[0]

        def compare_one(env: Env) -> Tri:
            v = env.get(name)
            if v is None:
                return None
            if v is NOT_ASKED:
                return False
            return test(v)

        return compare_one

    def compare(env: Env) -> Tri:
        v = env.get(name)
        if v is None:
            return None
        if v is NOT_ASKED:
            return False
        return all(t(v) for t in tests)

    return compare


# -- the compiled scorer ------------------------------------------------------------------------


class Scorer:
    """A measure definition prepared for fast repeated scoring; get one with :func:`scorer_for`.

    :func:`score` is ``scorer_for(defn).score(answers, context, reported_total)``. A host that
    scores many administrations keeps the scorer and calls :meth:`score` (a :class:`Score`)
    or :meth:`score_data` (the same fields as a light :class:`ScoreData`, results and flags
    computed only when read). :meth:`normalize` validates answers alone, :meth:`context`
    context and parameters alone, and :meth:`safety_item_missing` is the fail-closed rule for
    suicide-risk items. Attributes a caller may read: ``defn`` (the definition), ``ids`` (item
    ids in order), ``alias`` (every name an answer may be given under -> item id),
    ``safety_ids`` (required safety items without skip logic), ``needs_context``,
    ``has_total``, ``min_len`` (the fewest answers a list may hold) and ``params_default``.
    """

    def __init__(self, defn: MeasureDefinition) -> None:
        self.defn = defn
        self.id = defn.id
        items = defn.items
        self.ids = [i.id for i in items]
        self.alias: dict[str, str] = {}
        for it in items:
            self.alias[it.id] = it.id
            self.alias[f"{defn.id}.{it.id}"] = it.id
            if it.loinc:
                self.alias[it.loinc.code] = it.id
        self.values: dict[str, frozenset[int]] = {}
        self.missing_codes: dict[str, frozenset[int]] = {}
        self.item_min: dict[str, int] = {}  # the lowest and highest answer that counts (not 'not assessed')
        self.item_max: dict[str, int] = {}
        self.yes_no: set[str] = set()
        self.allowed_text: dict[str, str] = {}
        self.level_ids: dict[str, dict[int, str | None]] = {}
        for it in items:
            scale = defn.scales[it.scale]
            self.values[it.id] = frozenset(v.value for v in scale.values)
            self.missing_codes[it.id] = frozenset(v.value for v in scale.values if v.missing)
            counted = [v.value for v in scale.values if not v.missing]
            self.item_min[it.id], self.item_max[it.id] = min(counted), max(counted)
            if scale.yes_no:
                self.yes_no.add(it.id)
            self.allowed_text[it.id] = join(f"{v.value} = {v.label}" for v in scale.values) + (
                " (or yes/no)" if scale.yes_no else ""
            )
            self.level_ids[it.id] = {v.value: v.id for v in scale.values}
        last_required = max((n for n, it in enumerate(items) if it.required and it.asked_when is None), default=-1)
        self.min_len = last_required + 1
        self.required_plain = [it.id for it in items if it.required and it.asked_when is None]
        self.optional_ids = [it.id for it in items if not it.required]
        self.defaults: dict[str, int | None] = dict.fromkeys(self.ids)
        self.total_ids = defn.total_items
        self.total_id_set = frozenset(self.total_ids)
        self.has_total = defn.total is not None
        self.total_range = list(defn.total.range) if defn.total else None
        self.prorate_max = defn.missing.max_missing if defn.missing.policy == "prorate" else 0
        self.safety_ids = [it.id for it in items if it.safety and it.required and it.asked_when is None]
        self.safety_conditional = [it.id for it in items if it.asked_when and it.safety and it.required]
        self.subscores = [(s.id, list(s.items)) for s in defn.subscores]
        if defn.bands and defn.bands.ranges:
            self.band_mins = [b.min for b in defn.bands.ranges]
            self.band_names = [b.name for b in defn.bands.ranges]
        else:
            self.band_mins, self.band_names = [], []
        self.band_result = defn.bands.from_result if defn.bands else None
        self.params_default = {k: p.value for k, p in defn.parameters.items()}
        self.needs_context = any(v.required for v in defn.context.values())
        self.fast_values = {i: frozenset(v for v in self.values[i] if v not in self.missing_codes[i]) for i in self.ids}
        self.fast_seq = [self.fast_values[i] for i in self.ids]
        # Answer lists of these lengths may take the shortened path (:meth:`_complete`): the
        # items left off are optional, unconditional and in no total or subscore. Never when
        # the measure needs context.
        position = {i: n for n, i in enumerate(self.ids)}
        needed = [position[i] for i in (*self.total_ids, *(i for _, its in self.subscores for i in its))]
        tail = len(items)
        while tail and not items[tail - 1].required and items[tail - 1].asked_when is None:
            tail -= 1
        self.short_min = max(tail, max(needed, default=-1) + 1)
        self.short_max = -1 if self.needs_context else len(items)
        self.tail_ids = self.ids[self.short_min :]
        self.n_items = len(items)
        k = len(self.total_ids)
        self.total_prefix = k if list(self.total_ids) == self.ids[:k] else None
        self._compiled: dict[tuple[tuple[str, float], ...], _Plan] = {}
        self._default_plan: _Plan | None = None

    def plan(self, params: Mapping[str, float]) -> _Plan:
        """The compiled conditions (skip logic, flags, results) for these parameter values,
        made once per set of values: thresholds are baked into the closures."""
        if params is self.params_default:
            plan = self._default_plan
            if plan is None:
                plan = self._default_plan = _Plan(self.defn, params)
            return plan
        key = tuple(sorted(params.items()))
        plan = self._compiled.get(key)
        if plan is None:
            plan = self._compiled[key] = _Plan(self.defn, params)
        return plan

    # -- input validation ---------------------------------------------------------------
    def _value(self, item_id: str, raw: Any) -> int | None:
        if raw is None:
            return None
        if isinstance(raw, bool | str):
            if item_id in self.yes_no:
                if isinstance(raw, bool):
                    return int(raw)
                word = raw.strip().lower()
                if word in ("yes", "y", "true"):
                    return 1
                if word in ("no", "n", "false"):
                    return 0
            raise InvalidInput(
                "an answer must be one of the item's coded values",
                measure=self.id,
                item=item_id,
                value=raw,
                allowed=self.allowed_text[item_id],
            )
        if isinstance(raw, float):
            if not raw.is_integer():
                raise InvalidInput(
                    "an answer must be a whole number",
                    measure=self.id,
                    item=item_id,
                    value=raw,
                    allowed=self.allowed_text[item_id],
                )
            raw = int(raw)
        if not isinstance(raw, int):
            raise InvalidInput(
                "an answer must be a number",
                measure=self.id,
                item=item_id,
                value=raw,
                allowed=self.allowed_text[item_id],
            )
        if raw not in self.values[item_id]:
            raise InvalidInput(
                "answer out of range",
                measure=self.id,
                item=item_id,
                value=raw,
                allowed=self.allowed_text[item_id],
            )
        return None if raw in self.missing_codes[item_id] else raw

    def normalize(self, answers: Sequence[Any] | Mapping[str, Any]) -> dict[str, int | None]:
        """Validated, coded answers by item id (None = not answered / not assessed)."""
        values = dict(self.defaults)
        if isinstance(answers, Mapping):
            keys: dict[str, Any] = {}
            for key, raw in answers.items():
                item_id = self.alias.get(key) if isinstance(key, str) else None
                if item_id is None:
                    raise InvalidInput(
                        "unknown item",
                        measure=self.id,
                        item=str(key),
                        allowed=join(self.ids),
                        suggestion=suggest(str(key), self.ids),
                    )
                if item_id in keys:
                    # Two keys (id, measure.id or LOINC code) for one item: the last one must not
                    # silently win, or a "0" could hide a positive suicide item.
                    raise InvalidInput(
                        f"the item is given twice, as {keys[item_id]!r} and {key!r}; give each item once",
                        measure=self.id,
                        item=item_id,
                    )
                keys[item_id] = key
                values[item_id] = self._value(item_id, raw)
            return values
        if isinstance(answers, str | bytes) or not isinstance(answers, Sequence):
            raise InvalidInput(
                "answers must be a list in item order or a mapping of item id to value",
                measure=self.id,
                value=answers,
            )
        n = len(answers)
        if not (self.min_len <= n <= len(self.ids)):
            want = str(self.min_len) if self.min_len == len(self.ids) else f"{self.min_len} to {len(self.ids)}"
            raise InvalidInput(
                f"wrong number of answers: expected {want} (items {self.ids[0]}..{self.ids[-1]}), got {n}",
                measure=self.id,
                allowed=join(self.ids),
            )
        fast = self.fast_values
        for item_id, raw in zip(self.ids, answers, strict=False):
            if type(raw) is int and raw in fast[item_id]:
                values[item_id] = raw  # the common case: a plain, allowed answer
            else:
                values[item_id] = self._value(item_id, raw)
        return values

    def context(self, context: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, float]]:
        """Validate keyword context (e.g. ``sex``) and parameter overrides (e.g. ``cut_point``):
        ``(context values, every parameter's value)``; raise InvalidInput naming the field."""
        defn = self.defn
        ctx: dict[str, str] = {}
        params = dict(self.params_default)
        for key, raw in context.items():
            if key in defn.context:
                var = defn.context[key]
                if not isinstance(raw, str) or raw.strip().lower() not in var.allowed:
                    raise InvalidInput(
                        f"invalid {key}",
                        measure=self.id,
                        field=key,
                        value=raw,
                        allowed=join(var.allowed),
                        suggestion=suggest(str(raw).lower(), var.allowed) if isinstance(raw, str) else None,
                    )
                ctx[key] = raw.strip().lower()
            elif key in defn.parameters:
                p = defn.parameters[key]
                if not _is_number(raw):
                    raise InvalidInput(f"parameter {key} must be a number", measure=self.id, field=key, value=raw)
                if p.min is None and p.max is None and raw != p.value:
                    raise InvalidInput(
                        f"parameter {key} has no documented alternative to its value {p.value}",
                        measure=self.id,
                        field=key,
                        value=raw,
                        allowed=f"{p.value} ({p.source})",
                    )
                if (p.min is not None and raw < p.min) or (p.max is not None and raw > p.max):
                    raise InvalidInput(
                        f"parameter {key} is outside its documented limits",
                        measure=self.id,
                        field=key,
                        value=raw,
                        allowed=f"{p.min} to {p.max} ({p.source})",
                    )
                params[key] = raw
            else:
                names = [*defn.context, *defn.parameters]
                raise InvalidInput(
                    f"unknown context {key!r}" + ("" if names else "; this measure takes none"),
                    measure=self.id,
                    field=key,
                    allowed=join(names) if names else None,
                    suggestion=suggest(key, names) if names else None,
                )
        for key, var in defn.context.items():
            if var.required and key not in ctx:
                raise InvalidInput(
                    f"missing required context {key!r} ({var.description})",
                    measure=self.id,
                    field=key,
                    allowed=join(var.allowed),
                )
        return ctx, params

    # -- scoring ----------------------------------------------------------------------------
    def score(
        self,
        answers: Sequence[Any] | Mapping[str, Any] | None,
        context: Mapping[str, Any],
        reported_total: Any = None,
    ) -> Score:
        """Validate and score one administration (the public result)."""
        return self.score_data(answers, context, reported_total).to_score()

    def score_data(
        self,
        answers: Sequence[Any] | Mapping[str, Any] | None,
        context: Mapping[str, Any],
        reported_total: Any = None,
    ) -> ScoreData:
        """Validate and score one administration (the internal, fast result)."""
        if reported_total is None and not context and self.plain(answers):
            return self._complete(answers)  # type: ignore[arg-type]
        ctx, params = self.context(context) if context or self.needs_context else ({}, self.params_default)
        reported = self._reported(reported_total)
        if answers is None:
            if reported is None:
                raise InvalidInput("no answers and no reported total", measure=self.id)
            values = dict(self.defaults)
            total_only = True
        else:
            values = self.normalize(answers)
            total_only = False
        return self.evaluate(values, ctx, params, reported, total_only)

    def _reported(self, raw: Any) -> int | float | None:
        if raw is None:
            return None
        if not self.has_total:
            raise InvalidInput(
                "this measure has no total, so a reported total cannot be used",
                measure=self.id,
                field="reported_total",
                value=raw,
            )
        if not _is_number(raw):
            raise InvalidInput("a reported total must be a number", measure=self.id, field="reported_total", value=raw)
        lo, hi = self.total_range  # type: ignore[misc]
        if not (lo <= raw <= hi):  # compared exactly: an integer beyond float range is just out of range
            raise InvalidInput(
                "reported total out of range",
                measure=self.id,
                field="reported_total",
                value=raw,
                allowed=f"{lo} to {hi}",
            )
        return int(raw) if isinstance(raw, int) or raw.is_integer() else raw

    def _check_possible(self, values: dict[str, int | None], reported: int | float) -> None:
        """Refuse a reported total that the items sent make impossible: below their sum plus
        the least the items not sent can add, or above their sum plus the most."""
        sent = [values[i] for i in self.total_ids if values[i] is not None]
        rest = [i for i in self.total_ids if values[i] is None]
        base = sum(sent)  # type: ignore[arg-type]
        lo = base + sum(self.item_min[i] for i in rest)
        hi = base + sum(self.item_max[i] for i in rest)
        if not (lo <= reported <= hi):
            raise InvalidInput(
                f"the reported total does not fit the {len(sent)} item answers sent with it, which add up to "
                f"{base} (the {len(rest)} items not answered can add {lo - base} to {hi - base}); "
                "the answers or the total are wrong",
                measure=self.id,
                field="reported_total",
                value=reported,
                allowed=f"{lo} to {hi}",
            )

    def evaluate(
        self,
        values: dict[str, int | None],
        ctx: dict[str, str],
        params: dict[str, float],
        reported: int | float | None = None,
        total_only: bool = False,
    ) -> ScoreData:
        """Score answers already validated by :meth:`normalize`, with context and parameters
        from :meth:`context`; ``reported`` is a total checked by :meth:`score_data`, and
        ``total_only`` means it was sent without answers. The general path: what skip logic
        asked, what is missing, the total (summed, prorated or reported), validity, subscores
        and band; results, flags and notes are computed when first read."""
        plan = self.plan(params)
        env: Env = dict(values)
        t = _Tally(plan, values, env, ctx, reported, total_only)
        missing = t.missing = self._missing(values, env, plan, total_only)
        if self.has_total:
            self._total(t)
        total = t.total
        # Valid: every required item answered, or those missing covered by a prorated or reported total.
        excused = t.prorated or t.source == "reported"
        valid_missing = [i for i in missing if i not in self.total_id_set] if excused else missing
        t.complete = not missing and not total_only
        t.valid = not valid_missing and (total is not None or not self.has_total)
        if missing and not t.valid:
            t.notes.append(
                "not scored: required items missing (" + ", ".join(missing) + f"); policy: {self.defn.missing.policy}"
            )
        env["total"] = total
        subscores: dict[str, int | None] = {}
        for sid, items in self.subscores:
            got = [values[i] for i in items]
            subscores[sid] = env[sid] = None if None in got else sum(got)
        t.subscores = subscores
        if reported is not None and not total_only and t.source != "reported":
            self._compare_reported(t, reported)
        if total is not None and self.band_mins:
            t.band = self.band_names[bisect_right(self.band_mins, total) - 1]
        return self._data(t)

    def _missing(self, values: dict[str, int | None], env: Env, plan: _Plan, total_only: bool) -> list[str]:
        """The required items missing, in item order (none for a total sent without answers):
        skip logic decides whether a conditional item was asked. A question not asked (an
        optional one left blank, or one whose ``asked_when`` is known not to hold) is marked in
        ``env`` as not asked, so a condition on it is false, never unknown."""
        for item_id in self.optional_ids:
            if values[item_id] is None:
                env[item_id] = NOT_ASKED
        if total_only:
            return []
        missing = [i for i in self.required_plain if values[i] is None]
        for item_id, asked in plan.asked:
            if values[item_id] is None:
                is_asked = asked(env)
                if is_asked is True:
                    missing.append(item_id)
                elif is_asked is False:
                    env[item_id] = NOT_ASKED
        if len(missing) > 1:
            order = {i: n for n, i in enumerate(self.ids)}
            missing.sort(key=order.__getitem__)
        return missing

    def _total(self, t: _Tally) -> None:
        """The total: summed from the items, prorated under the missing-item policy, or the
        host's reported total when the items do not give one."""
        if t.total_only:
            t.total, t.source = t.reported, "reported"
            t.notes.append("total reported without item answers: item-level results and flags are unknown")
            return
        got = [t.values[i] for i in self.total_ids]
        absent = got.count(None)
        if absent == 0:
            t.total, t.source = sum(got), "items"  # type: ignore[arg-type]
        elif absent <= self.prorate_max:
            self._prorate(t, got, absent)
        if t.total is None and t.reported is not None:
            # What many EHRs store: a total and some items (often the safety item). The
            # items do not give a total, so the host's total is the total, as reported;
            # flags and results come from the items sent, and an unanswered safety item
            # still fails closed.
            self._check_possible(t.values, t.reported)
            t.total, t.source = t.reported, "reported"
            t.notes.append(
                f"total reported by the host and used as the total: it cannot be checked, as the "
                f"{len(got) - absent} of {len(got)} items answered do not give a total; results "
                "and flags that need the other items are unknown"
            )

    def _prorate(self, t: _Tally, got: list[int | None], absent: int) -> None:
        """The total prorated from the answered items, saying so (and on what source)."""
        defn = self.defn
        answered = len(got) - absent
        raw = sum(v for v in got if v is not None) * len(got) / answered
        t.total = int(raw) if raw.is_integer() else round(raw, 2)
        t.source, t.prorated = "prorated", True
        t.notes.append(
            f"total prorated from {answered} of {len(got)} items "
            f"({defn.sources.get(defn.missing.source, defn.missing.source)})"
        )
        if not float(raw).is_integer():
            t.notes.append("the source does not say how to round a prorated total; shown to 2 decimals")
        if defn.missing.status in NOT_CONFIRMED:
            t.unconfirmed.append(f"missing-item policy ({defn.missing.status}): {defn.missing.source}")

    def _compare_reported(self, t: _Tally, reported: int | float) -> None:
        """Whether the host's total agrees with the one recomputed from the items."""
        if t.total is None:
            t.notes.append(f"reported total {reported} cannot be checked: the items do not give a total")
            return
        t.agrees = abs(t.total - reported) < 1e-9
        if not t.agrees:
            t.notes.append(f"reported total {reported} differs from the total recomputed from items ({t.total})")

    def plain(self, answers: Any) -> bool:
        """Whether ``answers`` (without context or a reported total) may take the shortened
        path: a list of allowed, non-missing codes, long enough that every item left off is
        optional. Such answers always give a valid score (with a total, if the measure has one)."""
        if type(answers) is not list or not (self.short_min <= len(answers) <= self.short_max):
            return False
        for raw, ok in zip(answers, self.fast_seq, strict=False):  # noqa: SIM110 - faster than all()
            if type(raw) is not int or raw not in ok:
                return False
        return True

    def _complete(self, answers: list[int]) -> ScoreData:
        """:meth:`evaluate` for the common case, shortened: every item answered with an
        allowed, non-missing code, no context, no reported total (the same result; a
        property test compares the two paths)."""
        values: dict[str, int | None]
        if len(answers) == self.n_items:
            values = dict(zip(self.ids, answers, strict=True))
        else:
            values = dict(self.defaults)
            values.update(zip(self.ids, answers, strict=False))
        # valid, complete, not prorated, nothing missing, no reported total, no notes; the
        # environment of conditions is built only if results or flags are read.
        t = _Tally(self._default_plan or self.plan(self.params_default), values, None, {})
        if self.has_total:
            k = self.total_prefix
            t.total = sum(answers[:k]) if k is not None else sum([values[i] for i in self.total_ids])  # type: ignore[misc]
            t.source = "items"
            if self.band_mins:
                t.band = self.band_names[bisect_right(self.band_mins, t.total) - 1]
        subscores: dict[str, int | None] = {}
        for sid, items in self.subscores:
            subscores[sid] = sum([values[i] for i in items])  # type: ignore[misc]
        t.subscores = subscores
        return self._data(t)

    def _short_env(self, values: dict[str, int | None], total: Any, subscores: dict[str, int | None]) -> Env:
        """The conditions' environment for :meth:`_complete`, as :meth:`evaluate` builds it:
        an item left off the end of the list (always optional there) was not asked."""
        env: Env = dict(values)
        for item_id in self.tail_ids:
            if values[item_id] is None:
                env[item_id] = NOT_ASKED
        env["total"] = total
        env.update(subscores)
        return env

    def _data(self, t: _Tally) -> ScoreData:
        """The ScoreData of a tally; its results, flags and notes wait for :meth:`_finish`."""
        defn = self.defn
        data = ScoreData.__new__(ScoreData)
        data.__dict__ = {
            "_finish": self._finish,
            "_tally": t,
            "measure": self.id,
            "definition_version": defn.definition_version,
            "total": t.total,
            "total_range": self.total_range,
            "total_source": t.source,
            "valid": t.valid,
            "complete": t.complete,
            "missing_items": t.missing,
            "prorated": t.prorated,
            "missing_policy": defn.missing.policy,
            "subscores": t.subscores,
            "answers": t.values,
            "reported_total": t.reported,
            "total_agrees": t.agrees,
            "safety_item_missing": self.safety_item_missing(t.values, t.missing, t.total_only),
        }
        if not self.band_result:  # else the band is a derived result, set by _finish
            data.__dict__["band"] = t.band
        return data

    def _finish(self, data: ScoreData) -> None:
        """Results, flags and explanations of ``data``: computed when first read."""
        t: _Tally = data.__dict__.pop("_tally")
        defn = self.defn
        env = t.env if t.env is not None else self._short_env(t.values, t.total, t.subscores)
        env.update(t.ctx)
        unconfirmed = t.unconfirmed
        results: dict[str, Any] = {}
        for res, fn in t.plan.results:  # in order: each may use those before it
            value = results[res.id] = env[res.id] = fn(env)
            if value is not None and res.status in NOT_CONFIRMED:
                unconfirmed.append(f"{res.id} ({res.status}): {res.source}")
        level = results.get(self.band_result) if t.band is None and self.band_result else t.band
        if level is not None and defn.bands is not None and defn.bands.status in NOT_CONFIRMED:
            unconfirmed.append(f"bands ({defn.bands.status}): {defn.bands.source}")
        flag_values = [(name, fn(env)) for name, fn in t.plan.flags]
        flags = [name for name, value in flag_values if value is True]
        if self.safety_item_missing(t.values, t.missing, t.total_only):
            flags.append(SAFETY_ITEM_MISSING)
        if len(flags) > 1:
            flags.sort()
        for flag in t.plan.unconfirmed_flags:
            if flag.name in flags:
                unconfirmed.append(f"flag {flag.name} ({flag.status}): {flag.source}")
        if self.band_result:
            data.__dict__["band"] = level
        data.__dict__.update(
            flags=flags,
            undetermined_flags=[name for name, value in flag_values if value is None],
            provisional_diagnosis=results.get("provisional_diagnosis"),
            positive_screen=results.get("positive_screen"),
            results=results,
            item_levels=self._levels(t.values) if defn.report_item_levels else None,
            unconfirmed=unconfirmed,
            notes=t.notes,
        )

    def _levels(self, values: dict[str, int | None]) -> dict[str, str | None]:
        """The level name (the scale value's ``id``) of each answer."""
        return {i: (self.level_ids[i].get(v) if v is not None else None) for i, v in values.items()}

    def safety_item_missing(
        self, values: Mapping[str, int | None], missing_items: Sequence[str], total_only: bool = False
    ) -> bool:
        """Whether the ``safety_item_missing`` flag is set: a suicide-risk item whose answer is
        unknown fails closed (risk cannot be ruled out), whatever the total.

        It holds when a required safety item without skip logic is unanswered (``values``, by
        item id, ``None`` = unanswered or "not assessed"); when a required safety item with skip
        logic was asked and is unanswered (it is in ``missing_items``: see
        :attr:`Score.missing_items`); and, for a total reported without item answers
        (``total_only``), whenever the measure has a required safety item without skip logic.
        An optional safety item, or one its skip logic did not ask, never sets it.
        """
        if total_only:
            return bool(self.safety_ids)
        for item_id in self.safety_ids:  # loops, not any(): this runs for every score read
            if values[item_id] is None:
                return True
        if missing_items:
            for item_id in self.safety_conditional:
                if item_id in missing_items:
                    return True
        return False


class _Tally:
    """One administration scored up to its total: the record :meth:`Scorer.evaluate` fills in
    step by step, and :meth:`Scorer._finish` later reads to compute results and flags."""

    __slots__ = (
        "agrees",
        "band",
        "complete",
        "ctx",
        "env",
        "missing",
        "notes",
        "plan",
        "prorated",
        "reported",
        "source",
        "subscores",
        "total",
        "total_only",
        "unconfirmed",
        "valid",
        "values",
    )

    def __init__(
        self,
        plan: _Plan,
        values: dict[str, int | None],
        env: Env | None,
        ctx: dict[str, str],
        reported: int | float | None = None,
        total_only: bool = False,
    ) -> None:
        self.plan = plan
        self.values = values  # validated answers by item id
        self.env = env  # the conditions' environment (None: built from values when first needed)
        self.ctx = ctx
        self.reported = reported
        self.total_only = total_only
        self.missing: list[str] = []  # required items not answered (and asked), in item order
        self.total: int | float | None = None
        self.source: str | None = None
        self.prorated = False
        self.valid = True
        self.complete = True
        self.subscores: dict[str, int | None] = {}
        self.agrees: bool | None = None
        self.band: str | None = None
        self.notes: list[str] = []
        self.unconfirmed: list[str] = []


class _Plan:
    """Closures for one measure and one set of parameter values."""

    def __init__(self, defn: MeasureDefinition, params: Mapping[str, float]) -> None:
        self.asked = [(it.id, _compile(it.asked_when, defn, params)) for it in defn.items if it.asked_when]
        self.unconfirmed_flags = [f for f in defn.flags if f.status in NOT_CONFIRMED]
        self.flags = [(f.name, _compile(f.when, defn, params)) for f in defn.flags]
        self.results: list[tuple[Any, Callable[[Env], Any]]] = []
        for res in defn.results:
            self.results.append((res, _result_fn(res, defn, params)))


def _result_fn(res: Any, defn: MeasureDefinition, params: Mapping[str, float]) -> Callable[[Env], Any]:
    if res.kind == "condition":
        return _compile(res.when, defn, params)
    if res.kind == "first_match":
        cases = [(c.value, _compile(c.when, defn, params)) for c in res.cases]
        otherwise = res.otherwise

        def first(env: Env) -> Any:
            for value, fn in cases:
                r = fn(env)
                if r is True:
                    return value
                if r is None:
                    return None  # an earlier, undecidable case might hold
            return otherwise

        return first
    of, sub, div, mul, dec = res.of, res.subtract, res.divide, res.multiply, res.decimals

    def linear(env: Env) -> Any:
        v = env.get(of)
        return None if v is None else round((v - sub) / div * mul, dec)

    return linear


def _is_number(raw: Any) -> bool:
    """An int, or a finite float (a bool is not a number here). An int is never converted to a
    float, so one beyond float range is a number (then out of range), not an OverflowError."""
    if isinstance(raw, bool):
        return False
    if isinstance(raw, int):
        return True
    return isinstance(raw, float) and math.isfinite(raw)


def scorer_for(defn: MeasureDefinition) -> Scorer:
    """The :class:`Scorer` of a definition, prepared once and cached (the same object while
    the definition lives).

    >>> from cocm_rules import load_measures
    >>> scorer = scorer_for(load_measures()["phq9"])
    >>> scorer.score([0, 0, 0, 0, 0, 0, 0, 0, 1], {}).flags
    ['suicide_risk']
    """
    derived = defn.derived  # a hot path: no closure, one dict lookup once prepared
    scorer = derived.get("scoring.scorer")
    if scorer is None:
        scorer = derived["scoring.scorer"] = Scorer(defn)
    return scorer


def score(
    measure_id: str,
    answers: Sequence[Any] | Mapping[str, Any] | None = None,
    *,
    reported_total: int | float | None = None,
    library: MeasureLibrary | None = None,
    **context: Any,
) -> Score:
    """Score one administration of a measure.

    ``measure_id`` is the measure's id or a name it declares (``PHQ-9``, ``GAD7``, its LOINC
    panel code: see :meth:`MeasureLibrary.resolve <cocm_rules.measures.MeasureLibrary.resolve>`).
    ``answers`` is a list in item order or a mapping of item id (or ``measure.item`` or the
    item's LOINC code) to value; ``None`` marks an unanswered item. Context the measure needs
    (e.g. ``sex="female"`` for AUDIT-C) and overrides of its documented parameters (e.g.
    ``cut_point=31`` for PCL-5) are keyword arguments. ``reported_total`` is a total sent by
    the host: with answers it is checked against the recomputed total (``total_agrees``);
    when the answers do not give a total (too many items missing, e.g. only the safety item
    sent) it is the total (``total_source: reported``; it must be possible given the answers
    sent); without answers it is scored as a total only, and item-level flags are unknown.

    Raises :class:`~cocm_rules.InvalidInput` naming the measure, item, value and what is
    allowed for an unknown measure (with "did you mean"), a wrong number of answers, a value
    out of range or of the wrong type, or missing or invalid context.

    >>> s = score("phq9", [0, 0, 0, 0, 0, 0, 0, 0, 1])
    >>> (s.total, s.band, s.flags)
    (1, 'minimal', ['suicide_risk'])
    """
    lib = library if library is not None else load_measures()
    defn = lib.get_measure(lib.resolve(measure_id) or measure_id)
    return scorer_for(defn).score(answers, context, reported_total)
