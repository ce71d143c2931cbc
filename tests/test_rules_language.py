"""The condition expression language: parse_expression and its syntax errors."""

from __future__ import annotations

import datetime as dt

import pytest

from cocm_rules.rules.language import (
    Between,
    BoolOp,
    Compare,
    ExpressionError,
    FactTest,
    InList,
    Literal_,
    Not,
    ParamRef,
    Truthy,
    parse_expression,
)


def _num(value: object, offset: int) -> Literal_:
    return Literal_(value, "number", offset)


# -- comparisons ------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_comparison_operators(op: str) -> None:
    """Each of the six comparison operators parses to a Compare with the fact, op and value."""
    text = f"phq9.latest {op} 10"
    expected = Compare("phq9.latest", op, _num(10, len(text) - 2), 0)
    assert expected == parse_expression(text)


def test_comparison_without_spaces() -> None:
    """Spaces around an operator are optional."""
    expected = Compare("phq9.latest", ">=", _num(10, 13), 0)
    assert expected == parse_expression("phq9.latest>=10")


@pytest.mark.parametrize(("written", "normalised"), [("=", "=="), ("=>", ">="), ("=<", "<=")])
def test_sloppy_operators_are_normalised(written: str, normalised: str) -> None:
    """``=``, ``=>`` and ``=<`` (easy slips for a clinical lead) mean ``==``, ``>=`` and ``<=``."""
    node = parse_expression(f"weeks_in_treatment {written} 12")
    assert isinstance(node, Compare)
    assert normalised == node.op


def test_in_list_of_words() -> None:
    """``in [a, b]`` gives an InList of the values; bare words are kept as ParamRefs for the loader."""
    expected = InList(
        "status",
        (ParamRef("active_treatment", 11), ParamRef("relapse_prevention_plan", 29)),
        False,
        0,
    )
    assert expected == parse_expression("status in [active_treatment, relapse_prevention_plan]")


def test_not_in_list() -> None:
    """``not in [...]`` is an InList with negated=True (not a Not around a Truthy)."""
    expected = InList("status", (ParamRef("discharged", 15),), True, 0)
    assert expected == parse_expression("status not in [discharged]")


def test_in_list_with_numbers_and_quoted_text() -> None:
    """A list may mix numbers and quoted text."""
    node = parse_expression("x in [1, 'two words', \"three\"]")
    assert isinstance(node, InList)
    assert [(1, "number"), ("two words", "text"), ("three", "text")] == [(v.value, v.kind) for v in node.values]


def test_between_is_inclusive_range_syntax() -> None:
    """``between A and B`` parses to Between with both ends (its ``and`` is not a conjunction)."""
    expected = Between("phq9.latest", _num(10, 20), _num(14, 27), 0)
    assert expected == parse_expression("phq9.latest between 10 and 14")


def test_between_followed_by_and() -> None:
    """An ``and`` after a complete ``between`` joins a second comparison."""
    node = parse_expression("phq9.latest between 10 and 14 and status == active_treatment")
    assert isinstance(node, BoolOp)
    assert "and" == node.op
    assert [Between, Compare] == [type(x) for x in node.items]


@pytest.mark.parametrize(
    ("text", "present"),
    [
        ("phq9.latest is missing", False),
        ("phq9.latest is present", True),
        ("phq9.latest is not missing", True),
        ("phq9.latest is not present", False),
    ],
)
def test_is_missing_and_is_present(text: str, present: bool) -> None:
    """``is missing`` / ``is present`` and their ``is not`` forms are FactTests."""
    assert FactTest("phq9.latest", present, 0) == parse_expression(text)


def test_keywords_are_case_insensitive() -> None:
    """``AND``, ``Is Missing`` and friends read like their lower-case forms."""
    assert parse_expression("a is missing and b > 1") == parse_expression("a IS MISSING AND b > 1")


# -- yes/no facts, not, and/or ----------------------------------------------------------------


def test_bare_fact_is_truthy() -> None:
    """A fact on its own (a yes/no fact) means "is true"."""
    assert Truthy("has_relapse_prevention_plan", 0) == parse_expression("has_relapse_prevention_plan")


def test_not_bare_fact() -> None:
    """``not fact`` is Not(Truthy)."""
    expected = Not(Truthy("has_relapse_prevention_plan", 4), 0)
    assert expected == parse_expression("not has_relapse_prevention_plan")


