"""The public Hypothesis strategies (:mod:`cocm_rules.strategies`) keep their promises."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

import cocm_rules.strategies as strategies
from cocm_rules import InvalidInput, Score, load_measures, score
from cocm_rules.rules import load_rulesets
from cocm_rules.strategies import answers, context, scores

LIBRARY = load_measures()
MEASURES = list(LIBRARY)
# `find` searches until it meets the condition (whatever the active profile); no shrinking,
# since any example that meets the condition will do.
FIND = settings(database=None, max_examples=2000, phases=[Phase.generate], suppress_health_check=list(HealthCheck))


def test_all_is_sorted_and_documented() -> None:
    """``__all__`` is sorted, names the strategies and their two constants, and each strategy
    has a docstring."""
    assert [
        "AS_OF",
        "EPISODE_MEASURES",
        "answers",
        "competing_rulesets",
        "context",
        "episodes",
        "rulesets",
        "scores",
    ] == strategies.__all__
    assert sorted(strategies.__all__) == strategies.__all__
    for name in strategies.__all__:
        if callable(getattr(strategies, name)):
            assert inspect.getdoc(getattr(strategies, name))
    assert "answers(" in (strategies.__doc__ or "")
    assert "episodes()" in (strategies.__doc__ or "")


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter and return its output (fails on an error)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False)
    assert 0 == done.returncode, done.stderr
    return done.stdout.strip()


def test_importing_the_package_does_not_import_hypothesis() -> None:
    """Hypothesis is a test extra: ``import cocm_rules`` needs neither it nor this module."""
    out = run_python(
        """
        import sys
        import cocm_rules
        print("cocm_rules.strategies" in sys.modules, "hypothesis" in sys.modules)
        """
    )
    assert "False False" == out


def test_without_hypothesis_the_module_says_how_to_install_it() -> None:
    """Without Hypothesis, importing the strategies raises BackendUnavailable with the extra."""
    out = run_python(
        """
        import sys
        sys.modules["hypothesis"] = None  # as if it were not installed
        from cocm_rules import BackendUnavailable
        try:
            import cocm_rules.strategies
        except BackendUnavailable as e:
            print(type(e).__name__, isinstance(e, ImportError), e.extra)
            print(e)
        """
    )
    first, message = out.splitlines()
    assert "BackendUnavailable True test" == first
    assert "pip install 'cocm-rules[test]'" in message


@pytest.mark.parametrize("make", [answers, context, scores])
def test_unknown_measure_is_refused_at_once(make: Any) -> None:
    """A misspelt measure id fails when the strategy is made, with "did you mean"."""
    with pytest.raises(InvalidInput) as caught:
        make("phq-9")
    assert "did you mean 'phq9'?" in str(caught.value)


@pytest.mark.parametrize("measure_id", MEASURES)
@given(data=st.data())
def test_valid_answers_always_score_complete(measure_id: str, data: st.DataObject) -> None:
    """Valid answers (list or mapping) with valid context score as valid and complete."""
    given_answers = data.draw(answers(measure_id, as_mapping=data.draw(st.booleans())))
    result = score(measure_id, given_answers, **data.draw(context(measure_id)))
    assert (True, True, []) == (result.valid, result.complete, result.missing_items)


@given(data=st.data())
def test_answers_with_missing_items_always_score(data: st.DataObject) -> None:
    """``missing=True`` answers are still accepted; any invalidity is reported, not raised."""
    measure_id = data.draw(st.sampled_from(MEASURES))
    given_answers = data.draw(answers(measure_id, as_mapping=data.draw(st.booleans()), missing=True))
    result = score(measure_id, given_answers, **data.draw(context(measure_id)))
    assert result.valid or result.missing_items


@given(data=st.data())
def test_list_answers_have_an_allowed_length(data: st.DataObject) -> None:
    """Lists run from the last required item to the last item, in item order."""
    measure_id = data.draw(st.sampled_from(MEASURES))
    given_answers = data.draw(answers(measure_id, missing=data.draw(st.booleans())))
    items = LIBRARY[measure_id].items
    required = [n for n, item in enumerate(items) if item.required and item.asked_when is None]
    assert isinstance(given_answers, list)
    assert max(required) + 1 <= len(given_answers) <= len(items)


@given(data=st.data())
def test_mapping_keys_are_item_keys(data: st.DataObject) -> None:
    """Mapping keys are item ids, ``measure.item`` ids or item LOINC codes."""
    measure_id = data.draw(st.sampled_from(MEASURES))
    given_answers = data.draw(answers(measure_id, as_mapping=True, missing=True))
    assert isinstance(given_answers, dict)
    keys = set()
    for item in LIBRARY[measure_id].items:
        keys |= {item.id, f"{measure_id}.{item.id}", *([item.loinc.code] if item.loinc else [])}
    assert set(given_answers) <= keys


@given(given_answers=answers("cssrs_screener", missing=True))
def test_cssrs_skip_logic_is_respected(given_answers: list[Any]) -> None:
    """After "no" to Q2, Q3-Q5 are None; after "no" to Q6, 6b is None (skipped, not "no")."""
    result = score("cssrs_screener", given_answers)
    coded = result.answers
    if coded["q2"] == 0:
        assert [None, None, None] == [coded["q3"], coded["q4"], coded["q5"]]
    if coded["q6"] == 0:
        assert coded["q6b"] is None


@given(data=st.data())
def test_invalid_answers_always_raise(data: st.DataObject) -> None:
    """``valid=False`` answers raise InvalidInput about the answers, whatever the context
    (each measure is also checked on its own in test_scoring_properties.py)."""
    measure_id = data.draw(st.sampled_from(MEASURES))
    bad = data.draw(answers(measure_id, valid=False, as_mapping=data.draw(st.booleans())))
    with pytest.raises(InvalidInput) as caught:
        score(measure_id, bad, **data.draw(context(measure_id)))
    assert caught.value.field is None


@pytest.mark.parametrize(
    ("as_mapping", "reason"),
    [
        (False, "answer out of range"),
        (False, "an answer must be a whole number"),
        (False, "an answer must be one of the item's coded values"),
        (False, "an answer must be a number"),
        (False, "wrong number of answers"),
        (True, "answer out of range"),
        (True, "unknown item"),
        (True, "the item is given twice"),
    ],
)
def test_invalid_answers_are_varied(as_mapping: bool, reason: str) -> None:
    """Each kind of invalid answer is generated."""

    def fails_with(bad: Any) -> bool:
        try:
            score("phq9", bad)
        except InvalidInput as e:
            return e.reason.startswith(reason)
        return False

    bad = find(answers("phq9", valid=False, as_mapping=as_mapping), fails_with, settings=FIND)
    assert fails_with(bad)


def test_valid_answers_reach_every_value() -> None:
    """Every value of every scale is generated (here: a PHQ-9 answer list with a 3 and a 0)."""
    found = find(answers("phq9"), lambda a: 3 in a and 0 in a and len(a) == 10, settings=FIND)
    assert 10 == len(found)


@pytest.mark.parametrize("spelling", ["yes", True, 1])
def test_yes_no_spellings_are_generated(spelling: Any) -> None:
    """Yes/no items are sometimes given as words or booleans, which the scorer accepts."""

    def has(given_answers: list[Any]) -> bool:
        return any(type(v) is type(spelling) and v == spelling for v in given_answers)

    found = find(answers("cssrs_screener"), has, settings=FIND)
    assert has(found)
    assert score("cssrs_screener", found).valid


@given(data=st.data())
def test_context_is_accepted(data: st.DataObject) -> None:
    """Generated context passes validation, and overrides stay within documented limits."""
    measure_id = data.draw(st.sampled_from(MEASURES))
    kwargs = data.draw(context(measure_id))
    defn = LIBRARY[measure_id]
    assert {name for name, var in defn.context.items() if var.required} <= set(kwargs)
    for name, value in kwargs.items():
        if name in defn.parameters:
            p = defn.parameters[name]
            assert p.min is not None
            assert p.max is not None
            assert p.min <= value <= p.max
    assert score(measure_id, reported_total=None, answers=data.draw(answers(measure_id)), **kwargs).valid


def test_pcl5_context_reaches_the_documented_cut_points() -> None:
    """The PCL-5 cut-point override covers 31 to 33 (reference §5)."""
    seen = {find(context("pcl5"), lambda c, v=v: c.get("cut_point") == v, settings=FIND)["cut_point"] for v in (31, 33)}
    assert {31, 33} == seen


@given(result=scores())
def test_scores_are_real_scores(result: Score) -> None:
    """``scores()`` yields Scores of bundled measures that round-trip through JSON."""
    assert isinstance(result, Score)
    assert result.measure in LIBRARY
    assert result.valid
    assert result == Score.model_validate_json(result.model_dump_json())


def test_scores_draw_every_measure() -> None:
    """With no measure given, scores come from every bundled measure."""
    for measure_id in MEASURES:
        assert measure_id == find(scores(), lambda s, m=measure_id: s.measure == m, settings=FIND).measure


@given(result=scores("cssrs_screener", missing=True))
def test_scores_of_one_measure(result: Score) -> None:
    """``scores(measure_id)`` scores only that measure; ``missing=True`` may give invalid scores."""
    assert "cssrs_screener" == result.measure
    assert result.valid == (not result.missing_items)


def test_scores_with_missing_items_include_invalid_ones() -> None:
    """``missing=True`` does produce incomplete administrations."""
    assert not find(scores("phq9", missing=True), lambda s: not s.valid, settings=FIND).valid


def test_strategies_use_the_library_given(tmp_path: Any) -> None:
    """A custom library's measures can be generated and scored."""
    import shutil
    from pathlib import Path

    shutil.copy(Path(__file__).parents[1] / "fixtures" / "measures_ok" / "tiny.yaml", tmp_path / "tiny.yaml")
    library = load_measures(tmp_path)
    result = find(scores("tiny", library=library), lambda s: s.band == "high", settings=FIND)
    assert (result.measure, result.band) == ("tiny", "high")
    with pytest.raises(InvalidInput):
        answers("tiny")  # not in the bundled library


BUNDLED_NAMES = [rs.name for rs in load_rulesets().rulesets]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rulesets=strategies.competing_rulesets())
def test_competing_rulesets_add_generated_rules_to_the_bundled_ones(rulesets: Any) -> None:
    """The bundled rulesets come first, unchanged, then one generated ruleset with no
    suicide_risk rule; every rule id is unique."""
    assert BUNDLED_NAMES == [rs.name for rs in rulesets.rulesets[:-1]]
    generated = rulesets.rulesets[-1]
    assert "generated" == generated.name
    assert all(r.category != "suicide_risk" for r in generated.rules)
    ids = [r.rule_id for r in rulesets.program.rules]
    assert len(set(ids)) == len(ids)


def test_competing_rulesets_try_to_outrank_suicide_risk() -> None:
    """Generated rules reach priority 100 at severity critical, and some fire for everyone."""
    summaries = strategies.competing_rulesets().map(
        lambda rs: ([(r.priority, r.severity, r.facts) for r in rs.rulesets[-1].rules], len(rs.warnings))
    )
    _rules, warnings = find(summaries, lambda s: (100, "critical", ("status",)) in s[0], settings=FIND)
    assert warnings  # a priority of 100 beside the bundled suicide rules is warned about
