"""Measure definitions (``measures/*.yaml``): their schema, consistency checks and loader.

A measure file is data: items and their response scales, the total and its range, severity
bands, flags, derived results (screens, provisional diagnoses, triage levels, conversions),
the missing-item policy, LOINC codes and sources. Every sourced element carries a ``status``
(``confirmed``, ``secondary``, ``unconfirmed``, ``derived`` or ``policy``) so nothing
unconfirmed is ever presented as validated. The generic scorer in :mod:`cocm_rules.scoring`
interprets these definitions; no measure has scoring code of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from ._log import get_logger
from ._text import join, suggest
from ._validation import StrictModel, problems_from
from ._yaml import Document, YamlError, load_file
from .errors import InvalidInput, MeasureDefinitionError, Problem

__all__ = [
    "Condition",
    "MeasureDefinition",
    "MeasureLibrary",
    "bundled_path",
    "data_dir",
    "load_measures",
]

log = get_logger(__name__)

Status = Literal["confirmed", "secondary", "unconfirmed", "derived", "policy"]
#: Statuses that the scorer reports in ``Score.unconfirmed`` when the element is used.
NOT_CONFIRMED: frozenset[str] = frozenset({"secondary", "unconfirmed"})
#: Names a measure may not use for context or parameters: they are arguments of ``score``.
RESERVED_CONTEXT = frozenset({"measure_id", "answers", "reported_total", "library"})
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
# What is ignored when a measure id is matched: whitespace, underscores, hyphens and dashes.
_IGNORED_IN_IDS = re.compile(r"[\s_\-\u2010-\u2015\u2212]+")


def name_key(name: str) -> str:
    """How a measure name is matched: lower case, without spaces, hyphens, dashes and
    underscores (``PHQ-9``, ``phq_9`` and ``Phq 9`` are all ``phq9``)."""
    return _IGNORED_IN_IDS.sub("", name).casefold()


class Code(StrictModel):
    """A terminology code (LOINC) with its verification status and source."""

    code: str
    status: Status
    source: str


class ScaleValue(StrictModel):
    """One allowed response: its numeric value, label and (optional) LOINC answer code."""

    value: int
    label: str
    id: str | None = Field(None, description="snake_case name, used for item levels")
    loinc: str | None = None
    missing: bool = Field(False, description="this code means 'not assessed': treated as missing")


class Scale(StrictModel):
    """A response scale shared by items."""

    values: list[ScaleValue] = Field(min_length=2)
    yes_no: bool = Field(False, description="also accept yes/no and true/false for 1/0")
    note: str | None = None


class Condition(StrictModel):
    """A condition over a measure's answers, evaluated with three-valued logic.

    Exactly one form: ``all``/``any``/``not`` over conditions; ``of`` (an item, ``total``, a
    subscore, a result or a context name) with one of ``at_least``, ``at_most``, ``equals``,
    ``in``; or ``count_present`` (items whose value reaches their ``present_at``) with
    ``at_least``/``at_most``. A missing answer makes a comparison *unknown*, never false.
    ``at_least``/``at_most`` may name a parameter instead of a number.
    """

    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(None, alias="not")
    of: str | None = None
    count_present: list[str] | None = None
    at_least: int | float | str | None = None
    at_most: int | float | str | None = None
    equals: int | str | None = None
    in_: list[int | str] | None = Field(None, alias="in")

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        forms = [f for f in ("all", "any", "not_", "of", "count_present") if getattr(self, f) is not None]
        if len(forms) != 1:
            raise ValueError(
                f"a condition needs exactly one of 'all', 'any', 'not', 'of', 'count_present' (found {len(forms)})"
            )
        ops = [o for o in ("at_least", "at_most", "equals", "in_") if getattr(self, o) is not None]
        if forms[0] == "of" and not ops:
            raise ValueError("'of' needs a comparison: 'at_least', 'at_most', 'equals' or 'in'")
        if forms[0] == "count_present" and (not ops or "equals" in ops or "in_" in ops):
            raise ValueError("'count_present' needs 'at_least' or 'at_most'")
        if forms[0] in ("all", "any", "not_") and ops:
            raise ValueError(f"'{forms[0].rstrip('_')}' cannot have a comparison beside it")
        return self


class Item(StrictModel):
    """One question of the instrument."""

    id: str
    label: str
    scale: str
    loinc: Code | None = None
    safety: bool = Field(False, description="a suicide-risk item: missing or invalid fails closed")
    required: bool = True
    scored: bool = Field(True, description="counted in the total")
    present_at: int | None = Field(None, description="counts as a symptom present at this value or above")
    asked_when: Condition | None = Field(None, description="skip logic: asked only when this holds")
    note: str | None = None


class Total(StrictModel):
    """How the total is computed: the sum of ``items`` (default: all scored items)."""

    items: list[str] | None = None
    range: list[int] = Field(min_length=2, max_length=2, description="[lowest, highest] possible total")
    loinc: Code | None = None
    source: str
    status: Status


class Band(StrictModel):
    """A severity band: inclusive ``min``..``max`` of the total."""

    name: str
    min: int
    max: int
    label: str | None = None


class Bands(StrictModel):
    """Severity bands over the total, or a band taken from a categorical result."""

    ranges: list[Band] | None = None
    from_result: str | None = None
    source: str
    status: Status
    note: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Bands:
        if (self.ranges is None) == (self.from_result is None):
            raise ValueError("bands need exactly one of 'ranges' or 'from_result'")
        return self


class MissingPolicy(StrictModel):
    """What happens when required items are unanswered."""

    policy: Literal["incomplete", "prorate"]
    max_missing: int = Field(0, ge=0)
    source: str
    status: Status
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> MissingPolicy:
        if self.policy == "incomplete" and self.max_missing:
            raise ValueError("policy 'incomplete' allows no missing items; remove 'max_missing'")
        if self.policy == "prorate" and not self.max_missing:
            raise ValueError("policy 'prorate' needs 'max_missing' (how many items may be missing)")
        return self


class Parameter(StrictModel):
    """A number the instrument's users may tune within limits (e.g. the PCL-5 cut-point)."""

    value: int | float
    min: int | float | None = None
    max: int | float | None = None
    description: str
    source: str
    status: Status


