"""Synthetic Collaborative Care caseloads: realistic, deterministic, streamed.

:func:`generate` yields patient episode records (plain JSON-able dicts, dates as ISO strings)
that :func:`cocm_rules.parse_episode` accepts, one patient at a time, so a benchmark can
stream hundreds of thousands of patients in flat memory. :func:`write_caseload` writes them
to a ``.jsonl`` (JSON Lines) or ``.json`` (one JSON list) file::

    import datetime as dt
    from cocm_rules.synth import generate, write_caseload

    for record in generate(100, seed=7, as_of=dt.date(2026, 11, 20)):
        ...
    write_caseload("caseload.jsonl", 60, seed=2026, as_of=dt.date(2026, 11, 20))

The output is a pure function of the arguments (and the bundled measure definitions, which
give each instrument's item count and answer range): the same arguments give the same records,
byte for byte, and no wall clock is read. Patient ``k`` (``P{k+1:06d}``) depends only on
``k``, the seed, ``as_of``, ``smi_share`` and ``care_managers`` (the host-data flags below
change only the parts they name), never on how many patients are generated, so the first ten
patients of a caseload of 50 are the caseload of 10. Only ``Random.random()`` is used, the one
sequence Python promises to keep across versions, so a committed caseload does not drift.

Each patient follows one :class:`Archetype` of :data:`ARCHETYPES` (responders, non-responders,
drop-outs, suicide-item positives, patients in a serious-mental-illness program, ...). Patient
``k`` is assigned one by a low-discrepancy (golden-ratio) sequence, so the documented shares
hold closely even in a small caseload; :func:`archetype_of` tells which archetype a patient
has (an episode record has no field for it).

**Everything here is synthetic.** The shares, timings and score trajectories below are
choices of this generator, named as module constants, meant to give plausible data that
exercise the facts and the default rulesets (all but the adolescent PHQ-A rule and the SMI
rules on the BPRS, the MDQ and persistent mania: no PHQ-A, BPRS or MDQ is generated, and a
manic patient's ASRM is positive at the latest administration only). Medical outcomes of SMI
patients (antipsychotics, vital signs, labs, smoking) come with ``medical=True``. None of
them is a clinical fact or cut-off. Where a course must meet a clinical definition (a
response, a remission), the definition is read from the measure's ``targets`` in
``measures/*.yaml``, and item counts and answer ranges from its items and scales.

Item answers are internally consistent: each administration gets a target total, spread over
the items within each item's allowed range, so the scorer recomputes exactly that total.
Deliberate data problems exercise the data-quality path: a small share of administrations
carry a host-reported ``total`` equal to the item sum (``reported_totals``), a rarer one a
total that disagrees (``total_mismatches``), and a rarer one an out-of-range answer
(``invalid_answers``). ``clean=True`` turns the two deliberate errors off; the rest of every
record is unchanged (those decisions use a separate random stream).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any, Literal

from ._log import get_logger
from .errors import InvalidInput
from .measures import load_measures

__all__ = [
    "ARCHETYPES",
    "Archetype",
    "archetype_of",
    "generate",
    "write_caseload",
]

log = get_logger(__name__)


# -- the archetypes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Archetype:
    """A kind of patient course, with its share of the generated caseload.

    ``share`` is the share among the patients of the archetype's ``program``: CoCM archetypes
    share the ``1 - smi_share`` part of the caseload, SMI archetypes the ``smi_share`` part.
    ``active_weeks`` is the range of whole weeks from the initial assessment to the last
    contact (to ``as_of`` for a patient still in care); ``gap_days`` the range of days from
    the last contact to ``as_of`` (0 for a patient still in care). For ``new_referral``,
    ``gap_days`` is the age of the referral (there is no initial assessment yet).
    """

    name: str
    program: Literal["cocm", "smi"]
    share: float
    description: str
    active_weeks: tuple[int, int] = (0, 0)
    gap_days: tuple[int, int] = (0, 0)


#: The patient archetypes and their shares (generator choices, not epidemiology).
ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "responder",
        "cocm",
        0.16,
        "PHQ-9 (baseline 10-24) falls by 50-90% within 6-12 weeks; the lowest reach remission (< 5)",
        (10, 26),
    ),
    Archetype(
        "partial_responder",
        "cocm",
        0.10,
        "PHQ-9 falls by 25-49% within 6-12 weeks and stays there",
        (10, 26),
    ),
    Archetype(
        "non_responder",
        "cocm",
        0.10,
        "PHQ-9 flat or worse after 10+ weeks; half are never discussed with the psychiatric consultant",
        (10, 30),
    ),
    Archetype(
        "worsening",
        "cocm",
        0.06,
        "PHQ-9 rises by 5-8 points at the latest measurement",
        (4, 30),
    ),
    Archetype(
        "early_treatment",
        "cocm",
        0.08,
        "initial assessment in the last 6 weeks; baseline PHQ-9 and at most a few follow-ups",
        (0, 6),
    ),
    Archetype(
        "new_referral",
        "cocm",
        0.04,
        "referred 0-45 days ago, no initial assessment yet; half have a screening PHQ-9 from the referral",
        (0, 0),
        (0, 45),
    ),
    Archetype(
        "lost_to_follow_up",
        "cocm",
        0.07,
        "still in active treatment, but contacts stopped 3-26 weeks before as_of",
        (2, 16),
        (21, 180),
    ),
    Archetype(
        "suicide_item_positive",
        "cocm",
        0.06,
        "latest PHQ-9 item 9 at 1-3, a third with a low total; most also have a C-SSRS screener "
        "(none, low, moderate or high) the same day",
        (0, 30),
    ),
    Archetype(
        "safety_item_missing",
        "cocm",
        0.02,
        "latest PHQ-9 has item 9 unanswered (the total is prorated; risk cannot be ruled out)",
        (2, 30),
    ),
    Archetype(
        "anxiety",
        "cocm",
        0.08,
        "GAD-7 series (baseline 10-21) responding, partly responding, flat or worsening; most also track the PHQ-9",
        (2, 30),
    ),
    Archetype(
        "ptsd",
        "cocm",
        0.04,
        "PCL-5 series (baseline 33-70) improving, flat or worsening; most also track the PHQ-9",
        (2, 30),
    ),
    Archetype(
        "remission_with_plan",
        "cocm",
        0.07,
        "PHQ-9 in remission for 8+ weeks and a relapse prevention plan; most on the relapse "
        "prevention plan status, some with symptoms returning at the latest measurement",
        (22, 48),
    ),
    Archetype(
        "remission_without_plan",
        "cocm",
        0.04,
        "PHQ-9 in remission for 8+ weeks, still in active treatment, no relapse prevention plan",
        (24, 44),
    ),
    Archetype(
        "discharged",
        "cocm",
        0.05,
        "responded (half in remission) or partly responded; discharged 1-14 weeks before as_of, "
        "most with a relapse prevention plan",
        (16, 34),
        (7, 98),
    ),
    Archetype(
        "inactive",
        "cocm",
        0.03,
        "status inactive; contacts stopped 4-21 weeks before as_of",
        (4, 24),
        (30, 150),
    ),
    Archetype(
        "smi_stable",
        "smi",
        0.50,
        "SMI program: ASRM, psychosis dimensions, WHODAS-12 and RAS-R steady or improving; "
        "housing, employment and education events, some old hospitalizations",
        (4, 48),
    ),
    Archetype(
        "smi_destabilizing",
        "smi",
        0.35,
        "SMI program: a recent hospitalization or ED visit, lost housing, employment or education, "
        "worsening psychosis dimensions, function or recovery (at least one of these)",
        (4, 48),
    ),
    Archetype(
        "smi_mania",
        "smi",
        0.15,
        "SMI program: latest ASRM positive (6-14), the mania dimension rated higher",
        (4, 48),
    ),
)

# -- generator parameters (choices of this generator, not clinical facts) ------------------------

#: Default share of patients in the serious-mental-illness program.
SMI_SHARE = 0.15
#: Enrollment dates fall within this many days before ``as_of``.
ENROLLMENT_WINDOW_DAYS = 365
#: Days from referral to the initial assessment.
INITIAL_ASSESSMENT_DELAY_DAYS = (0, 10)
#: Follow-up about every 2 weeks for the first ~12 weeks, then about monthly (IMPACT cadence).
ACUTE_PHASE_DAYS = 84
ACUTE_FOLLOW_UP_DAYS = (11, 17)
CONTINUATION_FOLLOW_UP_DAYS = (25, 35)
#: Share of scheduled follow-ups that are missed (the next one comes an interval later).
MISSED_FOLLOW_UP_SHARE = 0.06
#: Share of new referrals with an outreach call (kind ``other``) before the initial assessment,
#: and its minutes (inclusive range).
OUTREACH_SHARE = 0.5
OUTREACH_MINUTES = (5, 20)
#: Share of early-treatment patients still waiting for their first follow-up.
FIRST_FOLLOW_UP_PENDING_SHARE = 0.2
#: Share of check-ins skipped after a relapse prevention plan (contacts become less frequent).
PLAN_CHECK_IN_SKIPPED_SHARE = 0.35
#: Share of follow-ups that include the tracked measures (the initial assessment and the latest
#: contact always do).
MEASURED_FOLLOW_UP_SHARE = 0.85
#: Extra care-manager contacts (kind ``other``: coordination calls, messages) per follow-up.
OTHER_CONTACT_SHARE = 0.12
#: Minutes per contact, by kind (inclusive ranges).
MINUTES = {
    "initial_assessment": (30, 60),
    "follow_up": (15, 45),
    "psychiatric_consultation": (30, 60),
    "case_review": (15, 25),
    "other": (15, 30),
}
#: Whose time each kind of contact records: the care manager's (a case review records the care
#: manager's minutes), except a psychiatric consultation (the consultant's). Consent to
#: Collaborative Care is recorded on the day of the initial assessment.
CONTACT_ROLES = {
    "initial_assessment": "care_manager",
    "follow_up": "care_manager",
    "psychiatric_consultation": "psychiatric_consultant",
    "case_review": "care_manager",
    "other": "care_manager",
}
#: Share of women (used as the AUDIT-C scoring context).
FEMALE_SHARE = 0.62
#: Share of patients with an AUDIT-C at the initial assessment (CoCM, SMI).
AUDITC_SHARE = {"cocm": 0.35, "smi": 0.5}
#: Share of CoCM patients with a routine C-SSRS screener at the initial assessment.
ROUTINE_CSSRS_SHARE = 0.12
#: Share of patients whose forms include the unscored difficulty item (PHQ-9 item 10, GAD-7).
DIFFICULTY_ITEM_SHARE = 0.5
#: Share of patients reviewed with the psychiatric consultant soon after the initial assessment.
NEW_PATIENT_REVIEW_SHARE = 0.8
#: Share of non-responding patients never discussed with the psychiatric consultant.
NEVER_REVIEWED_SHARE = 0.5
#: Share of case reviews and consultations that produce a recommendation.
RECOMMENDATION_SHARE = 0.6
#: Share of older recommendations still pending (newer ones are often pending).
STALE_PENDING_SHARE = 0.15
#: Share of SMI patients who also track the PHQ-9.
SMI_PHQ9_SHARE = 0.5
#: SMI measures other than the ASRM are repeated about every this many days.
SMI_MEASURE_INTERVAL_DAYS = 84
#: Days until a course reaches its final level (a response within 6-12 weeks).
EFFECT_DAYS = (42, 84)
#: Days a remission has lasted, at least, by the latest measurement in the remission archetypes.
REMISSION_RUN_DAYS = 56
#: Points a ``worsening`` course rises by at its latest measurement.
WORSENING_POINTS = (5, 8)
#: Host data, per administration: a reported total equal to the item sum; a reported total
#: that differs from it; an answer out of the item's range (:data:`INVALID_ANSWER`).
REPORTED_TOTAL_SHARE = 0.05
TOTAL_MISMATCH_SHARE = 0.004
INVALID_ANSWER_SHARE = 0.002
#: The out-of-range answer written when an invalid answer is injected (no bundled scale has it).
INVALID_ANSWER = 7
#: Medical outcomes of SMI patients (``medical=True``): share on an antipsychotic; share of
#: those who start it during the episode (the others have taken it for 1-8 years); share of
#: those on one who gain 5-12% of their weight; shares of labs sent in mmol/L and of BP
#: readings in the severe range; tobacco smoking statuses with their shares.
MEDICAL_ANTIPSYCHOTIC_SHARE = 0.75
MEDICAL_NEW_START_SHARE = 0.4
MEDICAL_WEIGHT_GAIN_SHARE = 0.35
MEDICAL_SI_UNITS_SHARE = 0.15
MEDICAL_SEVERE_BP_SHARE = 0.04
#: Share of SMI patients weighed, and share whose blood pressure is taken, only at the initial
#: assessment (so some checks fall due).
MEDICAL_CHECK_MISSED_SHARE = 0.15
MEDICAL_SMOKING = (("current_every_day", 0.45), ("current_some_days", 0.1), ("former", 0.2), ("never", 0.25))

_SEED_PREFIX = "cocm_rules.synth"
_INV_PHI = (math.sqrt(5) - 1) / 2  # golden-ratio step of the archetype sequence
_PICK_MODE = "pick"
_CARE_MANAGER_MODES = (("phone", 0.5), ("in_person", 0.25), ("video", 0.25))


# -- archetype assignment ----------------------------------------------------------------------


def _cumulative(program: str) -> list[tuple[float, Archetype]]:
    total = 0.0
    out = []
    for a in ARCHETYPES:
        if a.program == program:
            total += a.share
            out.append((total, a))
    return out


_CUMULATIVE = {"cocm": _cumulative("cocm"), "smi": _cumulative("smi")}


def _pick(table: list[tuple[float, Archetype]], u: float) -> Archetype:
    scaled = u * table[-1][0]
    for edge, a in table:
        if scaled < edge:
            return a
    return table[-1][1]


def _rng(seed: int, *parts: object) -> random.Random:
    """A random stream for synthetic data (not cryptography), named by the seed and ``parts``.
    String seeds are hashed with SHA-512 by :class:`random.Random`: the same on every run and
    platform, whatever PYTHONHASHSEED says."""
    return random.Random(":".join(map(str, (_SEED_PREFIX, seed, *parts))))  # noqa: S311


@cache
def _offset(seed: int) -> float:
    return _rng(seed, "archetypes").random()


def archetype_of(index: int, *, seed: int = 0, smi_share: float = SMI_SHARE) -> Archetype:
    """The archetype of patient ``index`` (0-based; patient id ``P{index+1:06d}``).

    A golden-ratio sequence over [0, 1) is split into the SMI part (``smi_share``) and the
    CoCM part, each divided by its archetypes' shares, so any run of consecutive patients has
    close to the documented shares.
    """
    _check_int("index", index, 0)
    _check_int("seed", seed)
    _check_share(smi_share)
    return _archetype(index, seed, float(smi_share))


def _archetype(index: int, seed: int, smi_share: float) -> Archetype:
    u = (_offset(seed) + (index + 1) * _INV_PHI) % 1.0
    if u < smi_share:
        return _pick(_CUMULATIVE["smi"], u / smi_share)
    return _pick(_CUMULATIVE["cocm"], (u - smi_share) / (1.0 - smi_share))


# -- argument checks ---------------------------------------------------------------------------


def _check_int(name: str, value: Any, minimum: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{name} must be a whole number", field=name, value=value)
    if minimum is not None and value < minimum:
        raise InvalidInput(f"{name} is too small", field=name, value=value, allowed=f">= {minimum}")


def _check_share(smi_share: Any) -> None:
    if isinstance(smi_share, bool) or not isinstance(smi_share, int | float) or not 0 <= smi_share <= 1:
        raise InvalidInput("smi_share must be a share", field="smi_share", value=smi_share, allowed="0 to 1")


def _check_as_of(as_of: Any) -> None:
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise InvalidInput("as_of must be a date (not a date-time)", field="as_of", value=as_of)
    if as_of.year < 2:
        raise InvalidInput("as_of leaves no room for a year of enrollments", field="as_of", value=as_of)


# -- measure shapes (from the bundled definitions) -----------------------------------------------


@dataclass(frozen=True)
class _Shape:
    ids: tuple[str, ...]  # ids of the scored items, first in item order
    lo: int  # lowest answer of the scored items
    hi: int  # highest answer
    tail: int | None  # highest answer of a trailing unscored item (difficulty), if the form has one
    response: float | None  # the measure's response definition: this share below the baseline
    remission_below: int | None  # the measure's remission definition: a total below this
    items: int = field(init=False)  # number of scored items
    top: int = field(init=False)  # highest possible total

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", len(self.ids))
        object.__setattr__(self, "top", len(self.ids) * self.hi)


_SHAPED = ("phq9", "gad7", "pcl5", "auditc", "asrm", "psychosis_dimensions", "whodas12", "ras")


@cache
def _shapes() -> dict[str, _Shape]:
    lib = load_measures()
    out = {}
    for m in _SHAPED:
        defn = lib.get_measure(m)
        scored = [it for it in defn.items if it.scored]
        rest = defn.items[len(scored) :]
        if defn.items[: len(scored)] != scored or len(rest) > 1:
            raise InvalidInput("the generator expects scored items first and at most one unscored item", measure=m)
        values = sorted({v.value for it in scored for v in defn.scales[it.scale].values if not v.missing})
        tail = max(v.value for v in defn.scales[rest[0].scale].values) if rest else None
        t = defn.targets
        response = t.response.min_reduction if t and t.response else None
        remission = t.remission.below if t and t.remission else None
        out[m] = _Shape(tuple(it.id for it in scored), values[0], values[-1], tail, response, remission)
    return out


def _spread(rng: random.Random, total: int, weights: Sequence[float], lo: int, hi: int) -> list[int]:
    """Answers for ``len(weights)`` items in [lo, hi] summing exactly to ``total``, roughly in
    proportion to ``weights`` (a patient's symptom profile)."""
    n = len(weights)
    span = hi - lo
    extra = total - n * lo
    if not 0 <= extra <= n * span:
        raise ValueError(f"total {total} is outside {n * lo}..{n * hi}")
    scale = extra / sum(weights)
    rand = rng.random
    vals = [min(span, int(w * scale + rand())) for w in weights]
    diff = extra - sum(vals)
    while diff:
        i = int(rng.random() * n)
        if diff > 0 and vals[i] < span:
            vals[i] += 1
            diff -= 1
        elif diff < 0 and vals[i] > 0:
            vals[i] -= 1
            diff += 1
    return [v + lo for v in vals] if lo else vals


# -- one patient -------------------------------------------------------------------------------


# Only ``Random.random()`` is used: Python guarantees its sequence for a given seed across
# versions, not that of randint, choice or sample, and the bundled example must not drift.


def _randint(rng: random.Random, lo: int, hi: int) -> int:
    """A whole number in [lo, hi]."""
    return lo + int(rng.random() * (hi - lo + 1))


def _uniform(rng: random.Random, lo: float, hi: float) -> float:
    """A number in [lo, hi)."""
    return lo + (hi - lo) * rng.random()


def _sample(rng: random.Random, values: Sequence[int], k: int) -> list[int]:
    """``k`` distinct elements of ``values`` (a partial Fisher-Yates shuffle)."""
    pool = list(values)
    for i in range(k):
        j = _randint(rng, i, len(pool) - 1)
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]


