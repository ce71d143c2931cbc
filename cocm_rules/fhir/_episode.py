"""A patient Bundle (Patient, EpisodeOfCare, Encounters, CarePlan, Consent, responses,
Observations, vital signs and laboratory results) read into an :class:`~cocm_rules.Episode`.
The mapping tables are in ``docs/fhir.md``."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._text import join
from ..episode import (
    CONTACT_KINDS,
    CONTACT_MODES,
    CONTACT_ROLES,
    PROGRAMS,
    STATUSES,
    Contact,
    Episode,
    parse_episode,
)
from ..errors import InvalidInput
from ._common import (
    CARE_PLAN_SYSTEM,
    CONSENT_SYSTEM,
    CONTACT_KIND_SYSTEM,
    PROGRAM_SYSTEM,
    ROLE_SYSTEM,
    UCUM,
    Where,
    as_list,
    codings,
    reference_keys,
    reference_of,
    resource_label,
    to_date,
    to_datetime,
)
from ._medical import read_medical
from ._read import FhirReading, Note, Unrecognized

#: EpisodeOfCare.status -> registry status. planned, waitlist and cancelled have no registry
#: status: pass ``status_map`` (or leave the EpisodeOfCare out and pass ``status``).
DEFAULT_STATUS_MAP: dict[str, str] = {
    "active": "active_treatment",
    "onhold": "inactive",
    "finished": "discharged",
}
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#: Encounter.class (v3 ActCode) -> contact mode. VR (virtual) can be phone or video: not mapped.
CLASS_MODES: dict[str, str] = {"AMB": "in_person", "HH": "in_person", "FLD": "in_person"}
#: Encounter statuses (R4 and R5) that count as a contact that took place.
CONTACT_STATUSES = frozenset({"arrived", "triaged", "in-progress", "onleave", "finished", "completed", "discharged"})
_MINUTES = {"min": 1.0, "h": 60.0, "s": 1 / 60, "d": 24 * 60.0}
#: The most minutes one contact may count: the episode model's own bound (a day).
MAX_CONTACT_MINUTES: int = next(m.le for m in Contact.model_fields["minutes"].metadata if hasattr(m, "le"))
#: The enrollment fields of an episode, and what each allows (for messages).
ENROLLMENT = {"program": join(PROGRAMS), "status": join(STATUSES), "enrollment_date": "YYYY-MM-DD"}


def _code_keys(coding: Mapping[str, Any]) -> list[str]:
    code = coding.get("code")
    if not isinstance(code, str):
        return []
    system = coding.get("system")
    return [f"{system}|{code}", code] if isinstance(system, str) else [code]


def _concept_keys(concepts: Any, w: Where, path: str) -> list[str]:
    """The code keys (``system|code`` and ``code``) of every coding of the CodeableConcepts
    at ``path`` (one or a list), located errors for malformed ones."""
    return [
        key
        for k, cc in enumerate(as_list(concepts, w, path))
        for c in codings(cc, w, f"{path}[{k}]")
        for key in _code_keys(c)
    ]


@dataclass(frozen=True)
class EpisodeSettings:
    """How a Bundle's EpisodeOfCare, Encounters, CarePlans and Consents are read (checked once)."""

    status_map: Mapping[str, str]
    kinds: Mapping[str, str]  # "system|code" or "code" -> contact kind
    default_kind: str | None
    plan_codes: frozenset[str]
    roles: Mapping[str, str] = field(default_factory=dict)  # "system|code" or "code" -> contact role
    consent_codes: frozenset[str] = frozenset({f"{CONSENT_SYSTEM}|collaborative_care"})

    @classmethod
    def of(
        cls,
        status_map: Mapping[str, str] | None,
        contact_kinds: Mapping[str, str] | None,
        default_contact_kind: str | None,
        care_plan_codes: Iterable[str],
        contact_roles: Mapping[str, str] | None = None,
        consent_codes: Iterable[str] = (),
    ) -> EpisodeSettings:
        """The settings from a reader's keywords; a value that is no registry status, contact
        kind or contact role raises :class:`~cocm_rules.InvalidInput` naming the key."""
        statuses = dict(DEFAULT_STATUS_MAP if status_map is None else status_map)
        for k, v in statuses.items():
            if v not in STATUSES:
                raise InvalidInput(
                    "status_map values must be registry statuses",
                    field=f"status_map[{k!r}]",
                    value=v,
                    allowed=join(STATUSES),
                )
        kinds = {f"{CONTACT_KIND_SYSTEM}|{k}": k for k in CONTACT_KINDS}
        for key, kind in (contact_kinds or {}).items():
            if kind not in CONTACT_KINDS:
                raise InvalidInput(
                    "contact_kinds values must be contact kinds",
                    field=f"contact_kinds[{key!r}]",
                    value=kind,
                    allowed=join(CONTACT_KINDS),
                )
            kinds[key] = kind
        if default_contact_kind is not None and default_contact_kind not in CONTACT_KINDS:
            raise InvalidInput(
                "unknown contact kind",
                field="default_contact_kind",
                value=default_contact_kind,
                allowed=join(CONTACT_KINDS),
            )
        plan_codes = frozenset({f"{CARE_PLAN_SYSTEM}|relapse_prevention_plan", *care_plan_codes})
        roles = {f"{ROLE_SYSTEM}|{r}": r for r in CONTACT_ROLES}
        for key, role in (contact_roles or {}).items():
            if role not in CONTACT_ROLES:
                raise InvalidInput(
                    "contact_roles values must be contact roles",
                    field=f"contact_roles[{key!r}]",
                    value=role,
                    allowed=join(CONTACT_ROLES),
                )
            roles[key] = role
        consents = frozenset({f"{CONSENT_SYSTEM}|collaborative_care", *consent_codes})
        return cls(
            MappingProxyType(statuses),
            MappingProxyType(kinds),
            default_contact_kind,
            plan_codes,
            MappingProxyType(roles),
            consents,
        )


