"""The ruleset language: the YAML schema of a ruleset and the condition expressions.

A condition is YAML ``all:`` / ``any:`` / ``not:`` over *comparisons*, each a line a clinical
lead can read::

    phq9.baseline >= 10
    weeks_in_treatment >= review_after_weeks        # a parameter of the ruleset
    phq9.pct_reduction < 50%                        # 50% is 0.5
    days_since_consultant_review is missing or days_since_consultant_review > 28
    status in [active_treatment, relapse_prevention_plan]
    phq9.latest between 10 and 14
    has_relapse_prevention_plan                     # a yes/no fact on its own means "is true"
    not has_relapse_prevention_plan

Operators: ``< <= > >= == !=``, ``in [...]``, ``not in [...]``, ``between A and B``
(inclusive), ``is missing``, ``is present``, and ``and`` / ``or`` / ``not`` with parentheses.
Values: numbers (``10``, ``0.5``, ``50%``), dates (``2026-12-01``), ``true``/``false``, words
from a text fact's allowed values (``active_treatment``), quoted text, or a parameter name
(``-name`` for its negative, e.g. ``pcl5.change > -meaningful_change_points``).

Meaning of a missing fact: every comparison with it is false (so ``x != 3`` is false too);
``not`` turns false into true. Say ``is missing`` / ``is present`` when that is what you mean.
Nothing in a ruleset is ever executed: expressions are parsed by this module, not evaluated
by Python.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from .._validation import StrictModel

__all__ = [
    "CATEGORIES",
    "MAX_NESTING",
    "SEVERITIES",
    "SUICIDE_RISK",
    "Between",
    "BoolOp",
    "Compare",
    "ExpressionError",
    "FactTest",
    "InList",
    "Literal_",
    "Not",
    "ParamRef",
    "ParameterSpec",
    "RuleSpec",
    "RulesetSpec",
    "SnoozeLimitSpec",
    "TestCaseSpec",
    "ThenSpec",
    "Truthy",
    "parse_expression",
    "ruleset_json_schema",
]

from ..vocabulary import CATEGORIES, SEVERITIES, SUICIDE_RISK, Category, Recipient, Severity

# -- the YAML envelope ------------------------------------------------------------------------


class ParameterSpec(StrictModel):
    """A number (or date, word, yes/no) a team may tune, with the source of its default."""

    value: int | float | bool | str | dt.date
    source: str = Field(min_length=1)
    status: Literal["confirmed", "secondary", "unconfirmed", "team_choice"] | None = Field(
        None,
        description="how well the default is sourced; team_choice = the sources leave this number to the team",
    )
    description: str | None = None
    unit: str | None = None


class SnoozeLimitSpec(StrictModel):
    """The longest an acknowledgement (or snooze) of a ruleset's alerts holds, in days from the
    day it was recorded: ``max_snooze_days`` in the ruleset's header (a team's choice, sourced)."""

    value: int = Field(ge=1, description="days")
    source: str = Field(min_length=1)
    status: Literal["confirmed", "secondary", "unconfirmed", "team_choice"] | None = None
    description: str | None = None
    unit: Literal["days"] = "days"


class ThenSpec(StrictModel):
    """What a rule emits when its condition holds."""

    category: Category
    severity: Severity
    priority: int = Field(ge=0, le=100)
    action: str = Field(min_length=1, description="snake_case code of the recommended action")
    message: str = Field(min_length=1)
    action_text: str | None = Field(None, description="the recommended action in words")
    recipients: list[Recipient] | None = Field(
        None,
        json_schema_extra={"minItems": 1},  # an empty list is refused by the loader, with its own message
        description="who the alert is for (care_manager, psychiatric_consultant, pcp), the one expected to act "
        "first; without it, the default of the rule's category and action (docs/rulesets.md, 'Who an alert is for')",
    )


class RuleSpec(StrictModel):
    """One rule as written in YAML."""

    id: str = Field(min_length=1)
    title: str = Field(
        min_length=1,
        description="the rule's name in every alert; may name parameters: after {review_after_weeks} weeks",
    )
    description: str | None = None
    source: str = Field(min_length=1)
    when: Any
    then: ThenSpec


class TestCaseSpec(StrictModel):
    """A test case beside the rules: facts (or a whole episode) and the rule ids expected to fire."""

    name: str = Field(min_length=1)
    facts: dict[str, Any] | None = None
    episode: dict[str, Any] | None = None
    as_of: dt.date | None = None
    expect: list[str]


class RulesetSpec(StrictModel):
    """A ruleset file as written in YAML."""

    ruleset: str = Field(min_length=1, description="name of the ruleset")
    title: str | None = None
    version: str = Field(min_length=1)
    effective: dt.date
    owner: str = Field(min_length=1)
    description: str = Field(min_length=1)
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    max_snooze_days: SnoozeLimitSpec | None = Field(
        None,
        description="the longest an acknowledgement or snooze of this ruleset's alerts holds (days from the day "
        "it was recorded); without it, only the acknowledgement's own end date limits it",
    )
    rules: list[dict[str, Any]] = Field(min_length=1, description="each validated as a RuleSpec")
    tests: list[dict[str, Any]] = Field(default_factory=list, description="each validated as a TestCaseSpec")


# -- expressions ------------------------------------------------------------------------------


class ExpressionError(ValueError):
    """A syntax error in a condition expression, at ``offset`` within the text."""

    def __init__(self, message: str, offset: int, *, allowed: str | None = None) -> None:
        self.message = message
        self.offset = offset
        self.allowed = allowed
        super().__init__(message)


@dataclass(frozen=True)
class Literal_:
    """A literal value: number, date, boolean, a bare word, or quoted text."""

    value: Any
    kind: Literal["number", "date", "boolean", "word", "text"]
    offset: int
    percent: str | None = None  # the text as written when it was a percentage ("50%")


@dataclass(frozen=True)
class ParamRef:
    """A reference to a ruleset parameter (resolved by the loader); ``-name`` negates it."""

    name: str
    offset: int
    negate: bool = False


Value = Literal_ | ParamRef


@dataclass(frozen=True)
class FactTest:
    """``fact is missing`` / ``fact is present``."""

    fact: str
    present: bool
    offset: int


@dataclass(frozen=True)
class Compare:
    """``fact OP value``."""

    fact: str
    op: str
    value: Value
    offset: int


@dataclass(frozen=True)
class InList:
    """``fact in [a, b]`` (or ``not in``)."""

    fact: str
    values: tuple[Value, ...]
    negated: bool
    offset: int


@dataclass(frozen=True)
class Between:
    """``fact between low and high`` (inclusive)."""

    fact: str
    low: Value
    high: Value
    offset: int


@dataclass(frozen=True)
class Truthy:
    """A yes/no fact on its own: ``has_relapse_prevention_plan``."""

    fact: str
    offset: int


@dataclass(frozen=True)
class Not:
    """``not X``."""

    item: Any
    offset: int


@dataclass(frozen=True)
class BoolOp:
    """``X and Y ...`` / ``X or Y ...``."""

    op: Literal["and", "or"]
    items: tuple[Any, ...]
    offset: int = 0


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\w.]))
  | (?P<number>-?\d+(?:\.\d+)?%?(?![\w.]))
  | (?P<string>"[^"]*"|'[^']*')
  | (?P<neg>-(?=[A-Za-z_]))
  | (?P<op><=|>=|==|!=|=>|=<|<|>|=)
  | (?P<punct>[\[\](),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    """,
    re.VERBOSE,
)
#: The deepest nesting of parentheses and ``not`` in one condition, and of all/any/not blocks.
MAX_NESTING = 32

