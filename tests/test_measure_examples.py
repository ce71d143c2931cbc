"""Golden test vectors: every ``examples:`` entry of every bundled measure file is scored.

Only the keys an example's ``expect`` gives are checked, as the measure schema documents.
The examples must also cover every band boundary, so a shifted cut-point cannot slip through.
"""

from __future__ import annotations

from typing import Any

import pytest

from cocm_rules import InvalidInput, load_measures, score
from cocm_rules.measures import Example, MeasureDefinition

LIBRARY = load_measures()
CASES = [(defn.id, example) for defn in LIBRARY.values() for example in defn.examples]
# Results, subscores and item levels are checked key by key; the other keys as a whole.
BY_KEY = ("results", "subscores", "item_levels")


def _expected(example: Example) -> dict[str, Any]:
    return example.expect.model_dump(exclude_unset=True)


@pytest.mark.parametrize(
    ("measure_id", "example"), CASES, ids=[f"{measure_id}::{example.name}" for measure_id, example in CASES]
)
def test_example(measure_id: str, example: Example) -> None:
    """Scoring the example's answers and context gives what its ``expect`` says."""
    expect = _expected(example)
    if "error" in expect:
        with pytest.raises(InvalidInput) as caught:
            score(measure_id, example.answers, **example.context)
        assert expect["error"] in str(caught.value)
        return
    result = score(measure_id, example.answers, **example.context)
    assert expect, "an example must expect something"
    for key, want in expect.items():
        got = getattr(result, key)
        if key in BY_KEY:
            got = {k: (got or {}).get(k) for k in want}
        assert want == got, f"{key}: expected {want!r}, got {got!r}"


def test_examples_are_collected() -> None:
    """The parametrized test above runs every example of every bundled measure (14 measures)."""
    assert 14 == len(LIBRARY)
    assert sum(len(defn.examples) for defn in LIBRARY.values()) == len(CASES)


@pytest.mark.parametrize("defn", list(LIBRARY.values()), ids=list(LIBRARY))
def test_measure_has_examples(defn: MeasureDefinition) -> None:
    """Every measure file carries worked examples, at least one of them a successful score."""
    assert defn.examples
    assert any("error" not in _expected(example) for example in defn.examples)


BANDED = [defn for defn in LIBRARY.values() if defn.bands is not None]


@pytest.mark.parametrize("defn", BANDED, ids=[defn.id for defn in BANDED])
def test_examples_hit_every_band_boundary(defn: MeasureDefinition) -> None:
    """For each band, some example expects its lowest and its highest total with that band
    (for a band taken from a result, such as the C-SSRS triage level: every level occurs)."""
    assert defn.bands is not None
    expected = [_expected(example) for example in defn.examples]
    if defn.bands.ranges is not None:
        hit = {(e["band"], e["total"]) for e in expected if "band" in e and "total" in e}
        boundaries = {(band.name, total) for band in defn.bands.ranges for total in (band.min, band.max)}
        assert set() == boundaries - hit
    else:
        assert set(defn.band_names) == {e["band"] for e in expected if e.get("band") is not None}
