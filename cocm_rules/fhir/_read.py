"""Reading QuestionnaireResponses and Observations (singly or in a Bundle) into assessments.

No scoring happens here: answers are mapped to the measure library's item ids and coded
values, each checked against the item's allowed values so an error names the resource and
the path. Scoring is :func:`cocm_rules.score` on what this module returns.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._json import MAX_DEPTH, NESTED_TOO_DEEPLY
from .._json import loads as strict_json
from .._text import join, show
from ..episode import Assessment
from ..errors import InvalidInput
from ..measures import MeasureLibrary, load_measures
from ..scoring import Score, scorer_for
from ._common import (
    DATA_ABSENT_REASON,
    LOINC,
    LOINC_NO,
    LOINC_YES,
    Where,
    as_list,
    codings,
    is_loinc_code,
    is_medical,
    join_path,
    listed,
    number,
    numeric_string,
    reference_keys,
    reference_of,
    resource_label,
    to_date,
    weight_extension,
)
from ._terms import CodeIndex, Definitions, QItem, Target, code_index

DEFINITION_TYPES = frozenset({"Questionnaire", "ValueSet", "CodeSystem"})
EPISODE_TYPES = frozenset({"Patient", "EpisodeOfCare", "Encounter", "CarePlan"})
#: Why a vital sign, laboratory result or smoking status is not read as a measure.
MEDICAL_NOTE = "a vital sign, laboratory result or smoking status: not a measure (read_episode reads it)"


@dataclass(frozen=True)
class Note:
    """A resource (or part of one) that was not read, and why."""

    resource: str
    path: str | None
    reason: str
    #: When the note means a record was set aside, its kind (see :class:`~cocm_rules.episode.SetAside`).
    set_aside: str | None = None
    date: dt.date | None = None
    measure: str | None = None

    def __str__(self) -> str:
        return f"{self.resource}{' ' + self.path if self.path else ''}: {self.reason}"


@dataclass(frozen=True)
class FhirAssessment:
    """One administration of a measure found in a FHIR resource, not yet scored.

    ``answers`` maps item ids to the values the scorer takes (``None`` = unanswered); it is
    ``None`` when the resource reported a total alone. ``paths`` says where each answer (and
    the reported total, key ``"total"``) was found, so a reader can check the mapping.
    """

    measure: str
    source: str
    date: dt.date | None
    answers: dict[str, Any] | None
    reported_total: int | float | None = None
    paths: dict[str, str] = field(default_factory=dict)
    subject: str | None = None
    reported_results: dict[str, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()

    @property
    def total_only(self) -> bool:
        """The resource gave a total and no item answers."""
        return self.answers is None

    def to_assessment(self) -> Assessment:
        """The episode's :class:`~cocm_rules.episode.Assessment` (needs a date)."""
        if self.date is None:
            raise InvalidInput(
                "an assessment needs a date (QuestionnaireResponse.authored or Observation.effective[x])",
                record=self.source,
            )
        return Assessment(
            measure=self.measure, date=self.date, answers=self.answers, total=self.reported_total, id=self.source
        )

    def score(self, *, library: MeasureLibrary | None = None, **context: Any) -> Score:
        """Score through the measure library; a reported total is checked, never trusted."""
        lib = library if library is not None else load_measures()
        try:
            return scorer_for(lib.get_measure(self.measure)).score(self.answers, context, self.reported_total)
        except InvalidInput as e:
            raise e.in_record(self.source) from e


@dataclass
class FhirReading:
    """What :func:`read_assessments` found: assessments, resources it could not recognize
    (unknown questionnaires or codes: reported, never guessed) and resources it skipped.

    ``invalid`` lists the values kept as they were sent because they are impossible (an
    answer out of range, an unknown answer code, a total out of range): only when reading a
    patient's episode (:func:`~cocm_rules.fhir.read_episode`), where the administration is
    kept and scored as invalid instead of refusing the patient; elsewhere such a value is an
    error.
    """

    assessments: list[FhirAssessment] = field(default_factory=list)
    unrecognized: list[Note] = field(default_factory=list)
    skipped: list[Note] = field(default_factory=list)
    patient_sex: str | None = None
    invalid: list[Note] = field(default_factory=list)

    def check(self) -> None:
        """Raise :class:`~cocm_rules.InvalidInput` listing every unrecognized resource."""
        if self.unrecognized:
            raise InvalidInput(
                "not recognized (nothing was guessed): "
                + "; ".join(str(n) for n in self.unrecognized)
                + ". Give the Questionnaire (definitions=), an item_map= or measures=, or pass unrecognized='skip'"
            )


@dataclass
class _Element:
    """A part of a resource that maps to measure items, a total or a result."""

    path: str
    targets: list[Target]
    values: list[tuple[str, Mapping[str, Any]]]  # (path of the holder, holder of value[x])
    qitem: QItem | None = None
    label: str | None = None  # linkId or code, for notes


