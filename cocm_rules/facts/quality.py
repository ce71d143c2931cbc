"""Episode facts of data quality: administrations that could not be scored, reported totals
that disagree with the items, records set aside, and how long since any measurement."""

from __future__ import annotations

from typing import Any

from ..light_episode import AnySetAside
from .rows import episode_fact
from .view import EpisodeView

__all__ = ["EPISODE_FACTS"]


def _set_aside_text(x: AnySetAside) -> str:
    when = x.date.isoformat() if x.date is not None else "undated"
    where = f", {x.source}" if x.source else ""
    what = x.kind.replace("_", " ") + (f" of {x.measure}" if x.measure else "")
    return f"{what} ({when}{where}): {x.reason}"


def _days_since_last_assessment(v: EpisodeView) -> Any:
    return v.days(max((entries[-1][1].date for entries in v.by_measure.values()), default=None))


EPISODE_FACTS = (
    episode_fact(
        "set_aside_count",
        "integer",
        "records the host or a reader could not use as sent (an unreadable administration, a contact "
        "or its minutes, a plan), dated on or before as_of or undated",
        lambda v: len(v.set_aside),
        unit="count",
        minimum=0,
    ),
    episode_fact(
        "set_aside_reasons",
        "text",
        "what was set aside and why, in words (missing when nothing was)",
        lambda v: "; ".join(_set_aside_text(x) for x in v.set_aside) or None,
    ),
    episode_fact(
        "measures_latest_invalid",
        "integer",
        "measures whose latest administration could not be scored (an invalid answer or unknown measure)",
        lambda v: len(v.invalid) + len(v.unrecognized),
        unit="count",
        minimum=0,
    ),
    episode_fact(
        "measures_latest_invalid_names",
        "text",
        "the measures measures_latest_invalid counts: each measure id, and each id that is not recognized "
        "as sent, marked so (e.g. \"gad7, 'PHQ9x' (not recognized)\"); missing when there are none",
        lambda v: ", ".join([*v.invalid, *(f"{m!r} (not recognized)" for m in v.unrecognized)]) or None,
    ),
    episode_fact(
        "measures_total_mismatch",
        "integer",
        "measures whose latest administration has a reported total that differs from the recomputed one",
        lambda v: v.count_latest(lambda a: a.score is not None and a.score.total_agrees is False),
        unit="count",
        minimum=0,
    ),
    episode_fact(
        "days_since_last_assessment",
        "integer",
        "days since the latest administration of any measure",
        _days_since_last_assessment,
        unit="days",
        minimum=0,
    ),
)
