"""Terminology for reading: the measure library's LOINC codes, and a host's Questionnaires,
ValueSets and CodeSystems (their item codes and answer weights)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..measures import MeasureDefinition, MeasureLibrary
from ._common import LOINC, Where, listed, number, resource_label, weight_extension

Kind = Literal["panel", "item", "total", "result"]


@dataclass(frozen=True)
class Target:
    """What a code (or a mapped linkId) stands for in the measure library."""

    kind: Kind
    measure: str
    id: str | None = None  # item id or result id

    @property
    def key(self) -> str:
        return f"{self.measure}.{self.id or self.kind}"


class CodeIndex:
    """LOINC codes of the library's panels, items, totals and results, and answer codes."""

    def __init__(self, library: MeasureLibrary) -> None:
        self.library = library
        self.by_code: dict[str, list[Target]] = {}
        #: (measure, item) -> {LOINC answer code: value}
        self.answers: dict[tuple[str, str], dict[str, int]] = {}
        self.yes_no: set[tuple[str, str]] = set()
        #: measure -> number of elements that can identify it (items + total), for coverage
        self.size: dict[str, int] = {}
        for defn in library.values():
            self._add(defn)

    def _code(self, code: str, target: Target) -> None:
        self.by_code.setdefault(code, []).append(target)

    def _add(self, defn: MeasureDefinition) -> None:
        m = defn.id
        if defn.loinc_panel:
            self._code(defn.loinc_panel.code, Target("panel", m))
        for it in defn.items:
            if it.loinc:
                self._code(it.loinc.code, Target("item", m, it.id))
            scale = defn.scales[it.scale]
            self.answers[(m, it.id)] = {v.loinc: v.value for v in scale.values if v.loinc}
            if scale.yes_no:
                self.yes_no.add((m, it.id))
        if defn.total and defn.total.loinc:
            self._code(defn.total.loinc.code, Target("total", m))
        for res in defn.results:
            if res.loinc:
                self._code(res.loinc.code, Target("result", m, res.id))
        self.size[m] = len(defn.items) + (1 if defn.total else 0)

    def targets(self, system: Any, code: Any) -> list[Target]:
        """Targets of a LOINC code (system LOINC or absent)."""
        if system not in (None, LOINC) or not isinstance(code, str):
            return []
        return list(self.by_code.get(code, ()))

    def parse_target(self, text: str) -> Target | None:
        """``phq9.item1`` / ``phq9.total`` -> Target (None if unknown)."""
        measure, _, part = text.partition(".")
        defn = self.library.get(measure)
        if defn is None or not part:
            return None
        if part == "total":
            return Target("total", measure) if defn.total else None
        if any(i.id == part for i in defn.items):
            return Target("item", measure, part)
        if any(r.id == part for r in defn.results):
            return Target("result", measure, part)
        return None


def code_index(library: MeasureLibrary) -> CodeIndex:
    """The code index of a measure library, built once and kept by the library."""
    return library.cached("fhir.code_index", lambda: CodeIndex(library))


# -- a host's definitions --------------------------------------------------------------------


@dataclass
class QItem:
    """One item of a Questionnaire: its codes and the weights of its answer options."""

    link_id: str
    codes: list[tuple[str | None, str]]
    options: list[tuple[str | None, str, float | None]]  # (system, code, weight)
    value_set: str | None
    owner: Questionnaire


@dataclass
class Questionnaire:
    """A Questionnaire the host gave (or one contained in the response)."""

    resource: dict[str, Any]
    label: str
    items: dict[str, QItem] = field(default_factory=dict)
    codes: list[tuple[str | None, str]] = field(default_factory=list)
    contained: dict[str, dict[str, Any]] = field(default_factory=dict)


