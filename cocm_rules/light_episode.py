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
    BilledService,
    Contact,
    Episode,
    Medication,
    Observation,
    Recommendation,
    SetAside,
    SmiEvent,
    observation_problem,
    patient_id_problem,
    service_code_problem,
)
from .measures import MeasureLibrary, load_measures

__all__ = [
    "AnyAssessment",
    "AnyBilledService",
    "AnyContact",
    "AnyEpisode",
    "AnyMedication",
    "AnyObservation",
    "AnyRecommendation",
    "AnySetAside",
    "AnySmiEvent",
    "LightAssessment",
    "LightBilledService",
    "LightContact",
    "LightEpisode",
    "LightMedication",
    "LightObservation",
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
    role: Literal["care_manager", "psychiatric_consultant", "pcp", "other"] | None = None


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


class LightBilledService(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`~cocm_rules.episode.BilledService`, read by the fast path (the code's pattern is
    checked by :func:`read_light`)."""

    code: str
    date: dt.date


class LightSetAside(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`~cocm_rules.episode.SetAside`, read by the fast path."""

    kind: Literal["assessment", "contact", "relapse_prevention_plan", "consent", "value", "observation"]
    reason: Annotated[str, msgspec.Meta(min_length=1)]
    date: dt.date | None = None
    measure: str | None = None
    source: str | None = None


class LightObservation(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`~cocm_rules.episode.Observation`, read by the fast path (whether the value, unit
    and status fit the kind is checked by :func:`read_light`)."""

    date: dt.date
    kind: Literal[
        "body_weight",
        "bmi",
        "systolic_bp",
        "diastolic_bp",
        "hba1c",
        "glucose",
        "fasting_glucose",
        "ldl",
        "total_cholesterol",
        "hdl",
        "triglycerides",
        "smoking_status",
    ]
    value: int | float | None = None
    unit: str | None = None
    status: Literal["current_every_day", "current_some_days", "current", "former", "never", "unknown"] | None = None
    id: str | None = None


class LightMedication(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`~cocm_rules.episode.Medication`, read by the fast path (the order of the dates is
    checked by :func:`read_light`)."""

    kind: Literal["antipsychotic"]
    start_date: dt.date
    stop_date: dt.date | None = None
    name: str | None = None


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
    consent_date: dt.date | None = None
    billed_services: list[LightBilledService] = []
    smi_events: list[LightSmiEvent] = []
    observations: list[LightObservation] = []
    medications: list[LightMedication] = []
    set_aside: list[LightSetAside] = []


#: What the fact builder reads: a validated Episode, or its light twin.
AnyEpisode = Episode | LightEpisode
AnyAssessment = Assessment | LightAssessment
AnyContact = Contact | LightContact
AnyRecommendation = Recommendation | LightRecommendation
AnySmiEvent = SmiEvent | LightSmiEvent
AnySetAside = SetAside | LightSetAside
AnyBilledService = BilledService | LightBilledService
AnyObservation = Observation | LightObservation
AnyMedication = Medication | LightMedication

#: The pydantic model each light struct mirrors (the tests hold their fields equal).
TWINS: dict[type[msgspec.Struct], type[Any]] = {
    LightEpisode: Episode,
    LightAssessment: Assessment,
    LightContact: Contact,
    LightRecommendation: Recommendation,
    LightSmiEvent: SmiEvent,
    LightSetAside: SetAside,
    LightBilledService: BilledService,
    LightObservation: Observation,
    LightMedication: Medication,
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
    for b in ep.billed_services:
        if service_code_problem(b.code) is not None:
            return None
    for o in ep.observations:
        if observation_problem(o.kind, o.value, o.unit, o.status) is not None:
            return None
    for m in ep.medications:
        if m.stop_date is not None and m.stop_date < m.start_date:
            return None
    if patient_id_problem(ep.patient_id) is not None:
        return None
    return ep