class EpisodeReader:
    """Reads a patient Bundle's Patient, EpisodeOfCare, Encounters and CarePlans."""

    def __init__(self, bundle: Mapping[str, Any], settings: EpisodeSettings) -> None:
        if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
            rtype = bundle.get("resourceType") if isinstance(bundle, Mapping) else None
            raise InvalidInput(
                "a patient episode is read from a Bundle",
                record=resource_label(bundle) if isinstance(bundle, Mapping) else None,
                field="resourceType",
                value=rtype if isinstance(bundle, Mapping) else bundle,
                allowed="Bundle",
            )
        self.bundle = bundle
        self.where = Where(resource_label(bundle))
        self.unrecognized: list[Note] = []
        self.notes: list[Note] = []  # contacts and plans set aside, minutes not counted
        self.status_map = settings.status_map
        self.kinds = settings.kinds
        self.default_kind = settings.default_kind
        self.plan_codes = settings.plan_codes
        self.roles = settings.roles
        self.consent_codes = settings.consent_codes
        self.entries: list[tuple[int, Mapping[str, Any], str | None]] = []
        for n, e in enumerate(as_list(bundle.get("entry"), self.where, "entry")):
            if not isinstance(e, Mapping) or not isinstance(e.get("resource"), Mapping):
                raise self.where.error(f"entry[{n}]", "a Bundle entry needs a resource")
            full = e.get("fullUrl")
            self.entries.append((n, e["resource"], full if isinstance(full, str) else None))

    def of_type(self, rtype: str) -> list[tuple[int, Mapping[str, Any], str | None]]:
        return [x for x in self.entries if x[1].get("resourceType") == rtype]

    # -- the patient ------------------------------------------------------------------------
    def patient(self) -> tuple[str, set[str], str | None]:
        patients = self.of_type("Patient")
        if len(patients) != 1:
            raise self.where.error("entry", f"a patient Bundle needs exactly one Patient (found {len(patients)})")
        n, p, full = patients[0]
        pid = p.get("id")
        if not isinstance(pid, str) or not pid:
            raise Where(resource_label(p, n)).error("id", "the Patient needs an id (it becomes patient_id)")
        keys = {f"Patient/{pid}"} | ({full} if full else set())
        gender = p.get("gender")
        sex = gender if gender in ("female", "male") else None
        return pid, keys, sex

    def check_subject(self, ref: str | None, label: str, path: str, keys: set[str]) -> None:
        if ref is not None and not (set(reference_keys(ref)) & keys):
            raise Where(label).error(
                path, "refers to another patient than the Bundle's Patient", value=ref, allowed=join(sorted(keys))
            )

    # -- EpisodeOfCare ----------------------------------------------------------------------
    def episode_of_care(self, choose: str | None, keys: set[str]) -> tuple[Mapping[str, Any], str] | None:
        found = []
        for n, r, _ in self.of_type("EpisodeOfCare"):
            label = resource_label(r, n)
            if r.get("status") == "entered-in-error":
                continue
            self.check_subject(reference_of(r.get("patient"), Where(label), "patient"), label, "patient", keys)
            found.append((r, label))
        if choose is not None:
            chosen = [(r, lab) for r, lab in found if r.get("id") == choose]
            if not chosen:
                raise self.where.error(
                    "entry",
                    "no EpisodeOfCare with this id",
                    value=choose,
                    allowed=join(str(r.get("id")) for r, _ in found) or "none in the Bundle",
                )
            return chosen[0]
        if len(found) > 1:
            raise self.where.error(
                "entry",
                "the Bundle has more than one EpisodeOfCare; choose one with episode_of_care='<id>'",
                allowed=join(str(r.get("id")) for r, _ in found),
            )
        return found[0] if found else None

    def from_episode_of_care(self, eoc: Mapping[str, Any], label: str) -> tuple[dict[str, Any], InvalidInput | None]:
        """What an EpisodeOfCare gives, and the error of a status that maps to no registry
        status (planned, waitlist, cancelled by default): the patient is then not enrolled."""
        w = Where(label)
        out: dict[str, Any] = {}
        status = eoc.get("status")
        status_error = None
        if not isinstance(status, str):
            raise w.error("status", "an EpisodeOfCare status must be a code", value=status)
        if status not in self.status_map:
            status_error = w.error(
                "status",
                "this EpisodeOfCare status has no registry status; pass status_map={...}",
                value=status,
                allowed=join(f"{k} -> {v}" for k, v in self.status_map.items()),
            )
        else:
            out["status"] = self.status_map[status]
        programs = []
        for k, cc in enumerate(as_list(eoc.get("type"), w, "type")):
            for c in codings(cc, w, f"type[{k}]"):
                if c.get("system") == PROGRAM_SYSTEM and c.get("code") in PROGRAMS:
                    programs.append(c["code"])
        if len(set(programs)) > 1:
            raise w.error("type", "more than one program", value=programs, allowed=join(PROGRAMS))
        if programs:
            out["program"] = programs[0]
        period = eoc.get("period")
        if isinstance(period, Mapping) and period.get("start") is not None:
            out["enrollment_date"] = to_date(period["start"], w, "period.start")
        manager = reference_of(eoc.get("careManager"), w, "careManager")
        if manager is not None:
            out["care_manager"] = manager
        return out, status_error

    # -- Encounters -----------------------------------------------------------------------------
    def contacts(self, keys: set[str]) -> list[dict[str, Any]]:
        """Encounters that took place, as contacts. One whose date or kind cannot be read is
        set aside (a note says why); one whose length cannot be used is counted without
        minutes. A resource that does not follow FHIR's structure is still an error."""
        out = []
        for n, enc, _ in self.of_type("Encounter"):
            label = resource_label(enc, n)
            w = Where(label)
            self.check_subject(reference_of(enc.get("subject"), w, "subject"), label, "subject", keys)
            status = enc.get("status")
            if not isinstance(status, str):
                raise w.error("status", "an Encounter status must be a code", value=status)
            if status not in CONTACT_STATUSES:
                continue  # planned, cancelled, entered-in-error, unknown: not a contact that took place
            kinds: set[str] = set()
            kinds.update(self.kinds[key] for key in _concept_keys(enc.get("type"), w, "type") if key in self.kinds)
            mode = self.mode(enc, w)
            try:
                if len(kinds) > 1:
                    raise w.error(
                        "type", "the Encounter's types map to more than one contact kind", value=sorted(kinds)
                    )
                if not kinds:
                    if self.default_kind is None:
                        self.unrecognized.append(
                            Note(
                                label,
                                "type",
                                "no type maps to a contact kind (pass contact_kinds= or default_contact_kind=)",
                            )
                        )
                        continue
                    kinds = {self.default_kind}
                period = enc.get("period") if enc.get("period") is not None else enc.get("actualPeriod")
                ppath = "period" if enc.get("period") is not None else "actualPeriod"
                if not isinstance(period, Mapping) or period.get("start") is None:
                    raise w.error(ppath, "a contact needs period.start (its date)")
                day = to_date(period["start"], w, f"{ppath}.start")
            except InvalidInput as e:
                self.notes.append(Note(label, e.field, f"not counted as a contact: {_reason(e)}", set_aside="contact"))
                continue
            contact: dict[str, Any] = {"date": day.isoformat(), "kind": kinds.pop()}
            try:
                minutes = self.minutes(enc, period, w, ppath)
            except InvalidInput as e:
                self.notes.append(
                    Note(
                        label,
                        e.field,
                        f"counted as a contact without its minutes: {_reason(e)}",
                        set_aside="value",
                        date=day,
                    )
                )
                minutes = None
            if minutes is not None:
                contact["minutes"] = minutes
            if mode is not None:
                contact["mode"] = mode
            role = self.role(enc, w, label, day)
            if role is not None:
                contact["role"] = role
            out.append(contact)
        return out

    def role(self, enc: Mapping[str, Any], w: Where, label: str, day: dt.date) -> str | None:
        """The contact role from ``participant.type`` (``urn:cocm-rules:role`` codes or the
        host's ``contact_roles``). Participants mapping to two roles leave it unset, with a
        note: whose time the Encounter's minutes are is not known, so they are not counted
        toward the CoCM codes. Participant types that map to no role are left alone."""
        roles: set[str] = set()
        for k, p in enumerate(as_list(enc.get("participant"), w, "participant")):
            if not isinstance(p, Mapping):
                raise w.error(f"participant[{k}]", "a participant must be an object", value=p)
            keys = _concept_keys(p.get("type"), w, f"participant[{k}].type")
            roles.update(self.roles[key] for key in keys if key in self.roles)
        if len(roles) > 1:
            self.notes.append(
                Note(
                    label,
                    "participant",
                    f"role left unset: the participants map to more than one role ({join(sorted(roles))}), so "
                    "whose time the minutes are is not known; they are not counted toward the CoCM codes",
                    date=day,
                )
            )
            return None
        return roles.pop() if roles else None

    @staticmethod
    def minutes(enc: Mapping[str, Any], period: Mapping[str, Any], w: Where, ppath: str) -> int | None:
        """Minutes from ``length`` (a Duration), else from the period's start and end times."""
        length = enc.get("length")
        if length is not None:
            if not isinstance(length, Mapping):
                raise w.error("length", "length must be a Duration", value=length)
            value, unit = length.get("value"), length.get("code") or length.get("unit")
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not isinstance(unit, str)
                or unit not in _MINUTES
            ):
                raise w.error(
                    "length",
                    "length needs a number and a UCUM unit",
                    value=length,
                    allowed=f"{UCUM} codes " + join(_MINUTES),
                )
            return _within_a_day(value * _MINUTES[unit], w, "length", value)
        if period.get("end") is not None:
            start = to_datetime(period["start"], w, f"{ppath}.start")
            end = to_datetime(period["end"], w, f"{ppath}.end")
            if start is not None and end is not None:
                if (start.tzinfo is None) != (end.tzinfo is None):
                    raise w.error(ppath, "start and end must both have a time zone or both not")
                seconds = (end - start).total_seconds()
                if seconds < 0:
                    raise w.error(ppath, "the period ends before it starts", value=period)
                return _within_a_day(seconds / 60, w, ppath, None)
        return None

    @staticmethod
    def mode(enc: Mapping[str, Any], w: Where) -> str | None:
        raw = enc.get("class")
        classes: list[Mapping[str, Any]] = []
        if isinstance(raw, Mapping) and "code" in raw:  # R4: a Coding
            classes.append(raw)
        elif isinstance(raw, list):  # R5: CodeableConcepts
            for k, cc in enumerate(raw):
                classes.extend(codings(cc, w, f"class[{k}]"))
        modes = {
            CLASS_MODES[c["code"]]
            for c in classes
            if c.get("system") in (None, V3_ACT_CODE) and isinstance(c.get("code"), str) and c["code"] in CLASS_MODES
        }
        mode = modes.pop() if len(modes) == 1 else None
        assert mode is None or mode in CONTACT_MODES
        return mode

    # -- CarePlan ---------------------------------------------------------------------------------
    def relapse_prevention_plan(self, keys: set[str]) -> dt.date | None:
        dates = []
        for n, plan, _ in self.of_type("CarePlan"):
            label = resource_label(plan, n)
            w = Where(label)
            self.check_subject(reference_of(plan.get("subject"), w, "subject"), label, "subject", keys)
            if plan.get("status") in ("entered-in-error", "revoked", "draft"):
                continue
            codes = _concept_keys(plan.get("category"), w, "category")
            if not set(codes) & self.plan_codes:
                self.unrecognized.append(
                    Note(label, "category", "not a relapse prevention plan (pass care_plan_codes=)")
                )
                continue
            period = plan.get("period")
            try:
                if isinstance(period, Mapping) and period.get("start") is not None:
                    dates.append(to_date(period["start"], w, "period.start"))
                elif plan.get("created") is not None:
                    dates.append(to_date(plan["created"], w, "created"))
                else:
                    raise w.error("period.start", "a relapse prevention plan needs period.start or created (its date)")
            except InvalidInput as e:
                self.notes.append(
                    Note(
                        label,
                        e.field,
                        f"not counted as a relapse prevention plan: {_reason(e)}",
                        set_aside="relapse_prevention_plan",
                    )
                )
        return max(dates) if dates else None

    # -- Consent ----------------------------------------------------------------------------------
    def consent(self, keys: set[str]) -> dt.date | None:
        """The date of the patient's consent to Collaborative Care: the earliest active Consent
        whose category is ``urn:cocm-rules:consent|collaborative_care`` (or one of
        ``consent_codes``), dated by ``dateTime`` (R5 ``date``). Consents in another status
        (draft, proposed, rejected, inactive: withdrawn, entered-in-error) do not count; one
        without a readable date is set aside; one of another category is unrecognized."""
        dates = []
        for n, consent, _ in self.of_type("Consent"):
            label = resource_label(consent, n)
            w = Where(label)
            subject = "patient" if consent.get("patient") is not None else "subject"
            self.check_subject(reference_of(consent.get(subject), w, subject), label, subject, keys)
            codes = _concept_keys(consent.get("category"), w, "category")
            if not set(codes) & self.consent_codes:
                self.unrecognized.append(
                    Note(label, "category", "not a consent to Collaborative Care (pass consent_codes=)")
                )
                continue
            if consent.get("status") != "active":
                continue
            path = "dateTime" if consent.get("dateTime") is not None else "date"
            try:
                if consent.get(path) is None:
                    raise w.error("dateTime", "a consent needs dateTime (R5: date), the day it was given")
                dates.append(to_date(consent[path], w, path))
            except InvalidInput as e:
                reason = f"not counted as consent to Collaborative Care: {_reason(e)}"
                self.notes.append(Note(label, e.field, reason, set_aside="consent"))
        return min(dates) if dates else None


