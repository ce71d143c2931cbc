"""The FHIR reader: its settings, checked once, and the reading functions.

A host reads many Bundles with the same settings (its Questionnaires, item map, EpisodeOfCare
status map, Encounter types): :class:`FhirReader` holds them, checks them when it is made
(an unknown measure, a status that is no registry status, a definition that is no
Questionnaire raise :class:`~cocm_rules.InvalidInput` then, not on the first patient), and
reads with them. What differs per call (the patient's program, status, enrollment date, care
manager, which EpisodeOfCare) stays an argument of the call::

    reader = FhirReader(status_map={"planned": "active_treatment"}, unrecognized="skip")
    episode = reader.read_episode(bundle, program="cocm")

The module functions (:func:`read_episode`, :func:`read_patient`, :func:`read_assessments`,
:func:`read_scores`, :func:`score_fhir`) take the same settings as keywords for a one-off
call: ``read_episode(bundle, program="cocm", status_map={...})`` is
``FhirReader(status_map={...}).read_episode(bundle, program="cocm")``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypedDict, Unpack

from ..episode import Episode
from ..errors import InvalidInput
from ..measures import MeasureLibrary, load_measures
from ..scoring import Score
from ._common import refuses_deep_nesting
from ._episode import EpisodeReader, EpisodeSettings, PatientReading, patient_reading
from ._read import (
    AssessmentReader,
    FhirReading,
    FhirScoreReport,
    ScoredResource,
    Unrecognized,
    definitions_of,
    item_targets,
    load_resource,
    measure_contexts,
    measure_ids,
)
from ._terms import Definitions, Target, code_index

__all__ = [
    "FhirReader",
    "ReaderSettings",
    "read_assessments",
    "read_episode",
    "read_patient",
    "read_scores",
    "score_fhir",
]


class ReaderSettings(TypedDict, total=False):
    """The settings of a :class:`FhirReader`, as keywords of the module functions."""

    library: MeasureLibrary | None
    definitions: Iterable[Mapping[str, Any]]
    item_map: Mapping[str, str] | None
    measures: Iterable[str] | None
    status_map: Mapping[str, str] | None
    contact_kinds: Mapping[str, str] | None
    default_contact_kind: str | None
    care_plan_codes: Iterable[str]
    contact_roles: Mapping[str, str] | None
    consent_codes: Iterable[str]
    unrecognized: Unrecognized


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str] | None:
    return None if mapping is None else MappingProxyType(dict(mapping))


@dataclass(frozen=True, eq=False, kw_only=True)
class FhirReader:
    """Settings for reading FHIR, checked once; the reading methods use them.

    Reading measures:

    - ``library``: the measure library (default: the bundled measures);
    - ``definitions``: Questionnaires, ValueSets and CodeSystems (or Bundles of them) that
      give item codes and answer weights (ordinalValue / itemWeight); those inside a Bundle
      read are used too;
    - ``item_map``: linkId -> ``"phq9.item1"`` / ``"phq9.total"`` for forms whose items carry
      no codes;
    - ``measures``: read only these measures (e.g. ``["phq2"]`` from a PHQ-9 form);
    - ``unrecognized``: ``"error"`` (the default) makes a response or Observation that matches
      no measure an error of :meth:`read_scores`, :meth:`score_fhir`, :meth:`read_patient` and
      :meth:`read_episode`; ``"skip"`` leaves it out (it is listed either way).

    Reading a patient's episode (:meth:`read_patient`, :meth:`read_episode`):

    - ``status_map``: EpisodeOfCare.status -> registry status (default
      :data:`~cocm_rules.fhir.DEFAULT_STATUS_MAP`);
    - ``contact_kinds``: Encounter type ``"system|code"`` (or ``"code"``) -> contact kind;
    - ``default_contact_kind``: the kind of an Encounter no type maps (default: none, the
      Encounter is unrecognized);
    - ``care_plan_codes``: CarePlan categories (``"system|code"``) that are a relapse
      prevention plan, besides ``urn:cocm-rules:care-plan|relapse_prevention_plan``;
    - ``contact_roles``: Encounter participant type ``"system|code"`` (or ``"code"``) ->
      contact role (whose time the minutes are), besides the ``urn:cocm-rules:role`` codes;
    - ``consent_codes``: Consent categories (``"system|code"``) that are consent to
      Collaborative Care, besides ``urn:cocm-rules:consent|collaborative_care``.

    Raises :class:`~cocm_rules.InvalidInput` for a setting that cannot be used, naming it.
    """

    library: MeasureLibrary | None = field(default=None, repr=False)
    definitions: Iterable[Mapping[str, Any]] = field(default=(), repr=False)
    item_map: Mapping[str, str] | None = None
    measures: Iterable[str] | None = None
    status_map: Mapping[str, str] | None = None
    contact_kinds: Mapping[str, str] | None = None
    default_contact_kind: str | None = None
    care_plan_codes: Iterable[str] = ()
    contact_roles: Mapping[str, str] | None = None
    consent_codes: Iterable[str] = ()
    unrecognized: Unrecognized = "error"
    _lib: MeasureLibrary = field(init=False, repr=False)
    _defs: Definitions = field(init=False, repr=False)
    _targets: Mapping[str, Target] = field(init=False, repr=False)
    _measures: tuple[str, ...] | None = field(init=False, repr=False)
    _episode: EpisodeSettings = field(init=False, repr=False)

    @refuses_deep_nesting
    def __post_init__(self) -> None:
        if self.unrecognized not in ("error", "skip"):
            raise InvalidInput("unrecognized must be 'error' or 'skip'", field="unrecognized", value=self.unrecognized)
        # Iterables are read once and kept (a generator would be spent after one call);
        # mappings are copied, so changing the caller's dict later changes nothing here.
        settings: dict[str, Any] = {
            "definitions": tuple(self.definitions),
            "measures": None if self.measures is None else tuple(self.measures),
            "care_plan_codes": tuple(self.care_plan_codes),
            "consent_codes": tuple(self.consent_codes),
            "contact_roles": _frozen(self.contact_roles),
            "item_map": _frozen(self.item_map),
            "status_map": _frozen(self.status_map),
            "contact_kinds": _frozen(self.contact_kinds),
        }
        lib = self.library if self.library is not None else load_measures()
        settings |= {
            "_lib": lib,
            "_defs": definitions_of(settings["definitions"]),
            "_targets": MappingProxyType(item_targets(code_index(lib), settings["item_map"])),
            "_measures": measure_ids(lib, settings["measures"]),
            "_episode": EpisodeSettings.of(
                settings["status_map"],
                settings["contact_kinds"],
                self.default_contact_kind,
                settings["care_plan_codes"],
                settings["contact_roles"],
                settings["consent_codes"],
            ),
        }
        for name, value in settings.items():
            object.__setattr__(self, name, value)

    def _assessment_reader(self, *, keep_invalid: bool = False) -> AssessmentReader:
        return AssessmentReader(self._lib, self._defs.copy(), self._targets, self._measures, keep_invalid=keep_invalid)

    # -- measures ---------------------------------------------------------------------------
    @refuses_deep_nesting
    def read_assessments(self, resource: Mapping[str, Any]) -> FhirReading:
        """Find the measure administrations in a QuestionnaireResponse, an Observation or a
        Bundle. Raises :class:`~cocm_rules.InvalidInput` naming the resource and the path for
        a malformed resource or answer; resources it does not recognize are listed, not
        guessed (whatever ``unrecognized`` says)."""
        return self._assessment_reader().read(resource)

    @refuses_deep_nesting
    def score_fhir(self, source: str | Path | Mapping[str, Any], **context: Any) -> FhirScoreReport:
        """Score a FHIR resource (a mapping, a JSON file path or JSON text): the function behind
        ``cocm-rules score --fhir FILE``. See :meth:`read_scores` for ``context`` and
        :func:`~cocm_rules.fhir.load_resource` for how a file is read."""
        resource = load_resource(source)
        reading = self.read_assessments(resource)
        if self.unrecognized == "error":
            reading.check()
        contexts = measure_contexts(reading, self._lib, context)
        scores = []
        for a in reading.assessments:
            score = a.score(library=self._lib, **contexts[a.measure])
            scores.append(ScoredResource(a.source, a.measure, a.date, score, dict(a.paths)))
        return FhirScoreReport(scores, list(reading.unrecognized), list(reading.skipped))

    def read_scores(self, resource: Mapping[str, Any], **context: Any) -> list[Score]:
        """Read and score every measure administration in a FHIR resource.

        Totals are recomputed from the items; a reported total is kept in
        ``Score.reported_total`` and compared (``Score.total_agrees``). Context such as
        ``sex="female"`` (AUDIT-C) is passed to the measures that take it (a Bundle's
        Patient.gender is used when not given).
        """
        return [s.score for s in self.score_fhir(resource, **context).scores]

    # -- a patient's episode ----------------------------------------------------------------
    @refuses_deep_nesting
    def read_patient(
        self,
        bundle: Mapping[str, Any],
        *,
        program: str | None = None,
        status: str | None = None,
        enrollment_date: dt.date | str | None = None,
        care_manager: str | None = None,
        episode_of_care: str | None = None,
    ) -> PatientReading:
        """Read a Bundle about one patient, as :meth:`read_episode` does, without refusing a
        patient whose enrollment the Bundle does not give (see :class:`PatientReading`).

        One impossible value does not refuse the patient: an answer out of range or an unknown
        answer code is kept so its administration is scored as invalid (a data-quality alert;
        for a safety item, "suicide risk cannot be ruled out"); a reported total out of range
        likewise; an Encounter whose date or kind cannot be read is not counted as a contact,
        and one whose length is impossible (``1e308`` hours) is counted without minutes. Each
        is listed in :attr:`PatientReading.notes`. Raises :class:`~cocm_rules.InvalidInput`
        for a Bundle that cannot be read at all: not a Bundle, not exactly one Patient, a
        resource about another patient, a resource that does not follow FHIR's structure, an
        undated response, a keyword contradicting the EpisodeOfCare, or (with
        ``unrecognized="error"``) a resource that matches no measure.
        """
        reader = EpisodeReader(bundle, self._episode)
        patient = reader.patient()  # a Bundle without its one Patient is refused before its responses are read
        reading = self._assessment_reader(keep_invalid=True).read(bundle)
        given = {"program": program, "status": status, "care_manager": care_manager, "enrollment_date": enrollment_date}
        return patient_reading(
            reader, patient, reading, given=given, episode_of_care=episode_of_care, unrecognized=self.unrecognized
        )

    def read_episode(
        self,
        bundle: Mapping[str, Any],
        *,
        program: str | None = None,
        status: str | None = None,
        enrollment_date: dt.date | str | None = None,
        care_manager: str | None = None,
        episode_of_care: str | None = None,
    ) -> Episode:
        """Read a Bundle about one patient into an :class:`~cocm_rules.Episode`.

        The Bundle's one Patient gives ``patient_id`` (its id) and ``sex`` (gender
        female/male). An EpisodeOfCare gives ``status`` (through ``status_map``, default
        active -> active_treatment, onhold -> inactive, finished -> discharged),
        ``enrollment_date`` (period.start), ``program`` (a ``type`` coding in
        ``urn:cocm-rules:program``) and ``care_manager`` (careManager reference); with more
        than one, ``episode_of_care`` names the one to read. What the Bundle does not say must
        be passed (``program``, ``status``, ``enrollment_date``, ``care_manager``): there are
        no silent defaults, and a value that contradicts the Bundle is an error. Encounters
        become contacts (kind from ``type`` via ``contact_kinds`` or the
        ``urn:cocm-rules:contact-kind`` system; minutes from ``length`` or the period; mode
        from ``class``; role from ``participant.type`` via ``contact_roles`` or the
        ``urn:cocm-rules:role`` system); a CarePlan with category
        ``urn:cocm-rules:care-plan|relapse_prevention_plan`` (or one of ``care_plan_codes``)
        gives the relapse prevention plan date, and an active Consent with category
        ``urn:cocm-rules:consent|collaborative_care`` (or one of ``consent_codes``) the
        consent date. Responses and Observations become assessments as in
        :meth:`read_assessments`.

        One impossible value keeps the patient: its administration is scored as invalid, or
        its contact is set aside (see :meth:`read_patient`, which also lists what was not
        used). Raises :class:`~cocm_rules.InvalidInput` when the enrollment is not known, and
        for a Bundle that cannot be read (see :meth:`read_patient`).
        """
        reading = self.read_patient(
            bundle,
            program=program,
            status=status,
            enrollment_date=enrollment_date,
            care_manager=care_manager,
            episode_of_care=episode_of_care,
        )
        if reading.episode is None:
            assert reading.not_enrolled is not None
            raise reading.not_enrolled
        return reading.episode


# -- the same, with the settings as keywords (one-off calls) ----------------------------------------


def read_assessments(
    resource: Mapping[str, Any],
    *,
    definitions: Iterable[Mapping[str, Any]] = (),
    item_map: Mapping[str, str] | None = None,
    measures: Iterable[str] | None = None,
    library: MeasureLibrary | None = None,
) -> FhirReading:
    """:meth:`FhirReader.read_assessments` with the reader's settings as keywords."""
    reader = FhirReader(definitions=definitions, item_map=item_map, measures=measures, library=library)
    return reader.read_assessments(resource)


