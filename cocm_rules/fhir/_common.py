"""Shared pieces of the FHIR adapter: code systems, resource labels, paths, dates, numbers."""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from .._dates import DateProblem, calendar_date
from .._json import NESTED_TOO_DEEPLY
from ..errors import InvalidInput

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
#: R4 extension giving a coded answer its numeric value (on ``answerOption``, a ValueSet concept or a Coding).
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
#: R5 name of the same thing (also published for R4 in the extensions pack).
ITEM_WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
WEIGHT_EXTENSIONS = (ORDINAL_VALUE, ITEM_WEIGHT)
#: The LOINC answer codes for a plain "Yes" / "No" (answer list LL361-7), used by the C-SSRS example.
LOINC_YES = "LA33-6"
LOINC_NO = "LA32-8"

# Code systems of this library. A registry that prefers its own canonical URLs can map these.
MEASURE_SYSTEM = "urn:cocm-rules:measure"  # "phq9.item1", "phq9.total", "cssrs_screener.level"
BAND_SYSTEM = "urn:cocm-rules:band"  # "phq9.moderate"
FLAG_SYSTEM = "urn:cocm-rules:flag"  # "suicide_risk"
RULE_SYSTEM = "urn:cocm-rules:rule"  # rule ids
ACTION_SYSTEM = "urn:cocm-rules:action"  # recommended actions ("suicide_risk_screen")
CATEGORY_SYSTEM = "urn:cocm-rules:alert-category"  # "suicide_risk", "treatment_to_target"
ROLE_SYSTEM = "urn:cocm-rules:role"  # "care_manager", "psychiatric_consultant"
PROGRAM_SYSTEM = "urn:cocm-rules:program"  # EpisodeOfCare.type: "cocm" or "smi"
CONTACT_KIND_SYSTEM = "urn:cocm-rules:contact-kind"  # Encounter.type: "follow_up", ...
CARE_PLAN_SYSTEM = "urn:cocm-rules:care-plan"  # CarePlan.category: "relapse_prevention_plan"
CONSENT_SYSTEM = "urn:cocm-rules:consent"  # Consent.category: "collaborative_care"
STATUS_EXTENSION = "urn:cocm-rules:source-status"  # on a Coding: "secondary" / "unconfirmed"

#: LOINC code -> kind of medical observation (vital signs, laboratory results, smoking status),
#: read into the episode's observations. docs/fhir.md gives where each code was checked.
MEDICAL_CODES: Mapping[str, str] = MappingProxyType(
    {
        "29463-7": "body_weight",
        "39156-5": "bmi",
        "8480-6": "systolic_bp",
        "8462-4": "diastolic_bp",
        "4548-4": "hba1c",
        "2345-7": "glucose",
        "1558-6": "fasting_glucose",
        "13457-7": "ldl",  # LDL cholesterol, calculated
        "18262-6": "ldl",  # LDL cholesterol, direct assay
        "2093-3": "total_cholesterol",
        "2085-9": "hdl",
        "2571-8": "triglycerides",
        "72166-2": "smoking_status",
    }
)
#: The blood pressure panel (systolic and diastolic as components: FHIR vital signs, US Core).
BP_PANEL = "85354-9"
#: The vital signs panel: its members are read one by one; the panel itself holds no value.
VITAL_SIGNS_PANEL = "85353-1"

_LOINC_CODE = re.compile(r"\d{1,8}-\d")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


_F = TypeVar("_F", bound=Callable[..., Any])


def refuses_deep_nesting(fn: _F) -> _F:
    """Turn a RecursionError (a resource nested beyond what the reader can walk, e.g. a Bundle
    inside a Bundle thousands of times) into an InvalidInput, as the JSON reader does."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            raise InvalidInput(f"the FHIR data is {NESTED_TOO_DEEPLY}") from None

    return wrapper  # type: ignore[return-value]


def is_loinc_code(text: Any) -> bool:
    """A LOINC code's shape (``44250-9``), answer codes (``LA6568-5``) excluded."""
    return isinstance(text, str) and _LOINC_CODE.fullmatch(text) is not None


def resource_label(resource: Mapping[str, Any], entry: int | None = None) -> str:
    """``QuestionnaireResponse/qr1``; without an id, where it is (``... at Bundle entry[2]``)."""
    rtype = resource.get("resourceType") if isinstance(resource, Mapping) else None
    rtype = rtype if isinstance(rtype, str) else "resource"
    rid = resource.get("id") if isinstance(resource, Mapping) else None
    if isinstance(rid, str) and rid:
        return f"{rtype}/{rid}"
    return f"{rtype} at Bundle entry[{entry}]" if entry is not None else f"{rtype} (no id)"


@dataclass(frozen=True)
class Where:
    """The resource being read, for error messages: ``record <label>, field '<path>'``."""

    label: str

    def error(self, path: str | None, reason: str, **parts: Any) -> InvalidInput:
        """An InvalidInput naming this resource and the path inside it."""
        return InvalidInput(reason, record=self.label, field=path or None, **parts)

    def wrap(self, error: InvalidInput, path: str | None) -> InvalidInput:
        """A scorer error re-raised with this resource and path."""
        return error.in_record(self.label, path or None)


