"""The patient episode: what a host sends about one patient in a Collaborative Care program.

An :class:`Episode` holds the enrollment, status, measure administrations (item answers or a
reported total), care contacts, psychiatric consultant recommendations, the relapse
prevention plan and, for serious mental illness programs, outcome events. It is input only:
facts are derived from it as of an explicit date (:mod:`cocm_rules.facts`); nothing derived
is stored on it.

Records arrive as JSON objects (one per patient, or JSON Lines). :func:`parse_episode` turns
one record into an Episode or raises :class:`~cocm_rules.InvalidInput` naming the record and
the field, so a batch can yield an error record instead of dropping the patient.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import core_schema as cs

from . import _json
from ._dates import DATE_ONLY_PATTERN, DATE_TIME_PATTERN, calendar_date
from ._json import NESTED_TOO_DEEPLY
from ._text import show, suggest
from ._units import UNITS
from .errors import InvalidInput
from .measures import MeasureLibrary, load_measures

__all__ = [
    "CONTACT_ROLES",
    "MEDICATION_KINDS",
    "OBSERVATION_KINDS",
    "PROGRAMS",
    "SMOKING_STATUSES",
    "STATUSES",
    "Assessment",
    "BilledService",
    "Contact",
    "Episode",
    "Medication",
    "Observation",
    "Recommendation",
    "SetAside",
    "SmiEvent",
    "episode_json_schema",
    "parse_episode",
]

#: Programs: primary-care Collaborative Care, or Collaborative Care for serious mental illness.
PROGRAMS = ("cocm", "smi")
#: Registry statuses, as the AIMS Center patient tracking registry uses them.
STATUSES = ("active_treatment", "relapse_prevention_plan", "discharged", "inactive")
CONTACT_KINDS = ("initial_assessment", "follow_up", "psychiatric_consultation", "case_review", "other")
CONTACT_MODES = ("in_person", "phone", "video", "secure_message", "other")
#: Whose time a contact's minutes are: the behavioral health care manager, the psychiatric
#: consultant, the treating (billing) practitioner (usually the PCP), or anyone else.
CONTACT_ROLES = ("care_manager", "psychiatric_consultant", "pcp", "other")
HOUSING = ("stable", "unstable", "homeless")
EMPLOYMENT = ("employed", "unemployed", "not_in_labor_force")
EDUCATION = ("enrolled", "not_enrolled")
#: Kinds of medical observation: vital signs and laboratory results (a number in one of the
#: UCUM units of :data:`cocm_rules._units.UNITS`) and the tobacco smoking status (a word).
OBSERVATION_KINDS = (*UNITS, "smoking_status")
#: Tobacco smoking statuses (US Core smoking status, grouped: heavy and light smokers are
#: ``current``, as is a smoker whose frequency is not known).
SMOKING_STATUSES = ("current_every_day", "current_some_days", "current", "former", "never", "unknown")
#: Classes of medication an episode may list: only what a rule needs (metabolic monitoring).
MEDICATION_KINDS = ("antipsychotic",)


def _iso_date(value: Any) -> Any:
    """A ``date``, or a date or date-time in text: its calendar date as written (the time and
    offset are checked, then left out; see :mod:`cocm_rules._dates`). A ``datetime`` object
    gives its own calendar date, unshifted, by the same rule."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return calendar_date(value)  # a DateProblem is a ValueError: pydantic reports it as the field's
    raise ValueError(f"expected a date (YYYY-MM-DD) or a date-time in text, got {show(value)}")


#: Labels of the two ways a date field is read (they appear in pydantic's error locations).
_PLAIN_DATE = "date[YYYY-MM-DD]"
_ANY_DATE = "date[any]"


