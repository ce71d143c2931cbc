"""Steered episodes for :func:`cocm_rules.strategies.episodes`: measure series following a trajectory.

Each present measure gets dated administrations whose totals follow a trajectory, with
safety answers, record shapes and contacts consistent with them.

Everything clinical is read from the measure definitions (``measures/*.yaml``): the items a
total sums and their scales, the direction of the total and the response, remission and
change definitions under ``targets``, the items the safety flags read and the values that
raise them, and the skip logic. The timings, spreads and shares below are choices of this
generator (named constants), made so that every bundled rule is reached within a bounded
number of examples; none of them is a clinical cut-off.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import DrawFn

from ._units import UNITS
from .episode import CONTACT_ROLES, EDUCATION, EMPLOYMENT, HOUSING, PROGRAMS, SMOKING_STATUSES, STATUSES
from .errors import InvalidInput
from .measures import Condition, MeasureDefinition, MeasureLibrary
from .scoring import NOT_ASKED, scorer_for

__all__ = ["SAFETY", "SHAPES", "TRAJECTORIES", "Steering", "steered_episode", "steering"]

#: Courses a series of totals can follow (in the measure's own direction: for a measure where
#: a higher total is better, "improving" rises).
TRAJECTORIES = ("improving", "not_improving", "worsening", "relapse")
#: What the latest administration of each safety measure says: risk screened positive, or
#: every safety question answered and negative.
SAFETY = ("positive", "negative")
#: How the host sends an administration of the series: item answers; a total alone; a total
#: with the safety items (e.g. PHQ-9 total + item 9, as many EHRs store it); answers with the
#: total beside them.
SHAPES = ("items", "total", "total_item9", "items_total")

# -- generator choices (not clinical facts) ----------------------------------------------------

#: Improvement, as a share of the baseline's distance from the best total, for a measure whose
#: definition has no response target.
FALLBACK_RESPONSE_SHARE = 0.5
#: Baselines are drawn from this upper share of the total's range (most patients start with
#: symptoms; a validator can still meet low baselines through the default ``episodes()``).
BASELINE_UPPER_SHARE = 2 / 3
#: Administrations in a series (at most), and the weeks from the initial assessment to
#: ``as_of`` when the caller does not say.
MAX_SERIES = 8
DEFAULT_WEEKS = (0, 52)
#: Days from the latest administration (and follow-up) to ``as_of``: recent (up to
#: RECENT_DAYS), a follow-up or two missed (up to MISSED_DAYS), or anywhere in the episode.
RECENT_DAYS = 14
MISSED_DAYS = 90
#: Contacts besides the initial assessment and the follow-ups of the series, at most
#: (consultations, case reviews, other care-manager contacts, extra follow-ups).
EXTRA_CONTACTS = 4
#: Outcome events (SMI) fall as often in this many days before ``as_of`` as anywhere in the episode.
RECENT_EVENT_DAYS = 60
#: Minutes of a contact, in steps of 5 (as teams often log them). One contact in
#: ODD_ROLE_ONE_IN has any role or none (else the care manager's; the consultant's for a
#: consultation); one patient in ODD_ONE_IN has no consent recorded, or 99484 billed this month.
MINUTES = tuple(range(0, 121, 5))
#: Minutes of a typical follow-up, drawn as often as any of MINUTES.
TYPICAL_MINUTES = tuple(range(10, 50, 5))
ODD_ONE_IN = 8
ODD_ROLE_ONE_IN = 4
GENERAL_BHI_CODE = "99484"
#: Medical outcomes (``medical=True``). Values are drawn evenly over these spreads, in the
#: facts' units (kg, m, mm[Hg], %, mg/dL), wide enough that a latest value falls on either
#: side of any bundled cut-off; the cut-offs themselves live in rulesets/smi_medical.yaml.
#: Body weight and height (BMI = kg / m2); the weight change from the first to the latest
#: weighing, as a share; blood pressure; labs.
MEDICAL_WEIGHT_KG = (45.0, 140.0)
MEDICAL_HEIGHT_M = (1.5, 1.95)
MEDICAL_WEIGHT_CHANGE = (-0.05, 0.15)
MEDICAL_VALUES: dict[str, tuple[float, float]] = {
    "systolic_bp": (95, 200),
    "diastolic_bp": (55, 130),
    "hba1c": (4.5, 10.0),
    "fasting_glucose": (70, 250),
    "glucose": (70, 350),
    "ldl": (50, 240),
    "total_cholesterol": (120, 320),
    "hdl": (25, 90),
    "triglycerides": (50, 900),
}
#: The antipsychotic: none, taken for 1-8 years before enrollment, or started during the
#: episode (each as likely). Checks are drawn on the episode's visit days and on a day up to
#: MEDICAL_BASELINE_DAYS before a start during the episode: at each visit, at some, only at
#: the first, or never (each as likely), so checks fall due.
MEDICAL_LONG_STANDING_YEARS = (1, 8)
MEDICAL_BASELINE_DAYS = 60


@dataclass(frozen=True)
class Steering:
    """The options of a steered episode (checked by :func:`steering`)."""

    program: str | None
    status: str | None
    present: tuple[str, ...]
    trajectory: str | None
    safety: str | None
    shape: str
    weeks: tuple[int, int]
    data_errors: bool
    medical: bool = False


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise InvalidInput(f"unknown {name}", field=name, value=value, allowed=", ".join(allowed))


def steering(
    lib: MeasureLibrary,
    *,
    program: str | None,
    status: str | None,
    present: tuple[str, ...],
    trajectory: str | None,
    safety: str | None,
    shape: str,
    weeks_in_treatment: tuple[int, int] | None,
    data_errors: bool,
    medical: bool = False,
) -> Steering:
    """Check the options at once (an unknown value, a contradiction) and resolve defaults:
    a trajectory, safety option or shape without ``present`` steers the PHQ-9."""
    _one_of("program", program, PROGRAMS)
    _one_of("status", status, STATUSES)
    _one_of("trajectory", trajectory, TRAJECTORIES)
    _one_of("safety", safety, SAFETY)
    _one_of("shape", shape, SHAPES)
    if isinstance(present, str) or not all(isinstance(m, str) for m in present):
        raise TypeError(f"present must be a tuple of measure ids, got present={present!r}")
    ids = tuple(dict.fromkeys(lib.get_measure(m).id for m in present)) or ("phq9",)
    if safety is not None and shape == "total":
        raise InvalidInput(
            "a total alone cannot say whether the safety items are positive or negative",
            field="shape",
            value=shape,
            allowed="items, total_item9 or items_total with safety=",
        )
    lo, hi = weeks_in_treatment if weeks_in_treatment is not None else DEFAULT_WEEKS
    if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi):
        raise InvalidInput(
            "weeks_in_treatment must be (lowest, highest) whole weeks",
            field="weeks_in_treatment",
            value=weeks_in_treatment,
            allowed="0 <= lowest <= highest",
        )
    if not isinstance(data_errors, bool):
        raise TypeError(f"data_errors must be True or False, got data_errors={data_errors!r}")
    if not isinstance(medical, bool):
        raise TypeError(f"medical must be True or False, got medical={medical!r}")
    return Steering(program, status, ids, trajectory, safety, shape, (lo, hi), data_errors, medical)


# -- what a measure definition says ---------------------------------------------------------------


@dataclass(frozen=True)
class _Summed:
    """A measure whose total is the plain sum of some items, and what its targets say."""

    items: tuple[str, ...]
    ranges: tuple[tuple[int, int], ...]
    lo: int
    hi: int
    better_higher: bool
    response: float  # share of the distance to the best total that is a response
    remission_below: int | None
    change_points: int | None  # the measure's smallest reliable or meaningful change


def _values(defn: MeasureDefinition, item_id: str) -> list[int]:
    return sorted(v.value for v in defn.scales[defn.item(item_id).scale].values if not v.missing)


def _summed(defn: MeasureDefinition) -> _Summed | None:
    """The summed total of ``defn``, or None when its total is not a plain sum of whole,
    contiguous item values answered without skip logic."""
    if defn.total is None:
        return None
    ids = tuple(defn.total.items or [it.id for it in defn.items if it.scored])
    ranges = []
    for i in ids:
        values = _values(defn, i)
        if values != list(range(values[0], values[-1] + 1)) or defn.item(i).asked_when is not None:
            return None
        ranges.append((values[0], values[-1]))
    lo, hi = sum(r[0] for r in ranges), sum(r[1] for r in ranges)
    if [lo, hi] != list(defn.total.range):
        return None
    t = defn.targets
    response = t.response.min_reduction if t and t.response and t.response.min_reduction else None
    points = [x.points for x in (t.reliable_change, t.meaningful_change) if x and x.points] if t else []
    return _Summed(
        ids,
        tuple(ranges),
        lo,
        hi,
        bool(t and t.higher_is == "better"),
        response if response is not None else FALLBACK_RESPONSE_SHARE,
        t.remission.below if t and t.remission and t.remission.below is not None else None,
        min(points) if points else None,
    )


def _leaves(cond: Condition) -> list[Condition]:
    """The comparisons of one item inside a flag's condition (through ``any``/``all``)."""
    if cond.of is not None:
        return [cond]
    out: list[Condition] = []
    for part in (cond.any or []) + (cond.all or []):
        out += _leaves(part)
    return out