def _set_aside(note: Note) -> dict[str, Any]:
    """The episode's record of what the reader set aside (see :class:`~cocm_rules.episode.SetAside`)."""
    out: dict[str, Any] = {
        "kind": note.set_aside,
        "reason": note.reason,
        "source": str(Note(note.resource, note.path, ""))[:-2],
    }
    if note.date is not None:
        out["date"] = note.date.isoformat()
    if note.measure is not None:
        out["measure"] = note.measure
    return out


def _reason(e: InvalidInput) -> str:
    """An error's message without the record and field (a Note names those)."""
    return str(InvalidInput(e.reason, value=e.value, allowed=e.allowed))


def _within_a_day(minutes: float, w: Where, path: str, value: Any) -> int:
    """Whole minutes of one contact, at most a day (no contact counts more, and an
    Encounter.length of 1e308 hours is no number of minutes at all)."""
    if not math.isfinite(minutes) or not 0 <= minutes <= MAX_CONTACT_MINUTES:
        shown = {"value": value} if value is not None else {}
        raise w.error(
            path,
            "not a possible length of one contact",
            **shown,
            allowed=f"0 to {MAX_CONTACT_MINUTES} minutes",
        )
    return round(minutes)


@dataclass
class PatientReading:
    """What :func:`read_patient` found in a patient Bundle.

    ``episode`` is the patient's :class:`~cocm_rules.Episode`, or None when the Bundle (and
    the keywords given) do not say the enrollment: no EpisodeOfCare, an EpisodeOfCare whose
    status maps to no registry status (``planned``, ``waitlist``, ...) or one without a start
    date. ``not_enrolled`` then says why (the error :func:`read_episode` raises), ``missing``
    names the fields, and :meth:`episode_with` builds the episode once they are known.

    ``record`` is the episode record as read (without the missing fields), for
    :func:`~cocm_rules.episode.parse_episode`. ``notes`` lists what was not used as sent, so
    nothing is dropped silently: values kept as invalid (their administration is scored as
    invalid), reported totals set aside, Encounters not counted as contacts or counted
    without their minutes, plans set aside.
    """

    patient_id: str
    label: str
    missing: tuple[str, ...]
    not_enrolled: InvalidInput | None
    episode_of_care: str | None  # the EpisodeOfCare read (its label), if any
    unmapped_status: str | None  # its status, when that maps to no registry status
    notes: list[Note]
    skipped: list[Note]
    unrecognized: list[Note]
    assessment_dates: list[dt.date]
    contact_dates: list[dt.date]
    record: dict[str, Any] = field(repr=False)
    episode: Episode | None = None

    def episode_with(self, **fill: Any) -> Episode:
        """The episode with ``fill`` (``program=``, ``status=``, ``enrollment_date=``) used
        for the fields the Bundle does not give; a value for a field the Bundle gives is
        ignored. Raises :attr:`not_enrolled` if a field is still missing."""
        record = dict(self.record)
        for key in self.missing:
            value = fill.get(key)
            if value is not None:
                record[key] = value.isoformat() if isinstance(value, dt.date) else value
        if any(key not in record for key in ENROLLMENT):
            assert self.not_enrolled is not None
            raise self.not_enrolled
        return parse_episode(record, record_ref=self.label)