class _IsoDate:
    """A date field: ``YYYY-MM-DD`` text, a date-time in text (its calendar date as written),
    or a ``date`` / ``datetime`` object from Python.

    A plain ``YYYY-MM-DD`` is checked in pydantic-core (a pattern, then ``date.fromisoformat``)
    without a Python call per date, which the batch path does ~20 times per patient; anything
    else goes to :func:`_iso_date`, which accepts date-times and writes the messages. Both
    accept exactly the same plain dates (pydantic's own date parser is not used: it takes
    ``"0"`` for 1970-01-01).
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> cs.CoreSchema:
        plain = cs.chain_schema(
            [cs.str_schema(pattern=DATE_ONLY_PATTERN), cs.no_info_plain_validator_function(dt.date.fromisoformat)]
        )
        checked = cs.no_info_plain_validator_function(_iso_date)
        return cs.union_schema([(plain, _PLAIN_DATE), (checked, _ANY_DATE)], mode="left_to_right")

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: cs.CoreSchema, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "pattern": DATE_TIME_PATTERN, "description": DATE_RULE},
            ]
        }


#: The rule for date-times, as the JSON Schema states it.
DATE_RULE = (
    "a date-time (YYYY-MM-DDThh:mm[:ss[.fff]], optionally with Z or an offset such as -05:00) means "
    "its calendar date as written: the time and offset are left out, never converted "
    "(2026-11-02T23:30:00-05:00 is 2026-11-02)"
)

Date = Annotated[dt.date, _IsoDate]


# Control characters (C0, DEL, C1), line and paragraph separators, and lone surrogates (which
# cannot be written as UTF-8): none belongs in an identifier that is echoed in outputs and logs.
_NOT_IN_AN_ID = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def patient_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a patient id (control characters, lone surrogates, blank), or None."""
    if _NOT_IN_AN_ID.search(value):
        return "must not hold control characters (such as NUL, a tab or a line break) or lone surrogates"
    if not value.strip():
        return "must not be blank"
    return None


def _patient_id(value: str) -> str:
    problem = patient_id_problem(value)
    if problem is not None:
        raise ValueError(f"{problem} (got {show(value)})")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Assessment(_Model):
    """One administration of a measure: item answers, a total the host reports, or both.

    Answers are recomputed through the measure library; a reported total beside answers is
    checked against the recomputed one. When the answers sent do not give a total (many EHRs
    store a PHQ-9 as its total and item 9), the reported total is the total, marked
    ``total_source: reported``, and flags come from the items sent. A total alone is scored as
    a total only (item-level safety flags are then unknown, so a measure with safety items
    fails closed).
    """

    measure: str = Field(
        description="measure id, e.g. 'phq9'; a name the measure declares (its short name, an alias or its "
        "LOINC panel code, e.g. 'PHQ-9' or '44249-1') is read as its id"
    )
    date: Date = Field(description="date administered (YYYY-MM-DD, or a date-time: its date as written)")
    answers: list[Any] | dict[str, Any] | None = Field(
        None, description="item answers in item order, or a mapping of item id to value; null = unanswered"
    )
    total: int | float | None = Field(None, description="total reported by the host, if any")
    context: dict[str, Any] = Field(default_factory=dict, description="scoring context, e.g. {'sex': 'female'}")
    id: str | None = Field(None, description="the host's id for this administration")

    @model_validator(mode="after")
    def _something(self) -> Assessment:
        if self.answers is None and self.total is None:
            raise ValueError("an assessment needs 'answers' or a reported 'total'")
        return self


class Contact(_Model):
    """A care contact: the initial assessment, a follow-up, a psychiatric consultation, a
    systematic case review, or other care-manager activity, with the minutes spent and whose
    minutes they are (``role``).

    The CoCM codes count behavioral health care manager time only: the billing facts count
    the minutes of contacts whose role is ``care_manager``. A contact without a role counts
    in ``minutes_this_month`` (all care-team time) but not toward the codes, and the
    time-tracking rules ask for the role (never overbill). For a meeting of several team
    members (the care manager's case review with the consultant), record the care manager's
    minutes with role ``care_manager``: the consultant's time is not what the codes count.
    """

    date: Date
    kind: Literal["initial_assessment", "follow_up", "psychiatric_consultation", "case_review", "other"]
    minutes: int | None = Field(None, ge=0, le=24 * 60, description="minutes of care-team time")
    mode: Literal["in_person", "phone", "video", "secure_message", "other"] | None = None
    care_manager: str | None = None
    role: Literal["care_manager", "psychiatric_consultant", "pcp", "other"] | None = Field(
        None,
        description="whose time the minutes are: care_manager (the behavioral health care manager), "
        "psychiatric_consultant, pcp (the treating practitioner) or other; only care_manager minutes count "
        "toward the CoCM codes, and minutes without a role are not counted",
    )


