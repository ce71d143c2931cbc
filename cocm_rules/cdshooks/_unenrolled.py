"""A patient outside an episode of care: the safety rules still run.

Which rules run for a patient the FHIR Bundle does not enroll (no EpisodeOfCare, or one whose
status is no registry status such as ``planned``), and on which enrollment, is decided in the
core, :mod:`cocm_rules.unenrolled`: the suicide-risk rules, in every program and registry
status the Bundle does not give. This module only hands it what the FHIR reader found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from ..alerts import Alert
from ..episode import Episode
from ..fhir import PatientReading
from ..unenrolled import SAFETY_CATEGORY
from ..unenrolled import safety_alerts as unenrolled_safety_alerts

__all__ = ["SAFETY_CATEGORY", "safety_alerts"]


def safety_alerts(
    evaluate: Callable[[Episode], Iterable[Alert]], reading: PatientReading, as_of: dt.date
) -> list[Alert]:
    """The suicide-risk alerts of a patient the Bundle does not say is enrolled, in review
    order (:func:`cocm_rules.unenrolled.safety_alerts` on the episode record read)."""
    return unenrolled_safety_alerts(evaluate, reading.record, as_of, record_ref=reading.label)
