"""Episode facts of CoCM billing: the behavioral health care manager minutes the CoCM codes
count this month, minutes whose role is not recorded, the 99494 add-on units they reach, the
patient's consent, and general behavioral health integration (99484) billed this month.

What the codes count (the CPT descriptors of 99492, 99493, 99494 and G2214): "behavioral
health care manager activities". ``bhcm_minutes_this_month`` therefore counts the minutes of
contacts whose ``role`` is ``care_manager`` only. The psychiatric consultant's time is not
counted. The treating practitioner's own care-manager activities may count when they are not
used for a separately reported service (CPT guidance as NC Medicaid restates it); a record
cannot tell those from the practitioner's other visits, so ``pcp`` minutes are not counted
either. A contact without a role is not counted (never overbill): the time-tracking rules
ask for its role instead (``minutes_without_role_this_month``). ``minutes_this_month`` keeps
counting every care-team minute.

The add-on units follow the CPT descriptors (99492: the first 70 minutes of the first
calendar month; 99493: the first 60 minutes of a later month; 99494: each additional 30
minutes) and the "more than half" time convention for a unit (16 of 30 minutes; secondary:
Mirah minute targets; BCBS North Dakota policy NDRP-GC-017 reports 99492 for 36-85 and 99493
for 31-75 minutes, so 99494 from 86 and 76). Payer caps on units are ruleset parameters.
"""

from __future__ import annotations

import datetime as dt

from ..light_episode import AnyContact
from .rows import episode_fact
from .view import EpisodeView

__all__ = ["EPISODE_FACTS", "GENERAL_BHI_CODE"]

#: CPT descriptors: 99492 covers the first 70 minutes of the first calendar month, 99493 the
#: first 60 minutes of a later month, 99494 each additional 30 minutes.
FIRST_MONTH_BASE_MINUTES = 70
LATER_MONTH_BASE_MINUTES = 60
ADD_ON_UNIT_MINUTES = 30
#: A unit of time is reached when more than half of it has passed: 16 of 30 minutes.
ADD_ON_UNIT_REACHED = ADD_ON_UNIT_MINUTES // 2 + 1
#: General behavioral health integration: not billed in the same calendar month as CoCM.
GENERAL_BHI_CODE = "99484"


def _month_contacts(v: EpisodeView) -> list[AnyContact]:
    """Contacts in the calendar month of as_of, up to as_of (contacts are in date order)."""
    first = v.as_of.replace(day=1)
    out: list[AnyContact] = []
    for x in reversed(v.contacts):
        if x.date < first:
            break
        out.append(x)
    return out


def _minutes_by_role(v: EpisodeView) -> dict[str | None, int]:
    """This month's minutes per contact role (None: no role recorded)."""
    out: dict[str | None, int] = {}
    for x in _month_contacts(v):
        if x.minutes:
            out[x.role] = out.get(x.role, 0) + x.minutes
    return out


def _role_minutes(v: EpisodeView, role: str | None) -> int:
    return int(v.memo("billing.minutes_by_role", _minutes_by_role).get(role, 0))


def _cocm_month(v: EpisodeView) -> int | None:
    """The CoCM month (1 in the calendar month of the first contact), as ``cocm_month``."""
    if not v.contacts:
        return None
    first = v.contacts[0].date
    return (v.as_of.year - first.year) * 12 + (v.as_of.month - first.month) + 1


def _add_on_units(v: EpisodeView) -> int | None:
    """99494 units this month's care-manager minutes reach beyond the base code's time."""
    month = _cocm_month(v)
    if month is None:
        return None
    base = FIRST_MONTH_BASE_MINUTES if month == 1 else LATER_MONTH_BASE_MINUTES
    beyond = _role_minutes(v, "care_manager") - base
    if beyond < ADD_ON_UNIT_REACHED:
        return 0
    whole, rest = divmod(beyond, ADD_ON_UNIT_MINUTES)
    return whole + (1 if rest >= ADD_ON_UNIT_REACHED else 0)


def _consent_date(v: EpisodeView) -> dt.date | None:
    d = v.episode.consent_date
    return d if d is not None and d <= v.as_of else None


def _general_bhi_this_month(v: EpisodeView) -> bool:
    as_of = v.as_of
    return any(
        s.code == GENERAL_BHI_CODE and s.date <= as_of and (s.date.year, s.date.month) == (as_of.year, as_of.month)
        for s in v.episode.billed_services
    )


EPISODE_FACTS = (
    episode_fact(
        "bhcm_minutes_this_month",
        "integer",
        "behavioral health care manager minutes in the calendar month of as_of, up to as_of: contacts whose "
        "role is care_manager, the time the CoCM codes count (psychiatric consultant, PCP, other and unrecorded "
        "roles are not counted)",
        lambda v: _role_minutes(v, "care_manager"),
        unit="minutes",
        minimum=0,
    ),
    episode_fact(
        "minutes_without_role_this_month",
        "integer",
        "minutes in the calendar month of as_of, up to as_of, of contacts without a role: not counted toward "
        "the CoCM codes until the role is recorded",
        lambda v: _role_minutes(v, None),
        unit="minutes",
        minimum=0,
    ),
    episode_fact(
        "cocm_99494_units_this_month",
        "integer",
        "units of the CoCM add-on 99494 the care-manager minutes this month reach: each 30 minutes beyond the "
        "base code's 70 (first CoCM month) or 60 minutes (later months), a unit counting from 16 minutes (the "
        "'more than half' convention: secondary); 0 below; before any payer cap",
        _add_on_units,
        unit="units",
        minimum=0,
    ),
    episode_fact(
        "has_consent",
        "boolean",
        "the patient's consent to Collaborative Care is recorded, dated on or before as_of",
        lambda v: _consent_date(v) is not None,
    ),
    episode_fact(
        "consent_date",
        "date",
        "date the patient's consent to Collaborative Care was obtained and documented, if on or before as_of",
        _consent_date,
    ),
    episode_fact(
        "general_bhi_billed_this_month",
        "boolean",
        "general behavioral health integration (99484) is billed with a date of service in the calendar month "
        "of as_of, on or before as_of (CoCM codes are not billed in the same month)",
        _general_bhi_this_month,
    ),
)
