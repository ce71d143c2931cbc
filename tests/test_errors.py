"""The exception hierarchy (``cocm_rules.errors``) and how errors render."""

from __future__ import annotations

import inspect

import pytest

import cocm_rules
from cocm_rules import errors
from cocm_rules.errors import (
    BackendUnavailable,
    CocmRulesError,
    DefinitionError,
    EngineError,
    InvalidInput,
    MeasureDefinitionError,
    Problem,
    RulesetError,
    SafetyFloorError,
)

EXCEPTIONS = [
    getattr(errors, name)
    for name in errors.__all__
    if inspect.isclass(getattr(errors, name)) and issubclass(getattr(errors, name), BaseException)
]


def test_all_is_sorted_and_exported() -> None:
    """``errors.__all__`` is sorted, and every name is also public in ``cocm_rules``."""
    assert sorted(errors.__all__) == errors.__all__
    assert set(errors.__all__) <= set(cocm_rules.__all__)


def test_only_problem_is_not_an_exception() -> None:
    """Everything in ``errors.__all__`` is an exception class except the Problem record."""
    assert {"Problem"} == set(errors.__all__) - {cls.__name__ for cls in EXCEPTIONS}


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=[cls.__name__ for cls in EXCEPTIONS])
def test_every_exception_derives_from_the_root(cls: type[BaseException]) -> None:
    """One root: callers can catch every deliberate error as CocmRulesError."""
    assert issubclass(cls, CocmRulesError)
    assert cls.__doc__


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (InvalidInput, ValueError),
        (DefinitionError, ValueError),
        (MeasureDefinitionError, DefinitionError),
        (RulesetError, DefinitionError),
        (SafetyFloorError, RulesetError),
        (BackendUnavailable, ImportError),
        (EngineError, RuntimeError),
    ],
)
def test_leaves_also_derive_from_builtins(cls: type[Exception], builtin: type[Exception]) -> None:
    """Leaves also subclass the matching built-in (or their branch)."""
    assert issubclass(cls, builtin)


def test_invalid_input_names_every_part() -> None:
    """Record, field, measure, item, value, allowed values and suggestion all appear, in order."""
    err = InvalidInput(
        "answer out of range",
        record="patient 7",
        field="answers",
        measure="phq9",
        item="item9",
        value=4,
        allowed="0, 1, 2, 3",
        suggestion="item9",
    )
    assert (
        "record patient 7, field 'answers', measure 'phq9', item 'item9': answer out of range "
        "(got 4 (number)); allowed: 0, 1, 2, 3; did you mean 'item9'?"
    ) == str(err)
    assert ("answer out of range", "patient 7", "answers", "phq9", "item9", 4, "0, 1, 2, 3", "item9") == (
        err.reason,
        err.record,
        err.field,
        err.measure,
        err.item,
        err.value,
        err.allowed,
        err.suggestion,
    )


def test_invalid_input_with_message_only() -> None:
    """Without parts the message is just the reason."""
    assert "something is wrong" == str(InvalidInput("something is wrong"))


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "null"), ("2", "'2' (text)"), (True, "true (yes/no)"), (1.5, "1.5 (number)"), ([1, 2], "a list of 2")],
)
def test_invalid_input_shows_the_value_with_its_kind(value: object, shown: str) -> None:
    """The value is shown with its kind, and None is shown (it is a value too)."""
    assert f"measure 'phq9': bad (got {shown})" == str(InvalidInput("bad", measure="phq9", value=value))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (10**29, "100000000000000000000000000000 (number)"),  # 30 digits: written out
        (10**30, "an integer of 31 digits (number)"),
        (-(10**400), "a negative integer of 401 digits (number)"),
        (10**5000, "an integer of 5001 digits (number)"),  # Python refuses to write this one out
    ],
    ids=["30-digits", "31-digits", "negative-401-digits", "5001-digits"],
)
def test_a_long_integer_is_shown_by_its_length(value: int, shown: str) -> None:
    """An integer of more than 30 digits is shown by its length, so a message about it can
    always be written (issue 11)."""
    assert f"bad (got {shown})" == str(InvalidInput("bad", value=value))


def test_invalid_input_in_record() -> None:
    """``in_record`` returns a copy that names the record and field, keeping the other parts."""
    err = InvalidInput("answer out of range", measure="phq9", item="item1", value=9, allowed="0-3")
    copy = err.in_record("r12", "answers")
    assert (
        "record r12, field 'answers', measure 'phq9', item 'item1': answer out of range (got 9 (number)); allowed: 0-3"
    ) == str(copy)
    assert ("r12", 9) == (copy.record, copy.value)
    assert err.record is None


def test_problem_format() -> None:
    """``file:line:col: context: message``, then "did you mean" and "allowed here" lines."""
    problem = Problem(
        "unknown key 'threshhold'",
        file="rulesets/default.yaml",
        line=42,
        column=7,
        context="rule 'not_improving_12w'",
        allowed="id, description, when, then, source, tests",
        suggestion="threshold",
    )
    assert (
        "rulesets/default.yaml:42:7: rule 'not_improving_12w': unknown key 'threshhold'\n"
        "  did you mean 'threshold'?\n"
        "  allowed here: id, description, when, then, source, tests"
    ) == str(problem)


@pytest.mark.parametrize(
    ("problem", "text"),
    [
        (Problem("bad", file="m.yaml", line=3), "m.yaml:3: bad"),
        (Problem("bad", file="m.yaml"), "m.yaml: bad"),
        (Problem("bad"), "<string>: bad"),
        (Problem("bad", file="m.yaml", line=1, column=2, suggestion="x"), "m.yaml:1:2: bad\n  did you mean 'x'?"),
    ],
)
def test_problem_partial_location(problem: Problem, text: str) -> None:
    """The location shows as much as is known."""
    assert text == str(problem)


def test_definition_error_collects_problems() -> None:
    """A DefinitionError lists every problem and a summary line."""
    problems = [Problem("a", file="x.yaml", line=1, column=1), Problem("b", file="y.yaml", line=2, column=3)]
    err = MeasureDefinitionError(problems)
    assert problems == err.problems
    assert "x.yaml:1:1: a\ny.yaml:2:3: b\n2 errors in 2 files; nothing was loaded." == str(err)
    one = MeasureDefinitionError(problems[:1])
    assert str(one).endswith("\n1 error in 1 file; nothing was loaded.")


def test_backend_unavailable_has_the_install_hint() -> None:
    """The message names the extra and the pip line."""
    err = BackendUnavailable("hypothesis strategies", "test", cause="No module named 'hypothesis'")
    assert ("hypothesis strategies", "test") == (err.what, err.extra)
    assert (
        "hypothesis strategies needs the optional dependencies of the 'test' extra: "
        "pip install 'cocm-rules[test]' (No module named 'hypothesis')"
    ) == str(err)