def _value_key(holder: Mapping[str, Any], where: Where, path: str | None, *, required: bool) -> str | None:
    keys = [k for k in holder if isinstance(k, str) and k.startswith("value") and k[5:6].isupper()]
    if len(keys) > 1:
        raise where.error(path, f"more than one value[x] ({', '.join(sorted(keys))})")
    if not keys:
        if required:
            raise where.error(path, "an answer needs a value[x]")
        return None
    return keys[0]


def _parts_of(a: FhirAssessment) -> set[str]:
    """The parts of an administration one resource gave: item ids, ``total``, results."""
    parts = set(a.answers or ())
    if a.reported_total is not None:
        parts.add("total")
    return parts | {f"result:{r}" for r in a.reported_results}


def _detail(e: InvalidInput) -> str:
    """An error's message without the record and field (a Note names those)."""
    return str(InvalidInput(e.reason, measure=e.measure, item=e.item, value=e.value, allowed=e.allowed))


def _kept_value(scorer: Any, item_id: str, e: InvalidInput) -> Any:
    """What an episode keeps for an item whose value could not be read: the value itself if it
    is a number or a text the scorer refuses (its message then names it), else a text saying
    why; ``e`` is raised again if the scorer would accept either (nothing is ever guessed)."""
    value = number(e.value)
    candidates: list[Any] = [value] if value is not None else [e.value] if isinstance(e.value, str) else []
    candidates.append(f"not readable: {e.reason}")
    for candidate in candidates:
        try:
            scorer.normalize({item_id: candidate})
        except InvalidInput:
            return candidate
    raise e


def _merged(parts: list[FhirAssessment]) -> FhirAssessment:
    """One administration from the Observations that each gave a part of it."""
    answers: dict[str, Any] = {}
    for a in parts:
        answers.update(a.answers or {})
    first = parts[0]
    return FhirAssessment(
        measure=first.measure,
        source=" + ".join(a.source for a in parts),
        date=first.date,
        answers=answers if any(a.answers is not None for a in parts) else None,
        reported_total=next((a.reported_total for a in parts if a.reported_total is not None), None),
        paths={k: f"{a.source} {v}" for a in parts for k, v in a.paths.items()},
        subject=first.subject,
        reported_results={k: v for a in parts for k, v in a.reported_results.items()},
        ignored=tuple(f"{a.source} {x}" for a in parts for x in a.ignored),
    )


def definitions_of(definitions: Iterable[Mapping[str, Any]]) -> Definitions:
    """A host's Questionnaires, ValueSets and CodeSystems (or Bundles of them), checked."""
    defs = Definitions()
    for d in definitions:
        if not defs.add(d):
            raise InvalidInput(
                "a definition must be a Questionnaire, ValueSet, CodeSystem or a Bundle of them",
                record=resource_label(d) if isinstance(d, Mapping) else None,
                field="resourceType",
                value=d.get("resourceType") if isinstance(d, Mapping) else d,
            )
    return defs


def item_targets(index: CodeIndex, item_map: Mapping[str, str] | None) -> dict[str, Target]:
    """An ``item_map`` (linkId -> ``"phq9.item1"``) as the targets it names, checked."""
    out: dict[str, Target] = {}
    for link, text in (item_map or {}).items():
        target = index.parse_target(text) if isinstance(text, str) else None
        if target is None or target.kind == "panel":
            raise InvalidInput(
                "item_map values must name a measure item, total or result, e.g. 'phq9.item1' or 'phq9.total'",
                field=f"item_map[{link!r}]",
                value=text,
            )
        out[link] = target
    return out


def measure_ids(library: MeasureLibrary, measures: Iterable[str] | None) -> tuple[str, ...] | None:
    """The measures to read (None: every measure), each checked against the library."""
    if measures is None:
        return None
    out = []
    for m in measures:
        library.get_measure(m)  # unknown -> InvalidInput with "did you mean"
        out.append(m)
    return tuple(out)


