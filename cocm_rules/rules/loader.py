"""Load and validate ruleset files; lower them to the IR.

Every mistake in every file is collected and reported at once as ``file:line:column``, with
the rule it is in, what is allowed and "did you mean": unknown keys, unknown facts and
parameters, comparisons whose types do not fit (a date with a number), values a text fact
cannot take, conditions that can never be true, bad message placeholders, duplicate rule
ids, and test cases that name unknown facts or rules. Nothing from a failing set is loaded.

This module reads the files and puts the checks together; the checks live beside it, each
reporting through one :class:`~._report.FileReport` per file: the header and parameters
(:mod:`._header`), conditions lowered to IR with their types checked (:mod:`._lowering`,
:mod:`._values`, :mod:`._contradictions`), message templates (:mod:`._messages`) and the
file's test cases (:mod:`._test_cases`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .._log import get_logger
from .._validation import problems_from
from .._yaml import Document, YamlError, load_bytes, load_text, read_bytes
from ..errors import Problem, RulesetError
from ..facts import catalog
from ..measures import MeasureLibrary, data_dir, load_measures
from ..vocabulary import RECIPIENTS
from . import language as L
from ._contradictions import never_true
from ._header import RULE_ID, SNAKE, check_header, check_unused, normal_unit
from ._lowering import ConditionLowering
from ._messages import literal_parameters, message_parts, title_text
from ._report import FileReport, describe
from ._test_cases import check_test_cases
from .ir import And, MessagePart, Node, ProgramIR, RuleIR, facts_of

__all__ = ["Ruleset", "RulesetSet", "bundled_rulesets_path", "load_ruleset", "load_rulesets"]

log = get_logger(__name__)


@dataclass(frozen=True)
class Ruleset:
    """A validated ruleset: its header, its rules lowered to IR, and its test cases."""

    name: str
    title: str | None
    version: str
    effective: dt.date
    owner: str
    description: str
    parameters: dict[str, L.ParameterSpec]
    rules: tuple[RuleIR, ...]
    tests: tuple[L.TestCaseSpec, ...]
    file: str
    sha256: str
    document: Document
    #: the longest an acknowledgement of this ruleset's alerts holds, in days (None: no cap)
    max_snooze_days: int | None = None

    def where(self, path: tuple[Any, ...]) -> str:
        """``file:line:column`` of a path in the ruleset file (for test reports)."""
        mark = self.document.where(path)
        return f"{self.file}:{mark.line}:{mark.column}" if mark else self.file


@dataclass(frozen=True)
class RulesetSet:
    """Rulesets loaded together (rule ids are unique across the set).

    ``warnings`` are located problems that do not stop the set from loading: a rule whose
    priority tries to outrank suicide risk (which it cannot: suicide risk always comes first).
    ``cocm-rules validate`` prints them.
    """

    rulesets: tuple[Ruleset, ...]
    library: MeasureLibrary
    warnings: tuple[Problem, ...] = ()

    @property
    def program(self) -> ProgramIR:
        """All rules of the set as one IR program."""
        return ProgramIR(tuple(r for rs in self.rulesets for r in rs.rules))

    def extended(self, other: RulesetSet) -> RulesetSet:
        """This set and ``other`` as one set, e.g. the bundled rulesets and a ruleset loaded
        from text (load it with ``library=`` this set's library: the set keeps this one).

        Raises :class:`~cocm_rules.RulesetError` if a rule id or ruleset name is in both; the
        warnings are those of the whole set.
        """
        loaded = (*self.rulesets, *other.rulesets)
        problems = _not_unique(loaded)
        if problems:
            raise RulesetError(problems)
        return RulesetSet(loaded, self.library, tuple(_outranking(loaded)))


def bundled_rulesets_path() -> Path:
    """The directory of the bundled default rulesets."""
    return data_dir("rulesets")


# -- rules ------------------------------------------------------------------------------------


def _lower_rules(report: FileReport, rule_specs: list[tuple[int, L.RuleSpec]], name: str, version: str) -> list[RuleIR]:
    """Check every rule (even one whose keys are wrong) and lower the valid ones to IR; then
    refuse parameters no rule uses."""
    out: list[RuleIR] = []
    seen: dict[str, int] = {}
    used: set[str] = set()
    complete = True  # every rule's condition compiled (else a misspelt use would also read as "unused")
    specs = dict(rule_specs)
    raw_rules = report.doc.data.get("rules")
    for i, raw in enumerate(raw_rules if isinstance(raw_rules, list) else []):
        if not isinstance(raw, dict):
            continue
        path = ("rules", i)
        _check_codes(report, raw, path, seen)
        cond, msg, params = _lower_rule(report, raw, path)
        title, in_title = _title(report, raw, path, params)
        used.update(params, in_title)
        used.update(p.name for p in msg if p.is_param and p.name)
        rule = specs.get(i)
        if cond is None or rule is None:
            complete = complete and cond is not None
            continue
        out.append(
            RuleIR(
                rule_id=rule.id,
                ruleset=name,
                ruleset_version=version,
                title=title,
                category=rule.then.category,
                severity=rule.then.severity,
                priority=rule.then.priority,
                action=rule.then.action,
                action_text=rule.then.action_text,
                source=rule.source,
                message=msg,
                condition=cond,
                facts=tuple(facts_of(cond)),
                parameters=params,
                recipients=tuple(rule.then.recipients or ()),
            )
        )
    if complete:
        check_unused(report, used)
    return out


def _then(raw: dict[str, Any]) -> dict[str, Any]:
    then = raw.get("then")
    return then if isinstance(then, dict) else {}


def _check_codes(report: FileReport, raw: dict[str, Any], path: tuple[Any, ...], seen: dict[str, int]) -> None:
    """A rule's id (well formed, not reused in the file), its action code (snake_case) and its
    recipients (each listed once)."""
    rid = raw.get("id")
    if isinstance(rid, str):
        if not RULE_ID.match(rid):
            report.bad((*path, "id"), f"rule id {rid!r} must be lower-case letters, digits, - or _")
        if rid in seen:
            report.bad(
                (*path, "id"),
                f"duplicate rule id {rid!r} (also rule #{seen[rid] + 1}); rule ids are never reused",
            )
        seen.setdefault(rid, path[1])
    action = _then(raw).get("action")
    if isinstance(action, str) and not SNAKE.match(action):
        report.bad(
            (*path, "then", "action"),
            f"action {action!r} must be a snake_case code, e.g. psychiatric_case_review (put words in action_text)",
        )
    _check_recipients(report, _then(raw).get("recipients"), (*path, "then", "recipients"))


def _check_recipients(report: FileReport, recipients: Any, path: tuple[Any, ...]) -> None:
    """An empty list (an alert for nobody) and a recipient listed twice (which one was meant to
    come first?) are mistakes."""
    if recipients == []:
        report.bad(
            path,
            "recipients is empty: list who the alert is for, or leave the key out for the default of the "
            "rule's category and action",
            allowed=", ".join(RECIPIENTS),
        )
    if isinstance(recipients, list):
        for k, name in enumerate(recipients):
            if isinstance(name, str) and recipients.index(name) < k:
                report.bad((*path, k), f"recipient {name!r} is listed twice", allowed=", ".join(RECIPIENTS))


def _lower_rule(
    report: FileReport, raw: dict[str, Any], path: tuple[Any, ...]
) -> tuple[Node | None, tuple[MessagePart, ...], dict[str, Any]]:
    """A rule's condition as IR (None if it is wrong), its message's parts, and the parameters
    its condition uses (by name, with their values)."""
    lowering = ConditionLowering(report)
    before = len(report.problems)
    cond = lowering.condition(raw["when"], (*path, "when")) if "when" in raw else None
    if cond is not None and len(report.problems) == before and not isinstance(cond, And):
        reason = never_true(cond, report.cat.specs)  # an 'any' or 'not' whose every way is impossible
        if reason is not None:
            report.bad((*path, "when"), f"this condition can never be true: {reason}")
    message = _then(raw).get("message")
    msg: tuple[MessagePart, ...] = ()
    if isinstance(message, str):
        lead = len(message) - len(message.lstrip())
        msg = message_parts(report, message.strip(), (*path, "then", "message"), lead)
        literal_parameters(report, message.strip(), (*path, "then", "message"), lead, lowering.used, "message")
    return cond, msg, lowering.used


def _title(
    report: FileReport, raw: dict[str, Any], path: tuple[Any, ...], params: dict[str, Any]
) -> tuple[str, set[str]]:
    """A rule's title with its parameters filled in, and the parameters it names; a number in it
    that writes out a parameter of the condition (``params``) is reported."""
    title = raw.get("title")
    if not isinstance(title, str):
        return "", set()
    lead = len(title) - len(title.lstrip())
    literal_parameters(report, title.strip(), (*path, "title"), lead, params, "title")
    return title_text(report, title, (*path, "title"))


def _parse(doc: Document, library: MeasureLibrary, text: bytes) -> tuple[Ruleset | None, list[Problem]]:
    data = doc.data
    if not isinstance(data, dict):
        return None, [doc.problem((), "a ruleset file must be a mapping of keys to values (ruleset, version, ...)")]
    problems: list[Problem] = []
    header: L.RulesetSpec | None = None
    try:
        header = L.RulesetSpec.model_validate(data)
    except ValidationError as e:
        problems.extend(problems_from(e, doc, L.RulesetSpec, describe=lambda p: describe(p, data)))
    # Rules and tests are validated one by one, so one broken rule does not hide the others.
    parts: dict[str, list[tuple[int, Any]]] = {"rules": [], "tests": []}
    for key, model in (("rules", L.RuleSpec), ("tests", L.TestCaseSpec)):
        raw = data.get(key)
        for i, entry in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(entry, dict):
                continue  # reported by the header validation
            try:
                parts[key].append((i, model.model_validate(entry)))
            except ValidationError as e:
                problems.extend(problems_from(e, doc, model, base=(key, i), describe=lambda p: describe(p, data)))
    report = FileReport(doc, catalog(library), header.parameters if header else {})
    check_header(report, header)
    rules = _lower_rules(report, parts["rules"], header.ruleset if header else "?", header.version if header else "?")
    raw_rules: list[Any] = data["rules"] if isinstance(data.get("rules"), list) else []
    rule_ids = [r["id"] for r in raw_rules if isinstance(r, dict) and isinstance(r.get("id"), str)]
    check_test_cases(report, parts["tests"], rule_ids, library)
    problems.extend(report.problems)
    if problems or header is None:
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        return None, problems
    rs = Ruleset(
        name=header.ruleset,
        title=header.title,
        version=header.version,
        effective=header.effective,
        owner=header.owner,
        description=header.description,
        parameters=dict(header.parameters),
        rules=tuple(rules),
        tests=tuple(t for _, t in parts["tests"]),
        file=doc.file,
        sha256=hashlib.sha256(text).hexdigest(),
        document=doc,
        max_snooze_days=header.max_snooze_days.value if header.max_snooze_days else None,
    )
    return rs, []


def load_ruleset(path: str | Path, *, library: MeasureLibrary | None = None) -> Ruleset:
    """Load and validate one ruleset file; raise :class:`~cocm_rules.RulesetError`."""
    return load_rulesets([path], library=library).rulesets[0]


def _files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    files: list[Path] = []
    problems: list[Problem] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(
                f
                for f in path.rglob("*")
                if f.suffix.lower() in (".yaml", ".yml")
                and f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
            if not found:
                problems.append(
                    Problem("no ruleset files (*.yaml or *.yml) in this directory or its subfolders", file=str(path))
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(Problem("no such file or directory", file=str(path)))
    return files, problems


def load_rulesets(
    paths: str | Path | Iterable[str | Path] | None = None,
    *,
    library: MeasureLibrary | None = None,
    text: str | None = None,
) -> RulesetSet:
    """Load and validate rulesets (files or directories; the bundled set when ``paths`` is None).

    A directory loads every ``.yaml`` / ``.yml`` file in it and in its subfolders (the extension
    in any case, e.g. ``LOCAL.YAML``), sorted by path; hidden files and folders (``.name``) are skipped.

    All problems in all files are reported together in one :class:`~cocm_rules.RulesetError`.
    ``text`` loads a single ruleset from a string instead (its file name is ``<string>``).
    The safety floor is not checked here; :meth:`cocm_rules.Engine.load` checks it.
    """
    lib = library if library is not None else load_measures()
    problems: list[Problem] = []
    loaded: list[Ruleset] = []
    names: list[str] = []
    if text is not None:
        names.append("<string>")
    else:
        if paths is None:
            paths = [bundled_rulesets_path()]
        elif isinstance(paths, str | Path):
            paths = [paths]
        files, problems = _files(paths)
        names.extend(str(f) for f in files)
    for name in names:
        try:
            if text is not None:
                raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate is refused, located, below
                doc = load_text(text, name)
            else:
                raw = read_bytes(name)  # read once: the hash is of the bytes parsed
                doc = load_bytes(raw, name)
        except YamlError as e:
            problems.extend(e.problems)
            continue
        rs, found = _parse(doc, lib, raw)
        problems.extend(found)
        if rs is not None:
            loaded.append(rs)
    problems.extend(_not_unique(loaded))
    if not loaded and not problems:
        problems.append(Problem("no rulesets to load"))
    if problems:
        raise RulesetError(problems)
    for rs in loaded:
        log.info("ruleset.loaded", ruleset=rs.name, version=rs.version, rules=len(rs.rules), sha256=rs.sha256)
    return RulesetSet(tuple(loaded), lib, tuple(_outranking(loaded)))


def _not_unique(loaded: Sequence[Ruleset]) -> list[Problem]:
    """Rule ids and ruleset names used twice across a set, and parameters of one name with
    different values."""
    problems: list[Problem] = _disagreeing_parameters(loaded)
    owner: dict[str, Ruleset] = {}
    names: dict[str, Ruleset] = {}
    for rs in loaded:
        if rs.name in names:
            problems.append(
                rs.document.problem(("ruleset",), f"ruleset {rs.name!r} is also defined in {names[rs.name].file}")
            )
        names.setdefault(rs.name, rs)
        for i, rule in enumerate(rs.rules):
            if rule.rule_id in owner and owner[rule.rule_id] is not rs:
                problems.append(
                    rs.document.problem(
                        ("rules", i, "id"),
                        f"rule id {rule.rule_id!r} is also used in "
                        f"{owner[rule.rule_id].file}; rule ids are unique across a set",
                        context=f"rule {rule.rule_id!r}",
                    )
                )
            owner.setdefault(rule.rule_id, rs)
    return problems


def _disagreeing_parameters(loaded: Sequence[Ruleset]) -> list[Problem]:
    """Parameters of the same name with different values (or units) in rulesets loaded together.

    A parameter's name means one threshold across the set: ``phq9_response_reduction`` in the
    depression and the psychiatric consultation rulesets is one definition of a PHQ-9 response,
    and a team that changes it in one file and not the other would get two meanings at once.
    """
    problems: list[Problem] = []
    first: dict[str, tuple[Ruleset, L.ParameterSpec]] = {}
    for rs in loaded:
        for name, p in rs.parameters.items():
            if name not in first:
                first[name] = (rs, p)
                continue
            other_rs, other = first[name]
            if _same_value(p, other):
                continue
            problems.append(
                rs.document.problem(
                    ("parameters", name, "value"),
                    f"{_with_unit(p)} here but {_with_unit(other)} in {other_rs.file} (ruleset "
                    f"{other_rs.name!r}): a parameter's name is one threshold in every ruleset loaded "
                    "together; give both the same value and unit, or give this one a name of its own if it is "
                    "a different threshold",
                    context=f"parameter {name!r}",
                )
            )
    return problems


def _same_value(a: L.ParameterSpec, b: L.ParameterSpec) -> bool:
    unit_a = normal_unit(a.unit) if a.unit else None
    unit_b = normal_unit(b.unit) if b.unit else None
    return (isinstance(a.value, bool), a.value, unit_a) == (isinstance(b.value, bool), b.value, unit_b)


def _with_unit(p: L.ParameterSpec) -> str:
    """A parameter's value as an error shows it: ``30 days``, ``0.5 (50%)``."""
    value = p.value.isoformat() if isinstance(p.value, dt.date) else str(p.value)
    if p.unit and normal_unit(p.unit) == "fraction" and isinstance(p.value, int | float):
        return f"{value} ({p.value:.0%})"
    return f"{value} {p.unit}" if p.unit else value


def _outranking(loaded: Sequence[Ruleset]) -> list[Problem]:
    """Warnings for rules outside ``suicide_risk`` whose priority is at or above a suicide rule's.

    Such a priority does not do what it seems to: every suicide-risk alert comes before every
    other alert of the patient, and every patient with one ranks above every patient without
    one, whatever the priorities. A warning, not an error: the order stays safe, and the
    priority still orders the rule among the other alerts.
    """
    suicide = [r.priority for rs in loaded for r in rs.rules if r.category == L.SUICIDE_RISK]
    if not suicide:
        return []
    lowest, highest = min(suicide), max(suicide)
    span = str(lowest) if lowest == highest else f"{lowest}-{highest}"
    warnings: list[Problem] = []
    for rs in loaded:
        for i, rule in enumerate(rs.rules):
            if rule.category == L.SUICIDE_RISK or rule.priority < lowest:
                continue
            warnings.append(
                rs.document.problem(
                    ("rules", i, "then", "priority"),
                    f"priority {rule.priority} cannot put this alert above suicide risk: suicide_risk alerts "
                    "always come first, and patients with one rank above all others, whatever the priorities; "
                    "this priority orders the rule among the other alerts only",
                    context=f"rule {rule.rule_id!r}",
                    allowed=f"0-100; 0-{lowest - 1} keeps it below every suicide_risk rule ({span})"
                    if lowest > 0
                    else f"0-100 (the suicide_risk rules have {span})",
                )
            )
            log.warning(
                "ruleset.priority_above_suicide_risk", ruleset=rs.name, rule=rule.rule_id, priority=rule.priority
            )
    return warnings