def test_and_binds_tighter_than_or() -> None:
    """``a or b and c`` is ``a or (b and c)``."""
    node = parse_expression("a or b and c")
    expected = BoolOp("or", (Truthy("a", 0), BoolOp("and", (Truthy("b", 5), Truthy("c", 11)), 5)), 0)
    assert expected == node


def test_parentheses_override_precedence() -> None:
    """``(a or b) and c`` groups the ``or`` first."""
    node = parse_expression("(a or b) and c")
    expected = BoolOp("and", (BoolOp("or", (Truthy("a", 1), Truthy("b", 6)), 1), Truthy("c", 13)), 0)
    assert expected == node


def test_not_binds_tighter_than_and() -> None:
    """``not a > 1 and b`` negates only the comparison."""
    node = parse_expression("not a > 1 and b")
    expected = BoolOp("and", (Not(Compare("a", ">", _num(1, 8), 4), 0), Truthy("b", 14)), 0)
    assert expected == node


def test_not_of_parenthesised_group() -> None:
    """``not (a or b)`` negates the whole group."""
    node = parse_expression("not (a or b)")
    assert Not(BoolOp("or", (Truthy("a", 5), Truthy("b", 10)), 5), 0) == node


def test_chains_of_and_are_flat() -> None:
    """Three comparisons joined by ``and`` are one BoolOp with three items."""
    node = parse_expression("a > 1 and b > 2 and c > 3")
    assert isinstance(node, BoolOp)
    assert 3 == len(node.items)


def test_is_missing_or_comparison() -> None:
    """The sketch's ``x is missing or x > 28`` parses to an ``or`` of a FactTest and a Compare."""
    node = parse_expression("days_since_psych_consult is missing or days_since_psych_consult > 28")
    expected = BoolOp(
        "or",
        (
            FactTest("days_since_psych_consult", False, 0),
            Compare("days_since_psych_consult", ">", _num(28, 66), 39),
        ),
        0,
    )
    assert expected == node


# -- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("50%", 0.5),
        ("33.3%", 0.333),
        ("7.5%", 0.075),
        ("100%", 1.0),
        ("0%", 0.0),
        ("-25%", -0.25),
        ("12.34%", 0.1234),
    ],
)
def test_percent_is_an_exact_fraction(written: str, value: float) -> None:
    """A percentage becomes the exact decimal fraction (no 0.33299999 from float arithmetic)."""
    node = parse_expression(f"phq9.pct_reduction < {written}")
    assert isinstance(node, Compare)
    assert value == node.value.value
    assert repr(value) == repr(node.value.value)
    assert "number" == node.value.kind


def test_integers_stay_integers_and_decimals_are_floats() -> None:
    """``10`` is the int 10; ``0.5`` is the float 0.5; a leading minus is part of the number."""
    assert [(10, int), (0.5, float), (-5, int)] == [
        (n.value.value, type(n.value.value))
        for n in (parse_expression("a > 10"), parse_expression("a > 0.5"), parse_expression("a > -5"))
    ]


def test_date_literal() -> None:
    """``YYYY-MM-DD`` is a date value."""
    node = parse_expression("phq9.latest_date >= 2026-12-01")
    assert Literal_(dt.date(2026, 12, 1), "date", 20) == node.value


@pytest.mark.parametrize(("text", "value"), [('"two words"', "two words"), ("'single quoted'", "single quoted")])
def test_quoted_text(text: str, value: str) -> None:
    """Quoted text in either quote style is a text value without its quotes."""
    node = parse_expression(f"status == {text}")
    assert Literal_(value, "text", 10) == node.value


@pytest.mark.parametrize(("word", "value"), [("true", True), ("false", False), ("TRUE", True)])
def test_booleans(word: str, value: bool) -> None:
    """``true`` / ``false`` are boolean values."""
    node = parse_expression(f"has_relapse_prevention_plan == {word}")
    assert Literal_(value, "boolean", 31) == node.value


def test_bare_word_value_is_a_parameter_reference() -> None:
    """A bare word on the right is a ParamRef (the loader resolves parameter or text word)."""
    node = parse_expression("weeks_in_treatment >= review_after_weeks")
    assert ParamRef("review_after_weeks", 22) == node.value


def test_negated_parameter() -> None:
    """``-name`` is a negated parameter reference."""
    node = parse_expression("pcl5.change > -meaningful_change_points")
    assert ParamRef("meaningful_change_points", 14, negate=True) == node.value


# -- syntax errors ----------------------------------------------------------------------------