class Recommendation(_Model):
    """A psychiatric consultant's recommendation and whether it has been acted on."""

    date: Date
    status: Literal["pending", "implemented", "declined"]
    resolved_date: Date | None = None


class SmiEvent(_Model):
    """An outcome event in a serious-mental-illness program: a psychiatric hospitalization, an
    emergency department visit, or a change of housing, employment or education status."""

    date: Date
    kind: Literal["hospitalization", "ed_visit", "housing", "employment", "education"]
    status: str | None = Field(
        None,
        description="for housing: stable|unstable|homeless; employment: employed|unemployed|not_in_labor_force; "
        "education: enrolled|not_enrolled",
    )

    @model_validator(mode="after")
    def _status_fits(self) -> SmiEvent:
        allowed = {"housing": HOUSING, "employment": EMPLOYMENT, "education": EDUCATION}.get(self.kind)
        if allowed is None:
            if self.status is not None:
                raise ValueError(f"a {self.kind} event has no status")
        elif self.status not in allowed:
            raise ValueError(f"a {self.kind} event needs a status: {', '.join(allowed)} (got {show(self.status)})")
        return self


_SERVICE_CODE = re.compile(r"[0-9A-Z]{5}")


def service_code_problem(value: str) -> str | None:
    """Why ``value`` cannot be a CPT or HCPCS code (5 digits or capital letters), or None."""
    if _SERVICE_CODE.fullmatch(value) is None:
        return f"a CPT or HCPCS code is 5 digits or capital letters, e.g. '99484' (got {show(value)})"
    return None


def _service_code(value: str) -> str:
    problem = service_code_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


class BilledService(_Model):
    """A service the practice has billed for the patient (a claim line): its CPT/HCPCS code
    and date of service. The time-tracking rules read general behavioral health integration
    (99484), which is not billed in the same calendar month as the CoCM codes; other codes
    are kept and not read today."""

    code: Annotated[str, AfterValidator(_service_code)] = Field(
        description="CPT or HCPCS code, e.g. '99484'", json_schema_extra={"pattern": "^[0-9A-Z]{5}$"}
    )
    date: Date = Field(description="date of service (its calendar month is the service month)")


#: What a set-aside record was: a whole administration (unscored: a safety screen among them
#: fails closed), a contact, a relapse prevention plan, a consent, one value inside a record
#: that was otherwise used (a reported total beside its items, a contact's minutes), or a
#: medical observation (a vital sign or laboratory result without a usable date, value or unit).
SET_ASIDE_KINDS = ("assessment", "contact", "relapse_prevention_plan", "consent", "value", "observation")


class SetAside(_Model):
    """Something the host (or a reader such as the FHIR reader) had about the patient but
    could not use as sent, and why. Nothing is dropped silently: each one counts in the
    ``set_aside_count`` fact (a data-quality alert), and an administration set aside whose
    measure has safety items, or is not known, means suicide risk cannot be ruled out."""

    kind: Literal["assessment", "contact", "relapse_prevention_plan", "consent", "value", "observation"]
    reason: str = Field(min_length=1, description="why it could not be used, for the team correcting the record")
    date: Date | None = Field(None, description="its date, when one could be read")
    measure: str | None = Field(None, description="for an assessment: the measure, when it could be recognized")
    source: str | None = Field(None, description="where it came from, e.g. 'Encounter/enc-4'")


