"""The bundled rulesets' embedded tests pin every number a team may tune.

Each numeric parameter of every bundled ruleset is moved one step up and one step down (a whole
number by 1, a fraction by 0.01), in every ruleset that defines it (a parameter's name is one
threshold across the set), and the rulesets' own test cases are run again: at least one case
must fail in each direction. A threshold whose move no case notices could drift (8 -> 6 weeks,
0.5 -> 0.4) without any test saying so, and its boundary is untested.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cocm_rules import load_measures, load_rulesets, run_tests
from cocm_rules.errors import RulesetError
from cocm_rules.rules import bundled_rulesets_path

LIBRARY = load_measures()
FILES = sorted(bundled_rulesets_path().glob("*.yaml"))
DOCS = {f: yaml.safe_load(f.read_text(encoding="utf-8")) for f in FILES}

#: Parameter moves that no embedded case notices: none. The test fails when a move goes
#: unnoticed, and when this set lists a move that a case does notice.
KNOWN_UNPINNED: set[tuple[str, str]] = set()


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parameters() -> dict[str, list[Path]]:
    """Each numeric parameter's name, with the bundled files that define it."""
    out: dict[str, list[Path]] = {}
    for f, doc in DOCS.items():
        for name, p in (doc.get("parameters") or {}).items():
            if _numeric(p["value"]):
                out.setdefault(name, []).append(f)
    return out


PARAMETERS = _parameters()
MOVES = [(name, direction) for name in sorted(PARAMETERS) for direction in ("up", "down")]


def _moved(name: str, direction: str, tmp: Path) -> Iterator[Path]:
    """The files that define ``name``, written to ``tmp`` with its value moved one step."""
    for f in PARAMETERS[name]:
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        value = doc["parameters"][name]["value"]
        step = 1 if isinstance(value, int) else 0.01
        doc["parameters"][name]["value"] = round(value + (step if direction == "up" else -step), 4)
        out = tmp / f.name
        out.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        yield out


def _failing_cases(name: str, direction: str, tmp: Path) -> list[str]:
    """The embedded cases that fail once ``name`` is moved one step in ``direction``."""
    rulesets = load_rulesets(list(_moved(name, direction, tmp)), library=LIBRARY)
    return [f"{r.ruleset}: {r.name}" for r in run_tests(rulesets) if not r.passed]


def test_every_parameter_move_fails_a_case(tmp_path: Path) -> None:
    """Every numeric parameter of the bundled rulesets, moved one step either way, makes at
    least one embedded case fail, except the moves listed in KNOWN_UNPINNED."""
    unpinned = set()
    for i, (name, direction) in enumerate(MOVES):
        here = tmp_path / str(i)
        here.mkdir()
        try:
            failing = _failing_cases(name, direction, here)
        except RulesetError as e:  # a move the loader refuses cannot go unnoticed either
            failing = [str(e)]
        if not failing:
            unpinned.add((name, direction))
    assert KNOWN_UNPINNED == unpinned


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("phq9_response_reduction", 0.4),
        ("gad7_response_reduction", 0.4),
        ("review_after_weeks", 8),
        ("sustained_weeks", 6),
    ],
)
def test_the_issue_examples_fail_a_case(name: str, value: float, tmp_path: Path) -> None:
    """The moves the issue names (0.5 -> 0.4 for a response, weeks 8 -> 6) and their kin
    (10 -> 8 weeks for the case review) each make a bundled case fail."""
    files = []
    for f in PARAMETERS[name]:
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        doc["parameters"][name]["value"] = value
        (tmp_path / f.name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        files.append(tmp_path / f.name)
    results = run_tests(load_rulesets(files, library=LIBRARY))
    assert [] != [r.name for r in results if not r.passed]


def test_the_round_trip_keeps_every_case_passing(tmp_path: Path) -> None:
    """Written back by PyYAML with no value moved, the bundled rulesets load with their dates
    and pass every case: a case that fails after a move fails because of the move."""
    for f, doc in DOCS.items():
        (tmp_path / f.name).write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    rulesets = load_rulesets(tmp_path, library=LIBRARY)
    original = load_rulesets(FILES, library=LIBRARY)
    assert {rs.name: rs.effective for rs in original.rulesets} == {rs.name: rs.effective for rs in rulesets.rulesets}
    assert all(isinstance(rs.effective, dt.date) for rs in rulesets.rulesets)
    assert [] == [r.name for r in run_tests(rulesets) if not r.passed]
