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

Layout (where a new fact goes)::

    spec.py        FactSpec, Fact (a table row), value checks, rounding
    series.py      MeasureSeries: one measure's administrations, scored when read
    view.py        EpisodeView: one episode as of a date (series, contacts, events...)
    rows.py        episode_fact() / measure_fact(): how a family writes a row
    totals.py      measure: counts, dates, totals, change, bands          } measure
    targets.py     measure: response, remission, run lengths, reliable    } families
    safety.py      measure + episode: flags, safety items, fail-closed    }
    items.py       measure: results, subscores, item levels               }
    screens.py     measure: full instrument and consultant after a screen }
    course.py      measure: how long a screen or item level lasted; review }
    engagement.py  episode: enrollment, contacts, time, plan, recommendations
    billing.py     episode: care-manager minutes, 99494 units, consent, 99484 billed
    quality.py     episode: invalid, mismatched, set aside, last measured
    smi.py         episode: SMI outcome events and statuses
    medical.py     episode: vital signs, labs, smoking, antipsychotic monitoring
    catalog.py     FactCatalog, catalog(), derive_facts(), catalog_markdown()

A new fact is one row in the table of its family (a new family is a module with a table,
listed in ``catalog.EPISODE_FAMILIES`` or ``MEASURE_FAMILIES``), documented by its spec
(``docs/facts.md`` is generated from the catalog).
"""

from __future__ import annotations

from .catalog import FactCatalog, catalog, catalog_markdown, derive_facts
from .series import MeasureSeries, ScoredAssessment, scored_assessments
from .spec import DECIMALS, Fact, FactSpec, FactType, describe_allowed, round_fact, value_fits
from .view import PATIENT_CONTACTS, EpisodeView

__all__ = [
    "DECIMALS",
    "PATIENT_CONTACTS",
    "EpisodeView",
    "Fact",
    "FactCatalog",
    "FactSpec",
    "FactType",
    "MeasureSeries",
    "ScoredAssessment",
    "catalog",
    "catalog_markdown",
    "derive_facts",
    "describe_allowed",
    "round_fact",
    "scored_assessments",
    "value_fits",
]
