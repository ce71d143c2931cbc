"""The durable-rules backend. The only module that imports durable-rules.

It follows the safe embedding pattern measured in ``shared/reference/durable_rules.md``:

* one process-wide Host whose timer loop is disabled (``_run`` is a no-op; this uses a
  private method, so durable-rules is pinned to 2.0.28), created on first use;
* one durable ruleset per IR program, named by the program's digest, registered once from a
  fresh copy (``set_rulesets`` mutates its input);
* rules generated from the IR in negation normal form, each ``$and``-ed with a discriminator
  (``kind == "cocm_patient"``) so no rule can match the engine's own state record;
* facts whitelisted to the keys the program needs (renamed ``f0``, ``f1``, ... so no fact can
  be called ``id`` or ``sid``), ``None`` dropped, yes/no as 1/0, dates as day numbers, plus a
  unique token so two identical patients never collide;
* only ``assert_fact`` then ``retract_fact``, one patient at a time under one lock, with
  ``MessageNotHandledException`` as the ordinary "nothing matched"; never ``post``, batch
  APIs, timers or async actions; one default session;
* one-argument action shims that only record which rule fired (never touch ``c.s``).
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import math
import threading
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from .._log import get_logger
from ..errors import BackendUnavailable, EngineError
from .ir import And, Cmp, In, Missing, Node, Not, Or, Present, ProgramIR, RuleIR, nnf

__all__ = ["DurableBackend", "available"]

log = get_logger(__name__)

PINNED = "2.0.28"
MAX_KEYS = 250  # durable allows 254 properties per fact, including its own id/sid and ours

try:  # pragma: no cover - exercised by whichever interpreter runs the tests
    from durable import engine as _engine

    _IMPORT_ERROR: str | None = None
except ImportError as e:  # pragma: no cover - Python 3.13+ or not installed
    _engine = None
    _IMPORT_ERROR = str(e)

_LOCK = threading.Lock()
_HITS: list[int] = []
_HOST: Any = None
_REGISTERED: set[str] = set()
_TOKENS = itertools.count(1)


#: What to do when durable-rules cannot be used: it is installed with cocm-rules where it works.
_FIX = (
    f"it needs durable-rules {PINNED}, which cocm-rules installs on Python 3.11 and 3.12 "
    f"(pip install 'durable-rules=={PINNED}' if it was left out); it does not import on Python "
    "3.13 or newer, where the compiled backend (the default) gives the same alerts"
)


def available() -> bool:
    """Whether durable-rules can be imported here."""
    return _engine is not None


def _host() -> Any:
    global _HOST
    if _HOST is None:
        if _engine is None:
            raise BackendUnavailable("the durable backend", None, cause=_IMPORT_ERROR, fix=_FIX)
        version = metadata.version("durable-rules")
        if version != PINNED:
            raise BackendUnavailable(
                f"the durable backend (durable-rules {PINNED} is required, {version} is installed)", None, fix=_FIX
            )

        class _QuietHost(_engine.Host):
            """A Host without its self-re-arming timer threads (they can run actions off-thread)."""

            def _run(self) -> None:
                return None

        _HOST = _QuietHost()
        log.info("durable.host_started", version=version)
    return _HOST


def _encode(value: Any) -> Any:
    """A fact or literal value in the form durable-rules compares correctly."""
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, dt.date):
        return value.toordinal()
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EngineError(f"non-finite number {value!r} cannot be passed to durable-rules")
        if value.is_integer():
            return int(value)
        text = repr(value)
        if "e" in text or "E" in text:
            raise EngineError(f"number {value!r} would be written in exponent form, which durable-rules misreads")
        return value
    return value


def _on_rule(index: int) -> Any:
    """A one-argument action (durable treats two-argument functions as asynchronous)."""

    def run(c: Any) -> None:
        _HITS.append(index)

    return run


class DurableBackend:
    """Evaluates a program through durable-rules; safe to share between threads."""

    name = "durable"

    def __init__(self, program: ProgramIR) -> None:
        self.program = program
        self.rules: tuple[RuleIR, ...] = program.rules
        self.keys: dict[str, str] = {name: f"f{i}" for i, name in enumerate(program.facts_needed)}
        if len(self.keys) > MAX_KEYS:
            raise EngineError(
                f"durable-rules accepts at most {MAX_KEYS} facts per patient; this program needs "
                f"{len(self.keys)} (use the compiled backend)"
            )
        self.ruleset = f"cocm_{program.digest[:24]}"
        host = _host()
        if not self.rules:
            return
        definition = {
            f"r{i}": {
                "all": [{"m": {"$and": [{"kind": "cocm_patient"}, self._cond(nnf(r.condition))]}}],
                "run": _on_rule(i),
            }
            for i, r in enumerate(self.rules)
        }
        with _LOCK:
            if self.ruleset not in _REGISTERED:
                try:
                    host.set_rulesets({self.ruleset: copy.deepcopy(definition)})
                except Exception as e:  # durable raises bare Exception and its C error type
                    raise EngineError(f"durable-rules refused the compiled rules: {e}") from e
                _REGISTERED.add(self.ruleset)
                log.info(
                    "durable.ruleset_registered", ruleset=self.ruleset, rules=len(self.rules), facts=len(self.keys)
                )

    def _cond(self, node: Node) -> dict[str, Any]:
        if isinstance(node, And | Or):
            parts = [self._cond(x) for x in node.items]
            return parts[0] if len(parts) == 1 else {"$and" if isinstance(node, And) else "$or": parts}
        assert not isinstance(node, Not), "conditions reach the backend in negation normal form"
        key = self.keys[node.fact]
        if isinstance(node, Missing):
            return {"$nex": {key: 1}}
        if isinstance(node, Present):
            return {"$ex": {key: 1}}
        if isinstance(node, In):
            options = [{key: _encode(v)} for v in node.values]
            return options[0] if len(options) == 1 else {"$or": options}
        assert isinstance(node, Cmp)
        value = _encode(node.value)
        if node.op == "==":
            return {key: value}
        op = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "!=": "$neq"}[node.op]
        return {op: {key: value}}

    def matches(self, facts: Mapping[str, Any]) -> list[RuleIR]:
        """Rules whose condition holds; ``facts`` must hold every needed fact (None if missing)."""
        if not self.rules:
            return []
        fact: dict[str, Any] = {"kind": "cocm_patient", "token": next(_TOKENS)}
        for name, key in self.keys.items():
            value = facts[name]
            if value is not None:
                fact[key] = _encode(value)
        host = _host()
        with _LOCK:
            _HITS.clear()
            try:
                host.assert_fact(self.ruleset, fact)
            except _engine.MessageNotHandledException:
                return []
            except _engine.MessageObservedException as e:  # cannot happen: every fact has a new token
                raise EngineError("durable-rules saw the same fact twice") from e
            except Exception as e:
                raise EngineError(f"durable-rules failed while evaluating: {e}") from e
            hits = sorted(set(_HITS))
            try:
                host.retract_fact(self.ruleset, fact)
            except Exception as e:
                raise EngineError(f"durable-rules failed to retract a fact: {e}") from e
        return [self.rules[i] for i in hits]
