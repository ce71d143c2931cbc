"""Conditions that can never be true, found on the IR before a ruleset loads.

:func:`never_true` decides whether a condition can hold for some patient, treating every
fact as independent (so it never calls a satisfiable condition impossible: real facts are
one of the combinations it considers). It puts the condition in negation normal form, expands
it into its alternatives (a disjunction of conjunctions, at most :data:`MAX_ALTERNATIVES` of
them; beyond that it gives up and says nothing), and checks each alternative fact by fact:

* a fact required to be missing and to have a value;
* equal to two different values, in a list and equal to something else, equal to a value and
  different from it (``status == active_treatment`` and ``status == discharged``; a yes/no
  fact both true and false);
* bounds that leave no number or date (``x > 15`` and ``x < 10``; for a whole number or a date,
  ``x > 3`` and ``x < 4``);
* no value left in the fact's catalog range or allowed values (``phq9.item9_latest > 2`` and
  ``phq9.item9_latest != 3``: item 9 goes up to 3).

The reason names the fact and the comparisons that clash, in the words a ruleset uses.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Collection, Mapping
from typing import Any

from ..facts import FactSpec, describe_allowed
from .ir import And, Cmp, In, Missing, Node, Or, Present, nnf

__all__ = ["MAX_ALTERNATIVES", "never_true", "prune"]

#: The most alternatives (conjunctions) a condition is expanded into before the check gives up.
MAX_ALTERNATIVES = 256

Leaf = Cmp | In | Missing | Present
_MISSING_AND_VALUE = " is required to be missing and to have a value"


def never_true(node: Node, specs: Mapping[str, FactSpec], known: Collection[int] = ()) -> str | None:
    """Why ``node`` can never be true, or None when it can (or is too large to tell).

    ``known`` holds the ids of parts already known never to be true (already reported): they
    are left out, so the reason is only what is new. A node that is never true only because
    of them gets None too.
    """
    pruned = prune(node, known)
    if pruned is None:
        return None
    alternatives = _alternatives(nnf(pruned))
    if alternatives is None:
        return None
    reasons: list[str] = []
    for term in alternatives:
        reason = _clash(term, specs)
        if reason is None:
            return None
        if reason not in reasons:
            reasons.append(reason)
    # 'not' turns a comparison into "missing, or the opposite": that the opposite clashes is the
    # news; that a fact cannot be both missing and present goes without saying beside it.
    clashes = [r for r in reasons if not r.endswith(_MISSING_AND_VALUE)] or reasons
    return "; ".join(clashes[:3]) + ("; ..." if len(clashes) > 3 else "")


def prune(node: Node, known: Collection[int]) -> Node | None:
    """``node`` without the parts in ``known`` (never true): None when that leaves nothing that
    can be true (an ``all`` with such a part, an ``any`` with only such parts)."""
    if id(node) in known:
        return None
    if isinstance(node, And):
        items = [prune(x, known) for x in node.items]
        return None if any(x is None for x in items) else And(tuple(items))  # type: ignore[arg-type]
    if isinstance(node, Or):
        kept = [y for y in (prune(x, known) for x in node.items) if y is not None]
        return Or(tuple(kept)) if kept else None
    return node  # a leaf, or a 'not' (whose inner part being impossible makes it always true)


def _alternatives(node: Node) -> list[tuple[Leaf, ...]] | None:
    """The condition (in negation normal form) as alternatives of leaves; None if too many."""
    if isinstance(node, Or):
        out: list[tuple[Leaf, ...]] = []
        for item in node.items:
            sub = _alternatives(item)
            if sub is None or len(out) + len(sub) > MAX_ALTERNATIVES:
                return None
            out.extend(sub)
        return out
    if isinstance(node, And):
        terms: list[tuple[Leaf, ...]] = [()]
        for item in node.items:
            sub = _alternatives(item)
            if sub is None or len(terms) * len(sub) > MAX_ALTERNATIVES:
                return None
            terms = [a + b for a, b in itertools.product(terms, sub)]
        return terms
    return [(node,)]  # type: ignore[list-item]  # nnf leaves no Not


def _clash(term: tuple[Leaf, ...], specs: Mapping[str, FactSpec]) -> str | None:
    """Why the leaves of one alternative cannot all hold, or None when they can."""
    by_fact: dict[str, list[Leaf]] = {}
    for leaf in term:
        by_fact.setdefault(leaf.fact, []).append(leaf)
    for fact, leaves in by_fact.items():
        reason = _fact_clash(fact, leaves, specs.get(fact))
        if reason is not None:
            return reason
    return None


def _fact_clash(fact: str, leaves: list[Leaf], spec: FactSpec | None) -> str | None:
    missing = any(isinstance(x, Missing) for x in leaves)
    valued = [x for x in leaves if isinstance(x, Cmp | In)]
    if missing and (valued or any(isinstance(x, Present) for x in leaves)):
        return f"{fact!r}{_MISSING_AND_VALUE}"
    if not valued:
        return None
    # First the comparisons alone, then with what the catalog says the fact can be.
    bounds = _Bounds(valued)
    reason = bounds.clash(fact, None)
    if reason is None and spec is not None:
        reason = bounds.clash(fact, spec)
    return reason


class _Bounds:
    """What one alternative requires of one fact's value."""

    def __init__(self, leaves: list[Cmp | In]) -> None:
        self.leaves = leaves
        self.equal: set[Any] | None = None  # the value is one of these (None: not restricted)
        self.unequal: set[Any] = set()
        self.lo: Any = None
        self.lo_in = True
        self.hi: Any = None
        self.hi_in = True
        for leaf in leaves:
            if isinstance(leaf, In):
                self._one_of(set(leaf.values))
            elif leaf.op == "==":
                self._one_of({leaf.value})
            elif leaf.op == "!=":
                self.unequal.add(_key(leaf.value))
            elif leaf.op in (">", ">="):
                incl = leaf.op == ">="
                if self.lo is None or leaf.value > self.lo or (leaf.value == self.lo and not incl):
                    self.lo, self.lo_in = leaf.value, incl
            else:
                incl = leaf.op == "<="
                if self.hi is None or leaf.value < self.hi or (leaf.value == self.hi and not incl):
                    self.hi, self.hi_in = leaf.value, incl

    def _one_of(self, values: set[Any]) -> None:
        keyed = {_key(v): v for v in values}
        if self.equal is None:
            self.equal = set(keyed.values())
        else:
            self.equal = {v for v in self.equal if _key(v) in keyed}

    def clash(self, fact: str, spec: FactSpec | None) -> str | None:
        """Why no value fits (with the catalog's range and values when ``spec`` is given)."""
        limits = self._limits(spec)
        why = f": {fact} is {describe_allowed(spec)}" if spec is not None else ""
        candidates = self.equal if self.equal is not None else _finite_universe(spec)
        if candidates is not None:
            return None if any(self._fits(v, limits, spec) for v in candidates) else self._all(fact) + why
        lo, lo_in, hi, hi_in = limits
        if lo is None or hi is None:
            return None  # unbounded on one side: some value is left
        if lo > hi or (lo == hi and not (lo_in and hi_in)):
            if spec is None or limits == (self.lo, self.lo_in, self.hi, self.hi_in):
                low, high = f"{'>=' if lo_in else '>'} {_shown(lo)}", f"{'<=' if hi_in else '<'} {_shown(hi)}"
                return f"{fact!r} cannot be both {low} and {high}"
            return self._all(fact) + why
        if spec is not None and spec.type in ("integer", "date"):
            return None if self._whole_left(limits, spec) else self._all(fact) + why
        if lo == hi and not self._fits(lo, limits, spec):  # a single number, excluded with !=
            return self._all(fact) + why
        return None

    def _limits(self, spec: FactSpec | None) -> tuple[Any, bool, Any, bool]:
        """The bounds (``lo, lo_in, hi, hi_in``), narrowed to the catalog's range of a number fact."""
        lo, lo_in, hi, hi_in = self.lo, self.lo_in, self.hi, self.hi_in
        if spec is not None and spec.type in ("number", "integer"):
            if spec.minimum is not None and (lo is None or spec.minimum > lo):
                lo, lo_in = spec.minimum, True
            if spec.maximum is not None and (hi is None or spec.maximum < hi):
                hi, hi_in = spec.maximum, True
        return lo, lo_in, hi, hi_in

    def _fits(self, v: Any, limits: tuple[Any, bool, Any, bool], spec: FactSpec | None) -> bool:
        """Whether the value ``v`` meets every comparison within ``limits`` (and the catalog's values)."""
        lo, lo_in, hi, hi_in = limits
        if _key(v) in self.unequal:
            return False
        if lo is not None and (v < lo or (v == lo and not lo_in)):
            return False
        if hi is not None and (v > hi or (v == hi and not hi_in)):
            return False
        if spec is not None and spec.type == "integer" and isinstance(v, float) and not v.is_integer():
            return False
        return spec is None or spec.type != "text" or not spec.allowed or v in spec.allowed

    def _whole_left(self, limits: tuple[Any, bool, Any, bool], spec: FactSpec) -> bool:
        """For a whole number or a date within ``limits`` (both set): whether one is left."""
        lo, lo_in, hi, hi_in = limits
        first, last = _whole_range(lo, lo_in, hi, hi_in)
        if first > last:
            return False
        # More whole values than exclusions: one is left. Else try each.
        return last - first + 1 > len(self.unequal) or any(
            self._fits(_unwhole(n, lo), limits, spec) for n in range(first, last + 1)
        )

    def _all(self, fact: str) -> str:
        """``'fact' cannot be both A and B`` (or ``A, B and C at once``) for this fact's comparisons."""
        parts = list(dict.fromkeys(_described(x) for x in self.leaves))
        if len(parts) == 1:
            return f"{fact!r} cannot be {parts[0]}"
        if len(parts) == 2:
            return f"{fact!r} cannot be both {parts[0]} and {parts[1]}"
        return f"{fact!r} cannot be {', '.join(parts[:-1])} and {parts[-1]} at once"


