"""The episode as the engine's batch path reads it from JSON text: a light twin of the Episode, held to the same checks.

Validating an episode with pydantic costs about twice what parsing its JSON does, and the
batch path reads one per patient. :func:`read_light` reads an episode's JSON text with
msgspec, in one pass, into :class:`LightEpisode` and its parts: frozen structs (unknown
fields refused) with the same fields, types, allowed values, ranges and defaults as
:class:`~cocm_rules.episode.Episode` and its parts, which the fact builder reads the same way.

The fast path only ever *accepts less*. The strict reader's checks (:mod:`cocm_rules._json`)
all hold: jiter's duplicate-key detection runs on the text first, and msgspec refuses NaN,
Infinity, lone surrogates, invalid UTF-8, trailing text and numbers beyond float range as it
reads. Any record it does not accept as plainly valid - a value msgspec refuses, a date-time
in place of a date, a measure named by an alias, a blank or unprintable patient id, an
assessment with neither answers nor a total, an SMI status that does not fit its event - is
None, and is read again by :func:`~cocm_rules.episode.parse_episode`, which gives the Episode
or the error with its usual message. So every record gets the same result or the same error
on either path (``tests/properties/test_light_reader_equivalence.py`` checks it).

Only JSON text takes this path: from a Python mapping msgspec would accept, say, a tuple for a
list, which the Episode refuses.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import jiter
import msgspec

from .episode import (
    EDUCATION,
    EMPLOYMENT,
    HOUSING,
    Assessment,
    Contact,
    Episode,
    Recommendation,
    SetAside,
    SmiEvent,
    patient_id_problem,
)
from .measures import MeasureLibrary, load_measures

__all__ = [
    "AnyAssessment",
    "AnyContact",
    "AnyEpisode",
    "AnyRecommendation",
    "AnySetAside",
    "AnySmiEvent",
    "LightAssessment",
    "LightContact",
    "LightEpisode",
    "LightRecommendation",
    "LightSetAside",
    "LightSmiEvent",
    "read_light",
]


class LightAssessment(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`~cocm_rules.episode.Assessment`, read by the fast path."""

    measure: str
    date: dt.date
    answers: list[Any] | dict[str, Any] | None = None
    total: int | float | None = None
    context: dict[str, Any] = {}
    id: str | None = None


class LightContact(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`~cocm_rules.episode.Contact`, read by the fast path."""

    date: dt.date
    kind: Literal["initial_assessment", "follow_up", "psychiatric_consultation", "case_review", "other"]
    minutes: Annotated[int, msgspec.Meta(ge=0, le=24 * 60)] | None = None
    mode: Literal["in_person", "phone", "video", "secure_message", "other"] | None = None
    care_manager: str | None = None


class LightRecommendation(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`~cocm_rules.episode.Recommendation`, read by the fast path."""

    date: dt.date
    status: Literal["pending", "implemented", "declined"]
    resolved_date: dt.date | None = None


class LightSmiEvent(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`~cocm_rules.episode.SmiEvent`, read by the fast path."""

    date: dt.date
    kind: Literal["hospitalization", "ed_visit", "housing", "employment", "education"]
    status: str | None = None


class LightSetAside(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`~cocm_rules.episode.SetAside`, read by the fast path."""

    kind: Literal["assessment", "contact", "relapse_prevention_plan", "value"]
    reason: Annotated[str, msgspec.Meta(min_length=1)]
    date: dt.date | None = None
    measure: str | None = None
    source: str | None = None


class LightEpisode(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`~cocm_rules.episode.Episode`, read by the fast path (same fields, same values)."""

    patient_id: Annotated[str, msgspec.Meta(min_length=1)]
    program: Literal["cocm", "smi"]
    enrollment_date: dt.date
    status: Literal["active_treatment", "relapse_prevention_plan", "discharged", "inactive"]
    care_manager: str | None = None
    sex: Literal["female", "male"] | None = None
    assessments: list[LightAssessment] = []
    contacts: list[LightContact] = []
    recommendations: list[LightRecommendation] = []
    relapse_prevention_plan_date: dt.date | None = None
    smi_events: list[LightSmiEvent] = []
    set_aside: list[LightSetAside] = []


#: What the fact builder reads: a validated Episode, or its light twin.
AnyEpisode = Episode | LightEpisode
AnyAssessment = Assessment | LightAssessment
AnyContact = Contact | LightContact
AnyRecommendation = Recommendation | LightRecommendation
AnySmiEvent = SmiEvent | LightSmiEvent
AnySetAside = SetAside | LightSetAside

#: The pydantic model each light struct mirrors (the tests hold their fields equal).
TWINS: dict[type[msgspec.Struct], type[Any]] = {
    LightEpisode: Episode,
    LightAssessment: Assessment,
    LightContact: Contact,
    LightRecommendation: Recommendation,
    LightSmiEvent: SmiEvent,
    LightSetAside: SetAside,
}

_STATUSES = {"housing": HOUSING, "employment": EMPLOYMENT, "education": EDUCATION}
_decode = msgspec.json.Decoder(LightEpisode).decode
_refused = (ValueError, msgspec.DecodeError, msgspec.ValidationError)


def read_light(text: str | bytes, library: MeasureLibrary | None = None) -> LightEpisode | None:
    """The :class:`LightEpisode` of an episode's JSON text, or None when the fast checks do not
    accept it as plainly valid: then :func:`~cocm_rules.episode.parse_episode` of the same text
    gives the Episode, or the error (see the module docstring)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    try:
        # The strict reader's check for repeated keys, as cocm_rules._json.loads makes it (its
        # other checks - NaN, Infinity, lone surrogates, trailing text, invalid UTF-8, numbers
        # beyond float range - msgspec makes as it reads; jiter also refuses very long integers).
        # cache_mode="all": the values are thrown away, and caching strings (patient ids,
        # measure ids, kinds, dates) made this pass about 0.1x json.loads cheaper than "keys".
        jiter.from_json(raw, catch_duplicate_keys=True, allow_inf_nan=False, cache_mode="all")
        ep = _decode(raw)
    except _refused:
        return None
    known = (library if library is not None else load_measures()).ids
    for a in ep.assessments:
        if a.measure not in known or (a.answers is None and a.total is None):
            return None  # an alias to resolve, or no answers and no total: the full path
    for e in ep.smi_events:
        allowed = _STATUSES.get(e.kind)
        if (e.status is not None) if allowed is None else (e.status not in allowed):
            return None
    if patient_id_problem(ep.patient_id) is not None:
        return None
    return ep