ObservationKind = Literal[
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


def _finite(value: float) -> bool:
    """Whether ``value`` is a finite number (an integer too large for a float is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class Observation(_Model):
    """A vital sign, a laboratory result or the tobacco smoking status: the medical outcomes
    Collaborative Care for serious mental illness tracks beside the mental-health measures.

    A number comes with its UCUM unit as sent (``kg``, ``[lb_av]``, ``mg/dL``, ``mmol/L``,
    ``%``, ...); the facts convert it to one unit per kind, and a unit that is not listed for
    the kind is refused, never guessed. The smoking status is a word (``status``), with no
    value or unit.
    """

    date: Date = Field(description="date measured or recorded (YYYY-MM-DD, or a date-time: its date as written)")
    kind: ObservationKind = Field(
        description="body_weight, bmi, systolic_bp, diastolic_bp, hba1c, glucose (random or unspecified), "
        "fasting_glucose, ldl, total_cholesterol, hdl, triglycerides, or smoking_status"
    )
    value: int | float | None = Field(None, description="the number (not for smoking_status): finite and above 0")
    unit: str | None = Field(
        None,
        description="UCUM unit of the value: body_weight kg, g or [lb_av]; bmi kg/m2; blood pressure mm[Hg]; "
        "hba1c % or mmol/mol; glucose and lipids mg/dL or mmol/L (L or l)",
    )
    status: Literal["current_every_day", "current_some_days", "current", "former", "never", "unknown"] | None = Field(
        None, description="for smoking_status only: " + ", ".join(SMOKING_STATUSES)
    )
    id: str | None = Field(None, description="the host's id for this observation")

    @model_validator(mode="after")
    def _fits(self) -> Observation:
        problem = observation_problem(self.kind, self.value, self.unit, self.status)
        if problem is not None:
            raise ValueError(problem)
        return self


def observation_problem(kind: str, value: Any, unit: str | None, status: str | None) -> str | None:
    """Why an observation of ``kind`` cannot have this value, unit and status (a smoking status
    has a status and no value or unit; any other kind a finite value above 0 in a unit listed
    for it), or None. The light reader (:mod:`cocm_rules.light_episode`) makes the same check."""
    if kind == "smoking_status":
        if status is None or value is not None or unit is not None:
            return (
                "a smoking_status observation needs a status ("
                + ", ".join(SMOKING_STATUSES)
                + ") and has no value or unit"
            )
        return None
    if status is not None:
        return f"a {kind} observation has a value and a unit, not a status"
    if value is None or not _finite(value) or value <= 0:
        return f"a {kind} observation needs a value: a finite number above 0 (got {show(value)})"
    units = UNITS[kind]
    if unit not in units:
        return f"the unit {show(unit)} is not accepted for {kind}; allowed (UCUM): {', '.join(units)}"
    return None


class Medication(_Model):
    """A medication the patient takes, by class, with its dates: only what a rule needs. An
    antipsychotic starts the metabolic monitoring schedule (ADA/APA consensus, 2004); starting
    another one (a switch) starts it again."""

    kind: Literal["antipsychotic"] = Field(description="the medication class: antipsychotic")
    start_date: Date = Field(description="date started")
    stop_date: Date | None = Field(None, description="date stopped; none while it is taken")
    name: str | None = Field(None, description="the drug, for people reading the record (no rule reads it)")

    @model_validator(mode="after")
    def _dates_in_order(self) -> Medication:
        if self.stop_date is not None and self.stop_date < self.start_date:
            raise ValueError(f"stop_date {self.stop_date} is before start_date {self.start_date}")
        return self


class Episode(_Model):
    """One patient's episode of care in a Collaborative Care program."""

    patient_id: Annotated[str, AfterValidator(_patient_id)] = Field(
        min_length=1, description="the host's patient identifier (printable text, not blank)"
    )
    program: Literal["cocm", "smi"] = Field(description="cocm (primary care) or smi (serious mental illness)")
    enrollment_date: Date = Field(description="referral / enrollment date: the start of the episode")
    status: Literal["active_treatment", "relapse_prevention_plan", "discharged", "inactive"]
    care_manager: str | None = Field(None, description="care manager id, for per-care-manager metrics")
    sex: Literal["female", "male"] | None = Field(None, description="used as AUDIT-C scoring context")
    assessments: list[Assessment] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    recommendations: list[Recommendation] = Field(default_factory=list)
    relapse_prevention_plan_date: Date | None = None
    consent_date: Date | None = Field(
        None,
        description="date the patient's consent to Collaborative Care was obtained and documented (verbal or "
        "written); the CoCM codes are not prompted without it",
    )
    billed_services: list[BilledService] = Field(
        default_factory=list, description="services billed for the patient (code and date of service)"
    )
    smi_events: list[SmiEvent] = Field(default_factory=list)
    observations: list[Observation] = Field(
        default_factory=list, description="vital signs, laboratory results and the tobacco smoking status"
    )
    medications: list[Medication] = Field(
        default_factory=list, description="medications by class (antipsychotics), for metabolic monitoring"
    )
    set_aside: list[SetAside] = Field(
        default_factory=list, description="records the host or a reader could not use as sent, and why"
    )


_FIELD_WORDS = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "literal_error": "is not an allowed value",
}


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        else:  # a key of the caller's may hold lone surrogates, which cannot be written out
            out += ("." if out else "") + str(part).encode("utf-8", "backslashreplace").decode("utf-8")
    return out