#: The enrollment values a caller may give (the ``read_patient`` keywords), by episode field.
Given = Mapping[str, str | dt.date | None]


def patient_reading(
    reader: EpisodeReader,
    patient: tuple[str, set[str], str | None],
    reading: FhirReading,
    *,
    given: Given,
    episode_of_care: str | None,
    unrecognized: Unrecognized,
) -> PatientReading:
    """What a patient Bundle says, from its episode resources (``reader``), its Patient
    (``reader.patient()``) and the assessments read from it (``reading``, values kept as
    invalid); see :meth:`~cocm_rules.fhir.FhirReader.read_patient`."""
    patient_id, keys, sex = patient
    assessments = _assessment_entries(reader, reading, keys)
    eoc = reader.episode_of_care(episode_of_care, keys)
    found, status_error = reader.from_episode_of_care(*eoc) if eoc is not None else ({}, None)
    record: dict[str, Any] = {"patient_id": patient_id}
    missing = _enrollment(record, found, given, status_error, eoc[1] if eoc else reader.where.label)
    not_enrolled = status_error
    if missing and not_enrolled is None:
        not_enrolled = InvalidInput(
            ("the Bundle has no EpisodeOfCare" if eoc is None else f"{eoc[1]} does not give it")
            + "; pass "
            + ", ".join(f"{k}=..." for k in missing)
            + " (no defaults are assumed)",
            record=reader.where.label,
            field=missing[0],
            allowed=ENROLLMENT[missing[0]],
        )
    if sex is not None:
        record["sex"] = sex
    record["assessments"] = assessments
    record["contacts"] = reader.contacts(keys)
    medical = read_medical(reader.entries, lambda ref, label, path: reader.check_subject(ref, label, path, keys))
    if medical.observations:
        record["observations"] = medical.observations
    reader.notes.extend(medical.notes)
    reading.skipped.extend(medical.skipped)
    plan_date = reader.relapse_prevention_plan(keys)
    if plan_date is not None:
        record["relapse_prevention_plan_date"] = plan_date.isoformat()
    consent_date = reader.consent(keys)
    if consent_date is not None:
        record["consent_date"] = consent_date.isoformat()
    set_aside = [_set_aside(n) for n in (*reading.invalid, *reader.notes) if n.set_aside is not None]
    if set_aside:
        record["set_aside"] = set_aside
    reading.unrecognized.extend(reader.unrecognized)
    if unrecognized == "error":
        reading.check()
    out = PatientReading(
        patient_id=patient_id,
        label=reader.where.label,
        missing=tuple(missing),
        not_enrolled=not_enrolled,
        episode_of_care=eoc[1] if eoc is not None else None,
        unmapped_status=None if status_error is None else status_error.value,
        notes=[*reading.invalid, *reader.notes],
        skipped=list(reading.skipped),
        unrecognized=list(reading.unrecognized),
        assessment_dates=[a.date for a in reading.assessments if a.date is not None],
        contact_dates=[dt.date.fromisoformat(c["date"]) for c in record["contacts"]],
        record=record,
    )
    if not_enrolled is None:
        out.episode = parse_episode(record, record_ref=reader.where.label)
    return out


