"""The compiled backend: the IR as plain Python closures (the default, fast path)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from .ir import And, Cmp, In, Missing, Node, Not, Or, Present, ProgramIR, RuleIR

__all__ = ["CompiledBackend", "compile_node"]

Pred = Callable[[Mapping[str, Any]], bool]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def compile_node(node: Node) -> Pred:
    """Turn an IR condition into a predicate over a facts mapping (missing = None)."""
    if isinstance(node, Cmp):
        name, value, op = node.fact, node.value, _OPS[node.op]

        def cmp(facts: Mapping[str, Any]) -> bool:
            v = facts[name]
            return v is not None and op(v, value)

        return cmp
    if isinstance(node, In):
        name, members = node.fact, frozenset(node.values)

        def in_(facts: Mapping[str, Any]) -> bool:
            v = facts[name]
            return v is not None and v in members

        return in_
    if isinstance(node, Missing):
        name = node.fact
        return lambda facts: facts[name] is None
    if isinstance(node, Present):
        name = node.fact
        return lambda facts: facts[name] is not None
    if isinstance(node, Not):
        inner = compile_node(node.item)
        return lambda facts: not inner(facts)
    parts = tuple(compile_node(x) for x in node.items)
    if isinstance(node, And):
        if len(parts) == 2:
            a, b = parts
            return lambda facts: a(facts) and b(facts)

        def all_(facts: Mapping[str, Any]) -> bool:
            for p in parts:  # noqa: SIM110 - a plain loop is faster than all() on the hot path
                if not p(facts):
                    return False
            return True

        return all_
    assert isinstance(node, Or)
    if len(parts) == 2:
        a, b = parts
        return lambda facts: a(facts) or b(facts)

    def any_(facts: Mapping[str, Any]) -> bool:
        for p in parts:  # noqa: SIM110 - a plain loop is faster than any() on the hot path
            if p(facts):
                return True
        return False

    return any_


class CompiledBackend:
    """Evaluates a program with closures; thread-safe (no shared mutable state)."""

    name = "compiled"

    def __init__(self, program: ProgramIR) -> None:
        self.program = program
        self._rules: tuple[tuple[RuleIR, Pred], ...] = tuple((r, compile_node(r.condition)) for r in program.rules)

    def matches(self, facts: Mapping[str, Any]) -> list[RuleIR]:
        """Rules whose condition holds; ``facts`` must hold every needed fact (None if missing)."""
        return [rule for rule, pred in self._rules if pred(facts)]
