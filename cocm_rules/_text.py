"""Small text helpers shared by error messages: value rendering and "did you mean"."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any


def show(value: Any) -> str:
    """Render a value with its kind for a message, e.g. ``'2' (text)`` or ``5 (number)``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (yes/no)"
    if isinstance(value, str):
        return f"{value!r} (text)"
    if isinstance(value, int | float):
        return f"{value!r} (number)"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a mapping"
    return f"{value!r} ({type(value).__name__})"


_WORD = re.compile(r"[a-z0-9]+")


def suggest(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """Return the candidate ``word`` most likely meant ("did you mean"), or None if none is close.

    By meaning before spelling: the one candidate equal to it but for case; else the one that
    has every word of it (``active`` -> ``active_treatment``, not the closer-spelt ``inactive``;
    words are split at ``_``, ``.``, ``-`` and spaces); else the one that starts with it (at
    least 3 characters); else the closest spelling (:func:`difflib.get_close_matches`).
    """
    pool = list(candidates)
    typed = word.strip().lower()
    words = set(_WORD.findall(typed))
    for test in (
        lambda c: c.lower() == typed,
        lambda c: bool(words) and words <= set(_WORD.findall(c.lower())),
        lambda c: len(typed) >= 3 and c.lower().startswith(typed),
    ):
        found = [c for c in pool if test(c)]
        if len(found) == 1:
            return found[0]
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=cutoff)
    return matches[0] if matches else None


def join(values: Iterable[Any], *, limit: int = 40) -> str:
    """Join allowed values for a message, eliding a very long list."""
    items = [str(v) for v in values]
    if len(items) > limit:
        return ", ".join(items[:limit]) + f", ... ({len(items) - limit} more)"
    return ", ".join(items)
