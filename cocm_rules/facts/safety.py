"""Safety facts: suicide-risk flags, safety items, and what makes risk impossible to rule out.

Flags and safety items come from the *latest* administration of a measure, valid or not, so
an incomplete or invalid latest safety screen fails closed (``safety_item_missing``). Across
the episode, ``safety_item_missing`` is also true when a measure id is not recognized (it may
have been a safety screen) or a safety screen was set aside unread; ``safety_missing_reason``
says which, in words.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..measures import MeasureDefinition, MeasureLibrary
from ..scoring import ScoreData
from ..vocabulary import SAFETY_ITEM_MISSING
from .rows import episode_fact, measure_fact
from .series import MeasureSeries, ScoredAssessment
from .spec import Fact
from .view import EpisodeView

__all__ = ["EPISODE_FACTS", "measure_facts", "safety_missing"]


def measure_facts(defn: MeasureDefinition) -> Iterator[Fact]:
    """The flags, ``safety_item_missing`` and the safety items' answers of one measure."""
    for flag in defn.flags:
        yield measure_fact(
            defn, flag.name, "boolean", f"latest administration flags {flag.name}: {flag.description}", _flag(flag.name)
        )
    if defn.safety_items:
        yield measure_fact(
            defn,
            "safety_item_missing",
            "boolean",
            "latest administration has a safety item unanswered, or could not be scored (fails closed)",
            lambda s, v: safety_missing(s),
        )
    for item_id in defn.safety_items:
        it = defn.item(item_id)
        vals = [v.value for v in defn.scales[it.scale].values]
        yield measure_fact(
            defn,
            f"{item_id}_latest",
            "integer",
            f"answer to {item_id} ({it.label}) in the latest administration",
            _answer(item_id),
            minimum=min(vals),
            maximum=max(vals),
        )


def _flag(name: str) -> Any:
    def flag(s: MeasureSeries, v: EpisodeView) -> Any:
        sc = s.latest_score()
        if sc is None or name in sc.undetermined_flags:
            return None  # cannot be ruled out: safety_item_missing says why
        return name in sc.flags

    return flag


def _answer(item_id: str) -> Any:
    def answer(s: MeasureSeries, v: EpisodeView) -> Any:
        sc = s.latest_score()
        return None if sc is None else sc.answers.get(item_id)

    return answer


def safety_missing(s: MeasureSeries) -> bool | None:
    """Whether the latest administration of a measure with safety items leaves risk open: a
    safety item unanswered, or the administration could not be scored (fails closed)."""
    last = s.latest_any
    if last is None:
        return None
    score = last.score
    if score is None:
        return True  # invalid safety data fails closed
    # The scorer knows this flag without computing the others (ScoreData); a Score lists it.
    return score.safety_item_missing if isinstance(score, ScoreData) else SAFETY_ITEM_MISSING in score.flags


# -- across the episode ------------------------------------------------------------------------


def _flagging(library: MeasureLibrary) -> dict[str, tuple[str, ...]]:
    """Measures by the flags they can raise (safety_item_missing: measures with safety items),
    kept by the library."""
    table: dict[str, tuple[str, ...]] | None = library.derived.get("facts.flagging")
    if table is None:
        out: dict[str, list[str]] = {}
        for defn in library.values():
            for flag in defn.flags:
                out.setdefault(flag.name, []).append(defn.id)
            if defn.safety_items:
                out.setdefault(SAFETY_ITEM_MISSING, []).append(defn.id)
        table = library.derived["facts.flagging"] = {k: tuple(v) for k, v in out.items()}
    return table


def any_measure_flag(view: EpisodeView, flag: str) -> bool:
    """The latest administration of some measure flags ``flag``."""
    administered = view.administered
    for measure in _flagging(view.library).get(flag, ()):
        if measure in administered:
            s = view.series(measure)
            if s and s.latest_any and s.latest_any.score and flag in s.latest_any.score.flags:
                return True
    return False


def _set_aside_screens(view: EpisodeView) -> list[str]:
    """Administrations set aside that may have held a safety answer newer than any read: of a
    measure with safety items, or of no recognized measure, undated or dated on or after that
    measure's latest administration. Each, in words."""
    out = []
    library = view.library
    for x in view.set_aside:
        if x.kind != "assessment":
            continue
        measure = x.measure if x.measure in library.ids else library.resolve(x.measure or "")
        when = x.date.isoformat() if x.date is not None else "undated"
        if measure is not None:
            if not library[measure].safety_items:
                continue
            s = view.series(measure)
            latest = s.latest_any if s is not None else None
            if latest is not None and x.date is not None and x.date < latest.date:
                continue  # older than an administration that was read: that one counts
            what = library[measure].name
        else:
            what = f"measure {x.measure!r}" if x.measure else "an unrecognized measure"
        out.append(f"an administration of {what} ({when}) could not be read: {x.reason}")
    return out


