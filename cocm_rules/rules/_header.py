"""Checks of a ruleset's header: its name, its parameters (names, values), and parameters no
rule uses; and the spelling rules for names and units the other checks share."""

from __future__ import annotations

import math
import re
from collections.abc import Collection

from ..facts import DECIMALS
from . import language as L
from ._report import FileReport

__all__ = ["RULE_ID", "SNAKE", "check_header", "check_unused", "normal_unit"]

#: A ruleset name or rule id: lower-case letters, digits, ``-`` and ``_``.
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
#: A parameter name or action code: snake_case.
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def check_header(report: FileReport, header: L.RulesetSpec | None) -> None:
    """The ruleset name, and each parameter's name and value."""
    if header is not None and not RULE_ID.match(header.ruleset):
        report.bad(("ruleset",), f"ruleset name {header.ruleset!r} must be lower-case letters, digits, - or _")
    for name, p in report.params.items():
        if not SNAKE.match(name):
            report.bad(("parameters", name), f"parameter name {name!r} must be snake_case", key=True)
        if name in report.cat:
            report.bad(
                ("parameters", name), f"parameter {name!r} has the name of a fact; choose another name", key=True
            )
        if isinstance(p.value, float) and not math.isfinite(p.value):
            report.bad(("parameters", name, "value"), "a parameter must be a finite number")
        elif isinstance(p.value, float) and round(p.value, DECIMALS) != p.value:
            report.bad(("parameters", name, "value"), f"use at most {DECIMALS} decimal places (got {p.value!r})")


def check_unused(report: FileReport, used: Collection[str]) -> None:
    """A parameter that no condition or message uses is a mistake (a misspelt use, or left over)."""
    for name in report.params:
        if name not in used and name not in report.cat:  # a fact's name is refused already
            report.bad(
                ("parameters", name),
                f"parameter {name!r} is not used by any rule: use it in a condition or a message, or remove it",
                key=True,
            )


def normal_unit(unit: str) -> str:
    """A unit in one spelling: ``day``/``Days`` -> ``days``, ``%``/``percent`` -> ``fraction``."""
    u = unit.strip().lower()
    u = {"%": "fraction", "percent": "fraction", "pct": "fraction", "proportion": "fraction", "min": "minutes"}.get(
        u, u
    )
    return u if u == "fraction" or u.endswith("s") else u + "s"