def _error(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    return info.value


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_condition(text: str) -> None:
    """An empty condition is an error at offset 0."""
    e = _error(text)
    assert ("the condition is empty", 0) == (e.message, e.offset)


def test_dangling_operator() -> None:
    """An operator with nothing after it points at the end of the line."""
    e = _error("phq9.latest >=")
    assert 14 == e.offset
    assert "expected a value (a number, date, word or parameter), found the end of the line" == e.message


def test_dangling_and() -> None:
    """``... and`` with nothing after it asks for a fact at the end."""
    e = _error("phq9.latest >= 10 and")
    assert (21, "expected a fact name here, found the end of the line") == (e.offset, e.message)


def test_two_comparisons_without_and_or() -> None:
    """Two comparisons side by side point at the second and suggest and/or."""
    e = _error("phq9.latest >= 10 weeks_in_treatment > 3")
    assert 18 == e.offset
    assert "unexpected 'weeks_in_treatment'; join comparisons with 'and' or 'or'" == e.message


@pytest.mark.parametrize(("text", "offset", "char"), [("a @ 1", 2, "@"), ("a > 1 & b", 6, "&"), ("a > 1;", 5, ";")])
def test_unknown_character(text: str, offset: int, char: str) -> None:
    """A character outside the language is reported at its offset."""
    e = _error(text)
    assert (f"unexpected character {char!r}", offset) == (e.message, e.offset)


def test_is_followed_by_something_else() -> None:
    """``is foo`` explains that only missing/present may follow ``is``."""
    e = _error("phq9.latest is foo")
    assert (15, "after 'is' write 'missing' or 'present', found 'foo'") == (e.offset, e.message)


def test_fact_followed_by_a_value_lists_the_operators() -> None:
    """A fact followed by a value (no operator) lists the allowed operators."""
    e = _error("phq9.latest 10")
    assert 12 == e.offset
    assert "expected a comparison after 'phq9.latest', found '10'" == e.message
    assert ("<, <=, >, >=, ==, !=, in [...], not in [...], between A and B, is missing, is present") == e.allowed


def test_between_without_and() -> None:
    """``between A B`` asks for the ``and``."""
    e = _error("phq9.latest between 10 14")
    assert (23, "expected 'and' (between LOW and HIGH) here, found '14'") == (e.offset, e.message)


def test_in_without_brackets() -> None:
    """``in`` needs a bracketed list."""
    e = _error("status in active_treatment")
    assert (10, "expected '[' (a list such as [a, b]) here, found 'active_treatment'") == (e.offset, e.message)


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("x in [1, 2", 10, "expected ']' here, found the end of the line"),
        ("(a > 1", 6, "expected ')' here, found the end of the line"),
    ],
)
def test_unclosed_list_and_parenthesis(text: str, offset: int, message: str) -> None:
    """A missing ``]`` or ``)`` is reported at the end of the line."""
    e = _error(text)
    assert (offset, message) == (e.offset, e.message)


def test_not_a_real_date() -> None:
    """A date-shaped value that is not a calendar date is an error."""
    e = _error("phq9.latest_date >= 2026-02-30")
    assert (20, "'2026-02-30' is not a real date") == (e.offset, e.message)


def test_starting_with_a_keyword() -> None:
    """A condition cannot start with ``and``."""
    e = _error("and phq9.latest > 3")
    assert (0, "expected a fact name here, found 'and'") == (e.offset, e.message)


def test_expression_error_is_a_value_error() -> None:
    """ExpressionError subclasses ValueError and keeps message and offset as attributes."""
    e = _error("a >")
    assert isinstance(e, ValueError)
    assert "expected a value (a number, date, word or parameter), found the end of the line" == str(e)


def test_a_percentage_keeps_how_it_was_written() -> None:
    """``50%`` is the number 0.5 and remembers it was a percentage (the loader refuses it on a non-fraction)."""
    node = parse_expression("phq9.pct_reduction < 50%")
    assert isinstance(node, Compare)
    assert Literal_(0.5, "number", 21, percent="50%") == node.value


@pytest.mark.parametrize(("text", "offset"), [("(" * 300 + "a > 1" + ")" * 300, 32), ("not " * 300 + "a", 128)])
def test_deep_parentheses_are_a_syntax_error_not_a_crash(text: str, offset: int) -> None:
    """300 nested parentheses (or 'not's) are refused at the first level past the limit."""
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    expected = ("nested too deeply: at most 32 levels of parentheses and 'not'", offset)
    assert expected == (info.value.message, info.value.offset)