def _meets(leaf: Condition, value: int) -> bool:
    if leaf.equals is not None:
        return value == leaf.equals
    if leaf.in_ is not None:
        return value in leaf.in_
    ok = True
    if isinstance(leaf.at_least, int | float):
        ok = ok and value >= leaf.at_least
    if isinstance(leaf.at_most, int | float):
        ok = ok and value <= leaf.at_most
    return ok


def safety_leaves(defn: MeasureDefinition) -> list[Condition]:
    """The item comparisons of the measure's safety flags (empty: no safety items)."""
    return [leaf for f in defn.flags if f.safety for leaf in _leaves(f.when)]


@st.composite
def _safety_values(draw: DrawFn, defn: MeasureDefinition, positive: bool) -> dict[str, int]:
    """Fixed answers to the items the safety flags read: one raising a flag (an item asked
    without skip logic) for ``positive``; every one at a value that raises none otherwise."""
    leaves = safety_leaves(defn)
    if positive:
        direct = [leaf for leaf in leaves if defn.item(str(leaf.of)).asked_when is None]
        leaf = draw(st.sampled_from(direct))
        item = str(leaf.of)
        return {item: draw(st.sampled_from([v for v in _values(defn, item) if _meets(leaf, v)]))}
    out = {}
    for item in dict.fromkeys(str(leaf.of) for leaf in leaves):
        calm = [v for v in _values(defn, item) if not any(_meets(x, v) for x in leaves if x.of == item)]
        out[item] = draw(st.sampled_from(calm))
    return out


