"""Properties of :func:`cocm_rules.score` over generated answers, for every bundled measure.

Answers come from the public strategies (:mod:`cocm_rules.strategies`) and, for the reference
comparison and the safety checks, from plain generators written here, so a fault in the
strategies cannot hide a fault in the scorer. The reference implementation below is typed in
from ``shared/reference/measures.md`` (section numbers in comments); it reads nothing from the
measure files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocm_rules import InvalidInput, load_measures, score
from cocm_rules.scoring import scorer_for
from cocm_rules.strategies import answers, context, scores

LIBRARY = load_measures()
MEASURES = list(LIBRARY)
BANDED = [m for m in MEASURES if LIBRARY[m].bands is not None and LIBRARY[m].bands.ranges is not None]
YES_WORDS = ("yes", "y", "true")


def coded(value: Any) -> int | None:
    """An answer as its number: yes/true -> 1, no/false -> 0, None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return 1 if value.strip().lower() in YES_WORDS else 0
    return int(value)


def band_index(measure_id: str, band: str | None) -> int | None:
    return None if band is None else LIBRARY[measure_id].band_names.index(band)


# -- the independent reference (shared/reference/measures.md) -------------------------------------


@dataclass(frozen=True)
class Reference:
    """A simple-sum measure: the first ``items`` answers, each ``lowest``..``highest``, summed."""

    items: int
    lowest: int
    highest: int
    bands: tuple[tuple[int, int, str], ...] = ()
    cut_off: int | None = None  # positive screen at or above
    prorate_up_to: int = 0  # missing items that may be prorated (0: none may be missing)
    not_assessed: int | None = None  # a code that means "not rated" (BPRS 0)

    def total(self, values: list[int | None]) -> float | None:
        scored = [None if v == self.not_assessed else v for v in values[: self.items]]
        answered = [v for v in scored if v is not None]
        missing = self.items - len(answered)
        if missing > self.prorate_up_to:
            return None
        return sum(answered) * self.items / len(answered)

    def band(self, total: float) -> str | None:
        for lowest, highest, name in self.bands:
            if lowest <= total <= highest:
                return name
        assert not self.bands, f"{total} is in no band"
        return None


PHQ9_BANDS = (
    (0, 4, "minimal"),
    (5, 9, "mild"),
    (10, 14, "moderate"),
    (15, 19, "moderately_severe"),
    (20, 27, "severe"),
)
SCREEN_BANDS_3 = ((0, 2, "negative"), (3, 6, "positive"))
REFERENCE = {
    "phq9": Reference(9, 0, 3, PHQ9_BANDS, cut_off=10, prorate_up_to=2),  # §1 (NHS: 1-2 missing)
    "phqa": Reference(9, 0, 3, PHQ9_BANDS, cut_off=11),  # §3
    "phq2": Reference(2, 0, 3, SCREEN_BANDS_3, cut_off=3),  # §2
    "gad7": Reference(7, 0, 3, ((0, 4, "minimal"), (5, 9, "mild"), (10, 14, "moderate"), (15, 21, "severe")), 10),
    "gad2": Reference(2, 0, 3, SCREEN_BANDS_3, cut_off=3),  # §4
    "asrm": Reference(5, 0, 4, ((0, 5, "negative"), (6, 20, "positive")), cut_off=6, prorate_up_to=1),  # §8.1
    "pcl5": Reference(20, 0, 4, cut_off=33),  # §5 (no bands; default cut 33)
    "auditc": Reference(3, 0, 4),  # §6 (cut-off by sex, below)
    "whodas12": Reference(12, 1, 5),  # §8.4
    "bprs": Reference(18, 1, 7, not_assessed=0),  # §8.2
    "ras": Reference(24, 1, 5),  # §8.5
    "mdq": Reference(13, 0, 1),  # §8.6 (part 1 "yes" count; positive rule below)
}
AUDITC_CUT_OFF = {"female": 3, "male": 4}  # §6


@st.composite
def reference_case(draw: Any, measure_id: str, missing: bool) -> tuple[list[Any], dict[str, Any]]:
    """Plain answers for the reference measures (not using cocm_rules.strategies)."""
    ref = REFERENCE[measure_id]
    value = st.integers(ref.lowest, ref.highest)
    if missing:
        gone = st.sampled_from([None] if ref.not_assessed is None else [None, ref.not_assessed])
        value = st.one_of(value, value, gone)
    values = draw(st.lists(value, min_size=ref.items, max_size=ref.items))
    kwargs: dict[str, Any] = {}
    if measure_id == "mdq":
        values += [
            draw(st.one_of(st.none(), st.sampled_from(["yes", "no"]))),
            draw(st.one_of(st.none(), st.integers(0, 3))),
        ]
        if not missing:
            values[-2:] = [draw(st.sampled_from(["yes", "no"])), draw(st.integers(0, 3))]
    if measure_id == "auditc":
        kwargs["sex"] = draw(st.sampled_from(["female", "male"]))
    return values, kwargs


