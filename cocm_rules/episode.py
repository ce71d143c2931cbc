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
import json
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

from ._json import NESTED_TOO_DEEPLY, not_utf8
from ._text import show, suggest
from .errors import InvalidInput

__all__ = [
    "PROGRAMS",
    "STATUSES",
    "Assessment",
    "Contact",
    "Episode",
    "Recommendation",
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
HOUSING = ("stable", "unstable", "homeless")
EMPLOYMENT = ("employed", "unemployed", "not_in_labor_force")
EDUCATION = ("enrolled", "not_enrolled")


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    """Accept a ``date`` or an ISO ``YYYY-MM-DD`` string (no times: dates only)."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"expected a date (YYYY-MM-DD), got a date-time {value.isoformat()!r}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a real date (YYYY-MM-DD)") from None
    raise ValueError(f"expected a date (YYYY-MM-DD), got {show(value)}")


class _IsoDate:
    """A date field: ``YYYY-MM-DD`` text, or a ``date`` object from Python.

    JSON text is checked in pydantic-core (a pattern, then ``date.fromisoformat``) without a
    Python call per date, which the batch path does ~20 times per patient. Any failure there
    makes :func:`parse_episode` re-validate the record through the Python path, whose
    validator (:func:`_iso_date`) writes the messages; both paths accept exactly the same
    dates (pydantic's own date parser is not used: it takes ``"0"`` for 1970-01-01).
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> cs.CoreSchema:
        return cs.json_or_python_schema(
            json_schema=cs.chain_schema(
                [
                    cs.str_schema(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
                    cs.no_info_plain_validator_function(dt.date.fromisoformat),
                ]
            ),
            python_schema=cs.no_info_before_validator_function(_iso_date, cs.date_schema(strict=True)),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: cs.CoreSchema, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {"type": "string", "format": "date"}


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
    """One administration of a measure: item answers, or a total the host reports alone.

    Answers are recomputed through the measure library; a reported total beside answers is
    checked against the recomputed one. A total alone is scored as a total only (item-level
    safety flags are then unknown, so a measure with safety items fails closed).
    """

    measure: str = Field(description="measure id, e.g. 'phq9'")
    date: Date = Field(description="date administered (YYYY-MM-DD)")
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
    systematic case review, or other care-manager activity, with the minutes spent."""

    date: Date
    kind: Literal["initial_assessment", "follow_up", "psychiatric_consultation", "case_review", "other"]
    minutes: int | None = Field(None, ge=0, le=24 * 60, description="minutes of care-team time")
    mode: Literal["in_person", "phone", "video", "secure_message", "other"] | None = None
    care_manager: str | None = None


class Recommendation(_Model):
    """A psychiatric consultant's recommendation and whether it has been acted on."""

    date: Date
    status: Literal["pending", "implemented", "declined"]
    resolved_date: Date | None = None


class SmiEvent(_Model):
    """An outcome event in a serious-mental-illness program (SMI Adviser's domains)."""

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
    smi_events: list[SmiEvent] = Field(default_factory=list)


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


def parse_episode(record: Mapping[str, Any] | str | bytes | Episode, *, record_ref: str | None = None) -> Episode:
    """Validate one episode record (a mapping, a JSON text or an Episode).

    Raises :class:`~cocm_rules.InvalidInput` naming the record (``record_ref``, else the
    patient id if one can be read), the field path (``assessments[2].date``), the value and
    what is allowed. Every problem in the record is listed in the one message.
    """
    if isinstance(record, Episode):
        return record
    if isinstance(record, str | bytes):
        try:  # the fast path: parse and validate in one pass
            return Episode.model_validate_json(record)
        except ValidationError:
            pass  # parsed again below, and validated through the Python path, which names every problem
        try:
            record = json.loads(record)
        except json.JSONDecodeError as e:
            raise InvalidInput(
                f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})", record=record_ref
            ) from e
        except UnicodeDecodeError as e:  # bytes that are not UTF-8 text
            raise InvalidInput(not_utf8(e), record=record_ref) from e
        except RecursionError:
            raise InvalidInput(f"not valid JSON: {NESTED_TOO_DEEPLY}", record=record_ref) from None
    if not isinstance(record, Mapping):
        raise InvalidInput("an episode must be a JSON object", record=record_ref, value=record)
    ref = record_ref
    if ref is None:
        pid = record.get("patient_id")
        ref = f"patient {pid!r}" if isinstance(pid, str) and pid else None
    try:
        return Episode.model_validate(record)
    except RecursionError:
        raise InvalidInput(NESTED_TOO_DEEPLY, record=ref) from None
    except ValidationError as e:
        errors = e.errors(include_url=False)
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
        raise error from e


def episode_json_schema() -> dict[str, Any]:
    """The JSON Schema of an episode record (``cocm-rules schema episode``)."""
    schema = Episode.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cocm_rules patient episode"
    return schema