def _key(value: Any) -> Any:
    """A value as compared for equality (1 and 1.0 are the same number; True is not 1)."""
    return (type(value) is bool, value)


def _finite_universe(spec: FactSpec | None) -> tuple[Any, ...] | None:
    if spec is None:
        return None
    if spec.type == "boolean":
        return (True, False)
    if spec.type == "text" and spec.allowed:
        return tuple(spec.allowed)
    return None


def _whole_range(lo: Any, lo_in: bool, hi: Any, hi_in: bool) -> tuple[int, int]:
    """The first and last whole number (or day number) within the bounds."""
    if isinstance(lo, dt.date):
        first = lo.toordinal() + (0 if lo_in else 1)
        last = hi.toordinal() - (0 if hi_in else 1)
        return first, last
    first = math.ceil(lo) if lo_in or not float(lo).is_integer() else int(lo) + 1
    last = math.floor(hi) if hi_in or not float(hi).is_integer() else int(hi) - 1
    return first, last


def _unwhole(n: int, like: Any) -> Any:
    return dt.date.fromordinal(n) if isinstance(like, dt.date) else n


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _described(leaf: Cmp | In) -> str:
    if isinstance(leaf, In):
        return f"in [{', '.join(_shown(v) for v in leaf.values)}]"
    return f"{leaf.op} {_shown(leaf.value)}"
