"""Small text helpers shared by error messages: value rendering and "did you mean"."""

from __future__ import annotations

import difflib
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


def suggest(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """Return the closest candidate to ``word`` ("did you mean"), or None if none is close."""
    pool = list(candidates)
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=cutoff)
    if matches:
        return matches[0]
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered:
        return lowered[word.lower()]
    return None


def join(values: Iterable[Any], *, limit: int = 40) -> str:
    """Join allowed values for a message, eliding a very long list."""
    items = [str(v) for v in values]
    if len(items) > limit:
        return ", ".join(items[:limit]) + f", ... ({len(items) - limit} more)"
    return ", ".join(items)
