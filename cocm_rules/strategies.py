"""Hypothesis strategies for property tests of code that consumes cocm_rules measures.

Generate answers that every bundled (or your own) measure definition accepts, answers it must
refuse, context keyword arguments, and real :class:`~cocm_rules.Score` objects::

    import pytest
    from hypothesis import given

    from cocm_rules import InvalidInput, score
    from cocm_rules.strategies import answers, context, scores

    @given(answers("phq9"))
    def test_my_registry_stores_every_phq9(a):
        record = my_registry.store(score("phq9", a))
        assert record.total is not None

    @given(answers("auditc", valid=False), context("auditc"))
    def test_bad_audit_c_never_scores(a, ctx):
        with pytest.raises(InvalidInput):
            score("auditc", a, **ctx)

    @given(scores())                      # any bundled measure
    def test_my_renderer_never_crashes(s):
        render(s)

Valid answers follow the measure definition: every value comes from the item's scale (a yes/no
item may also be given as ``True``/``"yes"``), optional items may be left out, and questions
skipped by the form's skip logic (``asked_when``, e.g. C-SSRS questions 3-5 after "no" to
question 2) are ``None``. Invalid answers are refused by :func:`cocm_rules.score` with
:class:`~cocm_rules.InvalidInput` because of the answers alone: a value outside the scale, a
value of the wrong type (text for a numeric item, a fractional number, ``True`` for a non-yes/no
item), a list of the wrong length, an unknown item key, or one item given under two keys.

For the rule engine: :func:`episodes` generates patient episode records (what a host sends)
and :func:`rulesets` generates ruleset files that load, so a validator can check properties of
their own rules or hosts; :func:`competing_rulesets` adds generated rules at any priority and
severity (often 100 and critical) to the bundled rulesets, or to yours::

    @given(episodes())
    def test_every_episode_gets_an_answer(record):
        assert isinstance(engine.evaluate(record, AS_OF), list)

    @given(episodes(safety="positive"))   # steered: the latest PHQ-9's item 9 is 1 or more
    def test_item9_alerts_first(record):
        assert engine.evaluate(record, AS_OF)[0].category == "suicide_risk"

    @given(episodes(), competing_rulesets())
    def test_suicide_risk_comes_first(record, rulesets):
        alerts = Engine(rulesets, safety_floor=False).evaluate(record, AS_OF)
        flags = [a.category == "suicide_risk" for a in alerts]
        assert sorted(flags, reverse=True) == flags

This module needs Hypothesis (``pip install 'cocm-rules[test]'``); ``import cocm_rules`` does
not import it.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any

from .errors import BackendUnavailable
from .measures import MeasureDefinition, MeasureLibrary, load_measures
from .rules.loader import RulesetSet
from .scoring import NOT_ASKED, Score, score, scorer_for

try:
    from hypothesis import strategies as st
    from hypothesis.strategies import DrawFn, SearchStrategy
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise BackendUnavailable("hypothesis strategies", "test", cause=str(e)) from e

from ._steered import steered_episode, steering  # needs hypothesis: imported after the check above

__all__ = [
    "AS_OF",
    "EPISODE_MEASURES",
    "answers",
    "competing_rulesets",
    "context",
    "episodes",
    "rulesets",
    "scores",
]

_YES = (1, True, "yes", "Yes", "y", "TRUE", " yes ")
_NO = (0, False, "no", "No", "n", "false", " NO ")
_YES_NO_WORDS = frozenset({"yes", "y", "true", "no", "n", "false"})


def _definition(measure_id: str, library: MeasureLibrary | None) -> tuple[MeasureLibrary, MeasureDefinition]:
    lib = library if library is not None else load_measures()
    return lib, lib.get_measure(measure_id)  # raises InvalidInput (with "did you mean") at once


class _Items:
    """Per-item strategies of one definition, built once (building strategies is not free)."""

    def __init__(self, defn: MeasureDefinition) -> None:
        self.defn = defn
        self.raw: dict[str, SearchStrategy[Any]] = {}
        self.unanswered: dict[str, SearchStrategy[Any]] = {}
        self.raw_or_none: dict[str, SearchStrategy[Any]] = {}
        self.keys: dict[str, list[str]] = {}
        self.key: dict[str, SearchStrategy[str]] = {}
        for it in defn.items:
            scale = defn.scales[it.scale]
            values = [v.value for v in scale.values if not v.missing]
            if scale.yes_no:
                raw = st.sampled_from(values).flatmap(lambda v: st.sampled_from(_YES if v else _NO))
            else:
                raw = st.sampled_from(values)
            self.raw[it.id] = raw
            # The ways to leave an item unanswered: None and any code meaning "not assessed".
            self.unanswered[it.id] = st.sampled_from([None, *(v.value for v in scale.values if v.missing)])
            self.raw_or_none[it.id] = st.one_of(st.none(), raw)
            # The keys an item may be given under: its id, measure.id and its LOINC code.
            self.keys[it.id] = [it.id, f"{defn.id}.{it.id}", *([it.loinc.code] if it.loinc else [])]
            self.key[it.id] = st.sampled_from(self.keys[it.id])
        self.answers: dict[tuple[bool, bool, bool], SearchStrategy[Any]] = {}
        self.context: SearchStrategy[dict[str, Any]] | None = None
        self.required = st.lists(st.sampled_from([it.id for it in defn.items if it.required]), unique=True)
        self.invalid_value = {it.id: st.one_of(self._out_of_range(it.id), self._wrong_type(it.id)) for it in defn.items}

    def _out_of_range(self, item_id: str) -> SearchStrategy[Any]:
        allowed = {v.value for v in self.defn.scales[self.defn.item(item_id).scale].values}
        lo, hi = min(allowed), max(allowed)
        gaps = [v for v in range(lo, hi + 1) if v not in allowed]
        ints = st.one_of(
            st.integers(max_value=lo - 1),
            st.integers(min_value=hi + 1),
            *([st.sampled_from(gaps)] if gaps else []),
        )
        return st.one_of(ints, ints.map(float))  # 5.0 is read as 5, and refused like it

    def _wrong_type(self, item_id: str) -> SearchStrategy[Any]:
        scale = self.defn.scales[self.defn.item(item_id).scale]
        fractional = st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not f.is_integer())
        other = st.sampled_from([[1], {"value": 1}, b"1", 1j, (0,), Ellipsis])
        if scale.yes_no:
            text = st.text(max_size=8).filter(lambda s: s.strip().lower() not in _YES_NO_WORDS)
            return st.one_of(text, fractional, other)
        numbers_as_text = st.sampled_from([str(v.value) for v in scale.values])
        return st.one_of(numbers_as_text, st.text(max_size=8), fractional, st.booleans(), other)


def _items(defn: MeasureDefinition) -> _Items:
    return defn.cached("strategies.items", lambda: _Items(defn))


@st.composite
def _valid_values(draw: DrawFn, defn: MeasureDefinition, missing: bool) -> dict[str, Any]:
    """Raw answers by item id (``None`` = unanswered or skipped), respecting skip logic."""
    scorer = scorer_for(defn)
    strategies = _items(defn)
    asked = dict(scorer.plan(scorer.params_default).asked)
    leave_out: set[str] = set(draw(strategies.required)) if missing and any(i.required for i in defn.items) else set()
    values: dict[str, Any] = {}
    env: dict[str, Any] = dict.fromkeys(scorer.ids)

    def answer(item_id: str, required_here: bool) -> Any:
        if required_here and item_id in leave_out:
            return draw(strategies.unanswered[item_id])
        if required_here:
            return draw(strategies.raw[item_id])
        return draw(strategies.raw_or_none[item_id])

    for it in defn.items:
        if it.asked_when is None:
            values[it.id] = answer(it.id, it.required)
    if asked:
        env.update(scorer.normalize(values))
        for it in defn.items:  # skip logic, once the questions it depends on are answered
            if it.asked_when is None:
                continue
            is_asked = asked[it.id](env)
            if is_asked is False:
                values[it.id] = None
                env[it.id] = NOT_ASKED
            else:
                # Asked (True), or unknown because a deciding answer is missing (None): any answer.
                values[it.id] = answer(it.id, it.required and is_asked is True)
                env[it.id] = scorer.normalize({it.id: values[it.id]})[it.id]
    return values


@st.composite
def _as_list(draw: DrawFn, defn: MeasureDefinition, values: Mapping[str, Any]) -> list[Any]:
    """Answers in item order; trailing unanswered items past the required ones may be dropped."""
    scorer = scorer_for(defn)
    ids = scorer.ids
    answered = [n for n, i in enumerate(ids) if values.get(i) is not None]
    shortest = max(scorer.min_len, answered[-1] + 1 if answered else 0)
    length = draw(st.integers(shortest, len(ids))) if shortest < len(ids) else len(ids)
    return [values.get(i) for i in ids[:length]]


@st.composite
def _as_mapping(draw: DrawFn, defn: MeasureDefinition, values: Mapping[str, Any]) -> dict[str, Any]:
    """Answers by item key in any order; an unanswered item is ``None`` or left out."""
    strategies = _items(defn)
    order = list(values)
    if draw(st.booleans()):
        order.reverse()
    style = draw(_KEY_STYLES)  # one kind of key for all items, or a mix
    out: dict[str, Any] = {}
    for item_id in order:
        value = values[item_id]
        if value is None and draw(st.booleans()):
            continue
        keys = strategies.keys[item_id]
        key = draw(strategies.key[item_id]) if style == -1 else keys[min(style, len(keys) - 1)]
        out[key] = value
    return out


_KEY_STYLES = st.sampled_from([0, 1, 2, -1])  # item id, measure.item id, LOINC code (else id), mixed


@st.composite
def _invalid(draw: DrawFn, defn: MeasureDefinition, as_mapping: bool) -> list[Any] | dict[Any, Any]:
    scorer = scorer_for(defn)
    strategies = _items(defn)
    values = draw(_valid_values(defn, missing=True))
    kinds = ["bad_value", "bad_value"]  # as likely as the container-level mistakes together
    if as_mapping:
        kinds += ["unknown_key", "twice"]
    else:
        kinds += ["too_long"] + (["too_short"] if scorer.min_len > 0 else [])
    kind = draw(st.sampled_from(kinds))
    item_id = draw(st.sampled_from(scorer.ids))
    if kind == "bad_value":
        values[item_id] = draw(strategies.invalid_value[item_id])
    if not as_mapping:
        out = draw(_as_list(defn, values))
        if kind == "too_short":
            out = [values[i] for i in scorer.ids][: draw(st.integers(0, scorer.min_len - 1))]
        elif kind == "too_long":
            out = [values[i] for i in scorer.ids]
            out += draw(st.lists(strategies.raw[scorer.ids[-1]], min_size=1, max_size=3))
        return out
    mapping: dict[Any, Any] = draw(_as_mapping(defn, values))
    if kind == "unknown_key":
        near = [f"{item_id}0", f"{item_id}_", f"{defn.id}.{item_id}x", item_id.upper(), f"{defn.id}-{item_id}"]
        key = draw(
            st.one_of(
                st.sampled_from(near),
                st.text(max_size=10),
                st.integers(),
            ).filter(lambda k: not (isinstance(k, str) and k in scorer.alias))
        )
        mapping[key] = draw(strategies.raw[item_id])
    elif kind == "twice":
        first, second = draw(st.permutations(strategies.keys[item_id]))[:2]
        for key in strategies.keys[item_id]:
            mapping.pop(key, None)
        mapping[first] = draw(strategies.raw_or_none[item_id])
        mapping[second] = draw(strategies.raw_or_none[item_id])
    return mapping


def answers(
    measure_id: str,
    valid: bool = True,
    *,
    as_mapping: bool = False,
    missing: bool = False,
    library: MeasureLibrary | None = None,
) -> SearchStrategy[list[Any] | dict[Any, Any]]:
    """Answers to one administration of ``measure_id``: a list in item order, or a mapping.

    ``valid=True`` (the default): answers :func:`cocm_rules.score` accepts. Every value is
    allowed by the item's scale; optional items may be unanswered; a question the form's skip
    logic skips is ``None``. With ``missing=False`` every required question that was asked is
    answered, so the score is complete; with ``missing=True`` required items may be left
    unanswered (``None``, or a code that means "not assessed", such as BPRS 0).

    ``valid=False``: answers that :func:`cocm_rules.score` must refuse with
    :class:`~cocm_rules.InvalidInput` whatever the context: a value out of range, a value of
    the wrong type, a list of the wrong length (lists), an unknown item key or one item under
    two keys (mappings). The other answers in them may be unanswered; ``missing`` is ignored.

    ``as_mapping=True`` gives mappings keyed by item id, ``measure.item`` id or the item's
    LOINC code (unanswered items may be left out). ``library`` is the measure set to use
    (default: the bundled measures). An unknown ``measure_id`` raises InvalidInput at once.
    """
    _, defn = _definition(measure_id, library)
    cache = _items(defn).answers
    key = (valid, as_mapping, missing)
    strategy = cache.get(key)
    if strategy is None:
        if not valid:
            strategy = _invalid(defn, as_mapping)
        elif as_mapping:
            strategy = _valid_values(defn, missing).flatmap(lambda v: _as_mapping(defn, v))
        else:
            strategy = _valid_values(defn, missing).flatmap(lambda v: _as_list(defn, v))
        cache[key] = strategy
    return strategy


def _parameter(value: float, lo: float, hi: float) -> SearchStrategy[Any]:
    if all(isinstance(x, int) for x in (value, lo, hi)):
        return st.integers(int(lo), int(hi))
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def context(measure_id: str, *, library: MeasureLibrary | None = None) -> SearchStrategy[dict[str, Any]]:
    """Valid context keyword arguments for ``score(measure_id, answers, **context)``.

    Required context (e.g. ``sex`` for AUDIT-C) is always present and drawn from its allowed
    values; optional context may be present. A parameter with documented limits (e.g. the
    PCL-5 ``cut_point``, 31-33) may be overridden by a value within them; parameters without
    documented limits are never overridden.
    """
    _, defn = _definition(measure_id, library)
    items = _items(defn)
    if items.context is None:
        items.context = _context(defn)
    return items.context


def _context(defn: MeasureDefinition) -> SearchStrategy[dict[str, Any]]:
    required: dict[str, SearchStrategy[Any]] = {}
    optional: dict[str, SearchStrategy[Any]] = {}
    for name, var in defn.context.items():
        (required if var.required else optional)[name] = st.sampled_from(var.allowed)
    for name, p in defn.parameters.items():
        if p.min is not None and p.max is not None and math.isfinite(p.min) and math.isfinite(p.max):
            optional[name] = _parameter(p.value, p.min, p.max)
    return st.fixed_dictionaries(required, optional=optional)


def scores(
    measure_id: str | None = None,
    *,
    missing: bool = False,
    library: MeasureLibrary | None = None,
) -> SearchStrategy[Score]:
    """Scores produced by really scoring generated valid answers with valid context.

    ``measure_id=None`` draws the measure from every measure in ``library`` (default: the
    bundled measures). ``missing=True`` lets required items go unanswered, so some scores are
    incomplete or invalid, as in real registries.
    """
    lib = library if library is not None else load_measures()
    ids = (lib.get_measure(measure_id).id,) if measure_id is not None else tuple(lib)
    return lib.cached(f"strategies.scores.{','.join(ids)}.{missing}", lambda: _scored(lib, ids, missing))


@st.composite
def _scored(draw: DrawFn, lib: MeasureLibrary, ids: tuple[str, ...], missing: bool) -> Score:
    measure_id = draw(st.sampled_from(ids))
    given = draw(answers(measure_id, as_mapping=draw(st.booleans()), missing=missing, library=lib))
    kwargs = draw(context(measure_id, library=lib))
    return score(measure_id, given, library=lib, **kwargs)


# -- episodes and rulesets ------------------------------------------------------------------

#: Measures episodes() draws administrations from by default.
EPISODE_MEASURES = (
    "phq9",
    "phqa",
    "gad7",
    "pcl5",
    "cssrs_screener",
    "auditc",
    "asrm",
    "whodas12",
    "ras",
    "psychosis_dimensions",
)
#: The date episodes() and rulesets() are built around by default.
AS_OF = _dt.date(2026, 1, 15)


def episodes(
    *,
    as_of: _dt.date = AS_OF,
    measures: tuple[str, ...] = EPISODE_MEASURES,
    max_assessments: int = 8,
    max_contacts: int = 8,
    library: MeasureLibrary | None = None,
    program: str | None = None,
    status: str | None = None,
    present: tuple[str, ...] = (),
    trajectory: str | None = None,
    safety: str | None = None,
    shape: str | None = None,
    weeks_in_treatment: tuple[int, int] | None = None,
    data_errors: bool = False,
    medical: bool = False,
) -> SearchStrategy[dict[str, Any]]:
    """Patient episode records that :func:`cocm_rules.parse_episode` accepts.

    Without steering options: administrations of ``measures`` mix complete, incomplete and
    invalid answers and totals reported alone, some dated after ``as_of`` (which the fact
    builder must ignore); contacts of every kind, consultant recommendations, a relapse
    prevention plan and SMI outcome events appear at random. Records are plain dicts with
    ISO dates, like a host would send. ``program`` and ``status`` fix those fields.

    Steering options give clinically shaped episodes, so a property reaches the patients it
    is about without filtering:

    - ``present``: measures the episode tracks (default ``("phq9",)`` once any option below
      is given). Each gets dated administrations from the initial assessment to the latest
      follow-up, the contacts (an initial assessment, then a follow-up on each later date)
      fall on the same days, and ``weeks_in_treatment=(lowest, highest)`` bounds the whole
      weeks from the initial assessment to ``as_of`` (default 0-52).
    - ``trajectory``: the course of each present measure's total: ``"improving"`` (reaches
      the measure's response definition from ``targets`` and holds it; often its remission),
      ``"not_improving"`` (never reaches a response or the measure's smallest reliable or
      meaningful change), ``"worsening"`` (the latest rises above the one before by at least
      that change) or ``"relapse"`` (improves, then the latest loses the response). In the
      measure's direction: a measure where higher is better improves by rising. Without it
      each measure draws a trajectory. Answers are spread over the items so that the scorer
      recomputes the intended totals. A measure rated item by item with no total (the
      psychosis dimensions) follows an asked trajectory through one item: ``"not_improving"``
      holds it at its baseline rating or above on every administration (persistent symptoms).
    - ``safety``: ``"positive"``: on the latest administration of each present measure with
      safety items, an item a safety flag reads raises it (the latest PHQ-9's item 9 >= 1,
      a C-SSRS "yes"); ``"negative"``: every safety item answered and negative, and no other
      administration of a measure with safety items, so no suicide-risk rule can fire.
    - ``shape``: how the host sends the present measures: ``"items"`` (default),
      ``"total"`` (a total alone: item-level safety is then unknown and fails closed),
      ``"total_item9"`` (the total and the safety items, e.g. PHQ-9 total + item 9) or
      ``"items_total"`` (answers with the total beside them).
    - ``data_errors=True``: a reported total that disagrees with the answers, an invalid
      administration or a record set aside (at least one of them).
    - ``medical=True``: ``medications`` (an antipsychotic taken for years, one started during
      the episode, or none) and ``observations`` for metabolic monitoring: body weight (kg, g
      or [lb_av]) with a BMI, blood pressure, an HbA1c or glucose, lipids (mg/dL or mmol/L)
      and a smoking status; each check done at every visit, some, the first only or never,
      with values drawn on either side of the bundled cut-offs (which stay in the rulesets).

    The latest administration of the present measures falls recently, a follow-up or two
    back, or anywhere in the episode, so measures fall overdue without an option.

    Steered episodes also carry contact roles, consent, an occasional 99484 billed this
    month, recommendations, a relapse prevention plan (always with status
    ``relapse_prevention_plan``) and, in the SMI program, housing, employment and education
    statuses with later changes, hospitalizations and ED visits. An unknown option value or
    a contradiction (``safety`` with ``shape="total"``) raises InvalidInput at once.
    """
    lib = library if library is not None else load_measures()
    for m in measures:
        lib.get_measure(m)
    steered = (
        bool(present)
        or any(x is not None for x in (trajectory, safety, shape, weeks_in_treatment))
        or data_errors
        or medical is not False
    )
    if not steered:
        checked = steering(
            lib,
            program=program,
            status=status,
            present=(),
            trajectory=None,
            safety=None,
            shape="items",
            weeks_in_treatment=None,
            data_errors=False,
        )
        return _episode(as_of, tuple(measures), max_assessments, max_contacts, lib, checked.program, checked.status)
    steer = steering(
        lib,
        program=program,
        status=status,
        present=tuple(present),
        trajectory=trajectory,
        safety=safety,
        shape=shape if shape is not None else "items",
        weeks_in_treatment=weeks_in_treatment,
        data_errors=data_errors,
        medical=medical,
    )

    def noise(draw: DrawFn, m: str, lo: _dt.date, hi: _dt.date, invalid: bool = False) -> dict[str, Any]:
        return _administration(draw, lib, m, lo, hi, "invalid" if invalid else None)

    return steered_episode(as_of, steer, tuple(measures), max_assessments, max_contacts, lib, noise)


def _administration(
    draw: DrawFn, lib: MeasureLibrary, m: str, lo: _dt.date, hi: _dt.date, kind: str | None = None
) -> dict[str, Any]:
    """One unsteered administration of ``m`` dated in [lo, hi]: complete, incomplete or
    invalid answers, or a total alone."""
    defn = lib.get_measure(m)
    if kind is None:
        kind = draw(st.sampled_from(("complete", "complete", "complete", "missing", "invalid", "total")))
    a: dict[str, Any] = {"measure": m, "date": draw(st.dates(lo, max(lo, hi))).isoformat()}
    if kind == "total" and defn.total is not None:
        a["total"] = draw(st.integers(*defn.total.range))
    elif kind == "invalid":
        a["answers"] = draw(answers(m, valid=False, library=lib))
    else:
        a["answers"] = draw(answers(m, missing=kind == "missing", library=lib))
    return a


@st.composite
def _episode(
    draw: DrawFn,
    as_of: _dt.date,
    measures: tuple[str, ...],
    max_a: int,
    max_c: int,
    lib: MeasureLibrary,
    program: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    from .episode import CONTACT_KINDS, EDUCATION, EMPLOYMENT, HOUSING, PROGRAMS, STATUSES

    start = draw(st.dates(as_of - _dt.timedelta(days=400), as_of))

    def day(lo: _dt.date, hi: _dt.date) -> str:
        return draw(st.dates(lo, max(lo, hi))).isoformat()

    assessments = [
        _administration(
            draw, lib, draw(st.sampled_from(measures)), start - _dt.timedelta(days=30), as_of + _dt.timedelta(days=10)
        )
        for _ in range(draw(st.integers(0, max_a)))
    ]
    contacts = [
        {
            "date": day(start, as_of + _dt.timedelta(days=5)),
            "kind": draw(st.sampled_from(CONTACT_KINDS)),
            "minutes": draw(st.one_of(st.none(), st.integers(0, 120))),
        }
        for _ in range(draw(st.integers(0, max_c)))
    ]
    record: dict[str, Any] = {
        "patient_id": draw(st.from_regex(r"P[0-9]{1,6}", fullmatch=True)),
        "program": program or draw(st.sampled_from(PROGRAMS)),
        "enrollment_date": start.isoformat(),
        "status": status or draw(st.sampled_from(STATUSES)),
        "assessments": assessments,
        "contacts": contacts,
    }
    sex = draw(st.sampled_from((None, "female", "male")))
    if sex is not None:
        record["sex"] = sex
    if draw(st.booleans()):
        record["relapse_prevention_plan_date"] = day(start, as_of + _dt.timedelta(days=5))
    if draw(st.booleans()):
        record["recommendations"] = [
            {"date": day(start, as_of), "status": draw(st.sampled_from(("pending", "implemented", "declined")))}
            for _ in range(draw(st.integers(1, 2)))
        ]
    if draw(st.booleans()):
        statuses = {"housing": HOUSING, "employment": EMPLOYMENT, "education": EDUCATION}
        events = []
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(("hospitalization", "ed_visit", "housing", "employment", "education")))
            event: dict[str, Any] = {"date": day(start, as_of + _dt.timedelta(days=5)), "kind": kind}
            if kind in statuses:
                event["status"] = draw(st.sampled_from(statuses[kind]))
            events.append(event)
        record["smi_events"] = events
    return record


def rulesets(
    *,
    facts: tuple[str, ...] | None = None,
    max_rules: int = 6,
    favour: Mapping[str, Any] | None = None,
    library: MeasureLibrary | None = None,
) -> SearchStrategy[str]:
    """Ruleset YAML texts that :func:`cocm_rules.load_rulesets` accepts (``text=``).

    Each rule compares catalog facts of every type (numbers, whole numbers, dates, yes/no,
    text) with values that fit them, using every operator of the language (``< <= > >= == !=``,
    ``in``, ``not in``, ``between``, ``is missing``, ``is present``, a bare yes/no fact), joined
    with ``all``/``any``/``not`` and ``and``/``or``. A rule never uses a fact twice, so no
    generated condition is a contradiction the loader would refuse. ``facts`` restricts the
    facts used (default: the episode facts and those of :data:`EPISODE_MEASURES`). The
    rulesets have no suicide rule: load them into an Engine with ``safety_floor=False``.

    ``favour`` maps fact names to values seen on real patients (e.g. ``facts(episode, as_of)``
    of the episodes under test); literals then often equal them, which is where ``<`` and
    ``<=`` (or ``==`` and ``!=``) give different answers.
    """
    specs, seen = _fact_choice(facts, favour, library)
    return _ruleset(specs, max_rules, seen, _PLAIN)


def competing_rulesets(
    base: RulesetSet | None = None,
    *,
    max_rules: int = 6,
    favour: Mapping[str, Any] | None = None,
) -> SearchStrategy[RulesetSet]:
    """``base`` (default: the bundled rulesets) plus one generated ruleset that competes with it.

    The generated rules are those of :func:`rulesets` (never in the ``suicide_risk`` category),
    with priorities and severities drawn to outrank: often priority 100 and severity critical,
    often at or above the suicide rules' priorities (85-100 in the bundled set), and some
    rules that fire for every patient (``status is present``). ``favour`` is as for
    :func:`rulesets`. Load them into an Engine with ``safety_floor=False`` to keep tests fast
    (they never weaken the bundled suicide rules: rules only add alerts).
    """
    if base is None:
        from .rules.loader import load_rulesets

        base = _BUNDLED.get("set") or _BUNDLED.setdefault("set", load_rulesets())
    specs, seen = _fact_choice(None, favour, base.library)
    return _ruleset(specs, max_rules, seen, _COMPETING).map(lambda text: _joined(base, text))


_BUNDLED: dict[str, RulesetSet] = {}


def _joined(base: RulesetSet, text: str) -> RulesetSet:
    from .rules.loader import load_rulesets

    return base.extended(load_rulesets(text=text, library=base.library))


def _fact_choice(
    facts: tuple[str, ...] | None, favour: Mapping[str, Any] | None, library: MeasureLibrary | None
) -> tuple[tuple[Any, ...], dict[str, tuple[Any, ...]]]:
    """The fact specs rules may use, and values seen on real patients by fact."""
    from .facts import catalog

    cat = catalog(library)
    if facts is None:
        facts = tuple(
            name
            for name, spec in cat.specs.items()
            if (spec.measure is None or spec.measure in EPISODE_MEASURES)
            and not (spec.type == "text" and not spec.allowed)
        )
    specs = tuple(cat.spec(name) for name in facts)
    seen: dict[str, tuple[Any, ...]] = {}
    for name, values in (favour or {}).items():
        spec = cat.specs.get(name)
        if spec is not None:
            fitting = tuple(dict.fromkeys(v for v in values if v is not None and _fits_literal(spec, v)))
            if fitting:
                seen[name] = fitting
    return specs, seen


def _fits_literal(spec: Any, value: Any) -> bool:
    from .facts import value_fits

    # literals are written with at most 2 decimals here
    return value_fits(spec, value) and not (
        spec.type == "number" and isinstance(value, float) and round(value, 2) != value
    )


def _number(draw: DrawFn, spec: Any) -> tuple[Any, float, float]:
    lo = spec.minimum if spec.minimum is not None else (-1 if spec.unit == "fraction" else -30)
    hi = spec.maximum if spec.maximum is not None else (1 if spec.unit == "fraction" else 400)
    if spec.type == "integer" or spec.unit != "fraction":
        # Mostly values facts often take (band edges, day and week counts), so comparisons
        # often meet equality, where < and <= differ.
        pool = [v for v in _COMMON_VALUES if lo <= v <= hi]
        wide = st.integers(math.ceil(lo), math.floor(hi))
        return draw(st.one_of(st.sampled_from(pool), wide) if pool else wide), lo, hi
    fractions: list[Any] = [v for v in (-0.5, 0.0, 0.25, 0.5, 1.0) if lo <= v <= hi]
    return (
        draw(st.one_of(st.sampled_from(fractions), st.integers(int(lo * 100), int(hi * 100)).map(lambda n: n / 100))),
        lo,
        hi,
    )


_COMMON_VALUES = (-5, 0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 14, 15, 19, 20, 21, 27, 28, 30, 31, 33, 60, 90)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if not value.is_integer() else str(int(value))
    return str(value)


@st.composite
def _leaf(draw: DrawFn, spec: Any, seen: tuple[Any, ...] = ()) -> str:
    name = spec.name
    if seen and spec.type in ("number", "integer", "date", "text") and draw(st.booleans()):
        value = draw(st.sampled_from(seen))
        op = draw(st.sampled_from(("<", "<=", ">", ">=", "==", "!=")) if spec.type != "text" else st.just("=="))
        if spec.type in ("number", "integer"):
            op = _possible(op, value, spec)
        shown = value.isoformat() if isinstance(value, _dt.date) else _literal(value)
        return f"{name} {op} {shown}"
    form = draw(st.sampled_from(("cmp", "cmp", "cmp", "set", "presence")))
    if form == "presence":
        return f"{name} is {draw(st.sampled_from(('missing', 'present', 'not missing')))}"
    if spec.type == "boolean":
        return draw(st.sampled_from((name, f"not {name}", f"{name} == true", f"{name} != false", f"{name} == false")))
    if spec.type == "text":
        values = list(spec.allowed)
        if form == "set":
            chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True))
            neg = draw(st.sampled_from(("in", "not in")))
            return f"{name} {neg} [{', '.join(chosen)}]"
        return f"{name} {draw(st.sampled_from(('==', '!=')))} {draw(st.sampled_from(values))}"
    if spec.type == "date":
        value = draw(st.dates(_dt.date(2024, 6, 1), _dt.date(2026, 6, 1))).isoformat()
        if form == "set":
            other = draw(st.dates(_dt.date(2024, 6, 1), _dt.date(2026, 6, 1))).isoformat()
            return f"{name} between {min(value, other)} and {max(value, other)}"
        return f"{name} {draw(st.sampled_from(('<', '<=', '>', '>=', '==', '!=')))} {value}"
    value, lo, hi = _number(draw, spec)
    if form == "set":
        if draw(st.booleans()):
            other, _, _ = _number(draw, spec)
            low, high = min(value, other), max(value, other)
            if low == spec.minimum and high == spec.maximum:  # the whole range: always true, refused
                return f"{name} in [{_literal(low)}]"
            return f"{name} between {_literal(low)} and {_literal(high)}"
        more = draw(st.lists(st.just(0).map(lambda _: _number(draw, spec)[0]), min_size=0, max_size=2))
        return f"{name} in [{', '.join(_literal(v) for v in dict.fromkeys([value, *more]))}]"
    op = draw(st.sampled_from(("<", "<=", ">", ">=", "==", "!=")))
    if op == ">" and value >= hi:
        op = ">="
    if op == "<" and value <= lo:
        op = "<="
    return f"{name} {_possible(op, value, spec)} {_literal(value)}"


def _possible(op: str, value: Any, spec: Any) -> str:
    """``op``, or the nearest operator that makes ``fact op value`` neither never nor always
    true over the fact's range (the loader refuses both)."""
    lo, hi = spec.minimum, spec.maximum
    if op == ">" and hi is not None and value >= hi:
        op = ">="
    if op == "<" and lo is not None and value <= lo:
        op = "<="
    if op == ">=" and lo is not None and value <= lo and (hi is None or value < hi):
        op = ">"
    if op == "<=" and hi is not None and value >= hi and (lo is None or value > lo):
        op = "<"
    return op