def reference_positive(measure_id: str, values: list[Any], total: float, kwargs: dict[str, Any]) -> bool | None:
    if measure_id == "auditc":
        return total >= AUDITC_CUT_OFF[kwargs["sex"]]
    if measure_id == "mdq":  # >= 7 yes, same period yes, moderate (2) or serious (3) problem
        same_period, problem = values[13], values[14]
        if same_period is None or problem is None:
            return None
        return total >= 7 and coded(same_period) == 1 and problem in (2, 3)
    cut_off = REFERENCE[measure_id].cut_off
    return None if cut_off is None else total >= cut_off


@pytest.mark.parametrize("measure_id", sorted(REFERENCE))
@given(data=st.data())
def test_simple_sums_agree_with_the_reference(measure_id: str, data: st.DataObject) -> None:
    """Total, band and screen equal a plain sum and band table typed in from the reference,
    including proration (PHQ-9 1-2 missing, ASRM 1 missing) and no total otherwise."""
    ref = REFERENCE[measure_id]
    values, kwargs = data.draw(reference_case(measure_id, missing=data.draw(st.booleans())))
    result = score(measure_id, values, **kwargs)
    total = ref.total(values)
    if total is None:
        assert (None, None) == (result.total, result.band)
        assert not result.valid
        return
    assert total == pytest.approx(result.total, abs=0.006)
    assert (None not in values[ref.items :]) == result.valid  # MDQ parts 2 and 3 are required too
    if float(total).is_integer():  # the reference does not say how to band or round a fraction
        assert ref.band(total) == result.band
        positive = reference_positive(measure_id, values, total, kwargs)
        if positive is not None:
            assert positive == result.positive_screen


# -- properties of every measure --------------------------------------------------------------------


@pytest.mark.parametrize("measure_id", MEASURES)
@given(data=st.data())
def test_total_is_within_its_range(measure_id: str, data: st.DataObject) -> None:
    """A total, when there is one, lies within the measure's declared range."""
    result = data.draw(scores(measure_id, missing=True))
    assert measure_id == result.measure
    if result.total is None:
        assert result.band is None or LIBRARY[measure_id].bands.from_result is not None  # type: ignore[union-attr]
        return
    lowest, highest = result.total_range  # type: ignore[misc]
    assert lowest <= result.total <= highest


@pytest.mark.parametrize("measure_id", BANDED)
@given(data=st.data())
def test_band_is_a_monotonic_step_function(measure_id: str, data: st.DataObject) -> None:
    """A higher total never gives an earlier band, and equal totals give equal bands."""
    first, second = (data.draw(scores(measure_id, missing=True)) for _ in range(2))
    if first.total is None or second.total is None:
        return
    low, high = sorted([first, second], key=lambda s: s.total)  # type: ignore[arg-type, return-value]
    assert band_index(measure_id, low.band) <= band_index(measure_id, high.band)  # type: ignore[operator]
    if low.total == high.total:
        assert low.band == high.band


@pytest.mark.parametrize("measure_id", BANDED)
def test_every_possible_total_has_one_band_in_order(measure_id: str) -> None:
    """Sweeping every total (reported without items): bands never go back, and each is used."""
    lowest, highest = LIBRARY[measure_id].total.range  # type: ignore[union-attr]
    bands = [score(measure_id, reported_total=t).band for t in range(lowest, highest + 1)]
    indexes = [band_index(measure_id, b) for b in bands]
    assert sorted(indexes) == indexes  # type: ignore[type-var]
    assert LIBRARY[measure_id].band_names == list(dict.fromkeys(bands))


@pytest.mark.parametrize("measure_id", MEASURES)
@given(data=st.data())
def test_invalid_answers_always_raise(measure_id: str, data: st.DataObject) -> None:
    """Invalid answers raise InvalidInput about the answers; nothing is ever scored from them,
    not even when a plausible reported total comes with them."""
    bad = data.draw(answers(measure_id, valid=False, as_mapping=data.draw(st.booleans())))
    kwargs = data.draw(context(measure_id))
    total = LIBRARY[measure_id].total
    if total is not None and data.draw(st.booleans()):
        kwargs["reported_total"] = data.draw(st.integers(*total.range))
    with pytest.raises(InvalidInput) as caught:
        score(measure_id, bad, **kwargs)
    assert (measure_id, None) == (caught.value.measure, caught.value.field)