def _assessment_entries(reader: EpisodeReader, reading: FhirReading, keys: set[str]) -> list[dict[str, Any]]:
    """The episode's assessments; an undated one cannot be placed in the series, so it is set
    aside (listed in ``reading.invalid``)."""
    out = []
    for a in reading.assessments:
        reader.check_subject(a.subject, a.source, "subject", keys)
        try:
            ass = a.to_assessment()
        except InvalidInput as e:
            reading.invalid.append(Note(a.source, None, _reason(e), set_aside="assessment", measure=a.measure))
            continue
        entry: dict[str, Any] = {"measure": ass.measure, "date": ass.date.isoformat(), "id": ass.id}
        if ass.answers is not None:
            entry["answers"] = ass.answers
        if ass.total is not None:
            entry["total"] = ass.total
        out.append(entry)
    return out


def _enrollment(
    record: dict[str, Any], found: Mapping[str, Any], given: Given, status_error: InvalidInput | None, label: str
) -> list[str]:
    """Put the enrollment fields into ``record``, from the EpisodeOfCare (``found``) or the
    caller (``given``); return the ones still missing. A given value that contradicts the
    EpisodeOfCare is an error, and an EpisodeOfCare status with no registry status is not
    replaced by a given one."""
    missing = []
    for key in ("program", "status", "care_manager", "enrollment_date"):
        value = given.get(key)
        if isinstance(value, dt.date):
            value = value.isoformat()
        from_bundle = found.get(key)
        if isinstance(from_bundle, dt.date):
            from_bundle = from_bundle.isoformat()
        if from_bundle is not None and value is not None and from_bundle != value:
            raise InvalidInput(
                f"{key}={value!r} contradicts the Bundle's EpisodeOfCare ({from_bundle!r})", record=label, field=key
            )
        chosen = from_bundle if from_bundle is not None else value
        if key == "status" and status_error is not None:
            chosen = None  # the EpisodeOfCare's own status rules: a keyword does not replace it
        if chosen is not None:
            record[key] = chosen
        elif key != "care_manager":
            missing.append(key)
    return missing
