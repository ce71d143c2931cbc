"""The compiled backend: the IR as plain Python closures (the default, fast path).

Two things keep it close to hand-written code:

* each rule's top-level comparisons are walked inline as ``(fact, operator, value)`` steps,
  with no Python call per rule or per comparison (other parts are small closures);
* rules are indexed by a top-level guard on a text fact (``status == active_treatment`` or
  ``status in [...]``), so a patient's status is looked up once and only the rules that can
  fire for it are tried - the alpha-node sharing of a Rete network, for the one test nearly
  every rule starts with;
* below that, rules that need the same measure fact are skipped together when it is missing,
  and rules that start with the same comparison (``cocm_month == 1``) try it once.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from .ir import And, Cmp, In, Missing, Node, Not, Present, ProgramIR, RuleIR

__all__ = ["CompiledBackend", "compile_node"]

Pred = Callable[[Mapping[str, Any]], bool]


def _leaf(node: Cmp) -> Pred:
    name, op, c = node.fact, _OP_FUNCS[node.op], node.value

    def cmp(f: Mapping[str, Any], name: str = name, op: Any = op, c: Any = c) -> bool:
        v = f[name]
        return v is not None and op(v, c)

    return cmp


def _all(parts: tuple[Pred, ...]) -> Pred:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda f: a(f) and b(f)

    def all_(f: Mapping[str, Any]) -> bool:
        for p in parts:  # noqa: SIM110 - a plain loop is faster than all() on the hot path
            if not p(f):
                return False
        return True

    return all_


def _any(parts: tuple[Pred, ...]) -> Pred:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda f: a(f) or b(f)

    def any_(f: Mapping[str, Any]) -> bool:
        for p in parts:  # noqa: SIM110 - a plain loop is faster than any() on the hot path
            if p(f):
                return True
        return False

    return any_


def compile_node(node: Node) -> Pred:
    """Turn an IR condition into a predicate over a facts mapping (missing = None)."""
    if isinstance(node, Cmp):
        return _leaf(node)
    if isinstance(node, In):
        name, members = node.fact, frozenset(node.values)
        if len(members) == 1:
            return _leaf(Cmp(name, "==", next(iter(members))))

        def in_(f: Mapping[str, Any]) -> bool:
            v = f[name]
            return v is not None and v in members

        return in_
    if isinstance(node, Missing):
        name = node.fact
        return lambda f: f[name] is None
    if isinstance(node, Present):
        name = node.fact
        return lambda f: f[name] is not None
    if isinstance(node, Not):
        inner = compile_node(node.item)
        return lambda f: not inner(f)
    # Splice nested and-in-and / or-in-or into one level: fewer closure layers per call.
    kind = type(node)
    flat: list[Node] = []
    for item in node.items:
        flat.extend(item.items if type(item) is kind else (item,))
    if kind is And and sum(isinstance(x, Cmp) for x in flat) >= 2:
        return _conjunction(flat)
    parts = tuple(compile_node(x) for x in flat)
    return _all(parts) if kind is And else _any(parts)


_OP_FUNCS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _conjunction(items: list[Node]) -> Pred:
    """An ``and`` evaluated in one loop: each comparison is a dict lookup and a C-level
    operator call instead of a Python closure call; other parts keep their closures."""
    steps = tuple(
        (x.fact, _OP_FUNCS[x.op], x.value) if isinstance(x, Cmp) else (None, compile_node(x), None) for x in items
    )

    def conj(f: Mapping[str, Any], steps: tuple[Any, ...] = steps) -> bool:
        for name, op, c in steps:
            if name is None:
                if not op(f):
                    return False
            else:
                v = f[name]
                if v is None or not op(v, c):
                    return False
        return True

    return conj


def _guard(cond: Node) -> tuple[str, frozenset[Any], Node | None] | None:
    """A top-level ``fact == value`` / ``fact in [...]`` on a text fact, and what is left."""
    items = cond.items if isinstance(cond, And) else (cond,)
    for i, item in enumerate(items):
        values: frozenset[Any] | None = None
        if isinstance(item, Cmp) and item.op == "==" and isinstance(item.value, str):
            values = frozenset((item.value,))
        elif isinstance(item, In) and all(isinstance(v, str) for v in item.values):
            values = frozenset(item.values)
        if values is not None:
            rest = items[:i] + items[i + 1 :]
            return item.fact, values, (And(rest) if len(rest) > 1 else rest[0] if rest else None)  # type: ignore[union-attr]
    return None


class CompiledBackend:
    """Evaluates a program with closures and inline comparison steps; thread-safe (no shared
    mutable state)."""

    name = "compiled"

    def __init__(self, program: ProgramIR) -> None:
        self.program = program
        # Index on the text fact most rules are guarded by (e.g. status).
        guards = [_guard(r.condition) for r in program.rules]
        counts: dict[str, int] = {}
        for g in guards:
            if g is not None:
                counts[g[0]] = counts.get(g[0], 0) + 1
        self.index_fact = max(counts, key=lambda k: counts[k]) if counts else None
        # Each rule as (position, rule, steps of what is left once the index guard holds).
        by_value: dict[Any, list[tuple[int, RuleIR, tuple[Any, ...]]]] = {}
        always: list[tuple[int, RuleIR, tuple[Any, ...]]] = []
        for pos, (rule, g) in enumerate(zip(program.rules, guards, strict=True)):
            if g is not None and g[0] == self.index_fact:
                entry = (pos, rule, _steps(g[2]))
                for value in g[1]:
                    by_value.setdefault(value, []).append(entry)
            else:
                always.append((pos, rule, _steps(rule.condition)))

        def grouped(entries: list[tuple[int, RuleIR, tuple[Any, ...]]]) -> tuple[Any, ...]:
            groups: dict[str | None, list[tuple[int, RuleIR, tuple[Any, ...]]]] = {}
            for entry in sorted(entries, key=_position):
                groups.setdefault(_required(entry[1].condition), []).append(entry)
            return tuple((key, _shared(members)) for key, members in groups.items())

        # Per value of the index fact: its guarded rules and the unguarded ones, grouped by a
        # fact they require, so one missing fact skips the whole group; within a group, rules
        # that start with the same comparison share it.
        self._by_value = {value: grouped([*guarded, *always]) for value, guarded in by_value.items()}
        self._always = grouped(always)

    def matches(self, facts: Mapping[str, Any]) -> list[RuleIR]:
        """Rules whose condition holds, in program order; ``facts`` must hold every needed
        fact (None if missing).

        Each rule is a tuple of steps - ``(fact, operator, value)`` comparisons and
        ``(None, predicate, None)`` for anything else - walked here without a call per rule.
        The first step is tried once for all the rules of a group that start with it.
        """
        groups = self._by_value.get(facts[self.index_fact], self._always) if self.index_fact else self._always
        hits = []
        for required, branches in groups:
            if required is not None and facts[required] is None:
                continue
            for name, op, c, members in branches:
                if name is None:
                    if not op(facts):
                        continue
                else:
                    v = facts[name]
                    if v is None or not op(v, c):
                        continue
                for entry in members:
                    for fact, test, value in entry[2]:
                        if fact is None:
                            if not test(facts):
                                break
                        else:
                            v = facts[fact]
                            if v is None or not test(v, value):
                                break
                    else:
                        hits.append(entry)
        if len(hits) > 1:
            hits.sort(key=_position)
        return [entry[1] for entry in hits]


def _shared(members: list[tuple[int, RuleIR, tuple[Any, ...]]]) -> tuple[Any, ...]:
    """Rules as branches ``(fact, operator, value, rules)``: rules whose first step is the
    same comparison share one branch, and keep only their remaining steps. A rule with no
    step at all (always true) gets a branch that always holds."""
    branches: dict[Any, list[tuple[int, RuleIR, tuple[Any, ...]]]] = {}
    for pos, rule, steps in members:
        first = steps[0] if steps else (None, _always_true, None)
        key = first if first[0] is not None else (None, id(first[1]), None)
        if key not in branches:
            branches[key] = [first]  # type: ignore[list-item]
        branches[key].append((pos, rule, steps[1:]))
    return tuple((*first, tuple(rest)) for first, *rest in branches.values())


def _always_true(facts: Mapping[str, Any]) -> bool:
    return True


def _steps(cond: Node | None) -> tuple[tuple[Any, Any, Any], ...]:
    """A rule's remaining condition as steps: its top-level comparisons inline, the rest as
    predicates (an empty tuple always holds)."""
    if cond is None:
        return ()
    items = cond.items if isinstance(cond, And) else (cond,)
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, And) else (item,))
    return tuple(
        (x.fact, _OP_FUNCS[x.op], x.value) if isinstance(x, Cmp) else (None, compile_node(x), None) for x in flat
    )


def _position(entry: tuple[int, RuleIR, Any]) -> int:
    return entry[0]


def _required(cond: Node) -> str | None:
    """A measure fact the condition cannot hold without (a top-level comparison on it)."""
    items = cond.items if isinstance(cond, And) else (cond,)
    for item in items:
        if isinstance(item, Cmp | In | Present) and "." in item.fact:
            return item.fact
    return None
