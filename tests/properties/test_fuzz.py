"""Fuzzing the library's doors: only documented errors come out, and one record per input.

Each property feeds one door with what a careless or hostile host might send: a valid input
with a value swapped for an odd JSON value, a repeated key, a huge number, a NaN, bytes that
are not UTF-8, YAML with a character or line changed. The contract (issue 11):

- ``score`` raises only :class:`~cocm_rules.CocmRulesError` (and ``TypeError`` when the
  answers are not a list, a mapping or None);
- ``parse_episode`` raises only :class:`~cocm_rules.InvalidInput`; a batch yields exactly one
  result or error record per non-blank input line, whatever the line holds;
- the ruleset loader raises only :class:`~cocm_rules.RulesetError`;
- the FHIR reader raises only :class:`~cocm_rules.InvalidInput`.

Bounded by the Hypothesis profile (``ci``: 100 examples each); ``HYPOTHESIS_PROFILE=thorough``
runs 1,000 for a long hunt.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cocm_rules
import cocm_rules.strategies
from cocm_rules import CocmRulesError, Engine, InvalidInput, RulesetError, fhir
from cocm_rules.batch import read_records
from cocm_rules.rules import bundled_rulesets_path
from cocm_rules.strategies import AS_OF, episodes

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = cocm_rules.load_measures()
ENGINE = Engine.load()
MEASURE_IDS = sorted(LIBRARY)
RULESET_TEXTS = sorted(p.read_text(encoding="utf-8") for p in Path(bundled_rulesets_path()).glob("*.yaml"))
FHIR_TEXTS = sorted(p.read_text(encoding="utf-8") for p in (ROOT / "tests" / "fixtures" / "fhir").glob("*.json"))
SLOW = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class _Huge:
    """An integer too long to write as text (5,001 digits), drawn as this stand-in so that
    Hypothesis can print a failing example; :func:`real` puts the integer in its place."""

    def __repr__(self) -> str:
        return "10**5000"


HUGE = _Huge()


def real(value: Any) -> Any:
    """``value`` with each stand-in replaced by the integer it stands for."""
    if value is HUGE:
        return 10**5000
    if isinstance(value, dict):
        return {k: real(v) for k, v in value.items()}
    if isinstance(value, list):
        return [real(v) for v in value]
    return value


#: Values no schema expects: huge and non-finite numbers, odd text, wrong containers.
ODD_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), HUGE, 2**63, -1, 0, 1e308, 1e-320]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "\x00", "\ud800", "2026-02-30", "2026-11-01T10:30:00-05:00", "PHQ-9", "1e400", "NaN"]),
)
ODD = st.recursive(
    ODD_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def readable(error: Exception) -> None:
    """The error's message renders, whatever value it names (no int-to-text limit, no
    unprintable surrogate)."""
    assert str(error).encode("utf-8", "backslashreplace")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``node`` (dict keys and list indices)."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(data: st.DataObject, value: Any) -> Any:
    """``value`` with one to three inner values replaced by odd values, or removed."""
    value = copy.deepcopy(value)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = _paths(value)[1:]
        if not paths:
            return real(data.draw(ODD))
        path = data.draw(st.sampled_from(paths), label="path")
        holder = value
        for part in path[:-1]:
            holder = holder[part]
        if isinstance(holder, dict) and data.draw(st.booleans(), label="delete"):
            del holder[path[-1]]
        else:
            holder[path[-1]] = real(data.draw(ODD, label="odd"))
    return value


def _placeholders(value: Any) -> Any:
    """``value`` with integers too long to write as text replaced by a marker string."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 14_000:
        return "__HUGE__"
    if isinstance(value, dict):
        return {k: _placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    """JSON text of ``value`` as a careless host writes it: NaN and Infinity as Python writes
    them, bytes as their repr, an integer of 5,001 digits written out."""
    text = json.dumps(_placeholders(value), allow_nan=True, default=repr)
    return text.replace('"__HUGE__"', "1" * 5001)


def _text(data: st.DataObject, value: Any) -> str:
    """:func:`_dumps` of ``value``, sometimes with a key of one object repeated with another
    value, the way a careless serializer does."""
    text = _dumps(value)
    objects = [i for i, ch in enumerate(text) if ch == "{" and text[i + 1 : i + 2] == '"']
    if objects and data.draw(st.booleans(), label="repeat a key"):
        at = data.draw(st.sampled_from(objects), label="object")
        end = text.index('":', at) + 2
        key = text[at + 1 : end]
        repeated = _dumps(real(data.draw(ODD_SCALARS, label="repeated")))
        text = text[: at + 1] + key + repeated + ", " + text[at + 1 :]
    return text


#: Numbers at and beyond the limits: the values that used to escape as ValueError/OverflowError.
EXTREME = st.sampled_from([10**400, -(10**400), HUGE, float("inf"), float("nan"), 1e308, 2**63])


@given(st.data(), st.sampled_from(MEASURE_IDS))
def test_score_raises_only_documented_errors(data: st.DataObject, measure: str) -> None:
    """Valid answers with one to three swapped for odd or extreme values, odd context and
    reported totals: a Score or a CocmRulesError (TypeError only for answers that are not a
    list, a mapping or None), and the error's message renders."""
    answers: Any = data.draw(cocm_rules.strategies.answers(measure, library=LIBRARY), label="answers")
    for _ in range(data.draw(st.integers(0, 3), label="swaps")):
        if isinstance(answers, list) and answers:
            answers[data.draw(st.integers(0, len(answers) - 1), label="item")] = data.draw(EXTREME | ODD, label="value")
        elif isinstance(answers, dict) and answers:
            key = data.draw(st.sampled_from(sorted(answers)), label="item")
            answers[key] = data.draw(EXTREME | ODD, label="value")
    if data.draw(st.integers(0, 9), label="replace all") == 0:
        answers = data.draw(ODD, label="answers instead")
    context = data.draw(
        st.dictionaries(st.sampled_from(["sex", "cut_point", "age"]), EXTREME | ODD_SCALARS, max_size=2),
        label="context",
    )
    reported = data.draw(st.none() | EXTREME | ODD_SCALARS, label="reported total")
    answers, context, reported = real(answers), real(context), real(reported)
    try:
        cocm_rules.score(measure, answers, reported_total=reported, **context)
    except CocmRulesError as e:
        readable(e)
    except TypeError:
        assert not isinstance(answers, list | dict | type(None))


@SLOW
@given(st.data())
def test_a_mutated_episode_is_an_episode_or_invalid_input(data: st.DataObject) -> None:
    """An episode with odd values in it, as a mapping and as JSON text (with repeated keys at
    times): parse_episode returns an Episode or raises InvalidInput, and evaluation of what
    parses never fails."""
    record = _mutate(data, data.draw(episodes(), label="episode"))
    for form in (record, _text(data, record)):
        try:
            episode = cocm_rules.parse_episode(form)
        except InvalidInput as e:
            readable(e)
            continue
        ENGINE.evaluate(episode, AS_OF)


@SLOW
@given(st.data(), st.booleans())
def test_a_batch_yields_one_record_per_line_whatever_the_lines_hold(data: st.DataObject, as_text: bool) -> None:
    """A JSON Lines batch of valid, mutated and broken lines (not JSON, not UTF-8, repeated
    keys, huge numbers): exactly one result or error record per non-blank line, in order;
    an error record names its line."""
    lines: list[bytes] = []
    for _ in range(data.draw(st.integers(1, 6), label="lines")):
        kind = data.draw(st.sampled_from(["valid", "mutated", "bytes"]), label="kind")
        if kind == "bytes":
            line = (
                data.draw(st.binary(min_size=1, max_size=40), label="bytes").replace(b"\n", b" ").replace(b"\r", b" ")
            )
        else:
            record = data.draw(episodes(max_assessments=3, max_contacts=3), label="episode")
            line = _text(data, _mutate(data, record) if kind == "mutated" else record).encode("utf-8", "surrogatepass")
        lines.append(line)
    stream = io.BytesIO(b"\n".join(lines) + b"\n")
    out = list(ENGINE.evaluate_many(read_records(stream, lines_as_text=as_text), AS_OF))
    records = [n + 1 for n, line in enumerate(lines) if _a_record(line, first=n == 0)]
    assert list(range(len(records))) == [r.record for r in out]
    assert all(r.line == records[r.record] for r in out if r.kind == "error")


def _a_record(line: bytes, *, first: bool) -> bool:
    """Whether a JSON Lines line is a record: anything but blank text (a byte order mark
    before the first line is not part of it); bytes that are not UTF-8 are a record (an
    error record says so)."""
    try:
        text = line.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError:
        return True
    return bool(text.strip())


@SLOW
@given(st.data())
def test_a_mutated_ruleset_loads_or_raises_a_ruleset_error(data: st.DataObject) -> None:
    """A bundled ruleset with lines dropped, repeated or swapped, a character inserted or a
    value replaced: it loads or raises RulesetError, never anything else."""
    lines = data.draw(st.sampled_from(RULESET_TEXTS), label="ruleset").splitlines()
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        at = data.draw(st.integers(0, len(lines) - 1), label="line")
        edit = data.draw(st.sampled_from(["drop", "repeat", "swap", "insert", "value"]), label="edit")
        if edit == "drop":
            del lines[at]
        elif edit == "repeat":
            lines.insert(at, lines[at])
        elif edit == "swap" and at + 1 < len(lines):
            lines[at], lines[at + 1] = lines[at + 1], lines[at]
        elif edit == "insert":
            col = data.draw(st.integers(0, len(lines[at])), label="column")
            char = data.draw(st.sampled_from(["\x00", "[", "{", ":", "&a", "*a", "!!python/object", "\t", "'", "%"]))
            lines[at] = lines[at][:col] + char + lines[at][col:]
        elif edit == "value" and ":" in lines[at]:
            head = lines[at].split(":", 1)[0]
            value = data.draw(ODD_SCALARS, label="value")
            lines[at] = f"{head}: {_dumps(real(value))[:40] if value is not HUGE else '1' * 5001}"
        if not lines:
            lines = [""]
    try:
        cocm_rules.load_rulesets(text="\n".join(lines) + "\n", library=LIBRARY)
    except RulesetError as e:
        readable(e)


@SLOW
@given(st.data())
def test_mutated_fhir_text_is_read_or_invalid_input(data: st.DataObject) -> None:
    """A published FHIR example, mutated and written as text (repeated keys at times): the
    reader and read_patient give a result or InvalidInput, nothing else."""
    resource = _mutate(data, json.loads(data.draw(st.sampled_from(FHIR_TEXTS), label="resource")))
    text = _text(data, resource)
    try:
        loaded = fhir.load_resource(text)
    except InvalidInput as e:
        readable(e)
        return
    for read in (
        lambda r: fhir.read_assessments(r, library=LIBRARY),
        lambda r: fhir.score_fhir(r, library=LIBRARY, unrecognized="skip"),
        lambda r: fhir.read_patient(r, library=LIBRARY, unrecognized="skip"),
    ):
        try:
            read(loaded)
        except InvalidInput as e:
            readable(e)


def test_the_fuzzed_doors_accept_their_clean_inputs() -> None:
    """The seeds are valid: every bundled ruleset and FHIR example loads as it is, so a
    mutation, not a broken seed, is what the properties above exercise."""
    assert len(RULESET_TEXTS) == len(cocm_rules.load_rulesets().rulesets)
    for text in FHIR_TEXTS:
        fhir.load_resource(text)
    assert dt.date(2026, 1, 15) == AS_OF
