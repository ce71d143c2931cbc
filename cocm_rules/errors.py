"""The one exception hierarchy of cocm_rules.

Every error the library raises on purpose derives from :class:`CocmRulesError`; leaves also
derive from the matching built-in so callers can catch either::

    CocmRulesError
    ├── InvalidInput (ValueError)          bad answers, context, episode record, CLI value
    ├── DefinitionError (ValueError)       a measure or ruleset file is wrong; holds Problems
    │   ├── MeasureDefinitionError         a measures/*.yaml file is wrong
    │   ├── RulesetError                   a rulesets/*.yaml file is wrong
    │   │   └── SafetyFloorError           a set of rulesets does not escalate suicide risk
    │   └── cdshooks.ServiceConfigError    the CDS Hooks service's configuration is wrong
    ├── BackendUnavailable (ImportError)   an optional part (durable-rules, FHIR, service) is
    │                                      not installed; the message has the install hint
    ├── EngineError (RuntimeError)         a backend failed while evaluating (a defect)
    ├── StoreError (RuntimeError)          the alert-state store (SQLite, PostgreSQL) failed
    └── cdshooks.AuthError                 a call to the CDS Hooks service is not authenticated

The two ``cdshooks`` errors live in :mod:`cocm_rules.cdshooks` (the ``service`` extra) and
are importable from there only; they still derive from the root.

Errors keep their parts as attributes (``measure``, ``item``, ``value``, ``allowed``,
``record``, ``field``, ``suggestion``; a :class:`Problem` has ``file``, ``line``, ``column``,
``path``), so hosts can render them their own way; ``str(error)`` is the clear message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._text import show

__all__ = [
    "BackendUnavailable",
    "CocmRulesError",
    "DefinitionError",
    "EngineError",
    "InvalidInput",
    "MeasureDefinitionError",
    "Problem",
    "RulesetError",
    "SafetyFloorError",
    "StoreError",
]


class CocmRulesError(Exception):
    """Root of every error cocm_rules raises on purpose."""


_UNSET: Any = object()


class InvalidInput(CocmRulesError, ValueError):
    """Raised when input data (answers, context, an episode record, a CLI value) is invalid.

    The message names the record, the measure and item (or field), the value and what is
    allowed. Nothing is scored from invalid input: there is no clamping and no default.
    """

    def __init__(
        self,
        message: str,
        *,
        measure: str | None = None,
        item: str | None = None,
        value: Any = _UNSET,
        allowed: str | None = None,
        record: str | None = None,
        field: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.reason = message
        self.measure = measure
        self.item = item
        self.value = value
        self.allowed = allowed
        self.record = record
        self.field = field
        self.suggestion = suggestion
        #: The message without the record it names (for an error record, which holds the
        #: record's number and line in fields of its own).
        self.detail = self._render(with_record=False)
        super().__init__(self._render())

    def _render(self, *, with_record: bool = True) -> str:
        where = []
        if self.record is not None and with_record:
            where.append(f"record {self.record}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        if self.measure is not None:
            where.append(f"measure {self.measure!r}")
        if self.item is not None:
            where.append(f"item {self.item!r}")
        text = (", ".join(where) + ": " if where else "") + self.reason
        if self.value is not _UNSET:
            text += f" (got {show(self.value)})"
        if self.allowed is not None:
            text += f"; allowed: {self.allowed}"
        if self.suggestion is not None:
            text += f"; did you mean {self.suggestion!r}?"
        return text

    def in_record(self, record: str, field: str | None = None) -> InvalidInput:
        """Return a copy of this error that also names the record (and field) it came from."""
        return InvalidInput(
            self.reason,
            measure=self.measure,
            item=self.item,
            value=self.value,
            allowed=self.allowed,
            record=record,
            field=field if field is not None else self.field,
            suggestion=self.suggestion,
        )


@dataclass(frozen=True)
class Problem:
    """One mistake found in a definition file, located as ``file:line:column`` (1-based)."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    context: str | None = None  # e.g. "rule 't2t-phq9-not-improving'" or "item 'item9'"
    allowed: str | None = None
    suggestion: str | None = None
    path: tuple[str | int, ...] = field(default=())

    @property
    def location(self) -> str:
        """``file:line:column`` as far as it is known."""
        parts = [self.file or "<string>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        head = f"{self.location}: "
        if self.context:
            head += f"{self.context}: "
        lines = [head + self.message]
        if self.suggestion:
            lines.append(f"  did you mean {self.suggestion!r}?")
        if self.allowed:
            lines.append(f"  allowed here: {self.allowed}")
        return "\n".join(lines)


class DefinitionError(CocmRulesError, ValueError):
    """Raised when a definition file (a measure or a ruleset) is wrong.

    All mistakes found are collected into :attr:`problems`; nothing from the failing files
    is loaded.
    """

    kind = "definition"

    def __init__(self, problems: Iterable[Problem], *, summary: str | None = None) -> None:
        self.problems: list[Problem] = list(problems)
        self.summary = summary
        super().__init__(self._render())

    def _render(self) -> str:
        files = {p.file for p in self.problems}
        n = len(self.problems)
        tail = self.summary or (
            f"{n} error{'s' if n != 1 else ''} in {len(files)} file{'s' if len(files) != 1 else ''}; "
            "nothing was loaded."
        )
        return "\n".join([*(str(p) for p in self.problems), tail])


class MeasureDefinitionError(DefinitionError):
    """Raised when a measure definition (``measures/*.yaml``) is malformed or inconsistent."""

    kind = "measure"


class RulesetError(DefinitionError):
    """Raised when a ruleset file is malformed, refers to unknown facts, or fails to compile."""

    kind = "ruleset"


class SafetyFloorError(RulesetError):
    """Raised when a set of rulesets does not raise a ``suicide_risk`` alert on a built-in
    safety case (PHQ-9 item 9 positive, C-SSRS moderate/high risk, safety item missing)."""


class BackendUnavailable(CocmRulesError, ImportError):
    """Raised when an optional part is used but its dependencies are not installed.

    The message says which ``pip install 'cocm-rules[extra]'`` line fixes it, or, for a part
    that no extra installs, what does.
    """

    def __init__(self, what: str, extra: str | None, *, cause: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.extra = extra
        if fix is not None:  # a part that no extra installs (e.g. durable-rules on Python 3.13)
            msg = f"{what} is not available here: {fix}"
        else:
            msg = f"{what} needs the optional dependencies of the '{extra}' extra: pip install 'cocm-rules[{extra}]'"
        if cause:
            msg += f" ({cause})"
        super().__init__(msg)


class EngineError(CocmRulesError, RuntimeError):
    """Raised when a rule backend fails while evaluating; this is a defect, never a data error."""


class StoreError(CocmRulesError, RuntimeError):
    """Raised when the alert-state store (:mod:`cocm_rules.store`) cannot be opened, migrated,
    read or written: the message names the store (its URL without any password) and why."""

    def __init__(self, message: str, *, store: str | None = None) -> None:
        self.store = store
        super().__init__(f"{store}: {message}" if store else message)