def join_path(base: str, part: str) -> str:
    """``item[0]`` + ``answer[1]`` -> ``item[0].answer[1]``."""
    return f"{base}.{part}" if base else part


def codings(concept: Any, where: Where, path: str) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept (validated shape)."""
    if concept is None:
        return []
    if not isinstance(concept, Mapping):
        raise where.error(path, "a CodeableConcept must be an object", value=concept)
    raw = concept.get("coding", [])
    if not isinstance(raw, list) or not all(isinstance(c, Mapping) for c in raw):
        raise where.error(join_path(path, "coding"), "coding must be a list of Coding objects")
    return [dict(c) for c in raw]


def listed(value: Any) -> list[Any]:
    """A FHIR array read leniently (definitions, extensions): anything but a list is no items."""
    return value if isinstance(value, list) else []


def as_list(value: Any, where: Where, path: str) -> list[Any]:
    """A FHIR array element (absent = empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.error(path, "must be a JSON array", value=value)
    return value


def reference_of(value: Any, where: Where, path: str) -> str | None:
    """``Reference.reference`` (None when absent)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise where.error(path, "a Reference must be an object", value=value)
    ref = value.get("reference")
    if ref is None:
        return None
    if not isinstance(ref, str) or not ref:
        raise where.error(join_path(path, "reference"), "a reference must be a non-empty string", value=ref)
    return ref


def reference_keys(ref: str) -> list[str]:
    """Keys a reference may match in a Bundle: itself, and ``Type/id`` from its tail
    (``https://x/fhir/Patient/p1/_history/2`` also matches ``Patient/p1``)."""
    keys = [ref]
    parts = ref.split("|")[0].rstrip("/").split("/")
    if len(parts) >= 2:
        keys.append("/".join(parts[-2:]))
    if len(parts) >= 4 and parts[-2] == "_history":
        keys.append("/".join(parts[-4:-2]))
    return keys


def to_date(value: Any, where: Where, path: str) -> dt.date:
    """The calendar date of a FHIR date, dateTime or instant, as written (no time-zone shift).

    A registry records the local date the patient answered; ``2026-11-02T23:30:00-05:00`` is
    2026-11-02. A partial date (``2026`` or ``2026-11``) is refused: an assessment needs a day.
    The rule is the episode reader's (:func:`cocm_rules._dates.calendar_date`).
    """
    if not isinstance(value, str):
        raise where.error(path, "a date must be a string (YYYY-MM-DD or a dateTime)", value=value)
    try:
        return calendar_date(value, whole=False)
    except DateProblem as e:
        reason = "not a real date" if e.kind == "unreal" else "a full date (YYYY-MM-DD) is needed"
        raise where.error(path, reason, value=value) from None


def to_datetime(value: Any, where: Where, path: str) -> dt.datetime | None:
    """A dateTime with a time, or None for a bare date (used for durations)."""
    if not isinstance(value, str):
        raise where.error(path, "a dateTime must be a string", value=value)
    if "T" not in value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise where.error(path, "not a valid dateTime", value=value) from None


def number(value: Any) -> int | float | None:
    """A finite JSON number as int when whole; None if not a number (booleans are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else value
    return value


def numeric_string(value: Any) -> int | float | None:
    """``"12"`` -> 12, ``"12.5"`` -> 12.5; anything else (and digits beyond float range) -> None."""
    if not isinstance(value, str) or not re.fullmatch(r"\s*[+-]?\d+(\.\d+)?\s*", value):
        return None
    f = float(value)
    if not math.isfinite(f):
        return None
    return int(f) if f.is_integer() else f


def weight_extension(element: Any) -> float | None:
    """The ordinalValue / itemWeight of an element (answerOption, concept or Coding), if any."""
    if not isinstance(element, Mapping):
        return None
    for ext in listed(element.get("extension")):
        if isinstance(ext, Mapping) and ext.get("url") in WEIGHT_EXTENSIONS:
            for key in ("valueDecimal", "valueInteger"):
                v = number(ext.get(key))
                if v is not None:
                    return v
    return None


def check_id(value: str) -> bool:
    """A FHIR logical id (``[A-Za-z0-9\\-.]{1,64}``)."""
    return _ID.fullmatch(value) is not None


def loinc_codes(concept_holder: Mapping[str, Any], where: Where) -> list[str]:
    """The LOINC codes (system LOINC or none) of an element's ``code``."""
    return [
        c["code"]
        for c in codings(concept_holder.get("code"), where, "code")
        if c.get("system") in (LOINC, None) and isinstance(c.get("code"), str)
    ]


def is_medical(obs: Mapping[str, Any]) -> bool:
    """Whether an Observation is a vital sign, laboratory result or smoking status (or a panel
    of them), read into the episode's observations rather than as a measure."""
    try:
        codes = loinc_codes(obs, Where(resource_label(obs)))
    except InvalidInput:
        return False  # a malformed code is the assessment reader's to report
    return any(c in MEDICAL_CODES or c in (BP_PANEL, VITAL_SIGNS_PANEL) for c in codes)