class ContextVariable(StrictModel):
    """Information besides the answers that scoring needs (e.g. sex for AUDIT-C)."""

    description: str
    allowed: list[str]
    required: bool = True


class Flag(StrictModel):
    """A flag set on the score when its condition holds (e.g. ``suicide_risk``).

    ``safety: true`` marks a safety flag (suicide risk): adapters show it as urgent, and the
    vocabulary's :func:`~cocm_rules.vocabulary.safety_flags` lists it."""

    name: str
    safety: bool = False
    when: Condition
    description: str
    source: str
    status: Status


class Case(StrictModel):
    """One case of a ``first_match`` result."""

    value: str
    when: Condition


class Result(StrictModel):
    """A derived result: a yes/no condition, the first matching case, or a linear conversion."""

    id: str
    description: str
    kind: Literal["condition", "first_match", "linear"]
    when: Condition | None = None
    cases: list[Case] | None = None
    otherwise: str | None = None
    of: str | None = None
    subtract: float = 0
    divide: float = 1
    multiply: float = 1
    decimals: int = Field(1, ge=0, le=6)
    loinc: Code | None = None
    source: str
    status: Status
    note: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Result:
        need = {"condition": ("when",), "first_match": ("cases", "otherwise"), "linear": ("of",)}[self.kind]
        for key in need:
            if getattr(self, key) is None:
                raise ValueError(f"a {self.kind!r} result needs {key!r}")
        if self.kind == "linear" and self.divide == 0:
            raise ValueError("'divide' cannot be 0")
        return self


class Subscore(StrictModel):
    """A sum over a group of items (a cluster or domain)."""

    id: str
    label: str
    items: list[str] = Field(min_length=1)


class Target(StrictModel):
    """A treatment target threshold with its source.

    ``response``: the total fell by at least ``min_reduction`` (a fraction of the baseline).
    ``remission``: the total is below ``below``.
    ``reliable_change`` / ``meaningful_change``: a change of at least ``points``.
    """

    min_reduction: float | None = Field(None, gt=0, le=1)
    below: int | None = None
    points: int | None = Field(None, gt=0)
    source: str
    status: Status
    note: str | None = None


class Targets(StrictModel):
    """Treat-to-target definitions of a measure (response, remission, meaningful change)."""

    higher_is: Literal["worse", "better"] = Field(description="direction of the total")
    response: Target | None = None
    remission: Target | None = None
    reliable_change: Target | None = None
    meaningful_change: Target | None = None

    @model_validator(mode="after")
    def _shapes(self) -> Targets:
        for name in ("reliable_change", "meaningful_change"):
            target = getattr(self, name)
            if target is not None and target.points is None:
                raise ValueError(f"{name!r} needs 'points' (the change in points)")
        if self.response is not None and self.response.min_reduction is None:
            raise ValueError("'response' needs 'min_reduction' (e.g. 0.5 for a 50% reduction)")
        if self.remission is not None and self.remission.below is None:
            raise ValueError("'remission' needs 'below' (the total that counts as remission is below it)")
        return self