def _schema_fields(model: type[BaseModel]) -> dict[str, tuple[bool, Any]]:
    """Each field of ``model``: whether it holds a list, and the fields of the model it holds (if any)."""
    out: dict[str, tuple[bool, Any]] = {}
    for name, field in model.model_fields.items():
        args = [field.annotation, *get_args(field.annotation)]
        args += [a for arg in args for a in get_args(arg)]
        is_list = any(a is list or get_origin(a) is list for a in args)
        inner = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        out[name] = (is_list, _schema_fields(inner) if inner is not None else None)
    return out


_EPISODE_FIELDS = _schema_fields(Episode)
_PATH_PARTS = re.compile(r"\[[0-9]+\]|[^.\[]+|\[")
#: What :func:`loggable_field` writes in place of a name that is not an episode field.
UNKNOWN_FIELD = "<unknown field>"


def loggable_field(field: str | None) -> str | None:
    """A field path fit for a log: episode field names and list indices where the schema has them.

    From the first part that does not fit the schema (a key the caller made up, which may hold
    free text or an identifier), the path ends in ``<unknown field>``, e.g.
    ``assessments[0].<unknown field>``.
    """
    if field is None:
        return None
    out = ""
    fields: dict[str, tuple[bool, Any]] | None = _EPISODE_FIELDS
    indexable = False
    for part in _PATH_PARTS.findall(field):
        if part[0] == "[" and part[-1] == "]" and indexable:
            out += part
            indexable = False
        elif fields is not None and part in fields:
            out += ("." if out else "") + part
            indexable, fields = fields[part]
        else:
            return out + ("." if out else "") + UNKNOWN_FIELD
    return out


