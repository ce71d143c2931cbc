"""Tests for the synthetic caseload generator (cocm_rules.synth) and the bundled examples."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import re
import shlex
import subprocess
import sys
import tracemalloc
import types
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from cocm_rules import Engine, InvalidInput, load_measures, parse_episode, score, synth
from cocm_rules import derive_facts as facts
from cocm_rules.batch import read_records
from cocm_rules.synth import ARCHETYPES, INVALID_ANSWER, archetype_of, generate, write_caseload

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
AS_OF = dt.date(2026, 11, 20)
SEED = 11
N = 400  # a caseload of a few hundred: every archetype appears several times


@cache
def _caseload(clean: bool = True, n: int = N, seed: int = SEED) -> tuple[dict[str, Any], ...]:
    """A generated caseload, shared by the tests (records are not modified by them)."""
    return tuple(generate(n, seed=seed, as_of=AS_OF, clean=clean))


@cache
def _facts() -> tuple[dict[str, Any], ...]:
    return tuple(facts(r, AS_OF) for r in _caseload())


def _dates(record: dict[str, Any]) -> list[str]:
    """Every date in a record."""
    out = [record["enrollment_date"]]
    for key in ("assessments", "contacts", "recommendations", "smi_events"):
        for entry in record.get(key, []):
            out.append(entry["date"])
            if entry.get("resolved_date"):
                out.append(entry["resolved_date"])
    if record.get("relapse_prevention_plan_date"):
        out.append(record["relapse_prevention_plan_date"])
    return out


# -- the public surface ------------------------------------------------------------------------


def test_all_is_sorted_and_public() -> None:
    """``__all__`` is sorted and names only things the module defines."""
    assert sorted(synth.__all__) == synth.__all__
    assert all(hasattr(synth, name) for name in synth.__all__)


def test_archetype_shares_add_up_per_program() -> None:
    """The archetype shares of each program add up to 1, and names are unique."""
    for program in ("cocm", "smi"):
        assert 1.0 == pytest.approx(sum(a.share for a in ARCHETYPES if a.program == program))
    assert len(ARCHETYPES) == len({a.name for a in ARCHETYPES})


def test_arguments_are_checked_before_any_record() -> None:
    """Bad arguments raise InvalidInput (a ValueError) from the call itself, naming the field,
    not later from the first ``next``."""
    good: dict[str, Any] = {"patients": 3, "seed": 0, "as_of": AS_OF}
    bad = [
        ("patients", -1),
        ("patients", 2.5),
        ("patients", True),
        ("seed", "7"),
        ("as_of", "2026-11-20"),
        ("as_of", dt.datetime(2026, 11, 20, 9, 0)),
        ("smi_share", 1.5),
        ("smi_share", -0.1),
        ("care_managers", 0),
        ("clean", "yes"),
    ]
    for name, value in bad:
        with pytest.raises(InvalidInput) as info:
            generate(**{**good, name: value})
        assert name == info.value.field


# -- validity ----------------------------------------------------------------------------------


def test_every_record_validates() -> None:
    """Every generated record, deliberate data errors included, is a valid episode."""
    records = _caseload(clean=False, n=1000)
    episodes = [parse_episode(r) for r in records]

    assert [f"P{k + 1:06d}" for k in range(1000)] == [e.patient_id for e in episodes]


def test_records_are_plain_json() -> None:
    """Records survive a JSON round trip unchanged (plain dicts, lists, strings and numbers)."""
    records = list(_caseload())

    assert records == json.loads(json.dumps(records))


def test_nothing_after_as_of_and_enrollment_within_a_year() -> None:
    """No date in any record is after as_of; enrollment is within 365 days before it; nothing
    predates the enrollment."""
    earliest = (AS_OF - dt.timedelta(days=synth.ENROLLMENT_WINDOW_DAYS)).isoformat()
    late, early, before_enrollment = [], [], []
    for r in _caseload(clean=False, n=1000):
        dates = _dates(r)
        late += [(r["patient_id"], d) for d in dates if d > AS_OF.isoformat()]
        early += [r["patient_id"]] if r["enrollment_date"] < earliest else []
        before_enrollment += [(r["patient_id"], d) for d in dates if d < r["enrollment_date"]]

    assert ([], [], []) == (late, early, before_enrollment)


def test_enrollment_spread_over_the_year() -> None:
    """Enrollment dates cover the year before as_of: every quarter has patients."""
    quarters = Counter((AS_OF - dt.date.fromisoformat(r["enrollment_date"])).days // 92 for r in _caseload())

    assert {0, 1, 2, 3} <= set(quarters)


# -- determinism -------------------------------------------------------------------------------


def test_same_arguments_same_records() -> None:
    """The same arguments give identical output; another seed gives other patients."""
    first = json.dumps(list(generate(50, seed=5, as_of=AS_OF)))
    again = json.dumps(list(generate(50, seed=5, as_of=AS_OF)))
    other = json.dumps(list(generate(50, seed=6, as_of=AS_OF)))

    assert first == again
    assert first != other


def test_patient_k_does_not_depend_on_the_caseload_size() -> None:
    """The first 10 patients of a caseload of 50 are the caseload of 10."""
    assert list(generate(10, seed=9, as_of=AS_OF)) == list(generate(50, seed=9, as_of=AS_OF))[:10]


def test_clean_changes_only_the_deliberate_errors() -> None:
    """With the default flags a large caseload has total mismatches and invalid answers;
    ``clean=True`` removes exactly those and leaves everything else as it was."""
    dirty, clean = _caseload(clean=False, n=1000), _caseload(clean=True, n=1000)
    invalid = mismatched = 0
    for d, c in zip(dirty, clean, strict=True):
        assert {k: v for k, v in d.items() if k != "assessments"} == {k: v for k, v in c.items() if k != "assessments"}
        for a, b in zip(d["assessments"], c["assessments"], strict=True):
            assert (a["measure"], a["date"]) == (b["measure"], b["date"])
            changed = [i for i, (x, y) in enumerate(zip(a["answers"], b["answers"], strict=True)) if x != y]
            if changed:
                invalid += 1
                assert [INVALID_ANSWER] == [a["answers"][i] for i in changed]
            if a.get("total") != b.get("total"):
                mismatched += 1
                context = {"sex": d["sex"]} if a["measure"] == "auditc" else {}
                s = score(a["measure"], a["answers"], reported_total=a["total"], **context)
                assert ("total" in b, False) == (False, s.total_agrees)

    assert invalid >= 1
    assert mismatched >= 1


def test_reported_totals_can_be_switched_off() -> None:
    """Clean records carry host totals only when ``reported_totals`` is on, and those totals
    equal the total the scorer recomputes."""
    without = list(generate(300, seed=SEED, as_of=AS_OF, clean=True, reported_totals=False))
    reported = [(r, a) for r in _caseload() for a in r["assessments"] if "total" in a]

    assert [] == [a for r in without for a in r["assessments"] if "total" in a]
    assert len(reported) >= 10
    for r, a in reported:
        context = {"sex": r["sex"]} if a["measure"] == "auditc" else {}
        s = score(a["measure"], a["answers"], reported_total=a["total"], **context)
        assert (a["total"], True) == (s.total, s.total_agrees)


# -- archetypes --------------------------------------------------------------------------------


def test_every_archetype_appears_in_a_few_hundred_patients() -> None:
    """A caseload of a few hundred has every archetype, at close to its documented share."""
    counts = Counter(archetype_of(k, seed=SEED).name for k in range(N))

    assert [a.name for a in ARCHETYPES] == [a.name for a in ARCHETYPES if counts[a.name] > 0]
    for a in ARCHETYPES:
        expected = N * a.share * (synth.SMI_SHARE if a.program == "smi" else 1 - synth.SMI_SHARE)
        assert abs(expected - counts[a.name]) <= 2, a.name


def test_smi_share_and_care_managers() -> None:
    """``smi_share`` 0 and 1 give all-CoCM and all-SMI caseloads; care managers are cm1..cmK."""
    none_smi = {r["program"] for r in generate(100, seed=1, as_of=AS_OF, smi_share=0)}
    all_smi = {r["program"] for r in generate(100, seed=1, as_of=AS_OF, smi_share=1)}
    managers = {r["care_manager"] for r in generate(100, seed=1, as_of=AS_OF, care_managers=5)}

    assert ({"cocm"}, {"smi"}) == (none_smi, all_smi)
    assert {"cm1", "cm2", "cm3", "cm4", "cm5"} == managers


def _between(lo: float, hi: float) -> Any:
    return lambda v: v is not None and lo <= v <= hi


# Per archetype: facts every one of its patients shows (checked on a clean caseload).
COURSES: dict[str, dict[str, Any]] = {
    "responder": {"phq9.response": True, "weeks_in_treatment": _between(10, 27), "phq9.item9_latest": 0},
    "partial_responder": {"phq9.pct_reduction": _between(0.25, 0.4999), "phq9.response": False},
    "non_responder": {"phq9.pct_reduction": _between(-1, 0.15), "weeks_in_treatment": _between(10, 31)},
    "worsening": {"phq9.change_from_previous": _between(5, 8)},
    "early_treatment": {"weeks_in_treatment": _between(0, 6), "phq9.count": _between(1, 4)},
    "new_referral": {"has_initial_assessment": False, "days_since_enrollment": _between(0, 45)},
    "lost_to_follow_up": {"status": "active_treatment", "days_since_last_contact": _between(21, 180)},
    "suicide_item_positive": {"phq9.item9_latest": _between(1, 3), "suicide_risk": True},
    "safety_item_missing": {"phq9.safety_item_missing": True, "phq9.item9_latest": None},
    "anxiety": {"gad7.count": _between(1, 40), "gad7.baseline": _between(10, 21)},
    "ptsd": {"pcl5.count": _between(1, 40), "pcl5.baseline": _between(33, 70)},
    "remission_with_plan": {"has_relapse_prevention_plan": True, "phq9.baseline": _between(10, 24)},
    "remission_without_plan": {
        "phq9.remission": True,
        "phq9.remission_weeks": _between(8, 52),
        "has_relapse_prevention_plan": False,
        "status": "active_treatment",
    },
    "discharged": {"status": "discharged", "days_since_last_contact": _between(7, 98)},
    "inactive": {"status": "inactive", "days_since_last_contact": _between(30, 150)},
    "smi_stable": {"program": "smi", "asrm.positive_screen": False, "whodas12.count": _between(1, 10)},
    "smi_destabilizing": {"program": "smi", "asrm.positive_screen": False},
    "smi_mania": {"program": "smi", "asrm.positive_screen": True},
}


@pytest.mark.parametrize("name", [a.name for a in ARCHETYPES])
def test_each_archetype_follows_its_course(name: str) -> None:
    """Every patient of an archetype shows the facts that define it (e.g. a responder's PHQ-9
    meets the response definition, a drop-out's last contact is weeks ago)."""
    expected = COURSES[name]
    wrong = []
    for k, f in enumerate(_facts()):
        if archetype_of(k, seed=SEED).name != name:
            continue
        for fact, want in expected.items():
            ok = want(f[fact]) if callable(want) else f[fact] == want
            if not ok:
                wrong.append((f"P{k + 1:06d}", fact, f[fact]))

    assert [] == wrong


def test_archetype_variety_within_the_caseload() -> None:
    """The optional parts of the archetypes all occur: remission among responders, never
    reviewed non-responders, each C-SSRS level, symptoms returning on a plan, the relapse
    prevention plan status, SMI hospitalizations, ED visits and housing, employment and
    education losses, and pending recommendations."""
    seen: Counter[str] = Counter()
    for k, f in enumerate(_facts()):
        name = archetype_of(k, seed=SEED).name
        seen[f"{name}:remission"] += name == "responder" and f["phq9.remission"] is True
        seen["never reviewed"] += name == "non_responder" and f["days_since_consultant_review"] is None
        seen[f"cssrs:{f['cssrs_screener.level']}"] += name == "suicide_item_positive"
        seen["low total with item 9"] += name == "suicide_item_positive" and f["phq9.latest"] < 5
        seen["symptoms returning"] += name == "remission_with_plan" and f["phq9.latest"] >= 10
        seen[f"status:{f['status']}"] += 1
        seen["recent hospitalization"] += (f["days_since_last_hospitalization"] or 999) <= 30
        seen["recent ed visit"] += (f["days_since_last_ed_visit"] or 999) <= 30
        for domain in ("housing", "employment", "education"):
            seen[f"{domain} lost"] += f[f"days_since_{domain}_lost"] is not None
        seen["psychosis worsened"] += (f["psychosis_dimensions.items_worsened"] or 0) >= 1
        seen["pending recommendation"] += f["pending_recommendations"] >= 1
        seen["audit-c positive"] += f["auditc.positive_screen"] is True
        seen["minutes this month"] += f["minutes_this_month"] > 0
    wanted = [
        "responder:remission",
        "never reviewed",
        "cssrs:none",
        "cssrs:low",
        "cssrs:moderate",
        "cssrs:high",
        "low total with item 9",
        "symptoms returning",
        "status:active_treatment",
        "status:relapse_prevention_plan",
        "status:discharged",
        "status:inactive",
        "recent hospitalization",
        "recent ed visit",
        "housing lost",
        "employment lost",
        "education lost",
        "psychosis worsened",
        "pending recommendation",
        "audit-c positive",
        "minutes this month",
    ]

    assert [] == [w for w in wanted if seen[w] == 0]


def test_default_rules_are_exercised() -> None:
    """Evaluated with the default rulesets, a caseload with medical outcomes (``medical=True``)
    fires every rule except the adolescent PHQ-A rules (no PHQ-A is generated), the co-morbidity
    rules on screens the generator does not write (PHQ-2, GAD-2, MDQ; its AUDIT-C does fire its
    rule), the SMI rules on the BPRS and the MDQ (not generated) and the persistent mania rule (a
    manic patient's ASRM is positive at the latest administration only), dq-set-aside (records
    set aside come from a reader that could not use them, such as the FHIR reader; the generator
    writes none), the GAD-7 and PCL-5 relapse rules (only the PHQ-9 archetype reaches relapse
    prevention status; their embedded cases test them) and the billing rules for data the
    generator always writes complete or never reaches: every contact has a role and every
    assessed patient a consent date, no 99484 is billed, no month reaches five 99494 units, and
    an initial assessment (30-60 minutes) leaves no first month below the G2214 minimum. The
    other data-quality rules need the deliberate errors."""
    engine = Engine.load()
    records = generate(1000, seed=SEED, as_of=AS_OF, clean=False, medical=True)
    fired = {a.rule_id for r in records for a in engine.evaluate(r, AS_OF)}
    rule_ids = {rule.rule_id for rule in engine.rulesets.program.rules}
    not_generated = {
        "suicide-phqa-risk",
        "t2t-phqa-not-improving",
        "t2t-phqa-worsening",
        "t2t-phqa-response-without-remission",
        "t2t-phqa-remission-plan",
        "t2t-phqa-overdue",
        "comorbid-phq2-positive-no-full-instrument",
        "comorbid-gad2-positive-no-full-instrument",
        "comorbid-mdq-positive-bipolar-evaluation",
        "smi-bprs-not-at-target",
        "smi-bprs-overdue",
        "smi-bprs-worsening",
    }

    never = {
        "dq-set-aside",
        "rpp-gad7-symptoms-returning",
        "rpp-pcl5-symptoms-returning",
        "billing-minutes-without-role",
        "billing-consent-not-recorded",
        "billing-general-bhi-same-month",
        "billing-add-on-above-payer-cap",
        "billing-month1-below-minimum",
        "smi-mania-persistent",
    }
    assert not_generated | never == rule_ids - fired


# -- item answers ------------------------------------------------------------------------------


def test_answers_in_range_and_scored_as_intended() -> None:
    """In a clean caseload every administration scores without error, every answer is one of
    its item's values (or null where the form skips or the safety item is missing), and the
    scored total is the sum of the scored answers."""
    lib = load_measures()
    problems = []
    for r in _caseload():
        for a in r["assessments"]:
            defn = lib[a["measure"]]
            for item, value in zip(defn.items, a["answers"], strict=False):
                allowed = {v.value for v in defn.scales[item.scale].values}
                if value is not None and value not in allowed:
                    problems.append((r["patient_id"], a["measure"], item.id, value))
            context = {"sex": r["sex"]} if a["measure"] == "auditc" else {}
            s = score(a["measure"], a["answers"], **context)
            scored = [v for it, v in zip(defn.items, a["answers"], strict=False) if it.scored]
            if defn.total is not None and None not in scored and s.total != sum(scored):
                problems.append((r["patient_id"], a["measure"], "total", s.total))
            if None not in scored and not s.valid:
                problems.append((r["patient_id"], a["measure"], "valid", s.valid))

    assert [] == problems


@pytest.mark.parametrize("measure", ["phq9", "gad7", "pcl5", "auditc", "asrm", "whodas12", "ras"])
def test_spread_hits_every_total(measure: str) -> None:
    """Spreading any reachable total over a measure's items gives answers in the item range
    that score to exactly that total."""
    shape = synth._shapes()[measure]
    rng = random.Random(measure)
    lo, hi = shape.items * shape.lo, shape.items * shape.hi
    context = {"sex": "female"} if measure == "auditc" else {}
    for total in range(lo, hi + 1):
        answers = synth._spread(rng, total, [0.5 + rng.random() for _ in range(shape.items)], shape.lo, shape.hi)
        assert (total, True) == (
            score(measure, answers, **context).total,
            all(shape.lo <= v <= shape.hi for v in answers),
        )


def test_cssrs_skip_logic() -> None:
    """C-SSRS questions 3-5 are answered exactly when question 2 is yes, and 6b exactly when
    question 6 is yes; the screeners cover the levels none, low, moderate and high."""
    levels: Counter[str | None] = Counter()
    for r in _caseload(n=1000):
        for a in r["assessments"]:
            if a["measure"] != "cssrs_screener":
                continue
            q1, q2, q3, q4, q5, q6, q6b = a["answers"]
            assert (q2 == 1, q2 == 1, q2 == 1) == (q3 is not None, q4 is not None, q5 is not None)
            assert (q6 == 1) == (q6b is not None)
            assert None not in (q1, q2, q6)
            levels[score("cssrs_screener", a["answers"]).band] += 1

    assert {"none", "low", "moderate", "high"} == set(levels)


def test_auditc_uses_the_episode_sex() -> None:
    """AUDIT-C administrations carry no context of their own; they score with the episode's
    sex, and both sexes occur."""
    audits = [(r["sex"], a) for r in _caseload() for a in r["assessments"] if a["measure"] == "auditc"]

    assert len(audits) >= 50
    assert {"female", "male"} == {sex for sex, _ in audits}
    assert [] == [a for _, a in audits if "context" in a]


# -- streaming ---------------------------------------------------------------------------------


def test_generate_streams() -> None:
    """``generate`` returns a generator that yields one record at a time: 20,000 patients are
    consumed without a list, and memory stays flat (the peak while streaming 500 patients is
    far below the several megabytes a list of them takes)."""
    records = generate(20_000, seed=3, as_of=AS_OF)
    assert isinstance(records, types.GeneratorType)

    last = None
    count = 0
    for record in records:
        count += 1
        last = record["patient_id"]
    assert (20_000, "P020000") == (count, last)

    generate(1, seed=4, as_of=AS_OF)  # measure definitions loaded outside the traced part
    tracemalloc.start()
    try:
        for _ in generate(500, seed=4, as_of=AS_OF):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


# -- writing -----------------------------------------------------------------------------------


def test_write_jsonl_and_json(tmp_path: Path) -> None:
    """``write_caseload`` writes JSON Lines or a JSON list by suffix; both read back (with
    ``cocm_rules.batch.read_records``) as the generated records."""
    expected = list(generate(25, seed=2, as_of=AS_OF))
    for name in ("caseload.jsonl", "caseload.json", "caseload.ndjson"):
        path = tmp_path / name
        assert 25 == write_caseload(path, 25, seed=2, as_of=AS_OF)
        assert expected == list(read_records(path))
    assert 25 == len((tmp_path / "caseload.jsonl").read_text(encoding="utf-8").splitlines())
    assert 0 == write_caseload(tmp_path / "empty.json", 0, seed=2, as_of=AS_OF)
    assert [] == json.loads((tmp_path / "empty.json").read_text(encoding="utf-8"))


def test_write_to_a_stream(capsys: pytest.CaptureFixture[str]) -> None:
    """A text stream, or ``-`` for standard output, gets JSON Lines."""
    out = io.StringIO()
    expected = list(generate(3, seed=2, as_of=AS_OF))

    assert 3 == write_caseload(out, 3, seed=2, as_of=AS_OF)
    assert expected == [json.loads(line) for line in out.getvalue().splitlines()]
    assert 3 == write_caseload("-", 3, seed=2, as_of=AS_OF)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert expected == [json.loads(line) for line in printed]


def test_write_refuses_an_unknown_suffix(tmp_path: Path) -> None:
    """Another suffix is refused with the allowed ones, and no file is written."""
    with pytest.raises(InvalidInput) as info:
        write_caseload(tmp_path / "caseload.csv", 3, seed=2, as_of=AS_OF)

    assert ".jsonl, .ndjson or .json" == info.value.allowed
    assert not (tmp_path / "caseload.csv").exists()


# -- the bundled examples ----------------------------------------------------------------------


def _readme() -> str:
    return (EXAMPLES / "README.md").read_text(encoding="utf-8")


def test_bundled_caseload_is_what_the_documented_command_writes(tmp_path: Path) -> None:
    """The command in examples/README.md, run afresh, writes exactly examples/caseload.jsonl
    (so the bundled file cannot drift from the generator)."""
    commands = re.findall(r"^python -c (.+)$", _readme(), re.M)
    assert 1 == len(commands)
    code = shlex.split(commands[0])[0]
    (tmp_path / "examples").mkdir()

    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert 0 == proc.returncode, proc.stderr
    expected = (EXAMPLES / "caseload.jsonl").read_bytes()
    assert expected == (tmp_path / "examples" / "caseload.jsonl").read_bytes()


def test_bundled_caseload_validates() -> None:
    """Every line of examples/caseload.jsonl is a valid episode, 60 patients."""
    episodes = [parse_episode(r) for r in read_records(EXAMPLES / "caseload.jsonl")]

    assert 60 == len(episodes)


def test_readme_archetype_table_matches_the_generator() -> None:
    """The archetype table in examples/README.md lists each archetype's program, share,
    description and its patients in the bundled caseload (seed 2026)."""
    ids: dict[str, list[str]] = {}
    for k in range(60):
        ids.setdefault(archetype_of(k, seed=2026).name, []).append(f"P{k + 1:06d}")
    rows = [
        f"| `{a.name}` | {a.program} | {a.share:.0%} | {a.description} | {', '.join(ids.get(a.name, []))} |"
        for a in ARCHETYPES
    ]

    assert [] == [row for row in rows if row not in _readme()]


def test_example_episode_is_not_improving() -> None:
    """examples/episode_phq9_not_improving.json validates and, as of 2026-11-20, raises the
    alerts examples/README.md lists."""
    record = json.loads((EXAMPLES / "episode_phq9_not_improving.json").read_text(encoding="utf-8"))
    parse_episode(record)
    f = facts(record, AS_OF)
    alerts = Engine.load().evaluate(record, AS_OF)

    assert (13, 18, 16) == (f["weeks_in_treatment"], f["phq9.baseline"], f["phq9.latest"])
    assert {
        "t2t-phq9-not-improving",
        "consult-non-responder-never-reviewed",
        "consult-new-patient",
        "billing-later-g2214",
    } == {a.rule_id for a in alerts}


def test_the_bundled_caseload_shows_a_medical_outcome_alert_and_a_graduation_prompt() -> None:
    """The demo caseload fires at least one SMI medical-outcome alert (smi_medical.yaml) and
    the prompt to complete an episode whose targets have been met (rpp-ready-to-complete)."""
    engine = Engine.load()
    fired = {
        a.rule_id
        for line in (EXAMPLES / "caseload.jsonl").read_text(encoding="utf-8").splitlines()
        for a in engine.evaluate(json.loads(line), AS_OF)
    }
    assert "rpp-ready-to-complete" in fired
    assert [] != sorted(r for r in fired if r.startswith("smi-med-"))
