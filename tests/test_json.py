"""Tests for the strict JSON reader (``cocm_rules._json``): repeated keys and huge numbers."""

from __future__ import annotations

import pytest

from cocm_rules import InvalidInput
from cocm_rules._json import DuplicateKey, loads


def test_a_repeated_key_is_named_with_the_path_of_its_object() -> None:
    """A positive item 9 followed by a 0 under the same key is refused, naming the object's path
    and the key (Python's json.loads would keep the 0)."""
    text = '{"assessments": [{"answers": {"item9": 3, "item9": 0}}]}'

    with pytest.raises(DuplicateKey) as info:
        loads(text, record="7")

    assert ("assessments[0].answers", "item9", "7") == (info.value.field, info.value.key, info.value.record)
    assert str(info.value).startswith(
        "record 7, field 'assessments[0].answers': the key 'item9' appears more than once"
    )


def test_the_repeated_key_named_is_the_first_in_the_text() -> None:
    """When an inner object repeats a key before an outer one does, the inner object and its key
    are named together (the path and the key always belong to the same object)."""
    with pytest.raises(DuplicateKey) as info:
        loads('{"a": {"x": 1, "x": 2}, "a": 3}')

    assert ("a", "x") == (info.value.field, info.value.key)


def test_a_repeated_top_level_key_says_so() -> None:
    """A repeated key of the top-level object has no path; the message says where it is."""
    with pytest.raises(DuplicateKey) as info:
        loads('{"patient_id": "p1", "patient_id": "p2"}')

    assert (None, "patient_id") == (info.value.field, info.value.key)
    assert "appears more than once in the top-level object" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "[1e400]",
        '{"total": -1.5E+309}',
        "[1" + "0" * 300 + "e10]",  # 301 digits and a two-digit exponent: still beyond float range
        "[1" + "0" * 310 + ".5]",
    ],
)
def test_a_number_beyond_float_range_is_refused(text: str) -> None:
    """A number that would read as infinity is refused, however it is written."""
    with pytest.raises(InvalidInput) as info:
        loads(text)

    assert "beyond the range of a floating-point number" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"id": "550e8400-e29b-41d4-a716-446655440000", "total": 1e300}', 1e300),
        ("[1" + "0" * 400 + "]", 10**400),  # a long integer is an integer, not a float
    ],
)
def test_what_only_looks_like_a_huge_number_is_read(text: str, expected: object) -> None:
    """Digits before an 'e' inside a text, a large but finite float and a long integer are read
    as they are (the quick check only decides whether the value is walked)."""
    value = loads(text)

    assert expected == (value["total"] if isinstance(value, dict) else value[0])