def _known_fields(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model a validation ``loc`` points into."""
    model: Any = Episode
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return []
        inner = [a for a in getattr(field.annotation, "__args__", (field.annotation,)) if isinstance(a, type)]
        model = next((a for a in inner if issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return list(model.model_fields)


def parse_episode(
    record: Mapping[str, Any] | str | bytes | Episode,
    *,
    record_ref: str | None = None,
    library: MeasureLibrary | None = None,
) -> Episode:
    """Validate one episode record (a mapping, a JSON text or an Episode).

    JSON text is read strictly (:mod:`cocm_rules._json`): an object that repeats a key, at any
    depth, is refused naming its path and the key, since the last value would otherwise win
    and could hide a positive suicide item. Measure ids are read through ``library`` (the
    bundled measures by default): an alias a measure declares (``PHQ-9``, ``GAD7``, a LOINC
    panel code) becomes its id (``phq9``); an id it does not recognize is kept as written.

    Raises :class:`~cocm_rules.InvalidInput` naming the record (``record_ref``, else the
    patient id if one can be read), the field path (``assessments[2].date``), the value and
    what is allowed. Every problem in the record is listed in the one message.
    """
    if isinstance(record, Episode):
        return _with_measure_ids(record, library)
    if isinstance(record, str | bytes | bytearray):
        text = record
        try:
            record = _json.loads(text, record=record_ref)
        except _json.DuplicateKey as e:
            if record_ref is None and (pid := patient_id_of_pairs(_json.pairs(text))) is not None:
                raise _json.DuplicateKey(e.reason, key=e.key, record=f"patient {pid!r}", field=e.field) from None
            raise
    if not isinstance(record, Mapping):
        raise InvalidInput("an episode must be a JSON object", record=record_ref, value=record)
    ref = record_ref
    if ref is None:
        pid = record.get("patient_id")
        ref = f"patient {pid!r}" if isinstance(pid, str) and pid else None
    try:
        episode = Episode.model_validate(record)
    except RecursionError:
        raise InvalidInput(NESTED_TOO_DEEPLY, record=ref) from None
    except ValidationError as e:
        raise _invalid(e, ref) from e
    return _with_measure_ids(episode, library)


def _invalid(e: ValidationError, ref: str | None) -> InvalidInput:
    """One InvalidInput listing every problem pydantic found, each with its field path."""
    # A date that is not a plain YYYY-MM-DD fails the fast check too: only the full check speaks.
    errors = [err for err in e.errors(include_url=False) if _PLAIN_DATE not in err["loc"]]
    parts = []
    for err in errors:
        path = _field_path(tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "literal_error":
            options = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            value = err.get("input")
            hint = suggest(value, options) if isinstance(value, str) else None
            msg = f"{show(value)} is not allowed; allowed: {', '.join(options)}"
            msg += f"; did you mean {hint!r}?" if hint else ""
        elif err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "string_unicode":
            msg = f"is not valid Unicode text: it holds a lone surrogate (got {show(err.get('input'))})"
        elif err["type"] == "extra_forbidden":
            known = _known_fields(tuple(err["loc"])[:-1])
            key = str(err["loc"][-1])
            hint = suggest(key, known)
            msg = "is not a known field" + (f"; did you mean {hint!r}?" if hint else "")
            msg += f" (known fields: {', '.join(known)})" if known else ""
        elif err["type"] not in ("value_error",) and "input" in err and not isinstance(err["input"], dict | list):
            msg = f"{msg} (got {show(err['input'])})"
        parts.append(f"{path}: {msg}" if path else msg)
    error = InvalidInput("; ".join(parts), record=ref)
    error.field = _field_path(tuple(errors[0]["loc"])) or None
    return error


def patient_id_of_pairs(tree: Any) -> str | None:
    """The patient id of a record read as :func:`cocm_rules._json.pairs` (one whose JSON repeats
    a key somewhere), when it is given exactly once and is a valid id; else None."""
    if not isinstance(tree, _json.Pairs):
        return None
    ids = [v for k, v in tree if k == "patient_id"]
    if len(ids) != 1 or not isinstance(ids[0], str) or not ids[0] or patient_id_problem(ids[0]) is not None:
        return None
    return ids[0]


def _with_measure_ids(episode: Episode, library: MeasureLibrary | None) -> Episode:
    """The episode with each assessment's measure id as the library knows it: an alias is
    replaced by the id it stands for; an unrecognized id is kept as written."""
    lib = library if library is not None else load_measures()
    known = lib.ids
    assessments = episode.assessments
    for a in assessments:
        if a.measure not in known:
            break
    else:
        return episode  # the common case: every id is already the library's own
    fixed = []
    for a in assessments:
        measure = a.measure if a.measure in known else lib.resolve(a.measure)
        fixed.append(a if measure is None or measure == a.measure else a.model_copy(update={"measure": measure}))
    return episode.model_copy(update={"assessments": fixed})


def episode_json_schema() -> dict[str, Any]:
    """The JSON Schema of an episode record (``cocm-rules schema episode``)."""
    schema = Episode.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cocm_rules patient episode"
    return schema
