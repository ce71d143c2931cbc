"""What the safety floor and the embedded ruleset tests need of an engine: a small interface.

:class:`~cocm_rules.Engine` implements it. The checks that run rulesets (the safety floor at
load, ``cocm-rules test``) are written against this interface, so they live with the rules and
the engine imports them without them importing the engine back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..facts import FactCatalog
from ..measures import MeasureLibrary
from .ir import ProgramIR, RuleIR
from .loader import RulesetSet

__all__ = ["Evaluator", "FiredAlert", "Matcher"]


class FiredAlert(Protocol):
    """What the checks read of an alert."""

    @property
    def rule_id(self) -> str: ...

    @property
    def category(self) -> str: ...

    @property
    def severity(self) -> str: ...

    @property
    def priority(self) -> int: ...

    @property
    def alert_id(self) -> str | None: ...

    @property
    def state(self) -> str: ...


class Matcher(Protocol):
    """A rule backend: the rules whose conditions hold on a set of facts."""

    def matches(self, facts: Mapping[str, Any]) -> Sequence[RuleIR]: ...


class Evaluator(Protocol):
    """Rulesets loaded with a backend and a fact catalog, able to evaluate an episode."""

    rulesets: RulesetSet
    program: ProgramIR
    library: MeasureLibrary
    catalog: FactCatalog
    backend: Matcher
    needed: tuple[str, ...]

    def facts(self, episode: Any, as_of: dt.date) -> dict[str, Any]:
        """The facts the rules read, for ``episode`` as of ``as_of``."""
        ...

    def evaluate(self, episode: Any, as_of: dt.date, acknowledgements: Any = None) -> Sequence[FiredAlert]:
        """The alerts of ``episode`` as of ``as_of``, in review order, with their states given
        ``acknowledgements`` (mappings of :class:`~cocm_rules.Acknowledgement` fields)."""
        ...

    def evaluate_facts(self, facts: Mapping[str, Any], as_of: dt.date) -> Sequence[FiredAlert]:
        """The alerts of a prepared set of facts (facts not given are missing)."""
        ...