def read_scores(
    resource: Mapping[str, Any],
    *,
    definitions: Iterable[Mapping[str, Any]] = (),
    item_map: Mapping[str, str] | None = None,
    measures: Iterable[str] | None = None,
    library: MeasureLibrary | None = None,
    unrecognized: Unrecognized = "error",
    **context: Any,
) -> list[Score]:
    """:meth:`FhirReader.read_scores` with the reader's settings as keywords; the other
    keywords are the measures' context (``sex="female"``, parameters)."""
    reader = FhirReader(
        definitions=definitions, item_map=item_map, measures=measures, library=library, unrecognized=unrecognized
    )
    return reader.read_scores(resource, **context)


def score_fhir(
    source: str | Path | Mapping[str, Any],
    *,
    definitions: Iterable[Mapping[str, Any]] = (),
    item_map: Mapping[str, str] | None = None,
    measures: Iterable[str] | None = None,
    library: MeasureLibrary | None = None,
    unrecognized: Unrecognized = "error",
    **context: Any,
) -> FhirScoreReport:
    """:meth:`FhirReader.score_fhir` with the reader's settings as keywords; the other
    keywords are the measures' context (``sex="female"``, parameters)."""
    reader = FhirReader(
        definitions=definitions, item_map=item_map, measures=measures, library=library, unrecognized=unrecognized
    )
    return reader.score_fhir(source, **context)