class ExampleExpectation(StrictModel):
    """What scoring an example must give; only the keys present are checked."""

    total: int | float | None = None
    band: str | None = None
    flags: list[str] | None = None
    valid: bool | None = None
    provisional_diagnosis: str | None = None
    positive_screen: bool | None = None
    missing_items: list[str] | None = None
    subscores: dict[str, int | None] | None = None
    results: dict[str, Any] | None = None
    item_levels: dict[str, str | None] | None = None
    error: str | None = Field(None, description="scoring must raise InvalidInput containing this text")


class Example(StrictModel):
    """A worked example (test vector) kept beside the definition."""

    name: str
    answers: list[Any] | dict[str, Any]
    context: dict[str, Any] = Field(default_factory=dict)
    expect: ExampleExpectation
    source: str | None = None


class MeasureDefinition(StrictModel):
    """A validated measure definition (one ``measures/*.yaml`` file)."""

    id: str
    name: str
    instrument_version: str
    definition_version: str
    description: str
    recall_period: str | None = None
    respondent: Literal["patient", "clinician", "caregiver"]
    sources: dict[str, str] = Field(min_length=1)
    loinc_panel: Code | None = None
    short_name: str | None = Field(
        None, description="the name clinicians use (e.g. 'PHQ-9'), in messages; also accepted as the measure's id"
    )
    aliases: list[str] = Field(
        default_factory=list,
        description="other names a host may send as the measure id (e.g. 'PHQ-9M'); matched ignoring case, "
        "spaces, hyphens and underscores",
    )
    scales: dict[str, Scale] = Field(min_length=1)
    items: list[Item] = Field(min_length=1)
    total: Total | None = None
    bands: Bands | None = None
    missing: MissingPolicy
    context: dict[str, ContextVariable] = Field(default_factory=dict)
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    flags: list[Flag] = Field(default_factory=list)
    results: list[Result] = Field(default_factory=list)
    subscores: list[Subscore] = Field(default_factory=list)
    report_item_levels: bool = False
    targets: Targets | None = None
    examples: list[Example] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    # -- conveniences -------------------------------------------------------------------

    @cached_property
    def derived(self) -> dict[str, Any]:
        """What is computed from this definition and kept with it (its scorer, the strategies'
        item tables...), by key. Not part of the definition's value: equal definitions stay
        equal whatever each has computed (pydantic compares fields only)."""
        return {}

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()``, computed once and kept in :attr:`derived` under ``key``: derived state
        lives as long as the definition does."""
        derived = self.derived
        try:
            return derived[key]
        except KeyError:
            value = derived[key] = build()
            return value

    def item(self, item_id: str) -> Item:
        """The item with this id (``item9`` or ``phq9.item9``); raises InvalidInput."""
        key = item_id.removeprefix(f"{self.id}.")
        for it in self.items:
            if it.id == key:
                return it
        raise InvalidInput(
            "unknown item",
            measure=self.id,
            item=item_id,
            allowed=join(i.id for i in self.items),
            suggestion=suggest(key, [i.id for i in self.items]),
        )

    @property
    def label(self) -> str:
        """The name for messages: the short name, else the id."""
        return self.short_name or self.id

    def names(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every name a host may send for this measure, with where it is declared: the id, the
        short name, each alias, and the LOINC panel code when its status is confirmed or
        secondary."""
        out: list[tuple[tuple[str | int, ...], str]] = [(("id",), self.id)]
        if self.short_name:
            out.append((("short_name",), self.short_name))
        out += [(("aliases", n), alias) for n, alias in enumerate(self.aliases)]
        if self.loinc_panel is not None and self.loinc_panel.status in ("confirmed", "secondary"):
            out.append((("loinc_panel", "code"), self.loinc_panel.code))
        return out

    @property
    def total_items(self) -> list[str]:
        """Ids of the items summed into the total."""
        if self.total is None:
            return []
        return list(self.total.items) if self.total.items is not None else [i.id for i in self.items if i.scored]

    @cached_property
    def safety_items(self) -> list[str]:
        """Ids of the suicide-risk items."""
        return [i.id for i in self.items if i.safety]

    @property
    def band_names(self) -> list[str]:
        """Band names in order (empty when the measure has no bands)."""
        if self.bands and self.bands.ranges:
            return [b.name for b in self.bands.ranges]
        if self.bands and self.bands.from_result:
            res = next(r for r in self.results if r.id == self.bands.from_result)
            names = [c.value for c in (res.cases or [])]
            return [res.otherwise, *reversed(names)] if res.otherwise else list(reversed(names))
        return []

    def scale_values(self, item_id: str) -> list[int]:
        """The allowed numeric values of an item (including codes that mean 'not assessed')."""
        return [v.value for v in self.scales[self.item(item_id).scale].values]


