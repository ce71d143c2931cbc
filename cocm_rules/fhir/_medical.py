"""Medical Observations of a patient Bundle (vital signs, laboratory results, tobacco smoking
status) read into the episode's ``observations``. The mapping tables are in ``docs/fhir.md``.

An Observation is medical when its code is one of the LOINC codes of ``MEDICAL_CODES`` (in
``_common``), the blood pressure panel or the vital signs panel. Its value is kept with the
UCUM unit it was sent in (the episode model checks the unit and the facts convert it); one
that cannot be used (no date, a unit that is not accepted, an unknown smoking status code) is
set aside with the reason, never dropped and never guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .._text import join
from .._units import UNITS
from ..episode import SMOKING_STATUSES
from ..errors import InvalidInput
from ._common import (
    MEDICAL_CODES,
    UCUM,
    VITAL_SIGNS_PANEL,
    Where,
    as_list,
    codings,
    is_medical,
    loinc_codes,
    number,
    reference_of,
    resource_label,
    to_date,
)
from ._read import Note

__all__ = ["SMOKING_CODES", "MedicalReading", "read_medical"]

SNOMED = "http://snomed.info/sct"
#: SNOMED CT smoking status codes (US Core / HL7 IPS smoking status value sets) -> status.
SMOKING_CODES: Mapping[str, str] = {
    "449868002": "current_every_day",  # smokes tobacco daily
    "428041000124106": "current_some_days",  # occasional tobacco smoker
    "77176002": "current",  # smoker, frequency not said
    "428061000124105": "current",  # light tobacco smoker
    "428071000124103": "current",  # heavy tobacco smoker
    "8517006": "former",  # ex-smoker
    "266919005": "never",  # never smoked tobacco
    "266927001": "unknown",  # tobacco smoking consumption unknown
}
assert set(SMOKING_CODES.values()) <= set(SMOKING_STATUSES)


class MedicalReading:
    """Reads the medical Observations of a Bundle's entries into episode observations; what
    cannot be used goes in :attr:`notes` (set aside, kind ``observation``), Observations with
    no value (``dataAbsentReason``) and panels in :attr:`skipped`."""

    def __init__(self) -> None:
        self.observations: list[dict[str, Any]] = []
        self.notes: list[Note] = []
        self.skipped: list[Note] = []

    def read(self, obs: Mapping[str, Any], label: str) -> None:
        """One Observation (call only for those :func:`is_medical` accepts)."""
        w = Where(label)
        status = obs.get("status")
        if status in ("entered-in-error", "cancelled"):
            self.skipped.append(Note(label, "status", str(status)))
            return
        codes = loinc_codes(obs, w)
        kinds = {MEDICAL_CODES[c] for c in codes if c in MEDICAL_CODES}
        if not kinds and VITAL_SIGNS_PANEL in codes:
            self.skipped.append(Note(label, "code", "a vital signs panel: its member Observations are read"))
            return
        day = None
        try:
            day = self._date(obs, w)
            if len(kinds) > 1:
                raise w.error("code", "the codes map to more than one kind of observation", value=sorted(kinds))
            if kinds:
                self._one(obs, kinds.pop(), day, w, label)
            else:  # the blood pressure panel: systolic and diastolic components
                self._components(obs, day, w, label)
        except InvalidInput as e:
            self.set_aside(label, e, day)

    def set_aside(self, label: str, e: InvalidInput, day: dt.date | None) -> None:
        """Note an Observation (or component) that cannot be used, and why."""
        reason = str(InvalidInput(e.reason, value=e.value, allowed=e.allowed))
        self.notes.append(
            Note(label, e.field, f"not used as an observation: {reason}", set_aside="observation", date=day)
        )

    @staticmethod
    def _date(obs: Mapping[str, Any], w: Where) -> dt.date:
        for key in ("effectiveDateTime", "effectiveInstant"):
            if obs.get(key) is not None:
                return to_date(obs[key], w, key)
        period = obs.get("effectivePeriod")
        if isinstance(period, Mapping) and period.get("start") is not None:
            return to_date(period["start"], w, "effectivePeriod.start")
        raise w.error("effectiveDateTime", "an observation needs its date (effectiveDateTime, effectivePeriod.start)")

    def _one(self, element: Mapping[str, Any], kind: str, day: dt.date, w: Where, label: str, path: str = "") -> None:
        if element.get("dataAbsentReason") is not None and not any(k.startswith("value") for k in element):
            self.skipped.append(Note(label, path or None, "no value (dataAbsentReason)"))
            return
        entry: dict[str, Any] = {"date": day.isoformat(), "kind": kind}
        if kind == "smoking_status":
            entry["status"] = _smoking(element, w, path)
        else:
            entry["value"], entry["unit"] = _quantity(element, kind, w, path)
        if isinstance(element.get("id"), str) and not path:
            entry["id"] = element["id"]
        self.observations.append(entry)

    def _components(self, obs: Mapping[str, Any], day: dt.date, w: Where, label: str) -> None:
        found = False
        for n, comp in enumerate(as_list(obs.get("component"), w, "component")):
            path = f"component[{n}]"
            if not isinstance(comp, Mapping):
                raise w.error(path, "a component must be an object", value=comp)
            kinds = {MEDICAL_CODES[c] for c in loinc_codes(comp, Where(label)) if c in ("8480-6", "8462-4")}
            if len(kinds) == 1:
                found = True
                try:
                    self._one(comp, kinds.pop(), day, w, label, path)
                except InvalidInput as e:
                    self.set_aside(label, e, day)
        if not found:
            raise w.error(
                "component", "a blood pressure panel needs a systolic (8480-6) or diastolic (8462-4) component"
            )


def _quantity(element: Mapping[str, Any], kind: str, w: Where, path: str) -> tuple[int | float, str]:
    """The value and UCUM code of ``valueQuantity``: the unit must be a UCUM code accepted for
    the kind (``code`` with system UCUM; ``unit`` only when no code is sent and it is itself
    an accepted code)."""
    qpath = f"{path}.valueQuantity" if path else "valueQuantity"
    q = element.get("valueQuantity")
    allowed = f"a valueQuantity in UCUM {join(UNITS[kind])}"
    if not isinstance(q, Mapping):
        raise w.error(qpath, f"a {kind} observation needs a valueQuantity", allowed=allowed)
    value = number(q.get("value"))
    if value is None or value <= 0:
        raise w.error(f"{qpath}.value", "not a number above 0", value=q.get("value"))
    system, code = q.get("system"), q.get("code")
    if code is not None:
        if system not in (UCUM, None):
            raise w.error(f"{qpath}.system", "the unit must be a UCUM code", value=system, allowed=UCUM)
        unit = code
    else:
        unit = q.get("unit")
    if unit not in UNITS[kind]:
        raise w.error(f"{qpath}.code", f"this unit is not accepted for {kind}", value=unit, allowed=join(UNITS[kind]))
    return value, unit


def _smoking(element: Mapping[str, Any], w: Where, path: str) -> str:
    vpath = f"{path}.valueCodeableConcept" if path else "valueCodeableConcept"
    statuses = {
        SMOKING_CODES[c["code"]]
        for c in codings(element.get("valueCodeableConcept"), w, vpath)
        if c.get("system") in (SNOMED, None) and c.get("code") in SMOKING_CODES
    }
    if len(statuses) != 1:
        raise w.error(
            vpath,
            "a smoking status needs one SNOMED CT smoking status code",
            value=element.get("valueCodeableConcept"),
            allowed=join(f"{code} ({status})" for code, status in SMOKING_CODES.items()),
        )
    return statuses.pop()


def read_medical(entries: list[tuple[int, Mapping[str, Any], str | None]], subject_ok: Any) -> MedicalReading:
    """The medical Observations of a Bundle's entries; ``subject_ok(ref, label, path)`` checks
    each one is about the Bundle's Patient (it raises otherwise)."""
    out = MedicalReading()
    for n, obs, _ in entries:
        if obs.get("resourceType") != "Observation" or not is_medical(obs):
            continue
        label = resource_label(obs, n)
        subject_ok(reference_of(obs.get("subject"), Where(label), "subject"), label, "subject")
        out.read(obs, label)
    return out
