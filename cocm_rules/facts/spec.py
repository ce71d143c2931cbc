"""What a fact is: its spec (name, type, unit, range, meaning) and the checks of a value.

A fact that cannot be computed is ``None`` (missing). Units are in the name (``days_``,
``weeks_``, ``minutes_``; ``pct_`` is a fraction, 0.5 when a score halves). Fractional values
are rounded to :data:`DECIMALS` places so every backend compares identical numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .._text import join

__all__ = ["DECIMALS", "Fact", "FactSpec", "FactType", "describe_allowed", "lazy", "round_fact", "value_fits"]

FactType = Literal["number", "integer", "boolean", "date", "text"]
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
class Fact:
    """A row of a fact family's table: the spec, and how to compute the value from an
    :class:`~cocm_rules.facts.EpisodeView`. ``series_of`` names the measure whose
    administrations the value comes from, when it is missing for a patient who has none of
    them (the engine then does not compute it)."""

    spec: FactSpec
    compute: Callable[[Any], Any]
    series_of: str | None = None


def round_fact(x: float) -> float:
    """A fractional fact as every backend sees it: whole numbers as ``int``, others rounded
    to :data:`DECIMALS` places (``-0.0`` becomes ``0.0``)."""
    if isinstance(x, int) or x.is_integer():
        return int(x)
    return round(x, DECIMALS) + 0.0


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


class lazy:
    """A lock-free ``cached_property`` (Python 3.11's takes a lock on every first access,
    which the fact builder does thousands of times per patient). The objects it serves (a
    patient's view and series) are never shared between threads while they are built."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value