# -- semantic checks ------------------------------------------------------------------------
#
# Consistency checks pydantic cannot express, one small function per part of a definition,
# run in the order of :data:`_CHECKS` (the order the problems are reported in).


class _Checks:
    """What the checks of one definition share: the definition, the names its conditions may
    use, and the problems found so far (each located in the file)."""

    def __init__(self, defn: MeasureDefinition, doc: Document, base: tuple[Any, ...]) -> None:
        self.defn = defn
        self.doc = doc
        self.base = base
        self.problems: list[Problem] = []
        self.item_ids = [i.id for i in defn.items]
        self.result_ids = [r.id for r in defn.results]
        self.sub_ids = [s.id for s in defn.subscores]
        #: Names a condition may refer to: the total, items, subscores, results and context.
        self.names = {"total"} | set(self.item_ids) | set(self.sub_ids) | set(self.result_ids) | set(defn.context)

    def bad(
        self,
        path: tuple[Any, ...],
        message: str,
        *,
        allowed: str | None = None,
        suggestion: str | None = None,
        key: bool = False,
    ) -> None:
        """Record a problem at ``path`` (relative to the definition)."""
        self.problems.append(
            self.doc.problem(
                (*self.base, *path),
                message,
                allowed=allowed,
                suggestion=suggestion,
                key=key,
                context=f"measure {self.defn.id!r}",
            )
        )

    def known_source(self, path: tuple[Any, ...], ref: str) -> None:
        """A ``source:`` must name an entry of the definition's ``sources``."""
        sources = self.defn.sources
        if ref not in sources:
            self.bad(
                path,
                f"source {ref!r} is not listed under 'sources'",
                allowed=join(sources),
                suggestion=suggest(ref, sources),
            )

    def number(self, path: tuple[Any, ...], value: Any, of: str | None) -> None:
        """A condition's number: a parameter's name, or a value the item ``of`` can take."""
        defn = self.defn
        if isinstance(value, str):
            if value not in defn.parameters:
                self.bad(
                    path,
                    f"{value!r} is neither a number nor a parameter",
                    allowed=join(defn.parameters) or None,
                    suggestion=suggest(value, defn.parameters),
                )
        elif of in self.item_ids and value is not None:
            allowed = defn.scale_values(of) if defn.item(of).scale in defn.scales else []
            if allowed and not (min(allowed) <= value <= max(allowed)):
                self.bad(path, f"{value} is outside the values of item {of!r}", allowed=join(allowed))

    def condition(self, c: Condition, path: tuple[Any, ...], visible_results: set[str]) -> None:
        """A condition and those nested in it; ``visible_results`` are the results it may use."""
        for key in ("all", "any"):
            for k, sub in enumerate(getattr(c, key) or []):
                self.condition(sub, (*path, key, k), visible_results)
        if c.not_ is not None:
            self.condition(c.not_, (*path, "not"), visible_results)
        if c.of is not None:
            self._comparison(c, path, visible_results)
        if c.count_present is not None:
            self._count_present(c, c.count_present, path)

    def _comparison(self, c: Condition, path: tuple[Any, ...], visible_results: set[str]) -> None:
        of = c.of
        if of not in self.names:
            self.bad(
                (*path, "of"),
                f"unknown name {of!r}",
                allowed=join(sorted(self.names)),
                suggestion=suggest(of or "", self.names),
            )
        elif of in self.result_ids and of not in visible_results:
            self.bad((*path, "of"), f"result {of!r} is computed later; a condition may only use earlier results")
        if of == "total" and self.defn.total is None:
            self.bad((*path, "of"), "this measure has no total")
        self.number((*path, "at_least"), c.at_least, of)
        self.number((*path, "at_most"), c.at_most, of)

    def _count_present(self, c: Condition, counted: list[str], path: tuple[Any, ...]) -> None:
        for k, ref in enumerate(counted):
            if ref not in self.item_ids:
                self.bad((*path, "count_present", k), f"unknown item {ref!r}", suggestion=suggest(ref, self.item_ids))
            elif self.defn.item(ref).present_at is None:
                self.bad((*path, "count_present", k), f"item {ref!r} has no 'present_at', so it cannot be counted")
        for op in ("at_least", "at_most"):
            v = getattr(c, op)
            if isinstance(v, str):
                self.number((*path, op), v, None)
            elif v is not None and not (0 <= v <= len(counted)):
                self.bad((*path, op), f"{v} is outside 0..{len(counted)} (the number of items counted)")