@pytest.mark.parametrize("measure_id", MEASURES)
@given(data=st.data())
def test_list_and_mapping_score_identically(measure_id: str, data: st.DataObject) -> None:
    """The same answers as a list, or by item id, ``measure.item`` or LOINC code, score alike."""
    defn = LIBRARY[measure_id]
    given_list = data.draw(answers(measure_id, missing=True))
    kwargs = data.draw(context(measure_id))
    mapping = {}
    for item, value in zip(defn.items, given_list, strict=False):
        keys = [item.id, f"{measure_id}.{item.id}", *([item.loinc.code] if item.loinc else [])]
        mapping[data.draw(st.sampled_from(keys))] = value
    assert score(measure_id, given_list, **kwargs) == score(measure_id, mapping, **kwargs)


@pytest.mark.parametrize("measure_id", MEASURES)
@given(data=st.data())
def test_missing_items_never_silently_lower_the_result(measure_id: str, data: st.DataObject) -> None:
    """Leaving answers out gives no total, a total marked prorated that is never below the sum
    of the answered items, or the same total; a band, screen or diagnosis that is still given
    is the one the full answers give; and no flag appears that the full answers do not set."""
    defn = LIBRARY[measure_id]
    ids = [item.id for item in defn.items]
    full_list = data.draw(answers(measure_id))
    kwargs = data.draw(context(measure_id))
    full = score(measure_id, full_list, **kwargs)
    dropped = data.draw(st.sets(st.sampled_from(ids), min_size=1))
    partial_answers = {i: (None if i in dropped else v) for i, v in zip(ids, full_list, strict=False)}
    partial = score(measure_id, partial_answers, **kwargs)

    assert set(partial.flags) - {"safety_item_missing"} <= set(full.flags)
    scored_dropped = [i for i in defn.total_items if i in dropped and full.answers[i] is not None]
    if partial.total is None:
        assert partial.band is None or defn.bands.from_result is not None  # type: ignore[union-attr]
    elif partial.prorated:
        assert scored_dropped
        answered_sum = sum(v for i, v in partial.answers.items() if i in defn.total_items and v is not None)
        assert partial.total >= answered_sum
        floor = score(measure_id, reported_total=answered_sum, **kwargs).band
        assert band_index(measure_id, partial.band) >= band_index(measure_id, floor)  # type: ignore[operator]
        return
    else:
        assert not scored_dropped
        assert full.total == partial.total
    if partial.band is not None:
        assert full.band == partial.band
    for key, value in partial.results.items():
        if value is not None:
            assert full.results[key] == value, key


# -- safety ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("measure_id", ["phq9", "phqa"])
@given(data=st.data())
def test_item9_always_flags_suicide_risk(measure_id: str, data: st.DataObject) -> None:
    """§1/§3: item 9 at 1-3 flags suicide risk whatever the other answers (even missing ones)."""
    others = data.draw(answers(measure_id, missing=True))
    item9 = data.draw(st.integers(1, 3))
    given_list = [*others[:8], item9, *others[9:]]
    result = score(measure_id, given_list, **data.draw(context(measure_id)))
    assert "suicide_risk" in result.flags


@pytest.mark.parametrize("measure_id", ["phq9", "phqa"])
@given(values=st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=9, max_size=9))
def test_item9_missing_is_always_surfaced(measure_id: str, values: list[int | None]) -> None:
    """A missing item 9 always sets ``safety_item_missing``; an answered one never does."""
    result = score(measure_id, values)
    assert (values[8] is None) == ("safety_item_missing" in result.flags)
    assert ((values[8] or 0) >= 1) == ("suicide_risk" in result.flags)


CSSRS_ANSWER = st.sampled_from([None, 0, 1, "yes", "no", True, False, "Yes", "NO"])


@given(values=st.lists(CSSRS_ANSWER, min_size=6, max_size=7))
def test_cssrs_any_yes_flags_suicide_risk(values: list[Any]) -> None:
    """§7: any "yes" is a risk level above none, so suicide_risk; yes to Q4, Q5 or 6b is high,
    so urgent_suicide_risk. Answers here ignore the skip logic on purpose: a "yes" counts anyway."""
    result = score("cssrs_screener", values)
    answer = dict(zip(["q1", "q2", "q3", "q4", "q5", "q6", "q6b"], map(coded, values), strict=False))
    assert (1 in answer.values()) == ("suicide_risk" in result.flags)
    urgent = any(answer.get(q) == 1 for q in ("q4", "q5", "q6b"))
    assert urgent == ("urgent_suicide_risk" in result.flags)
    if urgent:
        assert "high" == result.band


