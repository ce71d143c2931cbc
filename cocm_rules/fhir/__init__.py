"""FHIR R4 in and out: an adapter at the edge, with no clinical logic of its own.

Reading needs nothing but plain dicts (FHIR JSON). Writing and validating use the optional
``fhir.resources`` package (``pip install 'cocm-rules[fhir]'``), imported only then.

In (each reading function is a method of :class:`FhirReader`, which holds the reading
settings - Questionnaires, item map, status map, Encounter types - checked once; the module
functions take the same settings as keywords for a one-off call)::

    QuestionnaireResponse / Observation / Bundle ──► read_assessments() ──► FhirAssessment[]
                                                      read_scores()      ──► Score[] (via the measure library)
                                                      score_fhir()       ──► report for `cocm-rules score --fhir`
    patient Bundle ──────────────────────────────────► read_episode()    ──► Episode (for Engine.evaluate)
                                                      read_patient()    ──► PatientReading: the Episode, or
                                                                            why the patient is not enrolled,
                                                                            and what was not used as sent

Out::

    Score   ──► score_to_observation() / score_to_bundle() ──► Observation (LOINC), validated
    Alert[] ──► alerts_to_bundle()  ──► Bundle of Flag + RiskAssessment (suicide_risk),
                                        DetectedIssue (treatment_to_target), Task (every action)

Reading rules (``docs/fhir.md`` has the tables and examples):

- A measure is recognized from a panel code (Questionnaire.code, the Observation code, or a
  ``questionnaire`` canonical ending in the panel LOINC code), from item and total LOINC codes
  (the Questionnaire item's ``code``, or a linkId that is a LOINC code, also LHC-Forms style
  ``/44250-9``), or from an explicit ``item_map`` of linkIds. Items are found in nested groups
  and under answers. Question text is never used.
- When the same answers fit several measures (a PHQ-2 inside a PHQ-9 form), the one they
  cover best is read (PHQ-9 for a PHQ-9 form, PHQ-2 for a screening form holding only items
  44250-9 and 44255-8); ``measures=["phq2"]`` reads a named measure out of a larger form.
  Other questions of the form are left alone (listed in ``FhirAssessment.ignored``).
- Answers: LOINC answer codes (system LOINC or no system) as the measure file defines them;
  LOINC Yes/No (LA33-6/LA32-8) for yes/no items; otherwise the weight the Questionnaire
  (answerOption), its answerValueSet or a CodeSystem gives the code (``ordinalValue`` or
  ``itemWeight``); or the value itself (valueInteger, valueDecimal, valueQuantity,
  valueBoolean, valueString "yes"/"no"). A Questionnaire weight that contradicts the measure's
  LOINC answer value is an error, and every value is checked against the item's allowed values.
- Totals (valueInteger, valueDecimal, valueQuantity or a numeric valueString) are never
  trusted: with items present they are compared (``Score.total_agrees``); alone they are scored
  as a total only (a PHQ-9 total alone is flagged ``safety_item_missing``).
- Vital signs, laboratory results and the smoking status (LOINC 29463-7, 39156-5, 85354-9,
  8480-6, 8462-4, 4548-4, 2345-7, 1558-6, 13457-7, 18262-6, 2093-3, 2085-9, 2571-8, 72166-2)
  are not measures: :func:`read_episode` reads them into the episode's ``observations`` with
  their UCUM units as sent, and sets aside (never guesses) one it cannot use.
- Unknown questionnaires and codes are reported (``FhirReading.unrecognized``; an error in
  :func:`read_scores` and :func:`read_episode` unless ``unrecognized="skip"``), never guessed.
  Malformed resources raise :class:`~cocm_rules.InvalidInput` naming the resource and the
  path, e.g. ``record QuestionnaireResponse/qr1, field 'item[0].item[3].answer[0]'``.

R4 and R4B. The project speaks FHIR R4 (4.0.1). ``fhir.resources`` 8 ships R5 as its default
models and R4B (4.3.0) as the closest to R4; validation uses ``fhir.resources.R4B``. For the
resources used here (Observation, QuestionnaireResponse, Questionnaire, Flag, RiskAssessment,
Task, DetectedIssue, Bundle, Patient, EpisodeOfCare, Encounter, CarePlan) R4B has the same
elements, cardinalities and required code lists as R4 (checked element by element against
the R4 definitions); the one difference is that R4B widens Observation.subject to more target
types (Organization, Procedure, Practitioner, Medication, Substance), which does not matter
for a Patient subject. What does matter: the R5 models differ (Task.reasonCode/
reasonReference became Task.reason, DetectedIssue.patient became subject and its status codes
changed, Encounter.period became actualPeriod and class a list of CodeableConcepts,
ordinalValue became itemWeight), so R5 models must not be used to validate R4 output; and the
``fhir.resources`` models check structure and primitive formats but not required value sets
(a bogus Flag.status passes) nor invariants, so :func:`validate` adds those checks for the
elements this module emits. Reading accepts the R5 spellings that appear in the wild
(``itemWeight``, Encounter ``actualPeriod`` and a ``class`` list).
"""

from __future__ import annotations

from ._common import (
    ACTION_SYSTEM,
    BAND_SYSTEM,
    CARE_PLAN_SYSTEM,
    CATEGORY_SYSTEM,
    CONSENT_SYSTEM,
    CONTACT_KIND_SYSTEM,
    FLAG_SYSTEM,
    ITEM_WEIGHT,
    MEASURE_SYSTEM,
    ORDINAL_VALUE,
    PROGRAM_SYSTEM,
    ROLE_SYSTEM,
    RULE_SYSTEM,
    STATUS_EXTENSION,
)
from ._episode import CLASS_MODES, DEFAULT_STATUS_MAP, MAX_CONTACT_MINUTES, PatientReading
from ._read import FhirAssessment, FhirReading, FhirScoreReport, Note, ScoredResource, load_resource
from ._reader import FhirReader, ReaderSettings, read_assessments, read_episode, read_patient, read_scores, score_fhir
from ._write import (
    CONSULTANT_ACTIONS,
    ISSUE_SEVERITY,
    TASK_PRIORITY,
    alerts_to_bundle,
    score_to_bundle,
    score_to_observation,
    validate,
)

__all__ = [
    "ACTION_SYSTEM",
    "BAND_SYSTEM",
    "CARE_PLAN_SYSTEM",
    "CATEGORY_SYSTEM",
    "CLASS_MODES",
    "CONSENT_SYSTEM",
    "CONSULTANT_ACTIONS",
    "CONTACT_KIND_SYSTEM",
    "DEFAULT_STATUS_MAP",
    "FLAG_SYSTEM",
    "FhirAssessment",
    "FhirReader",
    "FhirReading",
    "FhirScoreReport",
    "ISSUE_SEVERITY",
    "ITEM_WEIGHT",
    "MAX_CONTACT_MINUTES",
    "MEASURE_SYSTEM",
    "Note",
    "ORDINAL_VALUE",
    "PROGRAM_SYSTEM",
    "PatientReading",
    "ROLE_SYSTEM",
    "RULE_SYSTEM",
    "ReaderSettings",
    "STATUS_EXTENSION",
    "ScoredResource",
    "TASK_PRIORITY",
    "alerts_to_bundle",
    "load_resource",
    "read_assessments",
    "read_episode",
    "read_patient",
    "read_scores",
    "score_fhir",
    "score_to_bundle",
    "score_to_observation",
    "validate",
]