def _check_names(c: _Checks) -> None:
    """The id is snake_case; every other name of the measure has a letter or digit."""
    defn = c.defn
    if not _SNAKE.match(defn.id):
        c.bad(("id",), f"measure id {defn.id!r} must be snake_case (a-z, 0-9, _)")
    for path, name in defn.names()[1:]:
        if not name_key(name):
            c.bad(path, f"{name!r} has no letter or digit, so it cannot name the measure")


def _check_items(c: _Checks) -> None:
    """Item ids are snake_case and unique; scales exist; ``present_at`` is a value of the scale."""
    defn = c.defn
    seen: set[str] = set()
    for n, it in enumerate(defn.items):
        if not _SNAKE.match(it.id):
            c.bad(("items", n, "id"), f"item id {it.id!r} must be snake_case")
        if it.id in seen:
            c.bad(("items", n, "id"), f"duplicate item id {it.id!r}")
        seen.add(it.id)
        if it.scale not in defn.scales:
            c.bad(
                ("items", n, "scale"),
                f"unknown scale {it.scale!r}",
                allowed=join(defn.scales),
                suggestion=suggest(it.scale, defn.scales),
            )
        elif it.present_at is not None:
            values = [v.value for v in defn.scales[it.scale].values if not v.missing]
            if it.present_at not in values:
                c.bad(
                    ("items", n, "present_at"),
                    f"present_at {it.present_at} is not a value of scale {it.scale!r}",
                    allowed=join(values),
                )
        if it.loinc:
            c.known_source(("items", n, "loinc", "source"), it.loinc.source)


def _check_scales(c: _Checks) -> None:
    """A scale's values are unique; a yes/no scale is exactly 0 and 1."""
    for name, scale in c.defn.scales.items():
        vals = [v.value for v in scale.values]
        if len(set(vals)) != len(vals):
            c.bad(("scales", name), f"scale {name!r} repeats a value")
        if scale.yes_no and sorted(vals) != [0, 1]:
            c.bad(("scales", name, "yes_no"), f"a yes/no scale must have exactly the values 0 and 1, not {vals}")


def _check_subscores(c: _Checks) -> None:
    """A subscore sums items of the measure."""
    for n, sub in enumerate(c.defn.subscores):
        for k, ref in enumerate(sub.items):
            if ref not in c.item_ids:
                c.bad(("subscores", n, "items", k), f"unknown item {ref!r}", suggestion=suggest(ref, c.item_ids))


def _check_context_names(c: _Checks) -> None:
    """Context and parameter names are neither reserved nor item ids."""
    defn = c.defn
    for key in (*defn.context, *defn.parameters):
        if key in RESERVED_CONTEXT:
            c.bad(("context",) if key in defn.context else ("parameters",), f"{key!r} is a reserved name")
        if key in c.item_ids:
            c.bad(("context",), f"{key!r} is both an item id and a context or parameter name")


def _check_skip_logic(c: _Checks) -> None:
    """An item's ``asked_when`` uses known names (no results: they come after the answers)."""
    for n, it in enumerate(c.defn.items):
        if it.asked_when is not None:
            c.condition(it.asked_when, ("items", n, "asked_when"), set())


def _check_total(c: _Checks) -> None:
    """The total sums known items, and its declared range is what those items can produce."""
    defn = c.defn
    if defn.total is None:
        return
    c.known_source(("total", "source"), defn.total.source)
    lo = hi = 0
    ok = True
    for k, ref in enumerate(defn.total_items):
        if ref not in c.item_ids:
            c.bad(("total", "items", k), f"unknown item {ref!r}", suggestion=suggest(ref, c.item_ids))
            ok = False
            continue
        scale = defn.scales.get(defn.item(ref).scale)
        if scale is None:
            ok = False
            continue
        vals = [v.value for v in scale.values if not v.missing]
        lo += min(vals)
        hi += max(vals)
    if ok and tuple(defn.total.range) != (lo, hi):
        c.bad(("total", "range"), f"range {list(defn.total.range)} does not match the items, which give {lo}..{hi}")


def _check_bands(c: _Checks) -> None:
    """Bands cover the total's range without gaps, or come from a ``first_match`` result."""
    bands = c.defn.bands
    if bands is None:
        return
    c.known_source(("bands", "source"), bands.source)
    if bands.ranges is not None:
        _check_band_ranges(c, bands.ranges)
    elif bands.from_result not in c.result_ids:
        c.bad(
            ("bands", "from_result"),
            f"unknown result {bands.from_result!r}",
            allowed=join(c.result_ids),
            suggestion=suggest(bands.from_result or "", c.result_ids),
        )
    else:
        res = next(r for r in c.defn.results if r.id == bands.from_result)
        if res.kind != "first_match":
            c.bad(("bands", "from_result"), "a band can only come from a 'first_match' result")