@st.composite
def _condition(draw: DrawFn, specs: list[Any], seen: Mapping[str, tuple[Any, ...]]) -> Any:
    """A condition using each of ``specs`` once (YAML structure and/or expression strings)."""
    leaves = [draw(_leaf(spec, seen.get(spec.name, ()))) for spec in specs]
    if len(leaves) == 1:
        return draw(st.sampled_from((leaves[0], {"not": leaves[0]}, {"all": leaves})))
    shape = draw(st.sampled_from(("all", "any", "and", "or", "nested")))
    if shape in ("and", "or"):
        return f" {shape} ".join(f"({x})" if draw(st.booleans()) else x for x in leaves)
    if shape == "nested":
        cut = draw(st.integers(1, len(leaves) - 1))
        inner = {draw(st.sampled_from(("any", "all"))): leaves[cut:]}
        return {"all": [*leaves[:cut], draw(st.sampled_from((inner, {"not": inner})))]}
    return {shape: leaves}


_SEVERITIES = ("info", "low", "moderate", "high", "critical")
#: What generated rules emit: (categories, severities, priorities, share of rules that always fire).
_PLAIN = (
    st.sampled_from(("treatment_to_target", "engagement", "smi", "billing")),
    st.sampled_from(_SEVERITIES),
    st.integers(0, 100),
    False,
)
_COMPETING = (
    st.sampled_from(
        ("treatment_to_target", "review_priority", "engagement", "relapse_prevention", "billing", "smi", "data_quality")
    ),
    st.one_of(st.just("critical"), st.sampled_from(_SEVERITIES)),
    st.one_of(st.just(100), st.integers(85, 100), st.integers(0, 100)),
    True,
)