@given(values=st.lists(CSSRS_ANSWER, min_size=6, max_size=7))
def test_cssrs_missing_safety_item_is_always_surfaced(values: list[Any]) -> None:
    """§7 and the project policy: an unanswered question that was due (Q1, Q2, Q6; Q3-Q5 after
    "yes" to Q2; 6b after "yes" to Q6) sets ``safety_item_missing`` and makes the screen invalid."""
    answer = dict(zip(["q1", "q2", "q3", "q4", "q5", "q6", "q6b"], map(coded, values), strict=False))
    answer.setdefault("q6b", None)
    due_and_missing = (
        any(answer[q] is None for q in ("q1", "q2", "q6"))
        or (answer["q2"] == 1 and any(answer[q] is None for q in ("q3", "q4", "q5")))
        or (answer["q6"] == 1 and answer["q6b"] is None)
    )
    result = score("cssrs_screener", values)
    assert due_and_missing == ("safety_item_missing" in result.flags)
    assert due_and_missing == (not result.valid)


@given(data=st.data())
def test_cssrs_level_is_never_lower_than_an_answered_yes_implies(data: st.DataObject) -> None:
    """§7: the highest applicable level wins: with generated valid screens, the level is at
    least what each "yes" implies (Q1/Q2 low, Q3/Q6 moderate, Q4/Q5/6b high)."""
    given_list = data.draw(answers("cssrs_screener", missing=True))
    result = score("cssrs_screener", given_list)
    if result.band is None:
        assert not result.valid
        return
    answer = dict(zip(["q1", "q2", "q3", "q4", "q5", "q6", "q6b"], map(coded, given_list), strict=False))
    order = ["none", "low", "moderate", "high"]
    implied = {"q1": "low", "q2": "low", "q3": "moderate", "q6": "moderate", "q4": "high", "q5": "high", "q6b": "high"}
    for question, level in implied.items():
        if answer.get(question) == 1:
            assert order.index(result.band) >= order.index(level)
    if all(v != 1 for v in answer.values()):
        assert "none" == result.band


# -- the shortened path ------------------------------------------------------------------------------


@pytest.mark.parametrize("measure_id", MEASURES)
@given(data=st.data())
def test_shortened_path_scores_like_the_general_one(measure_id: str, data: st.DataObject) -> None:
    """The scorer's shortcut for plain, fully answered lists gives the same Score, field for
    field (derived results and flags included), as the general path."""
    scorer = scorer_for(LIBRARY[measure_id])
    given_list = data.draw(answers(measure_id, missing=data.draw(st.booleans())))
    kwargs = data.draw(context(measure_id)) if scorer.needs_context else {}
    ctx, params = scorer.context(kwargs)
    general = scorer.evaluate(scorer.normalize(given_list), ctx, params)
    short = scorer.score_data(given_list, kwargs)
    assert general.to_score() == short.to_score()
    if scorer.plain(given_list):  # the fact builder counts such answers as valid unscored
        assert short.valid
        assert short.total is not None or not scorer.has_total


@pytest.mark.parametrize("measure_id", [m for m in MEASURES if not scorer_for(LIBRARY[m]).needs_context])
def test_shortened_path_is_taken_for_complete_lists(measure_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A complete list of allowed codes goes the short way (else the test above proves nothing)."""
    scorer = scorer_for(LIBRARY[measure_id])
    taken = []
    monkeypatch.setattr(scorer, "_complete", lambda a: taken.append(a) or "short")
    complete = [min(ok) for ok in scorer.fast_seq]
    assert "short" == scorer.score_data(complete, {})
    assert [complete] == taken


@pytest.mark.parametrize("measure_id", MEASURES)
@given(data=st.data())
def test_the_safety_item_missing_shortcut_matches_the_flags(measure_id: str, data: st.DataObject) -> None:
    """``ScoreData.safety_item_missing`` (known without computing the flags, which the safety
    facts read for every patient) says exactly whether the flags hold ``safety_item_missing``,
    on either scoring path, for answers with items missing and for a total sent alone."""
    scorer = scorer_for(LIBRARY[measure_id])
    kwargs = data.draw(context(measure_id)) if scorer.needs_context else {}
    if scorer.has_total and data.draw(st.booleans(), label="total alone"):
        lo, hi = scorer.total_range
        given_answers, reported = None, data.draw(st.integers(lo, hi), label="total")
    else:
        given_answers, reported = data.draw(answers(measure_id, missing=data.draw(st.booleans()))), None
    quick = scorer.score_data(given_answers, kwargs, reported).safety_item_missing
    assert ("safety_item_missing" in scorer.score(given_answers, kwargs, reported).flags) is quick