@st.composite
def _answers(draw: DrawFn, defn: MeasureDefinition, fixed: Mapping[str, int], total: int | None) -> dict[str, Any]:
    """Answers by item id: ``fixed`` ones as given, the summed items adding up to ``total``
    (when given), the rest drawn from their scales; skip logic applied (skipped: None)."""
    summed = _summed(defn) if total is not None else None
    rnd = draw(st.randoms(use_true_random=False))
    values: dict[str, Any] = {}
    if summed is not None and total is not None:
        level = [fixed.get(i, lo) for i, (lo, _) in zip(summed.items, summed.ranges, strict=True)]
        room = [0 if i in fixed else hi - lo for i, (lo, hi) in zip(summed.items, summed.ranges, strict=True)]
        extra = max(0, min(total - sum(level), sum(room)))
        while extra:
            k = rnd.choice([n for n, r in enumerate(room) if r])
            level[k] += 1
            room[k] -= 1
            extra -= 1
        values.update(zip(summed.items, level, strict=True))
    values.update(fixed)
    scorer = scorer_for(defn)
    asked = dict(scorer.plan(scorer.params_default).asked)
    env: dict[str, Any] = dict.fromkeys(scorer.ids)
    for it in defn.items:
        if it.asked_when is None and it.id not in values:
            values[it.id] = rnd.choice(_values(defn, it.id)) if it.required or rnd.random() < 0.5 else None
    env.update(scorer.normalize({k: v for k, v in values.items() if defn.item(k).asked_when is None}))
    for it in defn.items:
        if it.asked_when is None:
            continue
        if asked[it.id](env) is False:
            values[it.id] = None
            env[it.id] = NOT_ASKED
        else:
            values[it.id] = values.get(it.id, rnd.choice(_values(defn, it.id)))
            env[it.id] = values[it.id]
    return {it.id: values.get(it.id) for it in defn.items}


