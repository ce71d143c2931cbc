"""One record per patient, for what counts patients: the review list and the caseload metrics.

A patient sent twice in one batch would be listed twice for review and counted twice in
every rate. Which of the two records is right cannot be known here, and merging them could
mix two versions of the same history, so the first record counts and each later record
with the same ``patient_id`` becomes an error record naming the first one: visible in the
output and in the exit status, never silently dropped, never double-counted. Send one
record per patient (the full episode), or merge the records before sending them.

:meth:`Engine.evaluate_many <cocm_rules.Engine.evaluate_many>` is per record and evaluates
both: each result stands on its own record's data, and dropping one could hide a risk.

Memory: the ids seen are kept in one dict, id -> where the first record was (its number and
line packed in one int). That is the only state that grows with the batch: about 120
bytes per patient for ids of about ten characters (~120 MB for 1,000,000 patients). Finding
every repeated id in one pass needs every id seen (a probabilistic filter would turn a real
patient into an error now and then), and the ids are far smaller than the episodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .episode import Episode
from .records import RecordError, iter_records, refuse_one_record

__all__ = ["FirstRecords", "episodes_once", "repeated_patient"]

_LINE_BITS = 40  # lines up to 2**40 - 1; 0 = no line known
_LINE_MASK = (1 << _LINE_BITS) - 1


class FirstRecords:
    """The first valid record of each patient id, seen in input order: the rule of
    :func:`episodes_once` for a host that reads the episodes elsewhere (e.g. in worker
    processes, :mod:`cocm_rules.parallel`) and learns their patient ids in input order."""

    __slots__ = ("_first",)

    def __init__(self) -> None:
        self._first: dict[str, int] = {}

    def repeated(self, index: int, line: int | None, patient_id: str) -> RecordError | None:
        """None if record ``index`` (at ``line``) is the first valid record of ``patient_id``;
        otherwise its error record naming the first one. Call it in input order."""
        where = self._first.setdefault(patient_id, index << _LINE_BITS | (line or 0))
        if where >> _LINE_BITS == index:
            return None
        return repeated_patient(index, line, patient_id, where >> _LINE_BITS, where & _LINE_MASK or None)


def episodes_once(records: Iterable[Any]) -> Iterator[tuple[int, int | None, Episode | RecordError]]:
    """Like :func:`~cocm_rules.records.iter_records`, with each later record of a patient
    already seen as a :class:`RecordError`.

    Raises TypeError for one record or a path in place of an iterable of records.
    """
    refuse_one_record(records)
    first = FirstRecords()
    for index, line, item in iter_records(records):
        if isinstance(item, RecordError):
            yield index, line, item
            continue
        yield index, line, first.repeated(index, line, item.patient_id) or item


def repeated_patient(
    index: int, line: int | None, patient_id: str, first_index: int, first_line: int | None
) -> RecordError:
    """The error record of record ``index`` (at ``line``), whose ``patient_id`` was already
    in the valid record ``first_index`` (at ``first_line``): what :func:`episodes_once`
    yields for it, for a host that finds repeated patients another way (e.g. the Spark
    adapter, which finds the first record of each patient with Spark)."""
    at = f"record {first_index}" + (f" (line {first_line})" if first_line else "")
    error = (
        f"this patient_id was already in {at}: a patient is counted once, so this record was not "
        "evaluated; send one record per patient"
    )
    return RecordError(record=index, line=line, patient_id=patient_id, field="patient_id", error=error)
