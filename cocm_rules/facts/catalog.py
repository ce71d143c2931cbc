"""The fact catalog: every fact a ruleset may use, built from the fact families' tables.

Episode families (engagement, safety, data quality, SMI, medical) give fixed rows; measure
families (totals, targets, safety, items, course) give rows per measure of the library, so a
measure file brings its facts with it. The catalog of a library is built once and kept by the library.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._text import suggest
from ..episode import Episode, parse_episode
from ..errors import InvalidInput
from ..measures import MeasureDefinition, MeasureLibrary, load_measures
from . import billing, course, engagement, items, medical, quality, safety, screens, smi, targets, totals
from .spec import Fact, FactSpec
from .view import EpisodeView

__all__ = ["FactCatalog", "FactFn", "catalog", "catalog_markdown", "derive_facts"]

FactFn = Callable[[EpisodeView], Any]

#: Episode fact tables, in catalog order.
EPISODE_FAMILIES: tuple[tuple[Fact, ...], ...] = (
    engagement.EPISODE_FACTS,
    billing.EPISODE_FACTS,
    safety.EPISODE_FACTS,
    quality.EPISODE_FACTS,
    smi.EPISODE_FACTS,
    medical.EPISODE_FACTS,
)
#: Measure fact families, in catalog order: each gives the rows of one measure.
MEASURE_FAMILIES: tuple[Callable[[MeasureDefinition], Iterator[Fact]], ...] = (
    totals.measure_facts,
    targets.measure_facts,
    safety.measure_facts,
    items.measure_facts,
    screens.measure_facts,
    course.measure_facts,
)


@dataclass
class FactCatalog:
    """All facts available for one measure library: specs in order, and how to compute each."""

    specs: dict[str, FactSpec] = field(default_factory=dict)
    fns: dict[str, FactFn] = field(default_factory=dict)
    #: Facts that are missing when the patient has no administration of a measure: fact -> measure.
    series_of: dict[str, str] = field(default_factory=dict)

    def add(self, spec: FactSpec, fn: FactFn, series_of: str | None = None) -> None:
        """Register a fact (names are unique); ``series_of``: see :class:`~cocm_rules.facts.Fact`."""
        if spec.name in self.specs:
            raise ValueError(f"fact {spec.name!r} defined twice")
        self.specs[spec.name] = spec
        self.fns[spec.name] = fn
        if series_of is not None:
            self.series_of[spec.name] = series_of

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
        view = EpisodeView(parse_episode(episode, library=lib), as_of, lib)
        fns = self.fns
        if names is None:
            return {name: fn(view) for name, fn in fns.items()}
        return {name: fns[name](view) for name in names}


def _build(library: MeasureLibrary) -> FactCatalog:
    cat = FactCatalog()
    for table in EPISODE_FAMILIES:
        for row in table:
            cat.add(row.spec, row.compute, row.series_of)
    for defn in library.values():
        for family in MEASURE_FAMILIES:
            for row in family(defn):
                cat.add(row.spec, row.compute, row.series_of)
    return cat


def catalog(library: MeasureLibrary | None = None) -> FactCatalog:
    """The fact catalog for a measure library (the bundled one by default), kept by the library."""
    lib = library if library is not None else load_measures()
    return lib.cached("facts.catalog", lambda: _build(lib))


def derive_facts(
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
    titles = {
        "episode": "Episode",
        "smi": "Serious mental illness outcomes",
        "medical": "Medical outcomes: vital signs, laboratory results, smoking, antipsychotic monitoring",
    }
    order = [*titles, *sorted(g for g in groups if g not in titles)]
    for group in order:
        specs = groups.get(group)
        if not specs:
            continue
        title = titles.get(group) or f"{lib[group].name} (`{group}`)"
        lines += [f"## {title}", "", "| fact | type | unit | meaning |", "|---|---|---|---|"]
        lines += [_markdown_row(spec) for spec in specs]
        lines.append("")
    return "\n".join(lines)


def _markdown_row(spec: FactSpec) -> str:
    kind: str = spec.type
    if spec.allowed:
        kind += ": " + ", ".join(f"`{v}`" for v in spec.allowed)
    elif spec.minimum is not None or spec.maximum is not None:
        lo = "" if spec.minimum is None else f"{spec.minimum:g}"
        hi = "" if spec.maximum is None else f"{spec.maximum:g}"
        kind += f" ({lo}..{hi})"
    meaning = " ".join(spec.meaning.split()).replace("|", "/")
    return f"| `{spec.name}` | {kind} | {spec.unit or ''} | {meaning} |"
