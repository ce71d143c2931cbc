"""Checks of the test cases a ruleset file carries (``tests:``): the facts or episode each one
gives, and the rule ids it expects. Running them is :mod:`cocm_rules.rules.testing`'s job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._text import join, show, suggest
from ..errors import InvalidInput
from ..facts import FactSpec, describe_allowed, value_fits
from ..measures import MeasureLibrary
from . import language as L
from ._report import FileReport

__all__ = ["check_test_cases"]


def check_test_cases(
    report: FileReport, cases: Sequence[tuple[int, L.TestCaseSpec]], rule_ids: Sequence[str], library: MeasureLibrary
) -> None:
    """Check each test case (``(index in the file, case)``) against the rules and the library."""
    for i, case in cases:
        path = ("tests", i)
        if (case.facts is None) == (case.episode is None):
            report.bad(path, "a test needs exactly one of 'facts' or 'episode'")
        if case.episode is not None:
            _check_episode(report, case, case.episode, path, library)
        for name, value in (case.facts or {}).items():
            _check_fact(report, name, value, (*path, "facts", name))
        for j, rid in enumerate(case.expect):
            if rid not in rule_ids:
                report.bad(
                    (*path, "expect", j),
                    f"{rid!r} is not a rule of this ruleset",
                    allowed=join(rule_ids),
                    suggestion=suggest(rid, rule_ids),
                )


def _check_episode(
    report: FileReport, case: L.TestCaseSpec, episode: dict[str, Any], path: tuple[Any, ...], library: MeasureLibrary
) -> None:
    """An episode needs an ``as_of``, must parse, and may only name measures of the library."""
    from ..episode import parse_episode

    if case.as_of is None:
        report.bad(path, "a test with an 'episode' needs 'as_of' (the date to evaluate on)", key=True)
    try:
        parse_episode(episode, record_ref=f"test {case.name!r}")
    except InvalidInput as e:
        report.bad((*path, "episode"), str(e))
    assessments = episode.get("assessments")
    for k, a in enumerate(assessments if isinstance(assessments, list) else []):
        measure = a.get("measure") if isinstance(a, dict) else None
        if isinstance(measure, str) and library.resolve(measure) is None:
            report.bad(
                (*path, "episode", "assessments", k, "measure"),
                f"unknown measure {measure!r}",
                allowed=join(sorted(library)),
                suggestion=suggest(measure, list(library)),
            )


def _check_fact(report: FileReport, name: str, value: Any, path: tuple[Any, ...]) -> None:
    """A fact a test gives is in the catalog, and its value fits the fact's type and range."""
    spec = report.cat.specs.get(name)
    if spec is None:
        report.bad(path, f"unknown fact {name!r}", key=True, suggestion=report.cat.suggest(name))
    elif value is not None and not value_fits(spec, value):
        report.bad(path, f"{show(value)} does not fit {name!r}, which is {describe_allowed(spec)}")
    elif value is not None and spec.type in ("number", "integer") and not _within(spec, value):
        report.bad(path, f"{value} is out of range for {name!r}, which is {describe_allowed(spec)}")


def _within(spec: FactSpec, value: float) -> bool:
    return (spec.minimum is None or value >= spec.minimum) and (spec.maximum is None or value <= spec.maximum)