_KEYWORDS = {"and", "or", "not", "is", "missing", "present", "in", "between", "true", "false"}
_OP_FIX = {"=": "==", "=>": ">=", "=<": "<="}


@dataclass
class _Tok:
    kind: str
    text: str
    offset: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExpressionError(f"unexpected character {text[pos]!r}", pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            word = m.group()
            if kind == "name" and word.lower() in _KEYWORDS:
                kind, word = "kw", word.lower()
            toks.append(_Tok(kind, word, pos))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0

    def nest(self, t: _Tok) -> None:
        """Enter one level of parentheses or ``not``; refuse deeper than :data:`MAX_NESTING`."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError(f"nested too deeply: at most {MAX_NESTING} levels of parentheses and 'not'", t.offset)

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def accept_kw(self, word: str) -> bool:
        if self.tok.kind == "kw" and self.tok.text == word:
            self.i += 1
            return True
        return False

    def expect(self, kind: str, text: str | None = None, what: str | None = None) -> _Tok:
        t = self.tok
        if t.kind != kind or (text is not None and t.text != text):
            raise ExpressionError(f"expected {what or repr(text) or kind} here, found {self._show(t)}", t.offset)
        return self.take()

    @staticmethod
    def _show(t: _Tok) -> str:
        return "the end of the line" if t.kind == "end" else repr(t.text)

    def parse(self) -> Any:
        if self.tok.kind == "end":
            raise ExpressionError("the condition is empty", 0)
        node = self.or_expr()
        if self.tok.kind != "end":
            t = self.tok
            raise ExpressionError(f"unexpected {self._show(t)}; join comparisons with 'and' or 'or'", t.offset)
        return node

    def or_expr(self) -> Any:
        start = self.tok.offset
        items = [self.and_expr()]
        while self.accept_kw("or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items), start)

    def and_expr(self) -> Any:
        start = self.tok.offset
        items = [self.not_expr()]
        while self.accept_kw("and"):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items), start)

    def not_expr(self) -> Any:
        t = self.tok
        if self.accept_kw("not"):
            self.nest(t)
            node = Not(self.not_expr(), t.offset)
            self.depth -= 1
            return node
        return self.atom()

    def atom(self) -> Any:
        t = self.tok
        if t.kind == "punct" and t.text == "(":
            self.take()
            self.nest(t)
            node = self.or_expr()
            self.expect("punct", ")", "')'")
            self.depth -= 1
            return node
        if t.kind != "name":
            raise ExpressionError(f"expected a fact name here, found {self._show(t)}", t.offset)
        fact = self.take().text
        nxt = self.tok
        if nxt.kind == "op":
            self.take()
            op = _OP_FIX.get(nxt.text, nxt.text)
            return Compare(fact, op, self.value(), t.offset)
        if nxt.kind == "kw":
            if nxt.text == "is":
                self.take()
                negate = self.accept_kw("not")
                if self.accept_kw("missing"):
                    return FactTest(fact, negate, t.offset)
                if self.accept_kw("present"):
                    return FactTest(fact, not negate, t.offset)
                raise ExpressionError(
                    f"after 'is' write 'missing' or 'present', found {self._show(self.tok)}", self.tok.offset
                )
            if nxt.text == "in":
                self.take()
                return InList(fact, self.value_list(), False, t.offset)
            if nxt.text == "not":
                save = self.i
                self.take()
                if self.accept_kw("in"):
                    return InList(fact, self.value_list(), True, t.offset)
                self.i = save
            if nxt.text == "between":
                self.take()
                low = self.value()
                self.expect("kw", "and", "'and' (between LOW and HIGH)")
                return Between(fact, low, self.value(), t.offset)
        if nxt.kind in ("end", "kw") or (nxt.kind == "punct" and nxt.text == ")"):
            return Truthy(fact, t.offset)
        raise ExpressionError(
            f"expected a comparison after {fact!r}, found {self._show(nxt)}",
            nxt.offset,
            allowed="<, <=, >, >=, ==, !=, in [...], not in [...], between A and B, is missing, is present",
        )

    def value_list(self) -> tuple[Value, ...]:
        self.expect("punct", "[", "'[' (a list such as [a, b])")
        values = [self.value()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.take()
            values.append(self.value())
        self.expect("punct", "]", "']'")
        return tuple(values)

    def value(self) -> Value:
        t = self.take()
        if t.kind == "number":
            text = t.text
            if text.endswith("%"):
                # exact decimal arithmetic: 50% -> 0.5, 33.3% -> 0.333
                num = text[:-1]
                whole, _, frac = num.partition(".")
                digits = len(frac) + 2
                scaled = int(whole.lstrip("-") + frac) if (whole.lstrip("-") + frac) else 0
                value: Any = round((-1 if num.startswith("-") else 1) * scaled / 10**digits, digits)
                return Literal_(value, "number", t.offset, percent=text)
            value = float(text) if "." in text else int(text)
            return Literal_(value, "number", t.offset)
        if t.kind == "date":
            try:
                return Literal_(dt.date.fromisoformat(t.text), "date", t.offset)
            except ValueError:
                raise ExpressionError(f"{t.text!r} is not a real date", t.offset) from None
        if t.kind == "string":
            return Literal_(t.text[1:-1], "text", t.offset)
        if t.kind == "kw" and t.text in ("true", "false"):
            return Literal_(t.text == "true", "boolean", t.offset)
        if t.kind == "name":
            return ParamRef(t.text, t.offset)
        if t.kind == "neg":
            name = self.expect("name", what="a parameter name after '-'")
            return ParamRef(name.text, t.offset, negate=True)
        if t.kind == "kw" and t.text in ("missing", "present"):
            raise ExpressionError(f"to test whether a fact has a value, write 'FACT is {t.text}'", t.offset)
        raise ExpressionError(f"expected a value (a number, date, word or parameter), found {self._show(t)}", t.offset)


def parse_expression(text: str) -> Any:
    """Parse one condition expression into its syntax tree; raise :class:`ExpressionError`."""
    return _Parser(text).parse()


class _RulesetDocument(RulesetSpec):
    """RulesetSpec with its rules and tests typed, for the published JSON Schema only."""

    rules: list[RuleSpec] = Field(min_length=1)  # type: ignore[assignment]
    tests: list[TestCaseSpec] = Field(default_factory=list)  # type: ignore[assignment]


def ruleset_json_schema() -> dict[str, Any]:
    """The JSON Schema of a ruleset file (``cocm-rules schema ruleset``). Conditions are text or
    all/any/not mappings; the loader checks them against the fact catalog."""
    schema = _RulesetDocument.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cocm_rules ruleset"
    return schema