class Definitions:
    """Questionnaires, ValueSets and CodeSystems by canonical URL (and ``Type/id``)."""

    def __init__(self) -> None:
        self.questionnaires: dict[str, Questionnaire] = {}
        self.value_sets: dict[str, dict[str, Any]] = {}
        self.code_systems: dict[str, dict[str, Any]] = {}

    def copy(self) -> Definitions:
        """A copy to add a Bundle's own definitions to, leaving this one as it is."""
        out = Definitions()
        out.questionnaires = dict(self.questionnaires)
        out.value_sets = dict(self.value_sets)
        out.code_systems = dict(self.code_systems)
        return out

    def add(self, resource: Any, entry: int | None = None) -> bool:
        """Add a Questionnaire, ValueSet, CodeSystem or a Bundle of them; False if not one."""
        if not isinstance(resource, Mapping):
            raise Where("definition").error(None, "a definition must be a FHIR resource (a JSON object)")
        rtype = resource.get("resourceType")
        if rtype == "Bundle":
            for n, e in enumerate(listed(resource.get("entry"))):
                if isinstance(e, Mapping) and isinstance(e.get("resource"), Mapping):
                    self.add(e["resource"], n)
            return True
        keys = _keys(resource)
        if rtype == "Questionnaire":
            q = _questionnaire(resource, resource_label(resource, entry))
            for k in keys:
                self.questionnaires[k] = q
            return True
        if rtype in ("ValueSet", "CodeSystem"):
            store = self.value_sets if rtype == "ValueSet" else self.code_systems
            one = dict(resource)  # one object under every key, so it is counted once
            for k in keys:
                store[k] = one
            return True
        return False

    def questionnaire(self, canonical: Any, contained: Mapping[str, Any] | None = None) -> Questionnaire | None:
        """The Questionnaire a response points to (``#id`` = contained in the response)."""
        if not isinstance(canonical, str):
            return None
        if canonical.startswith("#") and contained is not None:
            res = contained.get(canonical[1:])
            if isinstance(res, Mapping) and res.get("resourceType") == "Questionnaire":
                return _questionnaire(res, f"contained Questionnaire {canonical}")
            return None
        return self.questionnaires.get(canonical) or self.questionnaires.get(canonical.split("|")[0])

    def weight(self, item: QItem | None, system: str | None, code: str) -> tuple[float, str] | None:
        """The numeric value the host's definitions give an answer code, and where it came from.

        Sources: the item's ``answerOption`` (ordinalValue / itemWeight), its
        ``answerValueSet`` (concept extensions in ``compose``, else ``expansion.contains``),
        and a CodeSystem of that system (concept property ``itemWeight``/``weight`` or the
        extensions). A code without a system matches any system. When the sources disagree the
        result is ``(nan, "<who says what>")``, which the reader reports as an error.
        """
        found: list[tuple[float, str]] = []
        if item is not None:
            for osys, ocode, w in item.options:
                if ocode == code and (system is None or osys is None or osys == system) and w is not None:
                    found.append((w, f"{item.owner.label} item {item.link_id!r} answerOption"))
            if item.value_set:
                vs = self._value_set(item.value_set, item.owner)
                if vs is not None:
                    found.extend(self._vs_weight(vs, system, code, item.owner.label))
        # Every source is consulted, so two definitions that disagree are caught, not chosen between.
        if system is not None:
            candidates = [self.code_systems[system]] if system in self.code_systems else []
        else:  # the same CodeSystem is stored under its url and its Type/id: count it once
            candidates = list({id(cs): cs for cs in self.code_systems.values()}.values())
        for cs in candidates:
            w = _cs_weight(listed(cs.get("concept")), code)
            if w is not None:
                found.append((w, resource_label(cs)))
        values = {w for w, _ in found}
        if len(values) == 1:
            return found[0]
        if len(values) > 1:
            return (float("nan"), "; ".join(f"{src} gives {w:g}" for w, src in found))
        return None

    def _value_set(self, ref: str, owner: Questionnaire) -> dict[str, Any] | None:
        if ref.startswith("#"):
            return owner.contained.get(ref[1:])
        return self.value_sets.get(ref) or self.value_sets.get(ref.split("|")[0])

    def _vs_weight(self, vs: Mapping[str, Any], system: str | None, code: str, owner: str) -> list[tuple[float, str]]:
        out = []
        label = f"ValueSet {vs.get('url') or vs.get('id')} (in {owner})"
        compose: Mapping[str, Any] = vs["compose"] if isinstance(vs.get("compose"), Mapping) else {}
        for inc in listed(compose.get("include")):
            if not isinstance(inc, Mapping):
                continue
            isys = inc.get("system")
            if system is not None and isys is not None and isys != system:
                continue
            for concept in listed(inc.get("concept")):
                if isinstance(concept, Mapping) and concept.get("code") == code:
                    w = weight_extension(concept)
                    if w is not None:
                        out.append((w, label))
        if not out:
            expansion: Mapping[str, Any] = vs["expansion"] if isinstance(vs.get("expansion"), Mapping) else {}
            stack = list(listed(expansion.get("contains")))
            while stack:
                c = stack.pop()
                if not isinstance(c, Mapping):
                    continue
                stack.extend(listed(c.get("contains")))
                if c.get("code") == code and (system is None or c.get("system") in (None, system)):
                    w = weight_extension(c)
                    if w is not None:
                        out.append((w, label))
        return out


def _keys(resource: Mapping[str, Any]) -> list[str]:
    keys = []
    url = resource.get("url")
    if isinstance(url, str):
        keys.append(url)
        version = resource.get("version")
        if isinstance(version, str):
            keys.append(f"{url}|{version}")
    rid = resource.get("id")
    if isinstance(rid, str):
        keys.append(f"{resource.get('resourceType')}/{rid}")
    return keys


def _questionnaire(resource: Mapping[str, Any], label: str) -> Questionnaire:
    q = Questionnaire(dict(resource), label)
    q.codes = _code_list(resource.get("code"))
    for c in listed(resource.get("contained")):
        if isinstance(c, Mapping) and isinstance(c.get("id"), str):
            q.contained[c["id"]] = dict(c)
    stack = list(listed(resource.get("item")))
    while stack:
        it = stack.pop()
        if not isinstance(it, Mapping):
            continue
        stack.extend(listed(it.get("item")))
        link = it.get("linkId")
        if not isinstance(link, str):
            continue
        options = []
        for opt in listed(it.get("answerOption")):
            if not isinstance(opt, Mapping):
                continue
            coding = opt.get("valueCoding")
            if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
                w = weight_extension(opt)
                if w is None:
                    w = weight_extension(coding)
                options.append((coding.get("system"), coding["code"], w))
        vs = it.get("answerValueSet")
        q.items[link] = QItem(link, _code_list(it.get("code")), options, vs if isinstance(vs, str) else None, q)
    return q


def _code_list(raw: Any) -> list[tuple[str | None, str]]:
    out = []
    for c in listed(raw):
        if isinstance(c, Mapping) and isinstance(c.get("code"), str):
            sys_ = c.get("system")
            out.append((sys_ if isinstance(sys_, str) else None, c["code"]))
    return out


def _cs_weight(concepts: list[Any], code: str) -> float | None:
    for c in concepts:
        if not isinstance(c, Mapping):
            continue
        if c.get("code") == code:
            w = weight_extension(c)
            if w is not None:
                return w
            for p in listed(c.get("property")):
                if isinstance(p, Mapping) and p.get("code") in ("itemWeight", "weight", "ordinalValue"):
                    for key in ("valueDecimal", "valueInteger"):
                        v = number(p.get(key))
                        if v is not None:
                            return v
        nested = _cs_weight(listed(c.get("concept")), code)
        if nested is not None:
            return nested
    return None