def read_patient(
    bundle: Mapping[str, Any],
    *,
    program: str | None = None,
    status: str | None = None,
    enrollment_date: dt.date | str | None = None,
    care_manager: str | None = None,
    episode_of_care: str | None = None,
    **settings: Unpack[ReaderSettings],
) -> PatientReading:
    """:meth:`FhirReader.read_patient` with the reader's settings (:class:`ReaderSettings`) as
    keywords: ``FhirReader(**settings).read_patient(bundle, program=..., ...)``."""
    return FhirReader(**settings).read_patient(
        bundle,
        program=program,
        status=status,
        enrollment_date=enrollment_date,
        care_manager=care_manager,
        episode_of_care=episode_of_care,
    )


def read_episode(
    bundle: Mapping[str, Any],
    *,
    program: str | None = None,
    status: str | None = None,
    enrollment_date: dt.date | str | None = None,
    care_manager: str | None = None,
    episode_of_care: str | None = None,
    **settings: Unpack[ReaderSettings],
) -> Episode:
    """:meth:`FhirReader.read_episode` with the reader's settings (:class:`ReaderSettings`) as
    keywords: ``FhirReader(**settings).read_episode(bundle, program=..., ...)``."""
    return FhirReader(**settings).read_episode(
        bundle,
        program=program,
        status=status,
        enrollment_date=enrollment_date,
        care_manager=care_manager,
        episode_of_care=episode_of_care,
    )