def _check_band_ranges(c: _Checks, ranges: list[Band]) -> None:
    """Band names are snake_case and unique; the bands are contiguous from the lowest total to the highest."""
    total = c.defn.total
    if total is None:
        c.bad(("bands",), "bands over a total need a 'total'")
        return
    expect = total.range[0]
    for k, band in enumerate(ranges):
        if not _SNAKE.match(band.name):
            c.bad(("bands", "ranges", k, "name"), f"band name {band.name!r} must be snake_case")
        if band.min != expect:
            c.bad(
                ("bands", "ranges", k, "min"),
                f"band {band.name!r} starts at {band.min}; bands must be contiguous, expected {expect}",
            )
        if band.max < band.min:
            c.bad(("bands", "ranges", k, "max"), f"band {band.name!r} ends before it starts")
        expect = band.max + 1
    if expect != total.range[1] + 1:
        c.bad(("bands", "ranges"), f"bands end at {expect - 1} but the total reaches {total.range[1]}")
    names = [b.name for b in ranges]
    if len(set(names)) != len(names):
        c.bad(("bands", "ranges"), "band names repeat")


def _check_missing_policy(c: _Checks) -> None:
    """Only a total can be prorated, and proration leaves at least one answered item."""
    defn = c.defn
    c.known_source(("missing", "source"), defn.missing.source)
    if defn.missing.policy == "prorate":
        if defn.total is None:
            c.bad(("missing", "policy"), "only a measure with a total can be prorated")
        elif defn.missing.max_missing >= len(defn.total_items):
            c.bad(("missing", "max_missing"), "max_missing must leave at least one answered item")


def _check_parameters(c: _Checks) -> None:
    """A parameter's default lies within its own limits."""
    for name, p in c.defn.parameters.items():
        c.known_source(("parameters", name, "source"), p.source)
        if (p.min is not None and p.value < p.min) or (p.max is not None and p.value > p.max):
            c.bad(("parameters", name, "value"), f"default {p.value} is outside its own limits {p.min}..{p.max}")


def _check_flags(c: _Checks) -> None:
    """Flag names are snake_case and unique (``safety_item_missing`` is built in); their
    conditions may use every result."""
    flag_names: set[str] = set()
    all_results = set(c.result_ids)
    for n, flag in enumerate(c.defn.flags):
        if not _SNAKE.match(flag.name):
            c.bad(("flags", n, "name"), f"flag name {flag.name!r} must be snake_case")
        if flag.name in flag_names or flag.name == "safety_item_missing":
            c.bad(("flags", n, "name"), f"flag {flag.name!r} is defined twice (safety_item_missing is built in)")
        flag_names.add(flag.name)
        c.known_source(("flags", n, "source"), flag.source)
        c.condition(flag.when, ("flags", n, "when"), all_results)


def _check_results(c: _Checks) -> None:
    """Result ids are snake_case and clash with no other name; a result's conditions use only
    the results before it; a linear result converts the total or a subscore."""
    visible: set[str] = set()
    others = c.names - set(c.result_ids)
    for n, res in enumerate(c.defn.results):
        if not _SNAKE.match(res.id):
            c.bad(("results", n, "id"), f"result id {res.id!r} must be snake_case")
        if res.id in visible or res.id in others:
            c.bad(("results", n, "id"), f"result id {res.id!r} clashes with another name")
        c.known_source(("results", n, "source"), res.source)
        if res.when is not None:
            c.condition(res.when, ("results", n, "when"), visible)
        for k, case in enumerate(res.cases or []):
            c.condition(case.when, ("results", n, "cases", k, "when"), visible)
        if res.kind == "linear" and res.of not in ({"total"} | set(c.sub_ids)):
            c.bad(("results", n, "of"), f"a linear result converts the total or a subscore, not {res.of!r}")
        if res.loinc:
            c.known_source(("results", n, "loinc", "source"), res.loinc.source)
        visible.add(res.id)


def _check_loinc_panel(c: _Checks) -> None:
    """The LOINC panel code cites a listed source."""
    if c.defn.loinc_panel:
        c.known_source(("loinc_panel", "source"), c.defn.loinc_panel.source)


def _check_targets(c: _Checks) -> None:
    """Treatment targets need a total, and a remission cut lies within its range."""
    defn = c.defn
    if defn.targets is None:
        return
    if defn.total is None:
        c.bad(("targets",), "treatment targets need a total")
    for name in ("response", "remission", "reliable_change", "meaningful_change"):
        target = getattr(defn.targets, name)
        if target is None:
            continue
        c.known_source(("targets", name, "source"), target.source)
        if (
            target.below is not None
            and defn.total is not None
            and not (defn.total.range[0] < target.below <= defn.total.range[1])
        ):
            c.bad(("targets", name, "below"), f"{target.below} is outside the total range {defn.total.range}")


