"""Episode facts of serious-mental-illness outcomes: psychiatric hospitalizations and
emergency visits, and housing, employment and education status and how long since a good
status was lost."""

from __future__ import annotations

from collections.abc import Iterator

from ..episode import EDUCATION, EMPLOYMENT, HOUSING
from .rows import ViewFn, episode_fact
from .spec import Fact
from .view import EpisodeView

__all__ = ["EPISODE_FACTS"]


def _status(v: EpisodeView, kind: str) -> str | None:
    for e in reversed(v.smi):
        if e.kind == kind:
            return e.status
    return None


def _count(v: EpisodeView, kind: str, days: int) -> int:
    return sum(1 for e in v.smi if e.kind == kind and (v.as_of - e.date).days < days)


def _days_since_last(v: EpisodeView, kind: str) -> int | None:
    for e in reversed(v.smi):
        if e.kind == kind:
            return v.days(e.date)
    return None


def _days_since_lost(v: EpisodeView, kind: str, good: tuple[str, ...]) -> int | None:
    """Days since a change from a good status to another one, while it lasts (None once the
    status is good again, or if it never was)."""
    prev = None
    lost = None
    for e in v.smi:
        if e.kind != kind:
            continue
        if prev in good and e.status not in good:
            lost = e.date
        elif e.status in good:
            lost = None
        prev = e.status
    return v.days(lost)


def _status_facts() -> Iterator[Fact]:
    # (domain, allowed statuses, the good status, how the loss reads)
    for kind, allowed, good, lost in (
        ("housing", HOUSING, "stable", "from stable to unstable or homeless"),
        ("employment", EMPLOYMENT, "employed", "from employed to another status"),
        ("education", EDUCATION, "enrolled", "from enrolled to not enrolled"),
    ):
        yield episode_fact(
            f"{kind}_status", "text", f"latest recorded {kind} status", _status_of(kind), allowed=allowed, group="smi"
        )
        yield episode_fact(
            f"days_since_{kind}_lost",
            "integer",
            f"days since {kind} changed {lost}; missing once it is {good} again",
            _lost(kind, (good,)),
            unit="days",
            minimum=0,
            group="smi",
        )


def _status_of(kind: str) -> ViewFn:
    return lambda v: _status(v, kind)


def _lost(kind: str, good: tuple[str, ...]) -> ViewFn:
    return lambda v: _days_since_lost(v, kind, good)


EPISODE_FACTS = (
    episode_fact(
        "hospitalizations_last_90d",
        "integer",
        "psychiatric hospitalizations in the 90 days up to as_of",
        lambda v: _count(v, "hospitalization", 90),
        unit="count",
        minimum=0,
        group="smi",
    ),
    episode_fact(
        "ed_visits_last_90d",
        "integer",
        "emergency department visits in the 90 days up to as_of",
        lambda v: _count(v, "ed_visit", 90),
        unit="count",
        minimum=0,
        group="smi",
    ),
    episode_fact(
        "days_since_last_hospitalization",
        "integer",
        "days since the latest hospitalization",
        lambda v: _days_since_last(v, "hospitalization"),
        unit="days",
        minimum=0,
        group="smi",
    ),
    episode_fact(
        "days_since_last_ed_visit",
        "integer",
        "days since the latest emergency department visit",
        lambda v: _days_since_last(v, "ed_visit"),
        unit="days",
        minimum=0,
        group="smi",
    ),
    *_status_facts(),
)