@st.composite
def _ruleset(
    draw: DrawFn, specs: tuple[Any, ...], max_rules: int, seen: Mapping[str, tuple[Any, ...]], emits: tuple[Any, ...]
) -> str:
    import yaml

    categories, severities, priorities, catch_all = emits
    rules = []
    for i in range(draw(st.integers(1, max_rules))):
        if catch_all and draw(st.integers(0, 3)) == 0:  # fires for every patient: status always has a value
            when: Any = "status is present"
            message = "Every patient (status {status})."
        else:
            used = draw(st.lists(st.sampled_from(specs), min_size=1, max_size=4, unique_by=lambda s: s.name))
            when = draw(_condition(used, seen))
            message = " ".join(f"{s.name}={{{s.name}}}" for s in used)
        rules.append(
            {
                "id": f"generated-{i}",
                "title": f"Generated rule {i}",
                "source": "generated by cocm_rules.strategies.rulesets",
                "when": when,
                "then": {
                    "category": draw(categories),
                    "severity": draw(severities),
                    "priority": draw(priorities),
                    "action": "review",
                    "message": message,
                },
            }
        )
    document = {
        "ruleset": "generated",
        "version": "1",
        "effective": _dt.date(2026, 1, 1),
        "owner": "hypothesis",
        "description": "A generated ruleset.",
        "rules": rules,
    }
    return yaml.safe_dump(document, sort_keys=False)
