"""Load and validate ruleset files; lower them to the IR.

Every mistake in every file is collected and reported at once as ``file:line:column``, with
the rule it is in, what is allowed and "did you mean": unknown keys, unknown facts and
parameters, comparisons whose types do not fit (a date with a number), values a text fact
cannot take, conditions that can never be true, bad message placeholders, duplicate rule
ids, and test cases that name unknown facts or rules. Nothing from a failing set is loaded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .._log import get_logger
from .._text import join, show, suggest
from .._validation import problems_from
from .._yaml import Document, YamlError, load_bytes, load_text, read_bytes
from ..errors import InvalidInput, Problem, RulesetError
from ..facts import DECIMALS, FactCatalog, FactSpec, catalog, describe_allowed, value_fits
from ..measures import MeasureLibrary, data_dir, load_measures
from . import language as L
from ._contradictions import never_true, prune
from .ir import And, Cmp, In, MessagePart, Missing, Node, Not, Or, Present, ProgramIR, RuleIR, facts_of

__all__ = ["Ruleset", "RulesetSet", "bundled_rulesets_path", "load_ruleset", "load_rulesets"]

log = get_logger(__name__)

_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
_COND_KEYS = ("all", "any", "not")


@dataclass(frozen=True)
class Ruleset:
    """A validated ruleset: its header, its rules lowered to IR, and its test cases."""

    name: str
    title: str | None
    version: str
    effective: dt.date
    owner: str
    description: str
    parameters: dict[str, L.ParameterSpec]
    rules: tuple[RuleIR, ...]
    tests: tuple[L.TestCaseSpec, ...]
    file: str
    sha256: str
    document: Document

    def where(self, path: tuple[Any, ...]) -> str:
        """``file:line:column`` of a path in the ruleset file (for test reports)."""
        mark = self.document.where(path)
        return f"{self.file}:{mark.line}:{mark.column}" if mark else self.file


@dataclass(frozen=True)
class RulesetSet:
    """Rulesets loaded together (rule ids are unique across the set).

    ``warnings`` are located problems that do not stop the set from loading: a rule whose
    priority tries to outrank suicide risk (which it cannot: suicide risk always comes first).
    ``cocm-rules validate`` prints them.
    """

    rulesets: tuple[Ruleset, ...]
    library: MeasureLibrary
    warnings: tuple[Problem, ...] = ()

    @property
    def program(self) -> ProgramIR:
        """All rules of the set as one IR program."""
        return ProgramIR(tuple(r for rs in self.rulesets for r in rs.rules))

    def extended(self, other: RulesetSet) -> RulesetSet:
        """This set and ``other`` as one set, e.g. the bundled rulesets and a ruleset loaded
        from text (load it with ``library=`` this set's library: the set keeps this one).

        Raises :class:`~cocm_rules.RulesetError` if a rule id or ruleset name is in both; the
        warnings are those of the whole set.
        """
        loaded = (*self.rulesets, *other.rulesets)
        problems = _not_unique(loaded)
        if problems:
            raise RulesetError(problems)
        return RulesetSet(loaded, self.library, tuple(_outranking(loaded)))


def bundled_rulesets_path() -> Path:
    """The directory of the bundled default rulesets."""
    return data_dir("rulesets")


# -- helpers ------------------------------------------------------------------------------------


class _FileChecker:
    """Validates one parsed ruleset file, collecting Problems."""

    def __init__(
        self,
        doc: Document,
        header: L.RulesetSpec | None,
        rules: list[tuple[int, L.RuleSpec]],
        tests: list[tuple[int, L.TestCaseSpec]],
        cat: FactCatalog,
    ) -> None:
        self.doc = doc
        self.header = header
        self.rule_specs = rules
        self.test_specs = tests
        self.cat = cat
        self.problems: list[Problem] = []
        self.params = header.parameters if header else {}
        self.name = header.ruleset if header else "?"
        self.version = header.version if header else "?"
        self._used: dict[str, Any] = {}
        self._dead: set[int] = set()  # ids of IR nodes already reported as never true

    # -- problem helpers
    def context(self, path: tuple[Any, ...]) -> str | None:
        return _describe(path, self.doc.data)

    def bad(
        self,
        path: tuple[Any, ...],
        message: str,
        *,
        offset: int | None = None,
        key: bool = False,
        allowed: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        problem = self.doc.problem(
            path, message, key=key, context=self.context(path), allowed=allowed, suggestion=suggestion
        )
        if offset is not None:
            mark = self.doc.locate(path, offset)
            if mark is not None:
                problem = dataclasses.replace(problem, line=mark.line, column=mark.column)
        self.problems.append(problem)

    # -- header
    def check_header(self) -> None:
        if self.header is not None and not _RULE_ID.match(self.header.ruleset):
            self.bad(("ruleset",), f"ruleset name {self.header.ruleset!r} must be lower-case letters, digits, - or _")
        for name, p in self.params.items():
            if not _SNAKE.match(name):
                self.bad(("parameters", name), f"parameter name {name!r} must be snake_case", key=True)
            if name in self.cat:
                self.bad(
                    ("parameters", name), f"parameter {name!r} has the name of a fact; choose another name", key=True
                )
            if isinstance(p.value, float) and not math.isfinite(p.value):
                self.bad(("parameters", name, "value"), "a parameter must be a finite number")
            elif isinstance(p.value, float) and round(p.value, DECIMALS) != p.value:
                self.bad(("parameters", name, "value"), f"use at most {DECIMALS} decimal places (got {p.value!r})")

    # -- conditions
    def condition(self, node: Any, path: tuple[Any, ...], depth: int = 0) -> Node | None:
        if depth > L.MAX_NESTING:
            self.bad(path, f"nested too deeply: at most {L.MAX_NESTING} levels of all, any and not")
            return None
        if isinstance(node, str):
            try:
                ast = L.parse_expression(node)
            except L.ExpressionError as e:
                self.bad(path, e.message, offset=e.offset, allowed=e.allowed)
                return None
            return self.lower(ast, path)
        if isinstance(node, dict):
            if len(node) != 1 or next(iter(node)) not in _COND_KEYS:
                for key in node:
                    if key not in _COND_KEYS:
                        self.bad(
                            (*path, key),
                            f"unknown key {key!r} in a condition",
                            key=True,
                            allowed=join(_COND_KEYS),
                            suggestion=suggest(str(key), _COND_KEYS),
                        )
                        return None
                self.bad(path, "a condition mapping has exactly one key: all, any or not")
                return None
            key, value = next(iter(node.items()))
            if key == "not":
                inner = self.condition(value, (*path, "not"), depth + 1)
                return None if inner is None else Not(inner)
            if not isinstance(value, list) or not value:
                self.bad((*path, key), f"'{key}' needs a list of one or more conditions")
                return None
            items = [self.condition(v, (*path, key, i), depth + 1) for i, v in enumerate(value)]
            if any(i is None for i in items):
                return None
            lowered = And(tuple(items)) if key == "all" else Or(tuple(items))  # type: ignore[arg-type]
            if key == "all":
                self.impossible(lowered, path)
            return lowered
        self.bad(path, f"a condition must be text such as 'phq9.latest >= 10', or all/any/not; got {show(node)}")
        return None

    def fact(self, name: str, path: tuple[Any, ...], offset: int) -> FactSpec | None:
        if name in self.cat:
            return self.cat[name]
        hint = None
        if name in self.params:
            hint = "this is a parameter; a comparison starts with a fact"
        self.bad(
            path,
            f"unknown fact {name!r}" + (f" ({hint})" if hint else ""),
            offset=offset,
            suggestion=None if hint else self.cat.suggest(name),
        )
        return None

    def value(
        self, v: L.Literal_ | L.ParamRef, spec: FactSpec, path: tuple[Any, ...], used: dict[str, Any]
    ) -> tuple[bool, Any]:
        """Resolve and type-check a value against a fact; (ok, python value)."""
        kind: str
        if isinstance(v, L.ParamRef):
            word = v.name.lower()
            allowed = spec.allowed or ()
            nothing = word in ("null", "none", "nil", "empty", "unknown")
            if nothing and v.name not in self.params and v.name not in allowed:
                self.bad(
                    path,
                    f"{v.name!r} is not a value: to test that {spec.name} has no value, write "
                    f"'{spec.name} is missing' ('is present' for the opposite)",
                    offset=v.offset,
                    suggestion=word if word in allowed else None,
                )
                return False, None
            if v.name not in self.params and spec.type == "boolean" and word in ("yes", "no", "y", "n", "on", "off"):
                self.bad(
                    path,
                    f"{spec.name} is yes/no: write '{spec.name}' (or '{spec.name} == true') for yes and "
                    f"'not {spec.name}' (or '{spec.name} == false') for no",
                    offset=v.offset,
                )
                return False, None
            if v.name in self.params:
                raw = self.params[v.name].value
                used[v.name] = raw
                unit = self.params[v.name].unit
                if unit and spec.unit and spec.type in ("number", "integer") and _unit(unit) != _unit(spec.unit):
                    self.bad(
                        path,
                        f"parameter {v.name!r} is in {unit}; {spec.name!r} is in {spec.unit}",
                        offset=v.offset,
                        allowed=f"a parameter in {spec.unit} (or without a unit)",
                    )
                    return False, None
                if v.negate:
                    if isinstance(raw, bool) or not isinstance(raw, int | float):
                        self.bad(
                            path, f"'-{v.name}' needs a number parameter; {v.name!r} is {show(raw)}", offset=v.offset
                        )
                        return False, None
                    raw = -raw
                kind = (
                    "boolean"
                    if isinstance(raw, bool)
                    else "number"
                    if isinstance(raw, int | float)
                    else "date"
                    if isinstance(raw, dt.date)
                    else "word"
                )
                value = raw
            elif spec.type == "text" and not v.negate:
                kind, value = "word", v.name
            else:
                if v.name in self.cat:
                    self.bad(
                        path,
                        f"{v.name!r} is a fact; a comparison is between a fact and a value or parameter",
                        offset=v.offset,
                    )
                else:
                    self.bad(
                        path,
                        f"unknown parameter {v.name!r}",
                        offset=v.offset,
                        allowed=join(self.params) or "no parameters are defined in this ruleset",
                        suggestion=suggest(v.name, self.params),
                    )
                return False, None
        else:
            kind, value = v.kind, v.value
            if v.percent is not None and spec.type in ("number", "integer") and spec.unit != "fraction":
                unit = f"in {spec.unit}" if spec.unit else "not a fraction"
                self.bad(
                    path,
                    f"{v.percent} is a fraction; {spec.name} is {unit}",
                    offset=v.offset,
                    allowed=f"a number in {spec.unit}" if spec.unit else "a number",
                )
                return False, None
        want = spec.type
        if want in ("number", "integer"):
            if kind != "number":
                self.bad(
                    path,
                    f"{spec.name!r} is a number ({spec.unit or 'no unit'}); it cannot be compared with "
                    f"{_kind_words(kind, value)}",
                    offset=v.offset,
                )
                return False, None
            if isinstance(value, float) and round(value, DECIMALS) != value:
                self.bad(path, f"use at most {DECIMALS} decimal places (got {value!r})", offset=v.offset)
                return False, None
            return True, value
        if want == "date":
            if kind != "date":
                self.bad(
                    path,
                    f"{spec.name!r} is a date; it cannot be compared with {_kind_words(kind, value)}",
                    offset=v.offset,
                )
                return False, None
            return True, value
        if want == "boolean":
            if kind != "boolean":
                self.bad(
                    path,
                    f"{spec.name!r} is yes/no; compare it with true or false, not {_kind_words(kind, value)}",
                    offset=v.offset,
                )
                return False, None
            return True, value
        # text
        if kind not in ("word", "text"):
            self.bad(
                path,
                f"{spec.name!r} is text; it cannot be compared with {_kind_words(kind, value)}",
                offset=v.offset,
                allowed=join(spec.allowed or ()),
            )
            return False, None
        if spec.allowed is not None and value not in spec.allowed:
            self.bad(
                path,
                f"{value!r} is not a value of {spec.name!r}",
                offset=v.offset,
                allowed=join(spec.allowed),
                suggestion=suggest(str(value), spec.allowed),
            )
            return False, None
        return True, value

    def lower(self, ast: Any, path: tuple[Any, ...], used: dict[str, Any] | None = None) -> Node | None:
        used = self._used if used is None else used
        if isinstance(ast, L.BoolOp):
            items = [self.lower(x, path, used) for x in ast.items]
            if any(i is None for i in items):
                return None
            node: Node = And(tuple(items)) if ast.op == "and" else Or(tuple(items))  # type: ignore[arg-type]
            if ast.op == "and":
                self.impossible(node, path)
            return node
        if isinstance(ast, L.Not):
            inner = self.lower(ast.item, path, used)
            return None if inner is None else Not(inner)
        spec = self.fact(ast.fact, path, ast.offset)
        if spec is None:
            return None
        if isinstance(ast, L.FactTest):
            return Present(ast.fact) if ast.present else Missing(ast.fact)
        if isinstance(ast, L.Truthy):
            if spec.type != "boolean":
                self.bad(
                    path,
                    f"{ast.fact!r} is {describe_allowed(spec)}, not yes/no; write a comparison such as "
                    f"'{ast.fact} {'>= 10' if spec.type in ('number', 'integer') else '== ...'}'",
                    offset=ast.offset,
                )
                return None
            return Cmp(ast.fact, "==", True)
        if isinstance(ast, L.Compare):
            if spec.type in ("boolean", "text") and ast.op not in ("==", "!="):
                self.bad(
                    path,
                    f"{ast.fact!r} is {describe_allowed(spec)}; use == or != (or in [...]), not {ast.op}",
                    offset=ast.offset,
                )
                return None
            ok, value = self.value(ast.value, spec, path, used)
            if not ok:
                return None
            node = Cmp(ast.fact, ast.op, value)
            self.in_range(node, spec, path, ast.offset)
            return node
        if isinstance(ast, L.InList):
            if spec.type == "boolean":
                self.bad(path, f"{ast.fact!r} is yes/no; use == true or == false", offset=ast.offset)
                return None
            values = []
            for v in ast.values:
                ok, value = self.value(v, spec, path, used)
                if not ok:
                    return None
                values.append(value)
            node = In(ast.fact, tuple(dict.fromkeys(values)))
            return Not(node) if ast.negated else node
        if isinstance(ast, L.Between):
            if spec.type not in ("number", "integer", "date"):
                self.bad(
                    path,
                    f"'between' needs a number or date fact; {ast.fact!r} is {describe_allowed(spec)}",
                    offset=ast.offset,
                )
                return None
            ok1, low = self.value(ast.low, spec, path, used)
            ok2, high = self.value(ast.high, spec, path, used)
            if not (ok1 and ok2):
                return None
            if low > high:
                self.bad(
                    path,
                    f"'between {low} and {high}' can never be true: the low end is above the high end",
                    offset=ast.offset,
                )
                return None
            node = And((Cmp(ast.fact, ">=", low), Cmp(ast.fact, "<=", high)))
            # 'between 0 and 4' is natural even though '>= 0' alone is always true: only both halves count.
            always = all(self.in_range(n, spec, path, ast.offset, always=False) for n in node.items)  # type: ignore[arg-type]
            if always:
                self.bad(
                    path,
                    f"'{ast.fact} between {low} and {high}' is always true when {ast.fact} has a value: "
                    f"{ast.fact} is {describe_allowed(spec)}",
                    offset=ast.offset,
                    suggestion=f"{ast.fact} is present",
                )
            return node
        raise AssertionError(f"unexpected syntax node {ast!r}")

    def in_range(self, node: Cmp, spec: FactSpec, path: tuple[Any, ...], offset: int, *, always: bool = True) -> bool:
        """Refuse a comparison the fact's range makes never true (or, with ``always``, always true
        whenever the fact has a value); return whether it is always true."""
        if spec.type not in ("number", "integer"):
            return False
        lo, hi, v, op = spec.minimum, spec.maximum, node.value, node.op
        never = (op in (">", ">=", "==") and hi is not None and (v > hi or (op == ">" and v == hi))) or (
            op in ("<", "<=", "==") and lo is not None and (v < lo or (op == "<" and v == lo))
        )
        is_always = (
            (op in (">", ">=") and lo is not None and (v < lo or (op == ">=" and v == lo)))
            or (op in ("<", "<=") and hi is not None and (v > hi or (op == "<=" and v == hi)))
            or (op == "!=" and ((lo is not None and v < lo) or (hi is not None and v > hi)))
        )
        text = f"'{node.fact} {op} {v}'"
        if (never or (always and is_always)) and spec.unit == "fraction" and abs(v) > 1:
            truth = "can never be true" if never else f"is always true when {node.fact} has a value"
            self.bad(
                path,
                f"{text} {truth}: {node.fact} is a fraction (0.5 means 50%); "
                f"write {round(v / 100, DECIMALS + 2):g} or {v:g}%",
                offset=offset,
            )
        elif never:
            self.bad(path, f"{text} can never be true: {node.fact} is {describe_allowed(spec)}", offset=offset)
        elif always and is_always:
            self.bad(
                path,
                f"{text} is always true when {node.fact} has a value: {node.fact} is {describe_allowed(spec)}",
                offset=offset,
                suggestion=f"{node.fact} is present",
            )
        if never:
            self._dead.add(id(node))
        return is_always

    def impossible(self, node: And, path: tuple[Any, ...]) -> None:
        """Report a conjunction that can never be true (see :mod:`._contradictions`), once: not
        again for a conjunction around one already reported, or around a comparison that can
        never be true on its own."""
        if prune(node, self._dead) is None:
            self._dead.add(id(node))
            return
        reason = never_true(node, self.cat.specs, self._dead)
        if reason is not None:
            self._dead.add(id(node))
            self.bad(path, f"these conditions can never all be true: {reason}")

    # -- messages
    def message(self, text: str, path: tuple[Any, ...], lead: int = 0) -> tuple[MessagePart, ...]:
        """Split a message into text and placeholders; ``lead`` is where ``text`` starts in the YAML value."""
        parts: list[MessagePart] = []
        pos = 0
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as e:
            self.bad(path, f"the message has a stray brace ({e}); write {{{{ or }}}} for a literal brace")
            return ()
        for literal, name, spec, conversion in parsed:
            if literal:
                parts.append(MessagePart(text=literal))
            if name is None:
                continue
            found = text.find("{" + name, pos)
            pos = found + 1 if found >= 0 else pos
            at = lead + found if found >= 0 else None
            if conversion:
                self.bad(path, f"placeholder {{{name}!{conversion}}}: '!' conversions are not allowed", offset=at)
                continue
            unit: str | None
            if name in self.params:
                sample: Any = self.params[name].value
                unit = self.params[name].unit
                is_param = True
            elif name in self.cat:
                sample = _sample(self.cat[name])
                unit = self.cat[name].unit
                is_param = False
            else:
                self.bad(
                    path,
                    f"unknown placeholder {{{name}}}: not a fact or a parameter",
                    offset=at,
                    suggestion=self.cat.suggest(name) or suggest(name, self.params),
                )
                continue
            if spec:
                fraction = _unit(unit) == "fraction" if unit else is_param and _is_number(sample) and abs(sample) <= 1
                problem = _format_problem(name, spec, sample, unit, fraction)
                if problem:
                    allowed = (
                        f"{{{name}}}, or {{{name}:.1f}} for 1 decimal; "
                        f"{{{name}:.0%}} for a fraction (0.25 shows as 25%)"
                        if _is_number(sample)
                        else f"{{{name}}} without a format (formats such as :.1f are for numbers)"
                    )
                    self.bad(path, problem, offset=at, allowed=allowed)
                    continue
            parts.append(MessagePart(name=name, spec=spec or "", is_param=is_param))
        return tuple(parts)

    # -- rules
    def rules(self) -> list[RuleIR]:
        """Check every rule (even one whose keys are wrong) and lower the valid ones to IR."""
        out: list[RuleIR] = []
        seen: dict[str, int] = {}
        used: set[str] = set()
        complete = True  # every rule's condition compiled (else a misspelt use would also read as "unused")
        specs = dict(self.rule_specs)
        raw_rules = self.doc.data.get("rules")
        for i, raw in enumerate(raw_rules if isinstance(raw_rules, list) else []):
            if not isinstance(raw, dict):
                continue
            path = ("rules", i)
            rid = raw.get("id")
            if isinstance(rid, str):
                if not _RULE_ID.match(rid):
                    self.bad((*path, "id"), f"rule id {rid!r} must be lower-case letters, digits, - or _")
                if rid in seen:
                    self.bad(
                        (*path, "id"),
                        f"duplicate rule id {rid!r} (also rule #{seen[rid] + 1}); rule ids are never reused",
                    )
                seen.setdefault(rid, i)
            then = raw.get("then") if isinstance(raw.get("then"), dict) else {}
            action = then.get("action")
            if isinstance(action, str) and not _SNAKE.match(action):
                self.bad(
                    (*path, "then", "action"),
                    f"action {action!r} must be a snake_case code, "
                    "e.g. psychiatric_case_review (put words in action_text)",
                )
            self._used = {}
            self._dead = set()
            before = len(self.problems)
            cond = self.condition(raw["when"], (*path, "when")) if "when" in raw else None
            if cond is not None and len(self.problems) == before and not isinstance(cond, And):
                reason = never_true(cond, self.cat.specs)  # an 'any' or 'not' whose every way is impossible
                if reason is not None:
                    self.bad((*path, "when"), f"this condition can never be true: {reason}")
            message = then.get("message")
            msg = (
                self.message(message.strip(), (*path, "then", "message"), len(message) - len(message.lstrip()))
                if isinstance(message, str)
                else ()
            )
            used.update(self._used)
            used.update(p.name for p in msg if p.is_param and p.name)
            rule = specs.get(i)
            if cond is None or rule is None:
                complete = complete and cond is not None
                continue
            out.append(
                RuleIR(
                    rule_id=rule.id,
                    ruleset=self.name,
                    ruleset_version=self.version,
                    title=rule.title,
                    category=rule.then.category,
                    severity=rule.then.severity,
                    priority=rule.then.priority,
                    action=rule.then.action,
                    action_text=rule.then.action_text,
                    source=rule.source,
                    message=msg,
                    condition=cond,
                    facts=tuple(facts_of(cond)),
                    parameters=dict(self._used),
                )
            )
        if complete:
            for name in self.params:
                if name not in used and name not in self.cat:  # a fact's name is refused already
                    self.bad(
                        ("parameters", name),
                        f"parameter {name!r} is not used by any rule: use it in a condition or a message, or remove it",
                        key=True,
                    )
        return out

    def tests(self, rule_ids: Sequence[str], library: MeasureLibrary) -> None:
        from ..episode import parse_episode

        for i, case in self.test_specs:
            path = ("tests", i)
            if (case.facts is None) == (case.episode is None):
                self.bad(path, "a test needs exactly one of 'facts' or 'episode'")
            if case.episode is not None:
                if case.as_of is None:
                    self.bad(path, "a test with an 'episode' needs 'as_of' (the date to evaluate on)", key=True)
                try:
                    parse_episode(case.episode, record_ref=f"test {case.name!r}")
                except InvalidInput as e:
                    self.bad((*path, "episode"), str(e))
                assessments = case.episode.get("assessments")
                for k, a in enumerate(assessments if isinstance(assessments, list) else []):
                    measure = a.get("measure") if isinstance(a, dict) else None
                    if isinstance(measure, str) and library.resolve(measure) is None:
                        self.bad(
                            (*path, "episode", "assessments", k, "measure"),
                            f"unknown measure {measure!r}",
                            allowed=join(sorted(library)),
                            suggestion=suggest(measure, list(library)),
                        )
            for name, value in (case.facts or {}).items():
                spec = self.cat.specs.get(name)
                if spec is None:
                    self.bad(
                        (*path, "facts", name), f"unknown fact {name!r}", key=True, suggestion=self.cat.suggest(name)
                    )
                elif value is not None and not value_fits(spec, value):
                    self.bad(
                        (*path, "facts", name),
                        f"{show(value)} does not fit {name!r}, which is {describe_allowed(spec)}",
                    )
                elif value is not None and spec.type in ("number", "integer") and not _within(spec, value):
                    self.bad(
                        (*path, "facts", name),
                        f"{value} is out of range for {name!r}, which is {describe_allowed(spec)}",
                    )
            for j, rid in enumerate(case.expect):
                if rid not in rule_ids:
                    self.bad(
                        (*path, "expect", j),
                        f"{rid!r} is not a rule of this ruleset",
                        allowed=join(rule_ids),
                        suggestion=suggest(rid, rule_ids),
                    )


def _unit(unit: str) -> str:
    """A unit in one spelling: ``day``/``Days`` -> ``days``, ``%``/``percent`` -> ``fraction``."""
    u = unit.strip().lower()
    u = {"%": "fraction", "percent": "fraction", "pct": "fraction", "proportion": "fraction", "min": "minutes"}.get(
        u, u
    )
    return u if u == "fraction" or u.endswith("s") else u + "s"


def _kind_words(kind: str, value: Any) -> str:
    return {
        "number": f"the number {value}",
        "date": f"the date {value}",
        "boolean": f"{str(value).lower()}",
        "word": f"the word {value!r}",
        "text": f"the text {value!r}",
    }[kind]


def _within(spec: FactSpec, value: float) -> bool:
    return (spec.minimum is None or value >= spec.minimum) and (spec.maximum is None or value <= spec.maximum)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _format_problem(name: str, spec: str, sample: Any, unit: str | None, fraction: bool) -> str | None:
    """Why ``{name:spec}`` cannot show ``sample`` (None when it can), in plain words."""
    what = (
        "a date"
        if isinstance(sample, dt.date)
        else "yes/no"
        if isinstance(sample, bool)
        else "text"
        if isinstance(sample, str)
        else "a fraction"
        if fraction
        else f"a number in {unit}"
        if unit
        else "a number"
    )
    if spec.endswith("%") and not fraction:
        return f"placeholder {{{name}:{spec}}}: '%' shows a fraction as a percent, and {name} is {what}"
    try:
        format(sample, spec)
    except (ValueError, TypeError):
        return f"placeholder {{{name}:{spec}}}: the format {spec!r} cannot show {name}, which is {what}"
    return None


def _sample(spec: FactSpec) -> Any:
    return {"number": 0.5, "integer": 1, "boolean": True, "date": dt.date(2026, 1, 1)}.get(
        spec.type, (spec.allowed or ("text",))[0]
    )


def _describe(path: tuple[Any, ...], data: Any) -> str | None:
    if len(path) >= 2 and path[0] in ("rules", "tests") and isinstance(path[1], int):
        try:
            entry = data[path[0]][path[1]]
            label = entry.get("id") if path[0] == "rules" else entry.get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            label = None
        kind = "rule" if path[0] == "rules" else "test"
        return f"{kind} {label!r}" if label else f"{kind} #{path[1] + 1}"
    if len(path) >= 2 and path[0] == "parameters":
        return f"parameter {path[1]!r}"
    return None


def _parse(doc: Document, library: MeasureLibrary, text: bytes) -> tuple[Ruleset | None, list[Problem]]:
    data = doc.data
    if not isinstance(data, dict):
        return None, [doc.problem((), "a ruleset file must be a mapping of keys to values (ruleset, version, ...)")]
    problems: list[Problem] = []
    header: L.RulesetSpec | None = None
    try:
        header = L.RulesetSpec.model_validate(data)
    except ValidationError as e:
        problems.extend(problems_from(e, doc, L.RulesetSpec, describe=lambda p: _describe(p, data)))
    # Rules and tests are validated one by one, so one broken rule does not hide the others.
    parts: dict[str, list[tuple[int, Any]]] = {"rules": [], "tests": []}
    for key, model in (("rules", L.RuleSpec), ("tests", L.TestCaseSpec)):
        raw = data.get(key)
        for i, entry in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(entry, dict):
                continue  # reported by the header validation
            try:
                parts[key].append((i, model.model_validate(entry)))
            except ValidationError as e:
                problems.extend(problems_from(e, doc, model, base=(key, i), describe=lambda p: _describe(p, data)))
    checker = _FileChecker(doc, header, parts["rules"], parts["tests"], catalog(library))
    checker.check_header()
    rules = checker.rules()
    raw_rules = data.get("rules") if isinstance(data.get("rules"), list) else []
    rule_ids = [r["id"] for r in raw_rules if isinstance(r, dict) and isinstance(r.get("id"), str)]
    checker.tests(rule_ids, library)
    problems.extend(checker.problems)
    if problems or header is None:
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        return None, problems
    rs = Ruleset(
        name=header.ruleset,
        title=header.title,
        version=header.version,
        effective=header.effective,
        owner=header.owner,
        description=header.description,
        parameters=dict(header.parameters),
        rules=tuple(rules),
        tests=tuple(t for _, t in parts["tests"]),
        file=doc.file,
        sha256=hashlib.sha256(text).hexdigest(),
        document=doc,
    )
    return rs, []


def load_ruleset(path: str | Path, *, library: MeasureLibrary | None = None) -> Ruleset:
    """Load and validate one ruleset file; raise :class:`~cocm_rules.RulesetError`."""
    return load_rulesets([path], library=library).rulesets[0]


def _files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    files: list[Path] = []
    problems: list[Problem] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(
                f
                for f in path.rglob("*")
                if f.suffix.lower() in (".yaml", ".yml")
                and f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
            if not found:
                problems.append(
                    Problem("no ruleset files (*.yaml or *.yml) in this directory or its subfolders", file=str(path))
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(Problem("no such file or directory", file=str(path)))
    return files, problems


def load_rulesets(
    paths: str | Path | Iterable[str | Path] | None = None,
    *,
    library: MeasureLibrary | None = None,
    text: str | None = None,
) -> RulesetSet:
    """Load and validate rulesets (files or directories; the bundled set when ``paths`` is None).

    A directory loads every ``.yaml`` / ``.yml`` file in it and in its subfolders (the extension
    in any case, e.g. ``LOCAL.YAML``), sorted by path; hidden files and folders (``.name``) are skipped.

    All problems in all files are reported together in one :class:`~cocm_rules.RulesetError`.
    ``text`` loads a single ruleset from a string instead (its file name is ``<string>``).
    The safety floor is not checked here; :meth:`cocm_rules.Engine.load` checks it.
    """
    lib = library if library is not None else load_measures()
    problems: list[Problem] = []
    loaded: list[Ruleset] = []
    names: list[str] = []
    if text is not None:
        names.append("<string>")
    else:
        if paths is None:
            paths = [bundled_rulesets_path()]
        elif isinstance(paths, str | Path):
            paths = [paths]
        files, problems = _files(paths)
        names.extend(str(f) for f in files)
    for name in names:
        try:
            if text is not None:
                raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate is refused, located, below
                doc = load_text(text, name)
            else:
                raw = read_bytes(name)  # read once: the hash is of the bytes parsed
                doc = load_bytes(raw, name)
        except YamlError as e:
            problems.extend(e.problems)
            continue
        rs, found = _parse(doc, lib, raw)
        problems.extend(found)
        if rs is not None:
            loaded.append(rs)
    problems.extend(_not_unique(loaded))
    if not loaded and not problems:
        problems.append(Problem("no rulesets to load"))
    if problems:
        raise RulesetError(problems)
    for rs in loaded:
        log.info("ruleset.loaded", ruleset=rs.name, version=rs.version, rules=len(rs.rules), sha256=rs.sha256)
    return RulesetSet(tuple(loaded), lib, tuple(_outranking(loaded)))


def _not_unique(loaded: Sequence[Ruleset]) -> list[Problem]:
    """Rule ids and ruleset names used twice across a set."""
    problems: list[Problem] = []
    owner: dict[str, Ruleset] = {}
    names: dict[str, Ruleset] = {}
    for rs in loaded:
        if rs.name in names:
            problems.append(
                rs.document.problem(("ruleset",), f"ruleset {rs.name!r} is also defined in {names[rs.name].file}")
            )
        names.setdefault(rs.name, rs)
        for i, rule in enumerate(rs.rules):
            if rule.rule_id in owner and owner[rule.rule_id] is not rs:
                problems.append(
                    rs.document.problem(
                        ("rules", i, "id"),
                        f"rule id {rule.rule_id!r} is also used in "
                        f"{owner[rule.rule_id].file}; rule ids are unique across a set",
                        context=f"rule {rule.rule_id!r}",
                    )
                )
            owner.setdefault(rule.rule_id, rs)
    return problems


def _outranking(loaded: Sequence[Ruleset]) -> list[Problem]:
    """Warnings for rules outside ``suicide_risk`` whose priority is at or above a suicide rule's.

    Such a priority does not do what it seems to: every suicide-risk alert comes before every
    other alert of the patient, and every patient with one ranks above every patient without
    one, whatever the priorities. A warning, not an error: the order stays safe, and the
    priority still orders the rule among the other alerts.
    """
    suicide = [r.priority for rs in loaded for r in rs.rules if r.category == L.SUICIDE_RISK]
    if not suicide:
        return []
    lowest, highest = min(suicide), max(suicide)
    span = str(lowest) if lowest == highest else f"{lowest}-{highest}"
    warnings: list[Problem] = []
    for rs in loaded:
        for i, rule in enumerate(rs.rules):
            if rule.category == L.SUICIDE_RISK or rule.priority < lowest:
                continue
            warnings.append(
                rs.document.problem(
                    ("rules", i, "then", "priority"),
                    f"priority {rule.priority} cannot put this alert above suicide risk: suicide_risk alerts "
                    "always come first, and patients with one rank above all others, whatever the priorities; "
                    "this priority orders the rule among the other alerts only",
                    context=f"rule {rule.rule_id!r}",
                    allowed=f"0-100; 0-{lowest - 1} keeps it below every suicide_risk rule ({span})"
                    if lowest > 0
                    else f"0-100 (the suicide_risk rules have {span})",
                )
            )
            log.warning(
                "ruleset.priority_above_suicide_risk", ruleset=rs.name, rule=rule.rule_id, priority=rule.priority
            )
    return warnings