def _check_total_loinc(c: _Checks) -> None:
    """The total's LOINC code cites a listed source."""
    total = c.defn.total
    if total and total.loinc:
        c.known_source(("total", "loinc", "source"), total.loinc.source)


def _check_item_levels(c: _Checks) -> None:
    """Reporting item levels needs an ``id`` on every counted value of each item's scale."""
    defn = c.defn
    if not defn.report_item_levels:
        return
    for n, it in enumerate(defn.items):
        scale = defn.scales.get(it.scale)
        if scale and any(v.id is None for v in scale.values if not v.missing):
            c.bad(("items", n, "scale"), "report_item_levels needs an 'id' on every value of the item's scale")


def _check_examples(c: _Checks) -> None:
    """An example expects a band the measure has."""
    band_names = c.defn.band_names
    for n, ex in enumerate(c.defn.examples):
        if ex.expect.band is not None and ex.expect.band not in band_names:
            c.bad(
                ("examples", n, "expect", "band"),
                f"unknown band {ex.expect.band!r}",
                allowed=join(band_names),
                suggestion=suggest(ex.expect.band, band_names),
            )


#: The checks of a definition, in the order their problems are reported.
_CHECKS: tuple[Callable[[_Checks], None], ...] = (
    _check_names,
    _check_items,
    _check_scales,
    _check_subscores,
    _check_context_names,
    _check_skip_logic,
    _check_total,
    _check_bands,
    _check_missing_policy,
    _check_parameters,
    _check_flags,
    _check_results,
    _check_loinc_panel,
    _check_targets,
    _check_total_loinc,
    _check_item_levels,
    _check_examples,
)


def _check(defn: MeasureDefinition, doc: Document, base: tuple[Any, ...] = ()) -> list[Problem]:
    """Consistency checks pydantic cannot express (:data:`_CHECKS`); each Problem is located in the file."""
    checks = _Checks(defn, doc, base)
    for check in _CHECKS:
        check(checks)
    return checks.problems


def _describe(path: tuple[Any, ...], data: Any) -> str | None:
    """Context for a Problem: which item/flag/result of the file it is in."""
    if (
        len(path) >= 2
        and path[0] in ("items", "flags", "results", "examples", "subscores")
        and isinstance(path[1], int)
    ):
        try:
            entry = data[path[0]][path[1]]
            label = entry.get("id") or entry.get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            label = None
        kind = {"items": "item", "flags": "flag", "results": "result", "examples": "example", "subscores": "subscore"}[
            path[0]
        ]
        return f"{kind} {label!r}" if label else f"{kind} #{path[1] + 1}"
    return None


def parse_measure(doc: Document) -> MeasureDefinition:
    """Validate a loaded YAML document as a measure; raise MeasureDefinitionError."""
    if not isinstance(doc.data, dict):
        raise MeasureDefinitionError([doc.problem((), "a measure file must be a mapping of keys to values")])
    try:
        defn = MeasureDefinition.model_validate(doc.data)
    except ValidationError as e:
        raise MeasureDefinitionError(
            problems_from(e, doc, MeasureDefinition, describe=lambda p: _describe(p, doc.data))
        ) from e
    problems = _check(defn, doc)
    if problems:
        raise MeasureDefinitionError(problems)
    return defn


