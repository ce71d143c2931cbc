"""The intermediate representation (IR) that every backend executes, and its one meaning.

A validated ruleset lowers to :class:`RuleIR` objects whose conditions are trees of six node
types. Literals are already resolved (parameters substituted, ``50%`` turned into 0.5,
``between`` into two comparisons, a bare yes/no fact into ``== true``).

Meaning (both backends must give exactly this):

* ``Cmp(f, op, v)`` is true when fact ``f`` is present (not ``None``) and ``f op v`` holds;
  a comparison with a missing fact is **false**, ``!=`` included.
* ``In(f, vs)`` is true when ``f`` is present and equal to one of ``vs``.
* ``Missing(f)`` / ``Present(f)`` test for ``None``.
* ``And`` / ``Or`` / ``Not`` are the usual two-valued connectives over those results.

:func:`nnf` pushes ``Not`` down to the leaves under that meaning (``not (f > 3)`` becomes
``f is missing or f <= 3``), which is what engines without negation (durable-rules) need.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Union

from ..vocabulary import default_recipients

__all__ = [
    "And",
    "Cmp",
    "In",
    "Missing",
    "Node",
    "Not",
    "Or",
    "Present",
    "ProgramIR",
    "RuleIR",
    "facts_of",
    "leaves",
    "nnf",
]

_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


@dataclass(frozen=True)
class Cmp:
    """``fact op value`` with op in ``< <= > >= == !=``.

    ``param`` names the ruleset parameter the value came from (``-name`` when negated), for
    explanations only: it takes no part in the meaning, equality or the program's digest.
    """

    fact: str
    op: str
    value: Any
    param: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class In:
    """``fact`` equals one of ``values``."""

    fact: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Missing:
    """``fact`` is missing (None)."""

    fact: str


@dataclass(frozen=True)
class Present:
    """``fact`` is present (not None)."""

    fact: str


@dataclass(frozen=True)
class And:
    """All items hold."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one item holds."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """The item does not hold."""

    item: Node


Node = Union[Cmp, In, Missing, Present, And, Or, Not]  # noqa: UP007 - a runtime alias


@dataclass(frozen=True)
class MessagePart:
    """A piece of a message template: literal text, or a fact/parameter placeholder."""

    text: str = ""
    name: str | None = None
    spec: str = ""
    is_param: bool = False


@dataclass(frozen=True)
class RuleIR:
    """One compiled rule: its condition and everything its alert carries."""

    rule_id: str
    ruleset: str
    ruleset_version: str
    title: str
    category: str
    severity: str
    priority: int
    action: str
    action_text: str | None
    source: str
    message: tuple[MessagePart, ...]
    condition: Node
    facts: tuple[str, ...]  # facts the condition reads, in first-use order
    parameters: dict[str, Any] = field(default_factory=dict)  # parameters the rule used, with values
    #: who its alerts are for, the one expected to act first; empty means the default of the
    #: category and action (:func:`~cocm_rules.vocabulary.default_recipients`), filled in here
    recipients: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.recipients:
            object.__setattr__(self, "recipients", default_recipients(self.category, self.action))


@dataclass(frozen=True)
class ProgramIR:
    """A set of rules ready for a backend, with the facts they need."""

    rules: tuple[RuleIR, ...]

    @property
    def facts_needed(self) -> tuple[str, ...]:
        """Every fact read by a condition or a message, sorted."""
        names: set[str] = set()
        for r in self.rules:
            names.update(r.facts)
            names.update(p.name for p in r.message if p.name and not p.is_param)
        return tuple(sorted(names))

    @property
    def digest(self) -> str:
        """A stable hash of the program (names durable-rules rulesets, appears in audit logs)."""
        blob = json.dumps([_plain(r) for r in self.rules], sort_keys=True, default=_default)
        return hashlib.sha256(blob.encode()).hexdigest()


def _default(o: Any) -> Any:
    if isinstance(o, dt.date):
        return o.isoformat()
    raise TypeError(type(o).__name__)


def _plain(o: Any) -> Any:
    if hasattr(o, "__dataclass_fields__"):
        kept = [f.name for f in fields(o) if f.compare]  # not Cmp.param: the meaning only
        return {"_": type(o).__name__, **{k: _plain(getattr(o, k)) for k in kept}}
    if isinstance(o, tuple | list):
        return [_plain(x) for x in o]
    if isinstance(o, dict):
        return {k: _plain(v) for k, v in o.items()}
    return o


def leaves(node: Node) -> Iterator[Cmp | In | Missing | Present]:
    """The comparisons and presence tests of a condition, left to right."""
    if isinstance(node, And | Or):
        for item in node.items:
            yield from leaves(item)
    elif isinstance(node, Not):
        yield from leaves(node.item)
    else:
        yield node


def facts_of(node: Node) -> list[str]:
    """Fact names read by a condition, in first-use order."""
    return list(dict.fromkeys(leaf.fact for leaf in leaves(node)))


def nnf(node: Node, negate: bool = False) -> Node:
    """Negation normal form under the IR's meaning: no ``Not`` remains."""
    if isinstance(node, Not):
        return nnf(node.item, not negate)
    if isinstance(node, And | Or):
        items = tuple(nnf(x, negate) for x in node.items)
        flip = isinstance(node, And) == negate  # And under negation becomes Or
        return Or(items) if flip else And(items)
    if not negate:
        return node
    if isinstance(node, Missing):
        return Present(node.fact)
    if isinstance(node, Present):
        return Missing(node.fact)
    if isinstance(node, Cmp):
        return Or((Missing(node.fact), Cmp(node.fact, _NEGATE[node.op], node.value, node.param)))
    # not (f in vs): f is missing, or f differs from every value
    return Or((Missing(node.fact), And(tuple(Cmp(node.fact, "!=", v) for v in node.values))))