class AssessmentReader:
    """Reads one resource (or Bundle) into a :class:`FhirReading`, with settings already
    checked (:class:`~cocm_rules.fhir.FhirReader` makes one per call)."""

    def __init__(
        self,
        library: MeasureLibrary,
        definitions: Definitions,
        item_map: Mapping[str, Target],
        measures: Sequence[str] | None,
        *,
        keep_invalid: bool = False,
    ) -> None:
        self.lib = library
        self.keep_invalid = keep_invalid
        self.index: CodeIndex = code_index(library)
        self.defs = definitions
        self.item_map = item_map
        self.measures = list(measures) if measures is not None else None
        self.out = FhirReading()
        self.obs_index: dict[str, Mapping[str, Any]] = {}
        self.obs_labels: dict[int, str] = {}

    # -- entry points -----------------------------------------------------------------------
    def read(self, resource: Any) -> FhirReading:
        if not isinstance(resource, Mapping):
            raise InvalidInput("a FHIR resource must be a JSON object", value=resource)
        rtype = resource.get("resourceType")
        where = Where(resource_label(resource))
        if rtype == "Bundle":
            self._bundle(resource, where)
        elif rtype == "QuestionnaireResponse":
            self._qr(resource, where)
        elif rtype == "Observation" and is_medical(resource):
            self.out.skipped.append(Note(where.label, None, MEDICAL_NOTE))
        elif rtype == "Observation":
            self._observation(resource, where)
        else:
            raise where.error(
                "resourceType",
                "expected a QuestionnaireResponse, an Observation or a Bundle",
                value=rtype,
                allowed="QuestionnaireResponse, Observation, Bundle",
            )
        return self.out

    def _bundle(self, bundle: Mapping[str, Any], where: Where) -> None:
        resources, qr_keys = self._index_entries(bundle, where)
        members = self._panel_members(resources)
        from_observations: list[int] = []  # assessments read from Observations outside a panel
        for _, r, label in resources:
            rtype = r["resourceType"]
            if rtype == "QuestionnaireResponse":
                self._qr(r, Where(label))
            elif rtype == "Observation" and is_medical(r):
                self.out.skipped.append(Note(label, None, MEDICAL_NOTE))
            elif rtype == "Observation":
                before = len(self.out.assessments)
                self._bundled_observation(r, label, members, qr_keys)
                from_observations.extend(range(before, len(self.out.assessments)))
            elif rtype not in DEFINITION_TYPES and rtype not in EPISODE_TYPES:
                self.out.skipped.append(Note(label, None, f"a {rtype} is not read"))
        self._merge_parts(from_observations)

    def _index_entries(
        self, bundle: Mapping[str, Any], where: Where
    ) -> tuple[list[tuple[int, Mapping[str, Any], str]], set[str]]:
        """The Bundle's resources with their labels, and the keys of its responses; on the
        way, its definitions are added, its Observations indexed and the Patient's sex noted."""
        resources: list[tuple[int, Mapping[str, Any], str]] = []
        qr_keys: set[str] = set()
        for n, e in enumerate(as_list(bundle.get("entry"), where, "entry")):
            if not isinstance(e, Mapping) or not isinstance(e.get("resource"), Mapping):
                raise where.error(f"entry[{n}]", "a Bundle entry needs a resource")
            r = e["resource"]
            rtype = r.get("resourceType")
            if not isinstance(rtype, str):
                raise where.error(f"entry[{n}].resource", "a resource needs a resourceType")
            label = resource_label(r, n)
            resources.append((n, r, label))
            keys = [f"{rtype}/{r['id']}"] if isinstance(r.get("id"), str) else []
            if isinstance(e.get("fullUrl"), str):
                keys.append(e["fullUrl"])
            if rtype in DEFINITION_TYPES:
                self.defs.add(r, n)
            elif rtype == "Observation":
                for k in keys:
                    self.obs_index[k] = r
                self.obs_labels[id(r)] = label
            elif rtype == "QuestionnaireResponse":
                qr_keys.update(keys)
            elif rtype == "Patient" and r.get("gender") in ("female", "male"):
                self.out.patient_sex = r["gender"]
        return resources, qr_keys

    def _panel_members(self, resources: list[tuple[int, Mapping[str, Any], str]]) -> dict[int, str]:
        """Observations of the Bundle that a panel Observation lists in ``hasMember`` (by
        ``id()``), with the panel's label: they are read as part of the panel. A vital signs
        panel is no measure's panel: its members are read on their own."""
        members: dict[int, str] = {}
        for _, r, label in resources:
            if r.get("resourceType") == "Observation" and not is_medical(r):
                for ref_obj in listed(r.get("hasMember")):
                    ref = ref_obj.get("reference") if isinstance(ref_obj, Mapping) else None
                    member = self._find_obs(ref) if isinstance(ref, str) else None
                    if member is not None:
                        members[id(member)] = label
        return members

    def _bundled_observation(
        self, obs: Mapping[str, Any], label: str, members: Mapping[int, str], qr_keys: set[str]
    ) -> None:
        """An Observation of a Bundle, unless it is read another way: as a member of a panel,
        or through the QuestionnaireResponse it was derived from."""
        where = Where(label)
        if id(obs) in members:
            self.out.skipped.append(Note(label, None, f"read as a member of {members[id(obs)]}"))
            return
        derived = [
            ref
            for k, ref_obj in enumerate(as_list(obs.get("derivedFrom"), where, "derivedFrom"))
            if (ref := reference_of(ref_obj, where, f"derivedFrom[{k}]")) and set(reference_keys(ref)) & qr_keys
        ]
        if derived:
            self.out.skipped.append(
                Note(label, None, f"derived from {derived[0]}, which is in this Bundle and was read instead")
            )
            return
        self._observation(obs, where)

    def _merge_parts(self, indices: list[int]) -> None:
        """One administration sent as several Observations (a PHQ-9 total 44261-6 and an
        item-9 Observation 44260-8, as EHR flowsheets store them) is read as one: Observations
        of the same measure, patient and date whose parts (items, total, results) do not
        overlap are merged. Parts that overlap are separate administrations and stay apart."""
        groups: dict[tuple[str, str | None, dt.date], list[int]] = defaultdict(list)
        for i in indices:
            a = self.out.assessments[i]
            if a.date is not None:
                subject = reference_keys(a.subject)[-1] if a.subject is not None else None
                groups[(a.measure, subject, a.date)].append(i)
        merged: set[int] = set()
        for group in groups.values():
            parts = [self.out.assessments[i] for i in group]
            keys = [_parts_of(a) for a in parts]
            if len(parts) < 2 or sum(map(len, keys)) != len(set().union(*keys)):
                continue
            self.out.assessments[group[0]] = _merged(parts)
            merged.update(group[1:])
        if merged:
            self.out.assessments = [a for i, a in enumerate(self.out.assessments) if i not in merged]

    def _find_obs(self, ref: str) -> Mapping[str, Any] | None:
        for k in reference_keys(ref):
            if k in self.obs_index:
                return self.obs_index[k]
        return None

    # -- QuestionnaireResponse -----------------------------------------------------------------
    def _qr(self, qr: Mapping[str, Any], where: Where) -> None:
        status = qr.get("status")
        if status == "entered-in-error":
            self.out.skipped.append(Note(where.label, "status", "entered-in-error"))
            return
        contained = {
            c["id"]: c
            for c in as_list(qr.get("contained"), where, "contained")
            if isinstance(c, Mapping) and isinstance(c.get("id"), str)
        }
        canonical = qr.get("questionnaire")
        if canonical is not None and not isinstance(canonical, str):
            raise where.error("questionnaire", "must be a canonical URL (a string)", value=canonical)
        questionnaire = self.defs.questionnaire(canonical, contained)
        explicit: set[str] = set()
        if questionnaire is not None:
            for system, code in questionnaire.codes:
                explicit.update(t.measure for t in self.index.targets(system, code) if t.kind == "panel")
        if isinstance(canonical, str):
            tail = canonical.split("|")[0].rstrip("/").rsplit("/", 1)[-1]
            explicit.update(t.measure for t in self.index.targets(LOINC, tail) if t.kind == "panel")
        elements: list[_Element] = []
        not_in_questionnaire: list[str] = []
        for path, item in self._flatten(qr.get("item"), where, ""):
            link = item["linkId"]
            qitem = questionnaire.items.get(link) if questionnaire is not None else None
            if questionnaire is not None and qitem is None and link not in self.item_map:
                not_in_questionnaire.append(link)
            targets = self._link_targets(link, qitem)
            answers = as_list(item.get("answer"), where, join_path(path, "answer"))
            values = []
            for k, a in enumerate(answers):
                apath = join_path(path, f"answer[{k}]")
                if not isinstance(a, Mapping):
                    raise where.error(apath, "an answer must be an object", value=a)
                if targets:
                    _value_key(a, where, apath, required=True)
                values.append((apath, a))
            elements.append(_Element(path, targets, values, qitem, link))
        if not_in_questionnaire:
            self.out.skipped.append(
                Note(
                    where.label,
                    None,
                    f"linkIds not in {questionnaire.label if questionnaire else 'the Questionnaire'}: "
                    + ", ".join(repr(x) for x in not_in_questionnaire[:10]),
                )
            )
        for t in self.item_map.values():
            if any(t in el.targets for el in elements):
                explicit.add(t.measure)
        date = to_date(qr["authored"], where, "authored") if qr.get("authored") is not None else None
        subject = reference_of(qr.get("subject"), where, "subject")
        hint = f"questionnaire {canonical!r}" if canonical else "no questionnaire"
        self._assemble(where, elements, explicit, date, subject, hint)

    def _flatten(self, items: Any, where: Where, base: str, depth: int = 0) -> list[tuple[str, Mapping[str, Any]]]:
        if depth > MAX_DEPTH:
            raise where.error(base, f"items are {NESTED_TOO_DEEPLY}")
        out: list[tuple[str, Mapping[str, Any]]] = []
        for n, item in enumerate(as_list(items, where, join_path(base, "item"))):
            path = join_path(base, f"item[{n}]")
            if not isinstance(item, Mapping):
                raise where.error(path, "an item must be an object", value=item)
            if not isinstance(item.get("linkId"), str) or not item["linkId"]:
                raise where.error(join_path(path, "linkId"), "an item needs a linkId", value=item.get("linkId"))
            out.append((path, item))
            for k, a in enumerate(as_list(item.get("answer"), where, join_path(path, "answer"))):
                if isinstance(a, Mapping) and a.get("item") is not None:
                    out.extend(self._flatten(a["item"], where, join_path(path, f"answer[{k}]"), depth + 1))
            if item.get("item") is not None:
                out.extend(self._flatten(item["item"], where, path, depth + 1))
        return out

    def _link_targets(self, link: str, qitem: QItem | None) -> list[Target]:
        if link in self.item_map:
            return [self.item_map[link]]
        targets: list[Target] = []
        if qitem is not None and qitem.codes:
            for system, code in qitem.codes:
                targets.extend(t for t in self.index.targets(system, code) if t.kind != "panel")
            return targets
        # LOINC-coded linkIds: "44250-9", or LHC-Forms style "/44250-9" (last path segment).
        tail = link.rstrip("/").rsplit("/", 1)[-1]
        if is_loinc_code(tail):
            targets.extend(t for t in self.index.targets(LOINC, tail) if t.kind != "panel")
        return targets

    # -- Observation --------------------------------------------------------------------------
    def _observation(self, obs: Mapping[str, Any], where: Where) -> None:
        status = obs.get("status")
        if status in ("entered-in-error", "cancelled"):
            self.out.skipped.append(Note(where.label, "status", str(status)))
            return
        elements: list[_Element] = []
        explicit: set[str] = set()
        self._obs_elements(obs, where, "", elements, explicit, set())
        date = self._effective(obs, where)
        subject = reference_of(obs.get("subject"), where, "subject")
        codes = [c.get("code") for c in codings(obs.get("code"), where, "code")]
        hint = "code " + (", ".join(str(c) for c in codes) or "(none)")
        self._assemble(where, elements, explicit, date, subject, hint)

    def _obs_elements(
        self,
        obs: Mapping[str, Any],
        where: Where,
        prefix: str,
        out: list[_Element],
        explicit: set[str],
        seen: set[int],
    ) -> None:
        seen.add(id(obs))
        code_targets: list[Target] = []
        code_list = codings(obs.get("code"), where, join_path(prefix, "code"))
        for c in code_list:
            code_targets.extend(self.index.targets(c.get("system"), c.get("code")))
        value_key = _value_key(obs, where, prefix or None, required=False)
        main: list[Target] = []
        for t in code_targets:
            if t.kind == "panel":
                explicit.add(t.measure)
                defn = self.lib[t.measure]
                if value_key is not None and defn.total is not None:
                    main.append(Target("total", t.measure))  # a panel code carrying the total (MII IG)
            else:
                main.append(t)
        label = code_list[0].get("code") if code_list else None
        if main:
            values = [(join_path(prefix, value_key), obs)] if value_key else []
            out.append(_Element(join_path(prefix, "code"), main, values, None, label))
        for n, comp in enumerate(as_list(obs.get("component"), where, join_path(prefix, "component"))):
            cpath = join_path(prefix, f"component[{n}]")
            if not isinstance(comp, Mapping):
                raise where.error(cpath, "a component must be an object", value=comp)
            ctargets: list[Target] = []
            ccodes = codings(comp.get("code"), where, join_path(cpath, "code"))
            for c in ccodes:
                ctargets.extend(t for t in self.index.targets(c.get("system"), c.get("code")) if t.kind != "panel")
            if ctargets:
                ckey = _value_key(comp, where, cpath, required=False)
                values = [(join_path(cpath, ckey), comp)] if ckey else []
                out.append(_Element(cpath, ctargets, values, None, ccodes[0].get("code")))
        for n, ref_obj in enumerate(as_list(obs.get("hasMember"), where, join_path(prefix, "hasMember"))):
            mpath = join_path(prefix, f"hasMember[{n}]")
            ref = reference_of(ref_obj, where, mpath)
            if ref is None:
                raise where.error(mpath, "hasMember needs a reference")
            member = self._member(ref, obs)
            if member is None:
                raise where.error(
                    mpath,
                    "the member Observation is not in this Bundle; send the panel together with its members",
                    value=ref,
                )
            if id(member) in seen:
                raise where.error(mpath, "hasMember refers back to an Observation already read (a cycle)", value=ref)
            if prefix.count("hasMember[") >= MAX_DEPTH:
                raise where.error(mpath, f"panels of panels are {NESTED_TOO_DEEPLY}")
            self._obs_elements(member, where, f"{mpath}({ref})", out, explicit, seen)

    def _member(self, ref: str, obs: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if ref.startswith("#"):
            for c in listed(obs.get("contained")):
                if isinstance(c, Mapping) and c.get("id") == ref[1:] and c.get("resourceType") == "Observation":
                    return c
            return None
        return self._find_obs(ref)

    def _effective(self, obs: Mapping[str, Any], where: Where) -> dt.date | None:
        for key in ("effectiveDateTime", "effectiveInstant"):
            if obs.get(key) is not None:
                return to_date(obs[key], where, key)
        period = obs.get("effectivePeriod")
        if isinstance(period, Mapping) and period.get("start") is not None:
            return to_date(period["start"], where, "effectivePeriod.start")
        return None

    # -- from elements to assessments -------------------------------------------------------
    def _select(self, found: dict[str, set[str]], explicit: set[str], where: Where, hint: str) -> list[str]:
        if self.measures is not None:
            chosen = [m for m in self.measures if m in found or m in explicit]
            if not chosen:
                self.out.unrecognized.append(
                    Note(where.label, None, f"none of the requested measures ({', '.join(self.measures)}) is in it")
                )
            return chosen
        candidates = sorted(set(found) | explicit)
        size = self.index.size
        keep: list[str] = []
        for m in candidates:
            if m in explicit:
                keep.append(m)
                continue
            fm = found.get(m, set())
            ties: list[str] = []
            dominated = False
            for c in candidates:
                if c == m:
                    continue
                fc = found.get(c, set())
                if fm <= fc:
                    cov_m, cov_c = len(fm) / size[m], len(fc) / size[c]
                    if fm != fc or c in explicit or cov_c > cov_m:
                        dominated = True
                        break
                    if cov_c == cov_m:
                        ties.append(c)
            if dominated:
                continue
            if ties:
                self.out.unrecognized.append(
                    Note(
                        where.label,
                        None,
                        f"ambiguous: the same answers fit {', '.join([m, *ties])}; pass measures=[...]",
                    )
                )
                return []
            keep.append(m)
        if not keep:
            self.out.unrecognized.append(
                Note(where.label, None, f"no panel, item or total code of a known measure ({hint})")
            )
        return keep

    def _assemble(
        self,
        where: Where,
        elements: list[_Element],
        explicit: set[str],
        date: dt.date | None,
        subject: str | None,
        hint: str,
    ) -> None:
        found: dict[str, set[str]] = {}
        for el in elements:
            for t in el.targets:
                if t.kind in ("item", "total"):
                    found.setdefault(t.measure, set()).add(el.path)
        selected = self._select(found, explicit, where, hint)
        for m in selected:
            try:
                self.out.assessments.append(self._build(m, where, elements, date, subject))
            except InvalidInput as e:
                if not self.keep_invalid:
                    raise
                # Reading an episode: the administration cannot be read at all (a total that is
                # no number and no items, a value given twice...). It is set aside, which keeps
                # the patient and, for a safety screen, fails closed.
                self.out.invalid.append(
                    Note(where.label, e.field, f"set aside: {_detail(e)}", set_aside="assessment", date=date, measure=m)
                )

    def _build(
        self, m: str, where: Where, elements: list[_Element], date: dt.date | None, subject: str | None
    ) -> FhirAssessment:
        answers: dict[str, Any] = {}
        paths: dict[str, str] = {}
        reported: int | float | None = None
        results: dict[str, str] = {}
        ignored: list[str] = []
        has_items = any(t.kind == "item" and t.measure == m for el in elements for t in el.targets)
        for el in elements:
            mine = [t for t in el.targets if t.measure == m]
            if not mine:
                if el.values:
                    ignored.append(el.path)
                continue
            for t in mine:
                key = (t.id if t.kind == "item" else t.kind if t.kind == "total" else f"result:{t.id}") or t.kind
                if key in paths:
                    raise where.error(
                        el.path,
                        f"{'the total' if t.kind == 'total' else repr(t.id)} of measure {m!r} is given twice "
                        f"(also at {paths[key]})",
                    )
                if t.kind == "item":
                    assert t.id is not None
                    answers[t.id], paths[key] = self._read_item(el, m, t.id, where)
                elif t.kind == "total":
                    reported, paths[key] = self._read_total(el, m, where, has_items)
                elif t.kind == "result" and el.values:
                    assert t.id is not None
                    results[t.id] = self._result_text(el)
                    paths[key] = el.values[0][0]
        return FhirAssessment(
            measure=m,
            source=where.label,
            date=date,
            answers=answers if has_items or reported is None else None,
            reported_total=reported,
            paths=paths,
            subject=subject,
            reported_results=results,
            ignored=tuple(ignored),
        )

    # -- values ---------------------------------------------------------------------------------
    def _read_item(self, el: _Element, m: str, item_id: str, where: Where) -> tuple[Any, str]:
        """An item's value; when reading an episode, an impossible value is kept as sent (or,
        when it is no value at all, as a text saying why) so the scorer marks the
        administration invalid, which fails closed for a safety item."""
        try:
            return self._item_value(el, m, item_id, where)
        except InvalidInput as e:
            if not self.keep_invalid or e.measure != m:
                raise
            kept = _kept_value(scorer_for(self.lib[m]), item_id, e)
            self.out.invalid.append(Note(where.label, e.field, f"kept as invalid: {_detail(e)}"))
            return kept, e.field or el.path

    def _read_total(self, el: _Element, m: str, where: Where, has_items: bool) -> tuple[int | float | None, str]:
        """A reported total; when reading an episode, one out of range is kept (the scorer
        marks the administration invalid) and one that is not a number is set aside when the
        items are there to be scored."""
        try:
            return self._total_value(el, m, where)
        except InvalidInput as e:
            if not self.keep_invalid:
                raise
            value = number(e.value)
            if value is not None:
                self.out.invalid.append(Note(where.label, e.field, f"kept as invalid: {_detail(e)}"))
                return value, e.field or el.path
            if not has_items:
                raise
            self.out.invalid.append(
                Note(
                    where.label,
                    e.field,
                    f"set aside, the items are scored without it: {_detail(e)}",
                    set_aside="value",
                    measure=m,
                )
            )
            return None, e.field or el.path

    def _item_value(self, el: _Element, m: str, item_id: str, where: Where) -> tuple[Any, str]:
        if not el.values:
            return None, el.path
        if len(el.values) > 1:
            raise where.error(el.values[1][0], "a measure item takes one answer", measure=m, item=item_id)
        hpath, holder = el.values[0]
        key = _value_key(holder, where, hpath, required=True)
        assert key is not None
        raw = holder[key]
        vpath = hpath if hpath.endswith(key) else join_path(hpath, key)
        apath = hpath  # the answer (QuestionnaireResponse) or the value (Observation) named in errors
        if key in ("valueCoding", "valueCodeableConcept"):
            if key == "valueCoding":
                if not isinstance(raw, Mapping):
                    raise where.error(vpath, "valueCoding must be a Coding object", value=raw)
                coding_list = [dict(raw)]
            else:
                coding_list = codings(raw, where, vpath)
            value = self._coded(coding_list, el.qitem, m, item_id, where, apath)
        elif key in ("valueInteger", "valueDecimal"):
            value = number(raw)
            if value is None:
                raise where.error(apath, f"{key} must be a number", measure=m, item=item_id, value=raw)
        elif key == "valueQuantity":
            value = number(raw.get("value")) if isinstance(raw, Mapping) else None
            if value is None:
                raise where.error(apath, "valueQuantity needs a numeric value", measure=m, item=item_id, value=raw)
        elif key in ("valueBoolean", "valueString"):
            value = raw
        else:
            raise where.error(
                apath,
                f"a {key} cannot answer a measure item",
                measure=m,
                item=item_id,
                allowed="valueCoding, valueCodeableConcept, valueInteger, valueDecimal, valueQuantity, valueBoolean, "
                "valueString (yes/no)",
            )
        try:
            scorer_for(self.lib[m]).normalize({item_id: value})
        except InvalidInput as e:
            raise where.wrap(e, apath) from e
        return value, apath

    def _coded(
        self,
        coding_list: list[dict[str, Any]],
        qitem: QItem | None,
        m: str,
        item_id: str,
        where: Where,
        path: str,
    ) -> Any:
        resolved: dict[Any, str] = {}
        for coding in coding_list:
            system, code = coding.get("system"), coding.get("code")
            if not isinstance(code, str) or not code:
                continue
            value = self._code_value(system, code, coding, qitem, m, item_id, where, path)
            if value is not None:
                resolved[value] = f"{system}|{code}" if system else code
        if not resolved and any(c.get("system") == DATA_ABSENT_REASON for c in coding_list):
            return None  # e.g. asked-declined (HL7 PGHD IG answer lists): unanswered, never 0
        if len(resolved) > 1:
            raise where.error(
                path, "the codings of one answer mean different values", measure=m, item=item_id, value=resolved
            )
        if resolved:
            return next(iter(resolved))
        shown = [f"{c.get('system')}|{c.get('code')}" if c.get("system") else c.get("code") for c in coding_list]
        scale = self.index.answers.get((m, item_id), {})
        allowed = "LOINC " + join(f"{c} = {v}" for c, v in scale.items()) if scale else "no LOINC answer codes"
        if (m, item_id) in self.index.yes_no:
            allowed += f"; {LOINC_YES} = yes, {LOINC_NO} = no"
        allowed += "; or a code given an ordinalValue/itemWeight by the Questionnaire, a ValueSet or a CodeSystem"
        raise where.error(
            path,
            "unknown answer code",
            measure=m,
            item=item_id,
            value=shown[0] if len(shown) == 1 else shown,
            allowed=allowed,
        )

    def _code_value(
        self,
        system: Any,
        code: str,
        coding: Mapping[str, Any],
        qitem: QItem | None,
        m: str,
        item_id: str,
        where: Where,
        path: str,
    ) -> Any:
        loinc_like = system in (None, LOINC)
        lib_value: Any = self.index.answers.get((m, item_id), {}).get(code) if loinc_like else None
        if lib_value is None and loinc_like and (m, item_id) in self.index.yes_no and code in (LOINC_YES, LOINC_NO):
            lib_value = "yes" if code == LOINC_YES else "no"
        given = self.defs.weight(qitem, system if isinstance(system, str) else None, code)
        if given is not None and math.isnan(given[0]):
            raise where.error(
                path, f"conflicting weights for answer code {code!r}: {given[1]}", measure=m, item=item_id
            )
        if lib_value is not None:
            if given is not None and isinstance(lib_value, int) and given[0] != lib_value:
                raise where.error(
                    path,
                    f"{given[1]} gives answer {code} the value {given[0]:g}, but the measure defines it as {lib_value}",
                    measure=m,
                    item=item_id,
                )
            return lib_value
        if given is not None:
            return number(given[0])
        inline = weight_extension(coding)
        return number(inline) if inline is not None else None

    def _total_value(self, el: _Element, m: str, where: Where) -> tuple[int | float | None, str]:
        if not el.values:
            return None, el.path
        if len(el.values) > 1:
            raise where.error(el.values[1][0], "a total takes one value", measure=m)
        hpath, holder = el.values[0]
        key = _value_key(holder, where, hpath, required=True)
        assert key is not None
        raw = holder[key]
        value: int | float | None
        if key in ("valueInteger", "valueDecimal"):
            value = number(raw)
        elif key == "valueQuantity":
            value = number(raw.get("value")) if isinstance(raw, Mapping) else None
        elif key == "valueString":
            value = numeric_string(raw)
        else:
            value = None
        if value is None:
            raise where.error(
                hpath,
                "a reported total must be a number",
                measure=m,
                value=raw,
                allowed="valueInteger, valueDecimal, valueQuantity or a numeric valueString",
            )
        total = self.lib[m].total
        assert total is not None
        lo, hi = total.range
        if not lo <= value <= hi:
            raise where.error(hpath, "reported total out of range", measure=m, value=value, allowed=f"{lo} to {hi}")
        return value, hpath

    @staticmethod
    def _result_text(el: _Element) -> str:
        _, holder = el.values[0]
        for key in ("valueCoding", "valueCodeableConcept", "valueString"):
            raw = holder.get(key)
            if isinstance(raw, str):
                return raw
            if isinstance(raw, Mapping):
                coding = raw if key == "valueCoding" else (raw.get("coding") or [{}])[0]
                text = raw.get("text") if key == "valueCodeableConcept" else None
                parts = [coding.get("code"), coding.get("display") or text]
                return " ".join(str(p) for p in parts if p)
        return json.dumps({k: v for k, v in holder.items() if k.startswith("value")})


Unrecognized = Literal["error", "skip"]


def measure_contexts(
    reading: FhirReading, lib: MeasureLibrary, context: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The context (``sex=``, parameters) each measure read takes; the Patient's sex when not
    given. An unknown context name raises :class:`~cocm_rules.InvalidInput`."""
    ctx = dict(context)
    if "sex" not in ctx and reading.patient_sex is not None:
        ctx["sex"] = reading.patient_sex
    known = {k for d in lib.values() for k in (*d.context, *d.parameters)}
    for key in context:
        if key not in known:
            raise InvalidInput(f"unknown context {key!r}", field=key, allowed=join(sorted(known)))
    out: dict[str, dict[str, Any]] = {}
    for a in reading.assessments:
        defn = lib[a.measure]
        out[a.measure] = {k: v for k, v in ctx.items() if k in defn.context or k in defn.parameters}
    return out


@dataclass(frozen=True)
class ScoredResource:
    """One scored administration and the resource it came from."""

    source: str
    measure: str
    date: dt.date | None
    score: Score
    paths: dict[str, str]


@dataclass(frozen=True)
class FhirScoreReport:
    """What ``cocm-rules score --fhir FILE`` shows: scores, reported-total disagreements and
    anything not recognized or skipped."""

    scores: list[ScoredResource]
    unrecognized: list[Note]
    skipped: list[Note]

    @property
    def disagreements(self) -> list[ScoredResource]:
        """Scores whose reported total differs from the total recomputed from the items."""
        return [s for s in self.scores if s.score.total_agrees is False]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``--json``)."""
        return {
            "scores": [
                {
                    "source": s.source,
                    "date": s.date.isoformat() if s.date else None,
                    "paths": s.paths,
                    **s.score.model_dump(mode="json"),
                }
                for s in self.scores
            ],
            "disagreements": [
                {
                    "source": s.source,
                    "measure": s.measure,
                    "reported_total": s.score.reported_total,
                    "total": s.score.total,
                    "path": s.paths.get("total"),
                }
                for s in self.disagreements
            ],
            "unrecognized": [str(n) for n in self.unrecognized],
            "skipped": [str(n) for n in self.skipped],
        }


def load_resource(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    """A FHIR JSON resource from a mapping, a file path or JSON text.

    JSON is read strictly (see :mod:`cocm_rules._json`): a key repeated in one object (a
    second ``valueInteger`` for item 9), text that is not UTF-8, NaN, numbers beyond float
    range and nesting deeper than a few hundred levels are refused with an
    :class:`~cocm_rules.InvalidInput` naming the file and, for a repeated key, the path.
    """
    if isinstance(source, Mapping):
        return source
    if not isinstance(source, str | Path):
        raise TypeError(f"source must be a mapping, a path or JSON text, not {type(source).__name__}")
    text_given = isinstance(source, str) and source.lstrip().startswith("{")
    name = "<text>" if text_given else str(source)
    if text_given:
        data = strict_json(str(source), record=name)
    else:
        try:
            raw = Path(source).read_bytes()
        except OSError as e:
            raise InvalidInput(f"cannot read the file ({e.strerror or type(e).__name__})", record=name) from e
        except ValueError as e:  # e.g. a NUL character in the name
            raise InvalidInput(f"not a usable file name ({e})", record=show(name)) from e
        data = strict_json(raw, record=name)
    if not isinstance(data, dict):
        raise InvalidInput("a FHIR resource must be a JSON object", record=name, value=data)
    return data