def _any_safety_missing(view: EpisodeView) -> bool:
    if view.unrecognized:
        return True  # an unrecognized measure id may be a safety screen: fails closed
    if view.episode.set_aside and _set_aside_screens(view):
        return True  # a safety screen that could not be read fails closed
    administered = view.administered
    for measure in _flagging(view.library).get(SAFETY_ITEM_MISSING, ()):
        if measure in administered:
            s = view.series(measure)
            if s and safety_missing(s) is True:
                return True
    return False


def _episode_safety_missing(view: EpisodeView) -> bool:
    return view.memo("safety.missing", _any_safety_missing)


def _reasons(view: EpisodeView) -> list[str]:
    """What makes suicide risk impossible to rule out, in words, one entry per measure."""
    out = [f"measure id {m!r} is not recognized (it may have been a safety screen)" for m in view.unrecognized]
    out += _set_aside_screens(view)
    administered = view.administered
    for measure in _flagging(view.library).get(SAFETY_ITEM_MISSING, ()):
        if measure in administered:
            s = view.series(measure)
            if s is not None and safety_missing(s) is True:
                out.append(_why_missing(s))
    return out


def _items_phrase(defn: MeasureDefinition, item_ids: list[str], what: str) -> str:
    """``PHQ-9 item 9 was not sent``; ``C-SSRS screener items q3, q4 and q5 were not sent``."""
    names = [i.removeprefix("item") if i.removeprefix("item").isdigit() else i for i in item_ids]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{defn.label} item{'s' if len(names) > 1 else ''} {listed} {'were' if len(names) > 1 else 'was'} {what}"


def _sent_items(scorer: Any, answers: Any) -> set[str]:
    """The items a host sent a value for (null included): by position in a list, by key
    (item id, ``measure.item`` or LOINC code) in a mapping; none for a total alone."""
    if isinstance(answers, Mapping):
        return {scorer.alias[k] for k in answers if isinstance(k, str) and k in scorer.alias}
    if isinstance(answers, list):
        return set(scorer.ids[: len(answers)])
    return set()


def _why_missing(s: MeasureSeries) -> str:
    """Why the latest administration of a measure with safety items cannot rule risk out."""
    last = s.latest_any
    assert last is not None
    defn = s.defn
    when = last.date.isoformat()
    if last.score is None:
        return f"the {defn.label} of {when} could not be scored (an invalid answer)"
    sent = _sent_items(s.scorer, last.assessment.answers)
    missing = [i for i in defn.safety_items if last.score.answers.get(i) is None and i in _required_now(s, last)]
    parts = [
        _items_phrase(defn, ids, what)
        for ids, what in (
            ([i for i in missing if i not in sent], "not sent"),
            ([i for i in missing if i in sent], "left unanswered"),
        )
        if ids
    ]
    return f"{'; '.join(parts) or f'a {defn.label} safety item was not answered'} ({when})"


def _required_now(s: MeasureSeries, sa: ScoredAssessment) -> set[str]:
    """The safety items the administration had to answer: those asked unconditionally, and
    those its skip logic asked (listed as missing by the scorer)."""
    score = sa.score
    assert score is not None
    return set(s.scorer.safety_ids) | set(score.missing_items)


EPISODE_FACTS = (
    episode_fact(
        "suicide_risk",
        "boolean",
        "the latest administration of any measure flags suicide_risk",
        lambda v: any_measure_flag(v, "suicide_risk"),
    ),
    episode_fact(
        "urgent_suicide_risk",
        "boolean",
        "the latest administration of any measure flags urgent_suicide_risk",
        lambda v: any_measure_flag(v, "urgent_suicide_risk"),
    ),
    episode_fact(
        "safety_item_missing",
        "boolean",
        "the latest administration of a measure with safety items has one "
        "unanswered or could not be scored, or a measure the library does not know was "
        "administered (it may have been a safety screen): risk cannot be ruled out",
        _episode_safety_missing,
    ),
    episode_fact(
        "safety_missing_reason",
        "text",
        "why suicide risk cannot be ruled out, in words: which safety item of which measure was not "
        "sent or was left unanswered (e.g. 'PHQ-9 item 9 was not sent (2026-11-02)'), which administration "
        "could not be scored, which measure id was not recognized; missing when safety_item_missing is not true",
        lambda v: "; ".join(_reasons(v)) if _episode_safety_missing(v) else None,
    ),
)