class MeasureLibrary(Mapping[str, MeasureDefinition]):
    """A read-only set of measure definitions keyed by id."""

    def __init__(self, definitions: Mapping[str, MeasureDefinition], files: Mapping[str, str] | None = None) -> None:
        self._defs = dict(sorted(definitions.items()))
        self.files: dict[str, str] = dict(files or {})
        #: The measure ids, exactly as the definitions spell them.
        self.ids: frozenset[str] = frozenset(self._defs)
        self._names: dict[str, str] = {}
        #: What is computed from this library and kept with it (its fact catalog, the FHIR code
        #: index...), by key; see :meth:`cached`.
        self.derived: dict[str, Any] = {}
        clashes = []
        for defn in self._defs.values():
            for path, name in defn.names():
                key = name_key(name)
                owner = self._names.setdefault(key, defn.id)
                if owner != defn.id:
                    clashes.append(
                        Problem(
                            f"{'.'.join(map(str, path))} {name!r} also names measure {owner!r}; "
                            "each name may belong to one measure",
                            file=self.files.get(defn.id),
                            context=f"measure {defn.id!r}",
                        )
                    )
        if clashes:
            raise MeasureDefinitionError(clashes)

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()``, computed once and kept by this library under ``key``: what is derived
        from a library (its fact catalog, the scorers...) lives as long as the library does."""
        try:
            return self.derived[key]
        except KeyError:
            value = self.derived[key] = build()
            return value

    def resolve(self, name: Any) -> str | None:
        """The id of the measure ``name`` stands for - its id, short name, an alias or its LOINC
        panel code, ignoring case, spaces, hyphens and underscores - or None if none."""
        if not isinstance(name, str):
            return None
        if name in self.ids:
            return name
        return self._names.get(name_key(name))

    def __getitem__(self, measure_id: str) -> MeasureDefinition:
        return self.get_measure(measure_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._defs)

    def __len__(self) -> int:
        return len(self._defs)

    def __contains__(self, measure_id: object) -> bool:
        return measure_id in self._defs

    def get(self, measure_id: str, default: Any = None) -> Any:
        """The definition of ``measure_id``, or ``default`` when unknown (never raises)."""
        return self._defs.get(measure_id, default)

    def get_measure(self, measure_id: str) -> MeasureDefinition:
        """The definition of ``measure_id`` (an id exactly as the library spells it; see
        :meth:`resolve` for the other names); raise InvalidInput with "did you mean"."""
        try:
            return self._defs[measure_id]
        except (KeyError, TypeError):
            pass
        text = str(measure_id)
        raise InvalidInput(
            "unknown measure",
            measure=text,
            allowed=join(self._defs),
            suggestion=suggest(text.lower().replace("-", "").replace(" ", ""), self._defs),
        )


def bundled_path() -> Path:
    """The directory of the bundled measure files."""
    return data_dir("measures")


def data_dir(name: str) -> Path:
    """The bundled data directory ``name`` (``measures``, ``rulesets``, ``metrics``): inside
    the installed package, or beside it in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the bundled {name!r} directory is missing from this installation")


def load_measures(path: str | Path | None = None) -> MeasureLibrary:
    """Load measure definitions: the bundled set (``path=None``), a directory or one file.

    Every file is validated; all problems in all files are reported together in one
    :class:`~cocm_rules.MeasureDefinitionError` with ``file:line:column`` for each.
    """
    if path is None:
        return _bundled()
    return _load(Path(path))


@cache
def _bundled() -> MeasureLibrary:
    return _load(bundled_path())


#: Where a measure name is declared: the measure's id, its document, the path and the name.
_Declared = tuple[str, Document, tuple[Any, ...], str]


def _name_clash(new: _Declared, old: _Declared) -> Problem:
    """The problem of two measures sharing a name, located where it is most likely to be fixed:
    at an alias rather than a short name, at either rather than a LOINC panel code, at any of
    them rather than an id; between equals, at the later one."""
    rank = {"aliases": 0, "short_name": 1, "loinc_panel": 2, "id": 3}
    here, there = (old, new) if rank[old[2][0]] < rank[new[2][0]] else (new, old)
    return here[1].problem(
        here[2],
        f"{here[3]!r} also names measure {there[0]!r} (as {there[3]!r}); a name (id, short name, alias or "
        "LOINC panel code, matched ignoring case, spaces, hyphens and underscores) may belong to one measure only",
        context=f"measure {here[0]!r}",
    )


def _load(path: Path) -> MeasureLibrary:
    if path.is_dir():
        files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
        if not files:
            raise MeasureDefinitionError([Problem("no measure files (*.yaml) in this directory", file=str(path))])
    elif path.exists():
        files = [path]
    else:
        raise MeasureDefinitionError([Problem("no such file or directory", file=str(path))])
    problems: list[Problem] = []
    defs: dict[str, MeasureDefinition] = {}
    where: dict[str, str] = {}
    owners: dict[str, _Declared] = {}  # each name's key -> where it was declared first
    for f in files:
        try:
            doc = load_file(f)
            defn = parse_measure(doc)
        except YamlError as e:
            problems.extend(e.problems)
            continue
        except MeasureDefinitionError as e:
            problems.extend(e.problems)
            continue
        if defn.id in defs:
            problems.append(doc.problem(("id",), f"measure id {defn.id!r} is already defined in {where[defn.id]}"))
            continue
        clashes = [
            _name_clash((defn.id, doc, name_path, name), owners[name_key(name)])
            for name_path, name in defn.names()
            if owners.get(name_key(name), (defn.id,))[0] != defn.id
        ]
        if clashes:
            problems.extend(clashes)
            continue
        for name_path, name in defn.names():
            owners.setdefault(name_key(name), (defn.id, doc, name_path, name))
        defs[defn.id] = defn
        where[defn.id] = str(f)
    if problems:
        raise MeasureDefinitionError(problems)
    log.debug("measure.loaded", count=len(defs), source=str(path))
    return MeasureLibrary(defs, where)
