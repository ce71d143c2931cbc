"""The problems of one ruleset file as it is checked: located, and described by rule or test.

Every check of the loader (:mod:`._header`, :mod:`._lowering`, :mod:`._messages`,
:mod:`._test_cases`) reports through one :class:`FileReport`, so a file's problems are
collected together and each says where it is: ``file:line:column``, the rule, test or
parameter it is in, what is allowed and "did you mean".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .._yaml import Document
from ..errors import Problem
from ..facts import FactCatalog
from . import language as L

__all__ = ["FileReport", "describe"]


class FileReport:
    """One ruleset file being checked: its document, the fact catalog and parameters its rules
    may use, and the problems found so far."""

    def __init__(self, doc: Document, cat: FactCatalog, params: Mapping[str, L.ParameterSpec]) -> None:
        self.doc = doc
        self.cat = cat
        self.params = params
        self.problems: list[Problem] = []

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
        """Record a problem at ``path``; ``offset`` is a character offset into the value at
        ``path`` (a condition's text), located to its own line and column."""
        problem = self.doc.problem(
            path, message, key=key, context=describe(path, self.doc.data), allowed=allowed, suggestion=suggestion
        )
        if offset is not None:
            mark = self.doc.locate(path, offset)
            if mark is not None:
                problem = dataclasses.replace(problem, line=mark.line, column=mark.column)
        self.problems.append(problem)


def describe(path: tuple[Any, ...], data: Any) -> str | None:
    """Context for a problem at ``path``: the rule, test or parameter it is in."""
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