def _weighted(rng: random.Random, options: Sequence[tuple[Any, float]]) -> Any:
    u = rng.random()
    for value, share in options:
        if u < share:
            return value
        u -= share
    return options[-1][0]


class _Patient:
    """Builds one episode record; days are ordinals (``date.toordinal()``)."""

    def __init__(self, gen: _Generator, k: int, arch: Archetype) -> None:
        self.gen = gen
        self.arch = arch
        self.rng = _rng(gen.seed, k)
        self.host = _rng(gen.seed, k, "host")
        self.today = gen.today
        self.assessments: list[tuple[int, int, dict[str, Any]]] = []
        self.contacts: list[tuple[int, int, dict[str, Any]]] = []
        self.recommendations: list[dict[str, Any]] = []
        self.events: list[tuple[int, int, dict[str, Any]]] = []
        self.observations: list[tuple[int, int, dict[str, Any]]] = []
        self.medications: list[dict[str, Any]] = []
        self.k = k
        self.plan_day: int | None = None
        self.profiles: dict[str, list[float]] = {}
        rng = self.rng
        self.record: dict[str, Any] = {
            "patient_id": f"P{k + 1:06d}",
            "program": arch.program,
            "enrollment_date": None,
            "status": "active_treatment",
            "care_manager": f"cm{_randint(rng, 1, gen.care_managers)}",
            "sex": "female" if rng.random() < FEMALE_SHARE else "male",
        }
        self.difficulty = rng.random() < DIFFICULTY_ITEM_SHARE
        self.seq = 0
        self.enroll = self.ia = self.end = gen.today

    # -- timeline

    def timeline(self, min_contacts: int = 1) -> list[int]:
        """Pick the enrollment, initial assessment and last contact; return the contact days of
        the initial assessment and follow-ups (in order, at least ``min_contacts`` when the
        active period is longer than a day)."""
        rng, arch = self.rng, self.arch
        gap = _randint(rng, *arch.gap_days)
        active = _randint(rng, arch.active_weeks[0] * 7, arch.active_weeks[1] * 7 + 6)
        delay = _randint(rng, *INITIAL_ASSESSMENT_DELAY_DAYS)
        active = max(0, min(active, ENROLLMENT_WINDOW_DAYS - gap - delay))
        self.end = self.today - gap
        self.ia = self.end - active
        self.enroll = self.ia - delay
        days = [self.ia]
        t = self.ia
        while True:
            lo, hi = ACUTE_FOLLOW_UP_DAYS if t - self.ia < ACUTE_PHASE_DAYS else CONTINUATION_FOLLOW_UP_DAYS
            step = _randint(rng, lo, hi)
            if rng.random() < MISSED_FOLLOW_UP_SHARE:
                step += _randint(rng, lo, hi)
            t += step
            if t > self.end:
                break
            days.append(t)
        if gap and days[-1] != self.end:  # contacts stopped: the last one is exactly `gap` days ago
            if len(days) > 1 and self.end - days[-1] < ACUTE_FOLLOW_UP_DAYS[0]:
                days[-1] = self.end
            else:
                days.append(self.end)
        if len(days) < min_contacts and self.end > days[-1]:
            days.append(self.end)
        return days

    def contact(
        self, day: int, kind: str, mode: str | None = _PICK_MODE, minutes: tuple[int, int] | None = None
    ) -> None:
        """A contact on ``day``: by phone, in person or video unless ``mode`` says (``None``: no
        mode, as for a case review without the patient); minutes from :data:`MINUTES` unless
        ``minutes`` gives the range."""
        rng = self.rng
        if mode == _PICK_MODE:
            mode = _weighted(rng, _CARE_MANAGER_MODES)
        spent = _randint(rng, *(minutes or MINUTES[kind]))
        self.seq += 1
        contact = {"date": day, "kind": kind, "minutes": spent, "mode": mode, "role": CONTACT_ROLES[kind]}
        self.contacts.append((day, self.seq, contact))

    def care_contacts(self, days: list[int]) -> None:
        """The initial assessment, the follow-ups and occasional other care-manager contacts."""
        rng = self.rng
        self.contact(days[0], "initial_assessment", "in_person" if rng.random() < 0.7 else "video")
        for d in days[1:]:
            self.contact(d, "follow_up")
            if rng.random() < OTHER_CONTACT_SHARE:
                extra = d + _randint(rng, 2, 9)
                if extra <= self.end:
                    self.contact(extra, "other", "phone" if rng.random() < 0.6 else "secure_message")

    def measured(self, days: list[int], force_last: int = 1) -> list[int]:
        """The contact days on which the tracked measures are given."""
        rng = self.rng
        n = len(days)
        return [
            d for i, d in enumerate(days) if i == 0 or i >= n - force_last or rng.random() < MEASURED_FOLLOW_UP_SHARE
        ]

    def thin_follow_ups(self, after: int, share: float) -> None:
        """Drop a share of the follow-up contacts after ``after`` (the latest one stays)."""
        rng = self.rng
        last = max(c[0] for c in self.contacts)
        self.contacts = [
            c
            for c in self.contacts
            if not (c[2]["kind"] == "follow_up" and after < c[0] < last and rng.random() < share)
        ]

    # -- consultant reviews and recommendations

    def review(self, day: int, kind: str = "case_review") -> None:
        if day > self.end or day < self.ia:
            return
        rng = self.rng
        self.contact(day, kind, None if kind == "case_review" else ("in_person" if rng.random() < 0.5 else "video"))
        if rng.random() >= RECOMMENDATION_SHARE:
            return
        age = self.today - day
        u = rng.random()
        lag = _randint(rng, 2, 21)
        rec: dict[str, Any] = {"date": day, "status": "pending"}
        if age <= 21:
            if u < 0.4 and day + lag <= self.today:
                rec.update(status="implemented", resolved_date=day + lag)
        elif u >= STALE_PENDING_SHARE:
            rec.update(status="declined" if u > 0.93 else "implemented", resolved_date=min(day + lag, self.today))
        self.recommendations.append(rec)

    def reviews(self, policy: str) -> None:
        """Case reviews: ``never``; ``new`` (a new-patient review); ``nonresponse`` (a new-patient
        review, a review at weeks 8-12 and follow-up reviews); ``consult`` adds a psychiatric
        consultation at weeks 10-14."""
        if policy == "never":
            return
        rng = self.rng
        if rng.random() < NEW_PATIENT_REVIEW_SHARE:
            self.review(self.ia + _randint(rng, 5, 21))
        if policy in ("nonresponse", "consult"):
            day = self.ia + _randint(rng, 56, 84)
            while day <= self.end:
                self.review(day)
                if rng.random() < 0.5:
                    break
                day += _randint(rng, 28, 56)
        if policy == "consult" or (policy == "nonresponse" and rng.random() < 0.15):
            self.review(self.ia + _randint(rng, 70, 98), "psychiatric_consultation")

    # -- assessments

    def assess(self, measure: str, day: int, answers: list[Any]) -> None:
        """Record an administration; host-reported totals and injected errors come from the
        separate ``host`` stream, so switching them off changes nothing else."""
        shape = _shapes().get(measure)
        rec: dict[str, Any] = {"measure": measure, "date": day, "answers": answers}
        u = self.host.random()
        gen = self.gen
        if u < INVALID_ANSWER_SHARE:
            answered = [i for i, a in enumerate(answers) if a is not None]
            i = answered[_randint(self.host, 0, len(answered) - 1)]
            if gen.invalid_answers:
                answers[i] = INVALID_ANSWER
        elif shape is not None and measure != "psychosis_dimensions" and None not in answers[: shape.items]:
            total = sum(answers[: shape.items])
            if u < INVALID_ANSWER_SHARE + TOTAL_MISMATCH_SHARE:
                delta = (-3, -2, -1, 1, 2, 3)[_randint(self.host, 0, 5)]
                if not shape.items * shape.lo <= total + delta <= shape.items * shape.hi:
                    delta = -delta
                if gen.total_mismatches:
                    rec["total"] = total + delta
            elif u < INVALID_ANSWER_SHARE + TOTAL_MISMATCH_SHARE + REPORTED_TOTAL_SHARE and gen.reported_totals:
                rec["total"] = total
        self.seq += 1
        self.assessments.append((day, self.seq, rec))

    def profile(self, measure: str, n: int) -> list[float]:
        p = self.profiles.get(measure)
        if p is None:
            p = self.profiles[measure] = [0.5 + self.rng.random() for _ in range(n)]
        return p

    def items(self, measure: str, total: int) -> list[Any]:
        """Answers to ``measure`` adding up to ``total`` (plus the difficulty item on some forms)."""
        s = _shapes()[measure]
        answers: list[Any] = _spread(self.rng, total, self.profile(measure, s.items), s.lo, s.hi)
        if s.tail is not None and self.difficulty:
            answers.append(min(s.tail, total * (s.tail + 1) // (s.items * s.hi + 1)))
        return answers

    def phq9(self, day: int, total: int, item9: int | None = 0) -> None:
        """A PHQ-9 with ``total`` and item 9 as given (``None``: item 9 unanswered)."""
        s = _shapes()["phq9"]
        i9 = item9 or 0
        rest = max(0, min(total - i9, (s.items - 1) * s.hi))
        answers: list[Any] = _spread(self.rng, rest, self.profile("phq9", s.items - 1), s.lo, s.hi)
        answers.append(item9)
        if s.tail is not None and self.difficulty:
            answers.append(min(s.tail, total * (s.tail + 1) // (s.items * s.hi + 1)))
        self.assess("phq9", day, answers)

    def series(self, measure: str, days: list[int], totals: list[int]) -> None:
        for d, t in zip(days, totals, strict=True):
            self.assess(measure, d, self.items(measure, t))

    def cssrs(self, day: int, level: str) -> None:
        """A C-SSRS screener at ``level`` with the form's skip logic (3-5 only after yes to 2,
        6b only after yes to 6; skipped questions are null)."""
        rng = self.rng
        q1, q2, q3, q4, q5, q6, q6b = 0, 0, None, None, None, 0, None
        if level == "low":
            q1, q2 = 1, int(rng.random() < 0.4)
        elif level == "moderate":
            if rng.random() < 0.6:
                q1, q2, q3 = 1, 1, 1
            else:
                q1, q6, q6b = int(rng.random() < 0.5), 1, 0
        elif level == "high":
            if rng.random() < 0.6:
                q1, q2, q3 = 1, 1, int(rng.random() < 0.7)
                q4 = 1 if rng.random() < 0.6 else 0
                q5 = 1 - q4 if q4 == 0 else int(rng.random() < 0.5)
            else:
                q1, q6, q6b = int(rng.random() < 0.6), 1, 1
        if q2 == 1:
            q3 = 0 if q3 is None else q3
            q4 = 0 if q4 is None else q4
            q5 = 0 if q5 is None else q5
        self.assess("cssrs_screener", day, [q1, q2, q3, q4, q5, q6, q6b])

    def auditc(self, day: int) -> None:
        rng = self.rng
        total = _weighted(
            rng, ((0, 0.35), (_randint(rng, 1, 2), 0.3), (_randint(rng, 3, 4), 0.2), (_randint(rng, 5, 12), 0.15))
        )
        self.assess("auditc", day, self.items("auditc", total))

    # -- output

    def event(self, day: int, kind: str, status: str | None = None) -> None:
        """An SMI outcome event (housing, employment, education, hospitalization, ED visit) on
        ``day``, kept within enrollment and today."""
        day = max(self.enroll, min(self.today, day))
        e: dict[str, Any] = {"date": day, "kind": kind}
        if status is not None:
            e["status"] = status
        self.seq += 1
        self.events.append((day, self.seq, e))

    def finish(self, status: str) -> dict[str, Any]:
        iso = self.gen.iso
        rec = self.record
        rec["status"] = status
        rec["enrollment_date"] = iso(self.enroll)
        out = []
        for _day, _seq, a in sorted(self.assessments, key=lambda e: (e[0], e[1])):
            a["date"] = iso(a["date"])
            out.append(a)
        rec["assessments"] = out
        contacts = []
        for _day, _seq, c in sorted(self.contacts, key=lambda e: (e[0], e[1])):
            c["date"] = iso(c["date"])
            if c["mode"] is None:
                del c["mode"]
            contacts.append(c)
        rec["contacts"] = contacts
        assessed = [c["date"] for c in contacts if c["kind"] == "initial_assessment"]
        if assessed:
            rec["consent_date"] = assessed[0]
        if self.recommendations:
            for r in self.recommendations:
                r["date"] = iso(r["date"])
                if "resolved_date" in r:
                    r["resolved_date"] = iso(r["resolved_date"])
            rec["recommendations"] = sorted(self.recommendations, key=lambda r: r["date"])
        if self.plan_day is not None:
            rec["relapse_prevention_plan_date"] = iso(self.plan_day)
        if self.events:
            events = []
            for _day, _seq, e in sorted(self.events, key=lambda e: (e[0], e[1])):
                e["date"] = iso(e["date"])
                events.append(e)
            rec["smi_events"] = events
        if self.observations:
            observations = []
            for _day, _seq, o in sorted(self.observations, key=lambda e: (e[0], e[1])):
                o["date"] = iso(o["date"])
                observations.append(o)
            rec["observations"] = observations
        if self.medications:
            for m in self.medications:
                m["start_date"] = iso(m["start_date"])
            rec["medications"] = self.medications
        return rec

    def observe(self, day: int, kind: str, value: float | None = None, unit: str | None = None, **extra: Any) -> None:
        """A medical observation on ``day`` (a value and its UCUM unit, or a smoking status)."""
        o: dict[str, Any] = {"date": day, "kind": kind}
        if value is not None:
            o["value"] = value
            o["unit"] = unit
        o.update(extra)
        self.seq += 1
        self.observations.append((day, self.seq, o))


# -- score trajectories --------------------------------------------------------------------------


def _final(rng: random.Random, kind: str, base: int, shape: _Shape) -> int:
    """The latest total of a course ``kind`` from ``base`` (higher is worse, lowest total 0).

    ``respond`` meets the measure's response definition (PHQ-9: at least 50% below the
    baseline) by up to 40 more points of percentage; ``partial`` falls by less than that but
    by a quarter or more; ``remit`` ends below the remission cut (PHQ-9: 5); ``flat`` ends
    between 15% below and 12% above the baseline; ``early`` moves by a few points.
    """
    share = shape.response if shape.response is not None else 0.5
    below = shape.remission_below if shape.remission_below is not None else 1
    if kind == "respond":
        return math.floor(base * (1 - _uniform(rng, share, min(1.0, share + 0.4))))
    if kind == "partial":
        lowest = math.floor(base * (1 - share)) + 1
        return _randint(rng, lowest, max(lowest, (3 * base) // 4))
    if kind == "remit":
        return _randint(rng, 0, min(below - 1, math.floor(base * (1 - share))))
    if kind == "early":
        return max(0, min(shape.top, base + _randint(rng, -3, 2)))
    if kind == "worsen":  # the level before the last measurement, which then rises
        return max(0, min(shape.top - WORSENING_POINTS[1], base - _randint(rng, 0, base // 2)))
    return _randint(rng, math.ceil(0.85 * base), min(shape.top, base + base // 8 + 1))


def _course(rng: random.Random, kind: str, base: int, days: list[int], shape: _Shape, *, effect_days: int) -> list[int]:
    """Totals on ``days`` (the first is the baseline): a straight line from ``base`` to the
    course's final value over ``effect_days``, plus noise, ending exactly on the final value.
    ``worsen`` improves a little, then rises by :data:`WORSENING_POINTS` at the last
    measurement; ``remit`` stays below the remission cut once the effect is reached."""
    final = _final(rng, kind, base, shape)
    if days[-1] > days[0]:
        effect_days = min(effect_days, days[-1] - days[0])  # the final level by the latest measurement
    hi = shape.top
    noise = max(2, hi // 20)  # 2 points for the PHQ-9 and GAD-7, 4 for the PCL-5
    below = shape.remission_below if shape.remission_below is not None else 1
    start = days[0]
    totals = [base]
    for d in days[1:]:
        frac = min(1.0, (d - start) / effect_days) if effect_days else 1.0
        v = round(base + (final - base) * frac) + _randint(rng, -noise, noise)
        if kind == "remit" and frac >= 1.0:
            v = min(v, below - 1)
        totals.append(max(0, min(hi, v)))
    if len(totals) > 1:
        totals[-1] = final
    if kind == "worsen" and len(totals) > 1:
        prev = min(totals[-2], hi - WORSENING_POINTS[1])
        totals[-2] = prev
        totals[-1] = prev + _randint(rng, *WORSENING_POINTS)
    return totals


def _kind(rng: random.Random, options: Sequence[tuple[str, float]]) -> str:
    return str(_weighted(rng, options))


#: The PHQ-9 course of each archetype that has one fixed course.
_COURSES = {
    "responder": "respond",
    "partial_responder": "partial",
    "non_responder": "flat",
    "worsening": "worsen",
    "early_treatment": "early",
    "remission_with_plan": "remit",
    "remission_without_plan": "remit",
}
#: The courses (and their shares) of the other archetypes; the rest take ``_UNCERTAIN``.
_KINDS = {
    "discharged": (("remit", 0.5), ("respond", 0.3), ("partial", 0.2)),
    "anxiety": (("respond", 0.4), ("partial", 0.25), ("flat", 0.25), ("worsen", 0.1)),
    "ptsd": (("respond", 0.35), ("partial", 0.25), ("flat", 0.3), ("worsen", 0.1)),
}
_UNCERTAIN = (("flat", 0.5), ("partial", 0.3), ("respond", 0.2))


def _policy(rng: random.Random, kind: str) -> str:
    """How the patient is discussed with the psychiatric consultant, given the course."""
    if kind in ("flat", "worsen") and rng.random() < NEVER_REVIEWED_SHARE:
        return "never"
    return "nonresponse" if kind in ("flat", "partial", "worsen") else "new"


def _cocm(p: _Patient) -> dict[str, Any]:
    """One CoCM patient: contacts, the course of the archetype's measures, screens, reviews
    and the registry status, drawn from the patient's random stream in a fixed order."""
    rng, name = p.rng, p.arch.name
    if name == "new_referral":
        return _new_referral(p)
    days = p.timeline(min_contacts=1 if name in ("early_treatment", "suicide_item_positive") else 2)
    if name == "early_treatment" and rng.random() < FIRST_FOLLOW_UP_PENDING_SHARE:
        days = days[:1]
    p.care_contacts(days)
    effect = _randint(rng, *EFFECT_DAYS)
    kind = _COURSES.get(name) or _kind(rng, _KINDS.get(name, _UNCERTAIN))
    measured = p.measured(days, force_last=2 if kind == "worsen" else 1)
    if name.startswith("remission_"):
        measured, effect = _lasting_remission(days, measured, effect)
    base = _randint(rng, 10, 24)
    track_phq9 = True
    if name in ("anxiety", "ptsd"):
        base, track_phq9 = _other_course(p, kind, measured, effect)
    policy = _policy(rng, kind)
    if track_phq9:
        _phq9_course(p, kind, base, measured, effect)
    _screens(p, days, measured)
    p.reviews(policy)
    return p.finish(_cocm_status(p, effect))


def _new_referral(p: _Patient) -> dict[str, Any]:
    """Referred, not yet assessed: perhaps the screening PHQ-9 and an outreach call."""
    rng = p.rng
    p.enroll = p.ia = p.end = p.today - _randint(rng, *p.arch.gap_days)
    if rng.random() < 0.5:
        p.phq9(p.enroll, _randint(rng, 10, 24))  # the screening PHQ-9 behind the referral
    if rng.random() < OUTREACH_SHARE:
        p.end = min(p.today, p.enroll + _randint(rng, 1, 7))
        p.contact(p.end, "other", "phone", OUTREACH_MINUTES)  # an outreach call before the initial assessment
    return p.finish("active_treatment")


def _lasting_remission(days: list[int], measured: list[int], effect: int) -> tuple[list[int], int]:
    """A remission that has lasted: measure at the last contact at least REMISSION_RUN_DAYS
    before the latest measurement (and the effect reached by then), so every later total can
    stay below the remission cut."""
    anchor = max((d for d in days[1:] if d <= measured[-1] - REMISSION_RUN_DAYS), default=None)
    if anchor is not None and anchor not in measured:
        measured = sorted([*measured, anchor])
    return measured, min(effect, (anchor or measured[-1]) - days[0])


def _other_course(p: _Patient, kind: str, measured: list[int], effect: int) -> tuple[int, bool]:
    """The GAD-7 (anxiety) or PCL-5 (PTSD) course; then the PHQ-9 baseline, and whether the
    PHQ-9 is tracked beside it."""
    rng, shapes = p.rng, _shapes()
    if p.arch.name == "anxiety":
        gad7 = _course(rng, kind, _randint(rng, 10, 21), measured, shapes["gad7"], effect_days=effect)
        p.series("gad7", measured, gad7)
        track_phq9 = rng.random() < 0.6
        return _randint(rng, 5, 20), track_phq9
    pcl5 = _course(rng, kind, _randint(rng, 33, 70), measured, shapes["pcl5"], effect_days=effect)
    p.series("pcl5", measured, pcl5)
    track_phq9 = rng.random() < 0.7
    return _randint(rng, 8, 22), track_phq9


def _phq9_course(p: _Patient, kind: str, base: int, measured: list[int], effect: int) -> None:
    """The PHQ-9 administrations of a course, with item 9 as the archetype has it."""
    rng, name = p.rng, p.arch.name
    totals = _course(rng, kind, base, measured, _shapes()["phq9"], effect_days=max(1, effect))
    item9: list[int | None] = [0] * len(totals)
    for i, t in enumerate(totals[:-1]):
        if t >= 15 and rng.random() < 0.08:
            item9[i] = 1  # item 9 endorsed earlier in the course, not at the latest
    if name == "suicide_item_positive":
        last9 = _weighted(rng, ((1, 0.6), (2, 0.3), (3, 0.1)))
        if rng.random() < 0.33:
            totals[-1] = _randint(rng, last9, 7)  # a low total: item 9 alerts at any total
        totals[-1] = max(totals[-1], last9)
        item9[-1] = last9
    elif name == "safety_item_missing":
        item9[-1] = None
    elif name == "remission_with_plan" and rng.random() < 0.15:
        totals[-1] = _randint(rng, 10, 16)  # symptoms returning on the relapse prevention plan
    for d, t, i9 in zip(measured, totals, item9, strict=True):
        p.phq9(d, t, i9)


def _screens(p: _Patient, days: list[int], measured: list[int]) -> None:
    """The C-SSRS (after a positive item 9, or routinely at intake) and the AUDIT-C."""
    rng = p.rng
    if p.arch.name == "suicide_item_positive" and rng.random() < 0.75:
        level = _weighted(rng, (("none", 0.15), ("low", 0.4), ("moderate", 0.3), ("high", 0.15)))
        p.cssrs(measured[-1], level)
        if rng.random() < 0.3:
            p.review(min(p.end, measured[-1] + _randint(rng, 0, 3)), "psychiatric_consultation")
    elif rng.random() < ROUTINE_CSSRS_SHARE:
        p.cssrs(days[0], "none")
    if rng.random() < AUDITC_SHARE["cocm"]:
        p.auditc(days[0])


def _cocm_status(p: _Patient, effect: int) -> str:
    """The registry status, and the relapse prevention plan of those who have one."""
    rng, name = p.rng, p.arch.name
    if name == "remission_with_plan":
        first = min(p.ia + effect + REMISSION_RUN_DAYS, p.end)
        p.plan_day = min(_randint(rng, first, first + 28), p.end)
        if rng.random() < 0.75:
            p.thin_follow_ups(p.plan_day, PLAN_CHECK_IN_SKIPPED_SHARE)
            return "relapse_prevention_plan"
        return "active_treatment"
    if name == "discharged":
        if rng.random() < 0.8:
            p.plan_day = p.end - _randint(rng, 0, 28)
        return "discharged"
    return "inactive" if name == "inactive" else "active_treatment"


# -- serious mental illness ------------------------------------------------------------------------

#: What goes wrong for a destabilizing SMI patient, each with its share.
_DESTABILIZING = (
    ("hospitalization", 0.4),
    ("ed_visit", 0.45),
    ("housing", 0.35),
    ("employment", 0.3),
    ("education", 0.1),
    ("psychosis", 0.6),
    ("function", 0.5),
    ("recovery", 0.5),
)


def _smi(p: _Patient) -> dict[str, Any]:
    """One SMI patient: contacts, the SMI measures (and sometimes the PHQ-9), reviews and
    outcome events; a destabilizing patient has some of :data:`_DESTABILIZING`."""
    rng, name = p.rng, p.arch.name
    days = p.timeline(min_contacts=2)
    p.care_contacts(days)
    shapes = _shapes()
    features: set[str] = set()
    if name == "smi_destabilizing":
        features = {feature for feature, share in _DESTABILIZING if rng.random() < share}
        if not features:
            features.add(_kind(rng, (("hospitalization", 0.5), ("psychosis", 0.5))))
    _asrm(p, days)
    _slow_measures(p, days, features)
    if rng.random() < SMI_PHQ9_SHARE:
        measured = p.measured(days)
        kind = _kind(rng, (("flat", 0.6), ("partial", 0.4)))
        effect = _randint(rng, *EFFECT_DAYS)
        totals = _course(rng, kind, _randint(rng, 5, 20), measured, shapes["phq9"], effect_days=effect)
        for d, t in zip(measured, totals, strict=True):
            p.phq9(d, t)
    if rng.random() < AUDITC_SHARE["smi"]:
        p.auditc(days[0])
    p.reviews("consult" if rng.random() < 0.3 else "nonresponse")
    _outcome_events(p, features)
    if p.gen.medical:
        _medical(p, days)
    return p.finish("active_treatment")


def _asrm(p: _Patient, days: list[int]) -> None:
    """The ASRM at the initial assessment, the latest contact and about half the follow-ups;
    a manic patient's latest is high."""
    rng = p.rng
    asrm_days = [d for i, d in enumerate(days) if i == 0 or i == len(days) - 1 or rng.random() < 0.5]
    for i, d in enumerate(asrm_days):
        last = i == len(asrm_days) - 1
        total = _randint(rng, 6, 14) if (p.arch.name == "smi_mania" and last) else _randint(rng, 0, 5)
        p.assess("asrm", d, p.items("asrm", total))


def _slow_measures(p: _Patient, days: list[int], features: set[str]) -> None:
    """Psychosis dimensions, WHODAS-12 and RAS-R about every 12 weeks, slowly improving; at the
    latest, worse where the patient is destabilizing (or manic)."""
    rng, name, shapes = p.rng, p.arch.name, _shapes()
    slow = [days[0]]
    for d in days[1:]:
        if d - slow[-1] >= SMI_MEASURE_INTERVAL_DAYS:
            slow.append(d)
    if (features & {"psychosis", "function", "recovery"} or name == "smi_mania") and slow[-1] != days[-1]:
        slow.append(days[-1])
    severity = _uniform(rng, 0.3, 2.6)
    psy = shapes["psychosis_dimensions"]
    ratings = [max(psy.lo, min(psy.hi, round(severity + _uniform(rng, -1.2, 1.2)))) for _ in psy.ids]
    whodas = _randint(rng, 18, 45)
    ras = _randint(rng, 55, 100)
    w_lo, w_hi = shapes["whodas12"].items * shapes["whodas12"].lo, shapes["whodas12"].top
    r_lo, r_hi = shapes["ras"].items * shapes["ras"].lo, shapes["ras"].top
    for i, d in enumerate(slow):
        if i:
            ratings = [max(psy.lo, r - 1) if rng.random() < 0.25 else r for r in ratings]
            whodas = max(w_lo, whodas - _randint(rng, 0, 3))
            ras = min(r_hi, ras + _randint(rng, 0, 4))
        if i == len(slow) - 1 and i > 0:
            _worse_ratings(p, ratings, features)
            if "function" in features:
                whodas = min(w_hi, whodas + _randint(rng, 1, 8))
            if "recovery" in features:
                ras = max(r_lo, ras - _randint(rng, 1, 10))
        p.assess("psychosis_dimensions", d, list(ratings))
        p.assess("whodas12", d, p.items("whodas12", whodas))
        p.assess("ras", d, p.items("ras", ras))


def _worse_ratings(p: _Patient, ratings: list[int], features: set[str]) -> None:
    """The latest psychosis dimensions of a destabilizing patient (one to three rise) or a
    manic one (mania rises), changed in place."""
    rng, psy = p.rng, _shapes()["psychosis_dimensions"]
    if "psychosis" in features:
        open_ = [j for j, r in enumerate(ratings) if r < psy.hi] or [0]
        for j in _sample(rng, open_, min(len(open_), _randint(rng, 1, 3))):
            ratings[j] = min(psy.hi, ratings[j] + _randint(rng, 1, 2))
    if p.arch.name == "smi_mania":
        mania = psy.ids.index("mania")
        ratings[mania] = min(psy.hi, ratings[mania] + _randint(rng, 1, 2))


def _outcome_events(p: _Patient, features: set[str]) -> None:
    """Outcome events: the baseline statuses at enrollment, then changes."""
    rng, name = p.rng, p.arch.name
    recent = max(p.enroll, p.today - 29)
    housing = (
        "stable" if "housing" in features else _weighted(rng, (("stable", 0.7), ("unstable", 0.2), ("homeless", 0.1)))
    )
    employment = (
        "employed"
        if "employment" in features
        else _weighted(rng, (("employed", 0.25), ("unemployed", 0.45), ("not_in_labor_force", 0.3)))
    )
    p.event(p.enroll, "housing", housing)
    p.event(p.enroll, "employment", employment)
    if "education" in features or rng.random() < 0.12:
        p.event(p.enroll, "education", "enrolled")
        if "education" in features:
            p.event(_randint(rng, max(p.enroll + 1, p.today - 89), p.today), "education", "not_enrolled")
    _status_changes(p, features, housing)
    if "hospitalization" in features:
        p.event(_randint(rng, recent, p.today), "hospitalization")
    if "ed_visit" in features or (name == "smi_mania" and rng.random() < 0.3):
        p.event(_randint(rng, recent, p.today), "ed_visit")
    if rng.random() < 0.2 and p.today - p.enroll > 60:
        p.event(_randint(rng, p.enroll, p.today - 60), _kind(rng, (("hospitalization", 0.4), ("ed_visit", 0.6))))


def _status_changes(p: _Patient, features: set[str], housing: str) -> None:
    """Housing and employment lost in the last 90 days by a destabilizing patient; housing
    found by some who lacked it."""
    rng = p.rng
    if "housing" in features:
        p.event(
            _randint(rng, max(p.enroll + 1, p.today - 89), p.today),
            "housing",
            _kind(rng, (("unstable", 0.7), ("homeless", 0.3))),
        )
    elif housing != "stable" and rng.random() < 0.3:
        p.event(_randint(rng, p.enroll + 1, max(p.enroll + 1, p.today)), "housing", "stable")
    if "employment" in features:
        p.event(
            _randint(rng, max(p.enroll + 1, p.today - 89), p.today),
            "employment",
            _kind(rng, (("unemployed", 0.8), ("not_in_labor_force", 0.2))),
        )


# -- medical outcomes (``medical=True``) -----------------------------------------------------------


def _medical(p: _Patient, days: list[int]) -> None:
    """Medications and medical observations of an SMI patient, from a random stream of their
    own (the rest of the record is the same with or without them)."""
    rng = _rng(p.gen.seed, p.k, "medical")
    start = None
    if rng.random() < MEDICAL_ANTIPSYCHOTIC_SHARE:
        if rng.random() < MEDICAL_NEW_START_SHARE:
            start = days[0] + _randint(rng, 0, 14)
        else:
            start = p.enroll - _randint(rng, 365, 8 * 365)
        start = min(start, p.today)
        p.medications.append({"kind": "antipsychotic", "start_date": start})
    _weights(p, rng, days, start)
    _vitals(p, rng, days)
    _labs(p, rng, days, start)
    p.observe(days[0], "smoking_status", status=_weighted(rng, MEDICAL_SMOKING))


def _weights(p: _Patient, rng: random.Random, days: list[int], start: int | None) -> None:
    """Body weight at the initial assessment and about half the contacts (the latest always),
    with a BMI beside the first and the latest; a gain of 5-12% by the latest for some on an
    antipsychotic."""
    height = _uniform(rng, 1.55, 1.9)
    base = _uniform(rng, 55, 110)
    gain = _uniform(rng, 0.05, 0.12) if start is not None and rng.random() < MEDICAL_WEIGHT_GAIN_SHARE else 0.0
    if rng.random() < MEDICAL_CHECK_MISSED_SHARE:
        weighed = [days[0]]
    else:
        weighed = [d for i, d in enumerate(days) if i in (0, len(days) - 1) or rng.random() < 0.5]
    span = max(1, weighed[-1] - weighed[0])
    for i, d in enumerate(weighed):
        kg = base * (1 + gain * (d - weighed[0]) / span) + _uniform(rng, -0.8, 0.8)
        if rng.random() < 0.2:
            p.observe(d, "body_weight", round(kg / 0.45359237, 1), "[lb_av]")
        else:
            p.observe(d, "body_weight", round(kg, 1), "kg")
        if i in (0, len(weighed) - 1):
            p.observe(d, "bmi", round(kg / height**2, 1), "kg/m2")


def _vitals(p: _Patient, rng: random.Random, days: list[int]) -> None:
    """Blood pressure at the initial assessment and (most) the latest contact; a few severe."""
    taken = [days[0]] if rng.random() < MEDICAL_CHECK_MISSED_SHARE else sorted({days[0], days[-1]})
    for d in taken:
        if rng.random() < MEDICAL_SEVERE_BP_SHARE:
            systolic, diastolic = _randint(rng, 182, 195), _randint(rng, 100, 125)
        else:
            systolic, diastolic = _randint(rng, 104, 148), _randint(rng, 62, 94)
        p.observe(d, "systolic_bp", systolic, "mm[Hg]")
        p.observe(d, "diastolic_bp", diastolic, "mm[Hg]")


def _lab(p: _Patient, rng: random.Random, day: int, kind: str, mg_dl: float, factor: float) -> None:
    if rng.random() < MEDICAL_SI_UNITS_SHARE:
        p.observe(day, kind, round(mg_dl / factor, 1), "mmol/L")
    else:
        p.observe(day, kind, round(mg_dl), "mg/dL")


def _labs(p: _Patient, rng: random.Random, days: list[int], start: int | None) -> None:
    """Fasting glucose or HbA1c and a lipid panel at the initial assessment (most patients)
    and, for half of those who start an antipsychotic, about 12 weeks later."""
    lab_days = [days[0]] if rng.random() < 0.85 else []
    if start is not None and start >= days[0] and rng.random() < 0.5:
        later = [d for d in days if d - start >= 70]
        if later:
            lab_days.append(later[0])
    for d in lab_days:
        u = rng.random()
        if u < 0.6:
            _lab(p, rng, d, "fasting_glucose", _uniform(rng, 78, 140), 18.016)
        elif u < 0.75:
            _lab(p, rng, d, "glucose", _uniform(rng, 85, 240), 18.016)
        else:
            p.observe(d, "hba1c", round(_uniform(rng, 4.8, 7.6), 1), "%")
        _lab(p, rng, d, "ldl", _uniform(rng, 60, 205), 38.67)
        _lab(p, rng, d, "hdl", _uniform(rng, 28, 75), 38.67)
        _lab(p, rng, d, "total_cholesterol", _uniform(rng, 130, 290), 38.67)
        _lab(p, rng, d, "triglycerides", _uniform(rng, 60, 620), 88.57)


# -- the generator ---------------------------------------------------------------------------------


class _Generator:
    def __init__(
        self,
        *,
        seed: int,
        as_of: dt.date,
        smi_share: float,
        care_managers: int,
        reported_totals: bool,
        total_mismatches: bool,
        invalid_answers: bool,
        medical: bool = False,
    ) -> None:
        self.seed = seed
        self.medical = medical
        self.today = as_of.toordinal()
        self.smi_share = smi_share
        self.care_managers = care_managers
        self.reported_totals = reported_totals
        self.total_mismatches = total_mismatches
        self.invalid_answers = invalid_answers
        self._iso: dict[int, str] = {}

    def iso(self, day: int) -> str:
        s = self._iso.get(day)
        if s is None:
            s = self._iso[day] = dt.date.fromordinal(day).isoformat()
        return s

    def patient(self, k: int) -> dict[str, Any]:
        arch = _archetype(k, self.seed, self.smi_share)
        p = _Patient(self, k, arch)
        return _smi(p) if arch.program == "smi" else _cocm(p)

    def run(self, patients: int) -> Iterator[dict[str, Any]]:
        for k in range(patients):
            yield self.patient(k)


def generate(
    patients: int,
    *,
    seed: int = 0,
    as_of: dt.date,
    smi_share: float = SMI_SHARE,
    care_managers: int = 3,
    reported_totals: bool = True,
    total_mismatches: bool = True,
    invalid_answers: bool = True,
    clean: bool = False,
    medical: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield ``patients`` synthetic episode records, lazily, one patient at a time.

    Records are plain JSON-able dicts (dates as ISO strings) that
    :func:`cocm_rules.parse_episode` accepts; nothing is dated after ``as_of`` and enrollment
    dates fall within :data:`ENROLLMENT_WINDOW_DAYS` before it. Patient ids are
    ``P000001``, ``P000002``, ...; care managers ``cm1`` to ``cm{care_managers}``.

    ``smi_share`` is the share of patients in the serious-mental-illness program.
    ``reported_totals`` adds a host-reported total equal to the item sum to a small share of
    administrations; ``total_mismatches`` a (rarer) total that disagrees with the items;
    ``invalid_answers`` a (rarer) answer out of the item's range. ``clean=True`` turns the
    two deliberate errors off whatever their flags say. ``medical=True`` gives SMI patients
    medical outcomes: an antipsychotic for most, body weight, BMI, blood pressure, glucose or
    HbA1c, lipids (some in mmol/L or lb) and the smoking status, with some values out of range
    (the :data:`MEDICAL_ANTIPSYCHOTIC_SHARE` constants); the rest of each record is unchanged.

    Arguments are checked at once; :class:`~cocm_rules.InvalidInput` names a bad one.
    """
    _check_int("patients", patients, 0)
    _check_int("seed", seed)
    _check_as_of(as_of)
    _check_share(smi_share)
    _check_int("care_managers", care_managers, 1)
    for name, flag in (
        ("reported_totals", reported_totals),
        ("total_mismatches", total_mismatches),
        ("invalid_answers", invalid_answers),
        ("clean", clean),
        ("medical", medical),
    ):
        if not isinstance(flag, bool):
            raise InvalidInput(f"{name} must be true or false", field=name, value=flag)
    _shapes()  # load the measure shapes now, not on the first record
    gen = _Generator(
        seed=seed,
        as_of=as_of,
        smi_share=float(smi_share),
        care_managers=care_managers,
        reported_totals=reported_totals,
        total_mismatches=total_mismatches and not clean,
        invalid_answers=invalid_answers and not clean,
        medical=medical,
    )
    return gen.run(patients)


def write_caseload(
    path: str | Path | IO[str],
    patients: int,
    *,
    seed: int = 0,
    as_of: dt.date,
    smi_share: float = SMI_SHARE,
    care_managers: int = 3,
    reported_totals: bool = True,
    total_mismatches: bool = True,
    invalid_answers: bool = True,
    clean: bool = False,
    medical: bool = False,
) -> int:
    """Write a generated caseload and return the number of records written.

    ``path`` ending in ``.jsonl`` (or ``.ndjson``) gets JSON Lines, one record per line;
    ``.json`` gets one JSON list, one record per line inside it; ``-`` (standard output) or an
    open text stream gets JSON Lines. Records are written as they are generated, so memory
    stays flat. The other arguments are those of :func:`generate`; an unknown suffix raises
    :class:`~cocm_rules.InvalidInput` before anything is written.
    """
    records = generate(
        patients,
        seed=seed,
        as_of=as_of,
        smi_share=smi_share,
        care_managers=care_managers,
        reported_totals=reported_totals,
        total_mismatches=total_mismatches,
        invalid_answers=invalid_answers,
        clean=clean,
        medical=medical,
    )
    if not isinstance(path, str | Path):
        n = _write(records, path, as_list=False)
    elif str(path) == "-":
        n = _write(records, sys.stdout, as_list=False)
    else:
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix not in (".jsonl", ".ndjson", ".json"):
            raise InvalidInput(
                "unknown caseload file type", field="path", value=str(path), allowed=".jsonl, .ndjson or .json"
            )
        with target.open("w", encoding="utf-8", newline="\n") as stream:
            n = _write(records, stream, as_list=suffix == ".json")
    log.info("synth.caseload_written", patients=n, seed=seed, as_of=as_of.isoformat())
    return n


def _write(records: Iterator[dict[str, Any]], stream: IO[str], *, as_list: bool) -> int:
    """Write compact JSON, one record per line (inside ``[`` and ``]`` for a JSON list)."""
    n = 0
    if as_list:
        stream.write("[")
    for record in records:
        text = json.dumps(record, separators=(",", ":"))
        if as_list:
            stream.write(("\n" if n == 0 else ",\n") + text)
        else:
            stream.write(text + "\n")
        n += 1
    if as_list:
        stream.write("\n]\n" if n else "]\n")
    return n