# -- trajectories -------------------------------------------------------------------------------


def _uniform(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Whole numbers in [lo, hi], each as likely (``st.integers`` favours small values and
    edges, which would make some courses rare)."""
    return st.sampled_from(range(lo, hi + 1))


def _course(draw: DrawFn, s: _Summed, trajectory: str, n: int) -> list[int]:
    """``n`` totals following ``trajectory``, computed as severities (0 = the best total)."""
    span = s.hi - s.lo
    base = draw(_uniform(math.ceil(span * (1 - BASELINE_UPPER_SHARE)), span))
    responded = math.floor(base * (1 - s.response))  # the highest severity that is a response
    change = s.change_points or 1
    if trajectory in ("improving", "relapse"):
        best = (s.remission_below - s.lo) - 1 if s.remission_below is not None and not s.better_higher else 0
        # a remission, or a response short of it (as often as each other)
        remits = best >= 0 and (best >= responded or draw(st.booleans()))
        final = draw(_uniform(0, min(best, responded)) if remits else _uniform(min(best + 1, responded), responded))
        final = final if n > 1 else base
        # where the improvement is reached, then held (before the latest, for a relapse)
        reach = draw(_uniform(1, max(1, n - (2 if trajectory == "relapse" else 1))))
        path = [base + (final - base) * min(1.0, i / reach) for i in range(n)]
        sev = [round(x) for x in path]
        if trajectory == "relapse" and n > 2:
            sev[-1] = draw(_uniform(min(span, max(responded + 1, sev[-2] + change)), span))
    elif trajectory == "not_improving":
        floor_ = max(responded + 1, base - change + 1) if s.change_points else responded + 1
        floor_ = min(floor_, base)
        sev = [draw(_uniform(floor_, min(span, base + change))) for _ in range(n)]
        sev[0] = base
    else:  # worsening: the latest rises above the one before by at least the measure's change
        sev = [draw(_uniform(0, span)) for _ in range(n)]
        if n > 1:
            prev = min(sev[-2], span - change)
            sev[-2] = prev
            sev[-1] = draw(_uniform(prev + change, min(span, prev + max(change, span // 3))))
    return [s.hi - x if s.better_higher else s.lo + x for x in sev]


# -- the episode ----------------------------------------------------------------------------------


def _iso(day: _dt.date) -> str:
    return day.isoformat()


def _shaped(
    defn: MeasureDefinition, answers: dict[str, Any], total: int | None, shape: str, day: _dt.date
) -> dict[str, Any]:
    a: dict[str, Any] = {"measure": defn.id, "date": _iso(day)}
    safety_items = [it.id for it in defn.items if it.safety]
    if total is None or shape == "items":
        a["answers"] = [answers[it.id] for it in defn.items]
    elif shape == "items_total":
        a["answers"] = [answers[it.id] for it in defn.items]
        a["total"] = total
    elif shape == "total_item9" and safety_items:
        a["answers"] = {i: answers[i] for i in safety_items if answers[i] is not None}
        a["total"] = total
    else:
        a["total"] = total
    return a


@st.composite
def _series_dates(draw: DrawFn, start: _dt.date, latest: _dt.date, least: int) -> list[_dt.date]:
    span = (latest - start).days
    if span == 0:
        return [start]
    inner = (
        draw(st.lists(st.integers(1, span - 1), unique=True, max_size=min(MAX_SERIES - 2, span - 1)))
        if span > 1
        else []
    )
    days = [0, *sorted(inner), span]
    if len(days) < least and span > 1:
        days = sorted({0, *days, span // 2})
    return [start + _dt.timedelta(days=d) for d in days]


def _series(
    draw: DrawFn, defn: MeasureDefinition, days: list[_dt.date], st_: Steering
) -> tuple[list[dict[str, Any]], list[int | None]]:
    """The administrations of one present measure on ``days``, following the trajectory (or
    one drawn for it), the latest with the safety answers asked for."""
    summed = _summed(defn)
    fixed: dict[str, int] = {}
    if safety_leaves(defn) and st_.safety is not None:
        fixed = draw(_safety_values(defn, st_.safety == "positive"))
    totals: list[int | None] = [None] * len(days)
    if summed is not None:
        trajectory = st_.trajectory or draw(st.sampled_from(TRAJECTORIES))
        # the whole course stays within what the latest can reach with its safety answers
        ranges = dict(zip(summed.items, summed.ranges, strict=True))
        held = sum(ranges[i][1] - v for i, v in fixed.items() if i in ranges)
        course = replace(summed, hi=summed.hi - held) if not summed.better_higher else summed
        totals = list(_course(draw, course, trajectory, len(days)))
    item_levels = _item_course(draw, defn, st_.trajectory, len(days)) if summed is None else [{} for _ in days]
    out = []
    for n, (day, total) in enumerate(zip(days, totals, strict=True)):
        latest = n == len(days) - 1
        answers = draw(_answers(defn, {**item_levels[n], **(fixed if latest else {})}, total))
        if summed is not None:
            total = sum(answers[i] for i in summed.items)  # the total the scorer recomputes
            totals[n] = total
        out.append(_shaped(defn, answers, total, st_.shape, day))
    return out, totals


def _item_course(draw: DrawFn, defn: MeasureDefinition, trajectory: str | None, n: int) -> list[dict[str, int]]:
    """For a measure rated item by item with no total (its item levels reported, e.g. the
    psychosis dimensions) and a trajectory asked for: one item, drawn, follows it on every
    administration (the others are drawn freely). ``"not_improving"`` holds the item at its
    baseline level or above; the other trajectories follow the item's own scale as a total
    would, with half the distance to the best value as the response and one step as the
    change. Nothing is held without a trajectory (the draws stay as they were)."""
    if trajectory is None or not defn.report_item_levels:
        return [{} for _ in range(n)]
    item = draw(st.sampled_from([it.id for it in defn.items if it.asked_when is None]))
    values = _values(defn, item)
    lo, hi = values[0], values[-1]
    if values != list(range(lo, hi + 1)):
        return [{} for _ in range(n)]
    if trajectory == "not_improving":
        base = draw(_uniform(lo + math.ceil((hi - lo) * (1 - BASELINE_UPPER_SHARE)), hi))
        course = [base, *(draw(_uniform(base, hi)) for _ in range(n - 1))]
    else:
        one = _Summed((item,), ((lo, hi),), lo, hi, False, FALLBACK_RESPONSE_SHARE, None, None)
        course = _course(draw, one, trajectory, n)
    return [{item: v} for v in course]


def _contact(draw: DrawFn, day: _dt.date, kind: str) -> dict[str, Any]:
    minutes = draw(st.one_of(st.sampled_from(TYPICAL_MINUTES), st.sampled_from(MINUTES)))
    c: dict[str, Any] = {"date": _iso(day), "kind": kind, "minutes": minutes}
    role: str | None = "psychiatric_consultant" if kind == "psychiatric_consultation" else "care_manager"
    if draw(_uniform(0, ODD_ROLE_ONE_IN - 1)) == 0:
        role = draw(st.sampled_from((None, *CONTACT_ROLES)))
    if role is not None:
        c["role"] = role
    return c


def _day(draw: DrawFn, lo: _dt.date, hi: _dt.date) -> _dt.date:
    """A day in [lo, hi], each as likely."""
    return _dt.date.fromordinal(draw(_uniform(lo.toordinal(), max(lo, hi).toordinal())))


def _event_day(draw: DrawFn, start: _dt.date, as_of: _dt.date) -> _dt.date:
    """A day in the episode: as often in the last :data:`RECENT_EVENT_DAYS` as anywhere."""
    recent = max(start, as_of - _dt.timedelta(days=RECENT_EVENT_DAYS))
    return _day(draw, recent, as_of) if draw(st.booleans()) else _day(draw, start, as_of)


def _smi_events(draw: DrawFn, start: _dt.date, as_of: _dt.date) -> list[dict[str, Any]]:
    """A baseline housing, employment and education status at enrollment, later changes,
    and hospitalizations and ED visits."""
    events: list[dict[str, Any]] = []
    for kind, statuses in (("housing", HOUSING), ("employment", EMPLOYMENT), ("education", EDUCATION)):
        if draw(_uniform(0, 3)):
            events.append({"date": _iso(start), "kind": kind, "status": draw(st.sampled_from(statuses))})
            for _ in range(draw(_uniform(0, 2))):
                day = _event_day(draw, start, as_of)
                events.append({"date": _iso(day), "kind": kind, "status": draw(st.sampled_from(statuses))})
    for kind in ("hospitalization", "ed_visit"):
        for _ in range(draw(_uniform(0, 1))):
            events.append({"date": _iso(_event_day(draw, start, as_of)), "kind": kind})
    return sorted(events, key=lambda e: e["date"])


@st.composite
def steered_episode(
    draw: DrawFn,
    as_of: _dt.date,
    steer: Steering,
    noise_measures: tuple[str, ...],
    max_a: int,
    max_c: int,
    lib: MeasureLibrary,
    noise: Any,
) -> dict[str, Any]:
    """An episode whose ``present`` measures form dated series from the initial assessment to
    the latest follow-up, with contacts on the same days; ``noise(draw, measure, lo, hi)``
    draws one unsteered administration of another measure."""
    weeks_lo, weeks_hi = steer.weeks
    span = draw(_uniform(weeks_lo * 7, weeks_hi * 7 + 6))
    start = as_of - _dt.timedelta(days=span)  # the initial assessment
    # seen recently, a follow-up or two missed, seen last at any time, or never seen again
    # after the initial assessment
    gap = min(
        span,
        draw(st.one_of(_uniform(0, RECENT_DAYS), _uniform(RECENT_DAYS, MISSED_DAYS), _uniform(0, span), st.just(span))),
    )
    latest = as_of - _dt.timedelta(days=gap)
    days = draw(_series_dates(start, latest, 3 if steer.trajectory == "relapse" else 2))
    series: list[dict[str, Any]] = []
    for m in steer.present:
        series += _series(draw, lib.get_measure(m), days, steer)[0]
    assessments = list(series)
    careful = {m for m in lib if safety_leaves(lib[m])} if steer.safety is not None else set()
    others = tuple(m for m in noise_measures if m not in steer.present and m not in careful)
    if others:
        for _ in range(draw(st.integers(0, max_a // 2))):
            assessments.append(noise(draw, draw(st.sampled_from(others)), start - _dt.timedelta(days=30), latest))
    contacts = [_contact(draw, days[0], "initial_assessment")]
    contacts += [_contact(draw, d, "follow_up") for d in days[1:]]
    extra = ("psychiatric_consultation", "case_review", "other", "follow_up")
    for _ in range(draw(_uniform(0, min(EXTRA_CONTACTS, max_c)))):
        contacts.append(_contact(draw, _day(draw, start, latest), draw(st.sampled_from(extra))))
    enrolled = start - _dt.timedelta(days=draw(_uniform(0, 14)))
    status = steer.status or draw(st.sampled_from(STATUSES))
    record: dict[str, Any] = {
        "patient_id": draw(st.from_regex(r"P[0-9]{1,6}", fullmatch=True)),
        "program": steer.program or draw(st.sampled_from(PROGRAMS)),
        "enrollment_date": _iso(enrolled),
        "status": status,
        "assessments": sorted(assessments, key=lambda a: a["date"]),
        "contacts": sorted(contacts, key=lambda c: c["date"]),
    }
    sex = draw(st.sampled_from((None, "female", "male")))
    if sex is not None:
        record["sex"] = sex
    if draw(_uniform(0, ODD_ONE_IN - 1)):
        record["consent_date"] = _iso(start)
    if draw(_uniform(0, ODD_ONE_IN - 1)) == 0:
        record["billed_services"] = [{"code": GENERAL_BHI_CODE, "date": _iso(_day(draw, as_of.replace(day=1), as_of))}]
    if status == "relapse_prevention_plan" or draw(st.booleans()):
        record["relapse_prevention_plan_date"] = _iso(_day(draw, start, as_of))
    if draw(st.booleans()):
        record["recommendations"] = [
            {
                "date": _iso(_day(draw, start, as_of)),
                "status": draw(st.sampled_from(("pending", "implemented", "declined"))),
            }
            for _ in range(draw(st.integers(1, 2)))
        ]
    if record["program"] == "smi" or draw(_uniform(0, ODD_ONE_IN - 1)) == 0:
        record["smi_events"] = _smi_events(draw, enrolled, as_of)
    if steer.data_errors:
        _data_errors(draw, record, lib, series, others, latest, noise)
    if steer.medical:
        _medical(draw, record, days, enrolled, as_of)
    return record


def _data_errors(
    draw: DrawFn,
    record: dict[str, Any],
    lib: MeasureLibrary,
    series: list[dict[str, Any]],
    others: tuple[str, ...],
    latest: _dt.date,
    noise: Any,
) -> None:
    """At least one of: a reported total that disagrees with the answers (on the latest
    administration of a present measure sent as items), an invalid administration of another measure, a record
    set aside (a contact whose date could not be read)."""
    kinds = draw(st.lists(st.sampled_from(("mismatch", "invalid", "set_aside")), min_size=1, max_size=3, unique=True))
    if "mismatch" in kinds:
        latest_of = {a["measure"]: a for a in series}  # the facts read the latest administration
        listed = [a for a in latest_of.values() if isinstance(a.get("answers"), list)]
        summed = [(a, s) for a in listed if (s := _summed(lib[a["measure"]])) is not None]
        if summed:
            a, s = draw(st.sampled_from(summed))
            order = [it.id for it in lib[a["measure"]].items]
            total = sum(a["answers"][order.index(i)] for i in s.items)
            a["total"] = draw(st.sampled_from([t for t in (total - 1, total + 1) if s.lo <= t <= s.hi]))
    if "invalid" in kinds and others:
        bad = noise(draw, draw(st.sampled_from(others)), latest, latest, invalid=True)
        record["assessments"] = sorted([*record["assessments"], bad], key=lambda a: a["date"])
    if "set_aside" in kinds:
        record["set_aside"] = [{"kind": "contact", "reason": "generated: its date could not be read"}]


# -- medical outcomes ----------------------------------------------------------------------------


def _between(draw: DrawFn, lo: float, hi: float) -> float:
    """A number in [lo, hi] to 0.1, each as likely."""
    return draw(_uniform(round(lo * 10), round(hi * 10))) / 10


def _in_unit(draw: DrawFn, kind: str, canonical: float) -> tuple[float, str]:
    """``canonical`` (in the facts' unit) written in one of the kind's accepted UCUM units,
    to 0.1 (every conversion in :mod:`cocm_rules._units` is affine, so it is inverted from two
    points)."""
    code = draw(st.sampled_from(sorted(UNITS[kind])))
    convert = UNITS[kind][code].convert
    at0, per = convert(0.0), convert(1.0) - convert(0.0)
    return max(0.1, round((canonical - at0) / per, 1)), code


def _checked(draw: DrawFn, visits: list[_dt.date]) -> list[_dt.date]:
    """The visit days a check was done on: each, some, the first only, or none."""
    how = draw(st.sampled_from(("each", "some", "first", "none")))
    if how == "each":
        return visits
    if how == "first":
        return visits[:1]
    if how == "none":
        return []
    return [d for d in visits if draw(st.booleans())]


def _medical(draw: DrawFn, record: dict[str, Any], days: list[_dt.date], enrolled: _dt.date, as_of: _dt.date) -> None:
    """An antipsychotic (or none) and the observations of metabolic monitoring: body weight
    (in kg, g or lb) with a BMI, blood pressure, a glucose or HbA1c, lipids, each checked at
    every visit, some, the first only or never, with values on either side of the bundled
    cut-offs; and a tobacco smoking status at the latest or the first visit (or none)."""
    visits = sorted(set(days))
    kind = draw(st.sampled_from(("none", "long_standing", "new")))
    if kind == "long_standing":
        years = draw(_uniform(*MEDICAL_LONG_STANDING_YEARS))
        start = enrolled - _dt.timedelta(days=years * 365 + draw(_uniform(0, 364)))
        record["medications"] = [{"kind": "antipsychotic", "start_date": _iso(start), "name": "antipsychotic"}]
    elif kind == "new":
        start = _day(draw, visits[0], as_of)
        record["medications"] = [{"kind": "antipsychotic", "start_date": _iso(start), "name": "antipsychotic"}]
        before = start - _dt.timedelta(days=draw(_uniform(0, MEDICAL_BASELINE_DAYS)))
        visits = sorted({before, *visits})
    observations: list[dict[str, Any]] = []

    def observe(day: _dt.date, kind: str, canonical: float) -> None:
        value, unit = _in_unit(draw, kind, canonical)
        observations.append({"date": _iso(day), "kind": kind, "value": value, "unit": unit})

    weighed = _checked(draw, visits)
    if weighed:
        height = _between(draw, *MEDICAL_HEIGHT_M)
        first = _between(draw, *MEDICAL_WEIGHT_KG)
        change = _between(draw, *MEDICAL_WEIGHT_CHANGE) if len(weighed) > 1 else 0.0
        span = max(1, (weighed[-1] - weighed[0]).days)
        for d in weighed:
            kg = first * (1 + change * (d - weighed[0]).days / span)
            observe(d, "body_weight", kg)
            if draw(st.booleans()):
                observe(d, "bmi", kg / height**2)
    for d in _checked(draw, visits):
        for bp in ("systolic_bp", "diastolic_bp"):
            observe(d, bp, round(_between(draw, *MEDICAL_VALUES[bp])))
    for d in _checked(draw, visits):
        glucose = draw(st.sampled_from(("hba1c", "fasting_glucose", "glucose")))
        observe(d, glucose, _between(draw, *MEDICAL_VALUES[glucose]))
    for d in _checked(draw, visits):
        panel = draw(st.sets(st.sampled_from(("ldl", "total_cholesterol", "hdl", "triglycerides")), min_size=1))
        for lipid in sorted(panel):
            observe(d, lipid, _between(draw, *MEDICAL_VALUES[lipid]))
    asked = draw(st.sampled_from((visits[-1], visits[0], None)))
    if asked is not None:
        observations.append(
            {"date": _iso(asked), "kind": "smoking_status", "status": draw(st.sampled_from(SMOKING_STATUSES))}
        )
    if observations:
        record["observations"] = sorted(observations, key=lambda o: o["date"])
