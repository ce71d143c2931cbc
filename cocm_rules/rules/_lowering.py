"""A rule's condition lowered to the IR, with its types checked on the way.

A condition is text (``phq9.latest >= 10 and weeks_in_treatment >= 10``, parsed by
:func:`~cocm_rules.rules.language.parse_expression`) or an ``all``/``any``/``not`` mapping of
conditions. Lowering refuses unknown facts, comparisons whose types do not fit (see
:mod:`._values`), comparisons the fact's range makes never true or always true, and
conjunctions that can never be true (see :mod:`._contradictions`), each reported once.
"""

from __future__ import annotations

from typing import Any

from .._text import join, show, suggest
from ..facts import DECIMALS, FactSpec, describe_allowed
from . import language as L
from ._contradictions import never_true, prune
from ._report import FileReport
from ._values import resolve_value
from .ir import And, Cmp, In, Missing, Node, Not, Or, Present

__all__ = ["ConditionLowering"]

_COND_KEYS = ("all", "any", "not")


class ConditionLowering:
    """Lowers one rule's condition; ``used`` collects the parameters it uses, by name, with
    their values."""

    def __init__(self, report: FileReport) -> None:
        self.report = report
        self.cat = report.cat
        self.used: dict[str, Any] = {}
        self._dead: set[int] = set()  # ids of IR nodes already reported as never true

    # -- the YAML shape: text, or all / any / not
    def condition(self, node: Any, path: tuple[Any, ...], depth: int = 0) -> Node | None:
        """The IR of a condition as written in YAML; None (reported) when it is wrong."""
        if depth > L.MAX_NESTING:
            self.report.bad(path, f"nested too deeply: at most {L.MAX_NESTING} levels of all, any and not")
            return None
        if isinstance(node, str):
            try:
                ast = L.parse_expression(node)
            except L.ExpressionError as e:
                self.report.bad(path, e.message, offset=e.offset, allowed=e.allowed)
                return None
            return self.lower(ast, path)
        if isinstance(node, dict):
            return self._mapping(node, path, depth)
        self.report.bad(path, f"a condition must be text such as 'phq9.latest >= 10', or all/any/not; got {show(node)}")
        return None

    def _mapping(self, node: dict[Any, Any], path: tuple[Any, ...], depth: int) -> Node | None:
        if len(node) != 1 or next(iter(node)) not in _COND_KEYS:
            self._not_one_key(node, path)
            return None
        key, value = next(iter(node.items()))
        if key == "not":
            inner = self.condition(value, (*path, "not"), depth + 1)
            return None if inner is None else Not(inner)
        if not isinstance(value, list) or not value:
            self.report.bad((*path, key), f"'{key}' needs a list of one or more conditions")
            return None
        items = [self.condition(v, (*path, key, i), depth + 1) for i, v in enumerate(value)]
        if any(i is None for i in items):
            return None
        lowered = And(tuple(items)) if key == "all" else Or(tuple(items))  # type: ignore[arg-type]
        if key == "all":
            self.impossible(lowered, path)
        return lowered

    def _not_one_key(self, node: dict[Any, Any], path: tuple[Any, ...]) -> None:
        """Report a condition mapping whose keys are not exactly one of all, any or not."""
        for key in node:
            if key not in _COND_KEYS:
                self.report.bad(
                    (*path, key),
                    f"unknown key {key!r} in a condition",
                    key=True,
                    allowed=join(_COND_KEYS),
                    suggestion=suggest(str(key), _COND_KEYS),
                )
                return
        self.report.bad(path, "a condition mapping has exactly one key: all, any or not")

    # -- the text: parsed syntax to IR
    def fact(self, name: str, path: tuple[Any, ...], offset: int) -> FactSpec | None:
        """The spec of a fact the condition names; None (reported, with "did you mean") if unknown."""
        if name in self.cat:
            return self.cat[name]
        hint = None
        if name in self.report.params:
            hint = "this is a parameter; a comparison starts with a fact"
        self.report.bad(
            path,
            f"unknown fact {name!r}" + (f" ({hint})" if hint else ""),
            offset=offset,
            suggestion=None if hint else self.cat.suggest(name),
        )
        return None

    def lower(self, ast: Any, path: tuple[Any, ...]) -> Node | None:
        """The IR of a parsed expression; None (reported) when a part of it is wrong."""
        if isinstance(ast, L.BoolOp):
            items = [self.lower(x, path) for x in ast.items]
            if any(i is None for i in items):
                return None
            joined = And(tuple(items)) if ast.op == "and" else Or(tuple(items))  # type: ignore[arg-type]
            if ast.op == "and":
                self.impossible(joined, path)
            return joined
        if isinstance(ast, L.Not):
            inner = self.lower(ast.item, path)
            return None if inner is None else Not(inner)
        spec = self.fact(ast.fact, path, ast.offset)
        if spec is None:
            return None
        if isinstance(ast, L.FactTest):
            return Present(ast.fact) if ast.present else Missing(ast.fact)
        if isinstance(ast, L.Truthy):
            return self._truthy(ast, spec, path)
        if isinstance(ast, L.Compare):
            return self._compare(ast, spec, path)
        if isinstance(ast, L.InList):
            return self._in_list(ast, spec, path)
        if isinstance(ast, L.Between):
            return self._between(ast, spec, path)
        raise AssertionError(f"unexpected syntax node {ast!r}")

    def _truthy(self, ast: L.Truthy, spec: FactSpec, path: tuple[Any, ...]) -> Node | None:
        """``fact`` alone: only a yes/no fact."""
        if spec.type != "boolean":
            self.report.bad(
                path,
                f"{ast.fact!r} is {describe_allowed(spec)}, not yes/no; write a comparison such as "
                f"'{ast.fact} {'>= 10' if spec.type in ('number', 'integer') else '== ...'}'",
                offset=ast.offset,
            )
            return None
        return Cmp(ast.fact, "==", True)

    def _compare(self, ast: L.Compare, spec: FactSpec, path: tuple[Any, ...]) -> Node | None:
        """``fact op value``: yes/no and text facts only with == and !=."""
        if spec.type in ("boolean", "text") and ast.op not in ("==", "!="):
            self.report.bad(
                path,
                f"{ast.fact!r} is {describe_allowed(spec)}; use == or != (or in [...]), not {ast.op}",
                offset=ast.offset,
            )
            return None
        ok, value = resolve_value(self.report, ast.value, spec, path, self.used)
        if not ok:
            return None
        node = Cmp(ast.fact, ast.op, value, self._param(ast.value))
        self.in_range(node, spec, path, ast.offset)
        return node

    def _param(self, v: L.Literal_ | L.ParamRef) -> str | None:
        """The parameter a (resolved) value came from, as written (``-name`` when negated)."""
        if isinstance(v, L.ParamRef) and v.name in self.report.params:
            return f"-{v.name}" if v.negate else v.name
        return None

    def _in_list(self, ast: L.InList, spec: FactSpec, path: tuple[Any, ...]) -> Node | None:
        """``fact in [...]`` (or ``not in``): not for a yes/no fact."""
        if spec.type == "boolean":
            self.report.bad(path, f"{ast.fact!r} is yes/no; use == true or == false", offset=ast.offset)
            return None
        values = []
        for v in ast.values:
            ok, value = resolve_value(self.report, v, spec, path, self.used)
            if not ok:
                return None
            values.append(value)
        node = In(ast.fact, tuple(dict.fromkeys(values)))
        return Not(node) if ast.negated else node

    def _between(self, ast: L.Between, spec: FactSpec, path: tuple[Any, ...]) -> Node | None:
        """``fact between low and high``: a number or date fact, the low end not above the high
        end, and not a range the fact's own range makes always true."""
        if spec.type not in ("number", "integer", "date"):
            self.report.bad(
                path,
                f"'between' needs a number or date fact; {ast.fact!r} is {describe_allowed(spec)}",
                offset=ast.offset,
            )
            return None
        ok1, low = resolve_value(self.report, ast.low, spec, path, self.used)
        ok2, high = resolve_value(self.report, ast.high, spec, path, self.used)
        if not (ok1 and ok2):
            return None
        if low > high:
            self.report.bad(
                path,
                f"'between {low} and {high}' can never be true: the low end is above the high end",
                offset=ast.offset,
            )
            return None
        node = And((Cmp(ast.fact, ">=", low, self._param(ast.low)), Cmp(ast.fact, "<=", high, self._param(ast.high))))
        # 'between 0 and 4' is natural even though '>= 0' alone is always true: only both halves count.
        always = all(self.in_range(n, spec, path, ast.offset, always=False) for n in node.items)  # type: ignore[arg-type]
        if always:
            self.report.bad(
                path,
                f"'{ast.fact} between {low} and {high}' is always true when {ast.fact} has a value: "
                f"{ast.fact} is {describe_allowed(spec)}",
                offset=ast.offset,
                suggestion=f"{ast.fact} is present",
            )
        return node

    # -- conditions that can never (or always) be true
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
            self.report.bad(
                path,
                f"{text} {truth}: {node.fact} is a fraction (0.5 means 50%); "
                f"write {round(v / 100, DECIMALS + 2):g} or {v:g}%",
                offset=offset,
            )
        elif never:
            self.report.bad(path, f"{text} can never be true: {node.fact} is {describe_allowed(spec)}", offset=offset)
        elif always and is_always:
            self.report.bad(
                path,
                f"{text} is always true when {node.fact} has a value: {node.fact} is {describe_allowed(spec)}",
                offset=offset,
                suggestion=f"{node.fact} is present",
            )
        if never:
            self._dead.add(id(node))
        return is_always

    def impossible(self, node: And | Or, path: tuple[Any, ...]) -> None:
        """Report a conjunction that can never be true (see :mod:`._contradictions`), once: not
        again for a conjunction around one already reported, or around a comparison that can
        never be true on its own."""
        if prune(node, self._dead) is None:
            self._dead.add(id(node))
            return
        reason = never_true(node, self.cat.specs, self._dead)
        if reason is not None:
            self._dead.add(id(node))
            self.report.bad(path, f"these conditions can never all be true: {reason}")
