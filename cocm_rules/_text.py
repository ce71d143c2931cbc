"""Small text helpers shared by error messages: value rendering and "did you mean"."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

#: Integers with more digits than this are shown by their length, not written out.
LONGEST_SHOWN = 30


def show(value: Any) -> str:
    """Render a value with its kind for a message, e.g. ``'2' (text)`` or ``5 (number)``.

    An integer of more than 30 digits is shown by its length (``an integer of 5001 digits``):
    Python refuses to write out one of more than 4,300 digits, and none is worth reading.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (yes/no)"
    if isinstance(value, str):
        return f"{value!r} (text)"
    if isinstance(value, int) and abs(value).bit_length() > 3 * LONGEST_SHOWN:
        digits = digit_count(value)
        if digits > LONGEST_SHOWN:
            return f"{'a negative' if value < 0 else 'an'} integer of {digits} digits (number)"
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


def digit_count(value: int) -> int:
    """The number of decimal digits of an integer, without writing it out (which Python
    refuses beyond 4,300 digits)."""
    n = abs(value)
    digits = max(1, int(n.bit_length() * 0.30102999566398120))  # log10(2): at most one too few
    while n >= 10**digits:
        digits += 1
    return digits
