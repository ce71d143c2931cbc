"""The FHIR adapter: published example resources (reproduced in tests/fixtures/fhir/, sources in
its README) are read and scored through the measure library, reported totals are checked,
malformed input names the resource and the path, and everything emitted validates with the
fhir.resources R4B models."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cocm_rules
from cocm_rules import BackendUnavailable, Engine, InvalidInput, fhir
from cocm_rules.alerts import Alert

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "fhir"
LOINC = "http://loinc.org"
PHQ9_CODES = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"]
LA = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}
SDC_ITEMS = {f"H1/T1/Q{n}": f"phq9.item{n}" for n in range(1, 10)}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def only(scores: list[Any]) -> Any:
    assert 1 == len(scores), scores
    return scores[0]


def phq9_response(values: list[Any], *, rid: str = "qr1", total: Any = None) -> dict[str, Any]:
    """A small PHQ-9 response with LOINC linkIds; a value is an int (LOINC answer code) or an answer dict."""
    items = []
    for code, v in zip(PHQ9_CODES, values, strict=False):
        answer = v if isinstance(v, dict) else {"valueCoding": {"system": LOINC, "code": LA[v]}}
        items.append({"linkId": code, "answer": [answer]})
    if total is not None:
        items.append({"linkId": "44261-6", "answer": [total]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "status": "completed",
        "authored": "2026-01-05",
        "item": items,
    }


# -- published examples -----------------------------------------------------------------------------


def test_us_core_phq9_response_is_scored_and_its_total_agrees() -> None:
    """US Core QuestionnaireResponse/phq-9-example: LHC-Forms linkIds "/44250-9", LOINC answers.
    Items 2+2+2+2+1+1+2+0+0 = 12; the reported valueDecimal 12 agrees; item 10 is read, not summed."""
    s = only(fhir.read_scores(load("us-core-phq9-questionnaireresponse.json")))
    assert ("phq9", 12, "moderate", [], 12, True) == (
        s.measure,
        s.total,
        s.band,
        s.flags,
        s.reported_total,
        s.total_agrees,
    )
    assert 1 == s.answers["item10"]  # LA6573-5 somewhat difficult


def test_us_core_phq9_observation_panel_with_members() -> None:
    """US Core Observation/PHQ9-panel-example-44249-1: hasMember item Observations resolved in the
    Bundle, total 44261-6 as valueString "12"; 2+2+2+2+1+1+2+0+0 = 12 agrees; members are not read twice."""
    report = fhir.score_fhir(load("us-core-phq9-observation-bundle.json"))
    s = only(report.scores)
    assert ("Observation/PHQ9-panel-example-44249-1", 12, 12, True) == (
        s.source,
        s.score.total,
        s.score.reported_total,
        s.score.total_agrees,
    )
    assert "hasMember[9](Observation/PHQ9-item-example-44261-6).valueString" == s.paths["total"]
    assert 11 == len(report.skipped)


def test_sdc_phq9_example_is_scored_and_its_wrong_total_flagged() -> None:
    """HL7 SDC QuestionnaireResponse questionnaireresponse-sdc-profile-example-PHQ9 (SDC 3.0.0):
    items nested in group H1/T1, answer codes of the SDC CSPHQ9 code system without a system,
    valued by the Questionnaire's contained ValueSet (ordinalValue). Its items carry no codes,
    so the host maps the linkIds. Items 0+0+0+1+2+1+3+2+1 = 10, but the example reports 13."""
    report = fhir.score_fhir(
        load("sdc-phq9-questionnaireresponse.json"),
        definitions=[load("sdc-phq9-questionnaire.json")],
        item_map=SDC_ITEMS,
    )
    s = only(report.scores).score
    assert (10, "moderate", 13, False) == (s.total, s.band, s.reported_total, s.total_agrees)
    assert ["suicide_risk"] == s.flags  # item 9 "Several days"
    assert [
        {
            "source": "QuestionnaireResponse/questionnaireresponse-sdc-profile-example-PHQ9",
            "measure": "phq9",
            "reported_total": 13,
            "total": 10,
            "path": "item[0].item[9].answer[0]",
        }
    ] == report.to_dict()["disagreements"]


def test_sdc_phq9_answer_weights_from_the_codesystem_itemweight() -> None:
    """The SDC 4.0.0 CodeSystem CSPHQ9 gives each answer an itemWeight property; with it (and no
    Questionnaire) the system-less codes are valued the same: 10, reported 13 flagged."""
    item_map = SDC_ITEMS | {"H1/TS": "phq9.total"}  # without the Questionnaire the total item has no code either
    s = only(
        fhir.read_scores(
            load("sdc-phq9-questionnaireresponse.json"),
            definitions=[load("sdc-csphq9-codesystem.json")],
            item_map=item_map,
        )
    )
    assert (10, False) == (s.total, s.total_agrees)


def test_conflicting_answer_weights_are_refused() -> None:
    """The SDC 4.0 sources give "Nearly every day" 3 in the CodeSystem and 4 in a ValueSet
    expansion. When two definitions disagree the answer is refused, not scored either way."""
    codesystem = load("sdc-csphq9-codesystem.json")
    codesystem["concept"][3]["property"][0]["valueDecimal"] = 4.0
    with pytest.raises(InvalidInput) as info:
        fhir.read_assessments(
            load("sdc-phq9-questionnaireresponse.json"),
            item_map=SDC_ITEMS,
            definitions=[load("sdc-phq9-questionnaire.json"), codesystem],
        )
    assert (
        "record QuestionnaireResponse/questionnaireresponse-sdc-profile-example-PHQ9, field "
        "'item[0].item[6].answer[0]', measure 'phq9', item 'item7': conflicting weights for answer code "
        "'Nearly every day': ValueSet http://hl7.org/fhir/uv/sdc/ValueSet/VSPHQ9 (in "
        "Questionnaire/questionnaire-sdc-profile-example-PHQ9) gives 3; CodeSystem/CSPHQ9 gives 4"
    ) == str(info.value)


def test_sdc_phq9_without_an_item_map_is_never_guessed() -> None:
    """Without a mapping the items cannot be identified (no codes; question text is never used):
    the total's code makes it a PHQ-9 reported as a total only, its nine unidentified items are
    listed as ignored, and the unread item 9 fails closed."""
    reading = fhir.read_assessments(
        load("sdc-phq9-questionnaireresponse.json"), definitions=[load("sdc-phq9-questionnaire.json")]
    )
    a = only(reading.assessments)
    assert (True, 9) == (a.total_only, len(a.ignored))
    s = a.score()
    assert (13, "reported", ["safety_item_missing"]) == (s.total, s.total_source, s.flags)


def test_us_bhp_cssrs_example() -> None:
    """US Behavioral Health Profiles QuestionnaireResponse/C-SSRS-example-1: every answer LOINC
    "No" (LA32-8) -> triage level none, no flag. The example's own risk level (93374-7, "Low")
    is kept as reported, not used: the LOINC answer list has no "none"."""
    a = only(fhir.read_assessments(load("us-bhp-cssrs-questionnaireresponse.json")).assessments)
    assert {"level": "LA9194-7 Low"} == a.reported_results
    s = a.score()
    assert ("cssrs_screener", "none", [], True) == (s.measure, s.band, s.flags, s.valid)


def test_mii_phq9_response_codes_without_system() -> None:
    """MII PRO IG mii-exa-pro-phq-9-response (2025-03): answer codes without a system, linkIds
    "PHQ.1".. that are neither LOINC codes nor the linkIds of its own Questionnaire ("PHQ-9.1"):
    unrecognized until the host maps them; then 9 x 3 = 27 agrees with valueQuantity 27."""
    qr = load("mii-phq9-questionnaireresponse.json")
    reading = fhir.read_assessments(qr)
    assert [] == reading.assessments
    assert [
        "QuestionnaireResponse/mii-exa-pro-phq-9-response: no panel, item or total code of a known measure "
        "(questionnaire 'Questionnaire/mii-qst-pro-phq-9')"
    ] == [str(n) for n in reading.unrecognized]
    item_map = {f"PHQ.{n}": f"phq9.item{n}" for n in range(1, 11)} | {"PHQ.Score": "phq9.total"}
    s = only(fhir.read_scores(qr, item_map=item_map))
    assert (27, "severe", 27, True, ["suicide_risk"]) == (s.total, s.band, s.reported_total, s.total_agrees, s.flags)
    assert 3 == s.answers["item10"]  # LA6574-3 extremely difficult


def test_mii_phq9_observation_panel_code_with_total_only() -> None:
    """MII Observation mii-exa-pro-phq-9-observation: the panel code 44249-1 carries the total
    (valueQuantity 27) without items: scored as a total only, and the unread item 9 fails closed."""
    s = only(fhir.read_scores(load("mii-phq9-observation.json")))
    assert (27, "reported", "severe", ["safety_item_missing"]) == (s.total, s.total_source, s.band, s.flags)


def test_mii_gad7_response_with_its_questionnaire() -> None:
    """MII mii-exa-pro-gad-7-response: linkIds "phq-gad7-q01".. mapped by the Questionnaire's item
    codes (whose answerOption ordinalValues agree with LOINC). 2+3+2+1+2+1+2 = 13 agrees with
    valueDecimal 13; the PROMIS T-score item (77862-1) is left alone."""
    reading = fhir.read_assessments(
        load("mii-gad7-questionnaireresponse.json"), definitions=[load("mii-gad7-questionnaire.json")]
    )
    a = only(reading.assessments)
    assert ("item[8]",) == a.ignored
    s = a.score()
    assert ("gad7", 13, "moderate", 13, True) == (s.measure, s.total, s.band, s.reported_total, s.total_agrees)


def test_mii_gad7_response_without_its_questionnaire_is_unrecognized() -> None:
    """Without the Questionnaire, "phq-gad7-q01" identifies nothing: reported, and an error for read_scores."""
    qr = load("mii-gad7-questionnaireresponse.json")
    assert 1 == len(fhir.read_assessments(qr).unrecognized)
    with pytest.raises(InvalidInput, match="not recognized"):
        fhir.read_scores(qr)
    assert [] == fhir.read_scores(qr, unrecognized="skip")


def test_mii_gad7_score_observation_total_only() -> None:
    """MII Observation 70274-6 valueQuantity 13: a GAD-7 total alone (GAD-7 has no safety item)."""
    s = only(fhir.read_scores(load("mii-gad7-observation.json")))
    assert ("gad7", 13, "reported", []) == (s.measure, s.total, s.total_source, s.flags)


def test_pghd_gad7_response_and_scored_observation() -> None:
    """HL7 PGHD IG (personal-health-record-format-ig) GAD-7 example: linkIds are the LOINC codes
    themselves, no reported total: 0+0+1+1+0+1+0 = 3. Its Observation has a PGHD code and the
    total in a component (70274-6, valueInteger 3): read as a total only."""
    s = only(fhir.read_scores(load("pghd-gad7-questionnaireresponse.json")))
    assert (3, "minimal", None, None) == (s.total, s.band, s.reported_total, s.total_agrees)
    o = only(fhir.read_scores(load("pghd-gad7-observation.json")))
    assert (3, "reported") == (o.total, o.total_source)


def test_ktc_phq9_response_and_observation() -> None:
    """jmandel/ktc-questionnaire-starters PHQ-9: 1+2+1+2+1+1+0+0+1 = 9 agrees with valueInteger 9
    and item 9 at 1 flags suicide risk; its score Observation (valueQuantity 9) is a total only."""
    s = only(fhir.read_scores(load("ktc-phq9-questionnaireresponse.json")))
    assert (9, "mild", ["suicide_risk"], True) == (s.total, s.band, s.flags, s.total_agrees)
    o = only(fhir.read_scores(load("ktc-phq9-observation.json")))
    assert (9, ["safety_item_missing"]) == (o.total, o.flags)


def test_a_response_and_the_observation_derived_from_it_are_read_once() -> None:
    """In one Bundle the Observation derivedFrom the response is skipped, not double counted."""
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": load("ktc-phq9-questionnaireresponse.json")},
            {"resource": load("ktc-phq9-observation.json")},
        ],
    }
    report = fhir.score_fhir(bundle)
    assert ["QuestionnaireResponse/qr-phq-9-example"] == [s.source for s in report.scores]
    assert "derived from QuestionnaireResponse/qr-phq-9-example" in str(report.skipped[0])


def test_phq2_inside_a_multi_instrument_screening_form() -> None:
    """US Core AHC-HRSN screening response (supplemental questions): items 44250-9 and 44255-8
    among 15 other questions are read as a PHQ-2 (0+0 = 0, negative); the rest is left alone."""
    a = only(fhir.read_assessments(load("us-core-ahc-hrsn-questionnaireresponse.json")).assessments)
    assert ("phq2", {"item1": 0, "item2": 0}, 15) == (a.measure, a.answers, len(a.ignored))
    s = a.score()
    assert (0, "negative") == (s.total, s.band)


def test_phq2_read_out_of_a_phq9_form_on_request() -> None:
    """A PHQ-9 form is read as PHQ-9; measures=["phq2"] scores its first two items alone (2+2 = 4,
    positive), and both can be read together."""
    qr = load("us-core-phq9-questionnaireresponse.json")
    s = only(fhir.read_scores(qr, measures=["phq2"]))
    assert ("phq2", 4, "positive", None) == (s.measure, s.total, s.band, s.reported_total)
    assert ["phq9", "phq2"] == [x.measure for x in fhir.read_scores(qr, measures=["phq9", "phq2"])]


# -- ways of answering --------------------------------------------------------------------------------


def test_items_in_nested_groups_and_under_answers() -> None:
    """Items are found at any depth: inside groups and nested under another item's answer."""
    qr = phq9_response([0] * 9)
    inner = qr["item"][:5]
    qr["item"] = [
        {"linkId": "g1", "item": [{"linkId": "g2", "item": inner[:2]}]},
        {"linkId": "screen", "answer": [{"valueBoolean": True, "item": inner[2:]}]},
        *qr["item"][5:],
    ]
    a = only(fhir.read_assessments(qr).assessments)
    assert "item[1].answer[0].item[2].answer[0]" == a.paths["item5"]
    assert 0 == a.score().total


def test_codes_without_a_system() -> None:
    """A LOINC answer code without a system is accepted: 'LA6570-1' is 2."""
    qr = phq9_response([{"valueCoding": {"code": "LA6570-1"}}] + [0] * 8)
    assert 2 == only(fhir.read_scores(qr)).total


def test_questionnaire_item_weights_for_its_own_codes() -> None:
    """A Questionnaire's own answer codes are valued by its answerOption ordinalValue or (R5) itemWeight."""
    sys_ = "http://example.org/CodeSystem/freq"

    def option(code: str, w: int, url: str) -> dict[str, Any]:
        return {"valueCoding": {"system": sys_, "code": code}, "extension": [{"url": url, "valueDecimal": w}]}

    items = []
    for n, code in enumerate(PHQ9_CODES):
        url = fhir.ORDINAL_VALUE if n % 2 else fhir.ITEM_WEIGHT
        items.append(
            {
                "linkId": f"q{n + 1}",
                "code": [{"system": LOINC, "code": code}],
                "type": "choice",
                "answerOption": [option(c, w, url) for c, w in (("never", 0), ("some", 1), ("half", 2), ("most", 3))],
            }
        )
    questionnaire = {
        "resourceType": "Questionnaire",
        "url": "http://example.org/Questionnaire/phq9",
        "status": "active",
        "item": items,
    }
    answers = ["most", "half", "some", "never", "never", "never", "never", "never", "some"]
    qr = {
        "resourceType": "QuestionnaireResponse",
        "id": "w1",
        "status": "completed",
        "questionnaire": "http://example.org/Questionnaire/phq9|2",
        "item": [
            {"linkId": f"q{n + 1}", "answer": [{"valueCoding": {"system": sys_, "code": c}}]}
            for n, c in enumerate(answers)
        ],
    }
    s = only(fhir.read_scores(qr, definitions=[questionnaire]))
    assert (7, ["suicide_risk"]) == (s.total, s.flags)  # 3+2+1+0+0+0+0+0+1


def test_a_questionnaire_weight_contradicting_the_measure_is_refused() -> None:
    """An ordinalValue of 4 for LA6571-9 ("nearly every day" is 3) is an error, not a higher score."""
    items = [
        {
            "linkId": PHQ9_CODES[0],
            "code": [{"system": LOINC, "code": PHQ9_CODES[0]}],
            "type": "choice",
            "answerOption": [
                {
                    "valueCoding": {"system": LOINC, "code": "LA6571-9"},
                    "extension": [{"url": fhir.ORDINAL_VALUE, "valueDecimal": 4}],
                }
            ],
        }
    ]
    questionnaire = {
        "resourceType": "Questionnaire",
        "url": "http://example.org/Q/bad",
        "status": "active",
        "item": items,
    }
    qr = phq9_response([3] + [0] * 8)
    qr["questionnaire"] = "http://example.org/Q/bad"
    with pytest.raises(InvalidInput) as info:
        fhir.read_assessments(qr, definitions=[questionnaire])
    assert (
        "record QuestionnaireResponse/qr1, field 'item[0].answer[0]', measure 'phq9', item 'item1': "
        "Questionnaire (no id) item '44250-9' answerOption gives answer LA6571-9 the value 4, "
        "but the measure defines it as 3"
    ) == str(info.value)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [({"valueInteger": 2}, 2), ({"valueDecimal": 2.0}, 2), ({"valueQuantity": {"value": 1}}, 1)],
    ids=["valueInteger", "valueDecimal", "valueQuantity"],
)
def test_value_based_answers(answer: dict[str, Any], expected: int) -> None:
    """Numeric answers are taken as the item value (and checked against its range)."""
    assert expected == only(fhir.read_scores(phq9_response([answer] + [0] * 8))).answers["item1"]


def test_yes_no_answers_as_boolean_string_or_loinc() -> None:
    """C-SSRS yes/no items take valueBoolean, valueString "yes"/"no" and LOINC LA33-6/LA32-8."""
    codes = ["93246-7", "93247-5", "93248-3", "93249-1", "93250-9", "93267-3", "93269-9"]
    answers = [
        {"valueBoolean": True},
        {"valueString": "yes"},
        {"valueString": "no"},
        {"valueCoding": {"system": LOINC, "code": "LA32-8"}},
        {"valueBoolean": False},
        {"valueCoding": {"code": "LA33-6"}},
        {"valueString": "No"},
    ]
    qr = {
        "resourceType": "QuestionnaireResponse",
        "id": "c1",
        "status": "completed",
        "item": [{"linkId": c, "answer": [a]} for c, a in zip(codes, answers, strict=True)],
    }
    s = only(fhir.read_scores(qr))
    assert ("moderate", ["suicide_risk"]) == (s.band, s.flags)  # lifetime behaviour, not in the past 3 months


def test_a_declined_answer_is_unanswered_never_zero() -> None:
    """A data-absent-reason code as the answer (PGHD answer lists offer asked-declined) is a missing
    answer: the PHQ-9 safety item fails closed."""
    declined = {
        "valueCoding": {"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "asked-declined"}
    }
    s = only(fhir.read_scores(phq9_response([0] * 8 + [declined])))
    assert (["item9"], ["safety_item_missing"]) == (s.missing_items, s.flags)


@pytest.mark.parametrize(
    "value",
    [{"valueInteger": 14}, {"valueQuantity": {"value": 14, "unit": "{score}"}}, {"valueString": "14"}],
    ids=["valueInteger", "valueQuantity", "valueString"],
)
def test_total_only_observations(value: dict[str, Any]) -> None:
    """A PHQ-9 total alone (44261-6) in any numeric form is scored as a total only; item 9 is unknown."""
    obs = {
        "resourceType": "Observation",
        "id": "t1",
        "status": "final",
        "effectiveDateTime": "2026-02-01",
        "code": {"coding": [{"system": LOINC, "code": "44261-6"}]},
        **value,
    }
    s = only(fhir.read_scores(obs))
    assert (14, "reported", "moderate", ["safety_item_missing"]) == (s.total, s.total_source, s.band, s.flags)


def test_component_panel_observation() -> None:
    """A panel Observation with item components is read like a response."""
    comps = [
        {
            "code": {"coding": [{"system": LOINC, "code": c}]},
            "valueCodeableConcept": {"coding": [{"system": LOINC, "code": LA[1]}]},
        }
        for c in PHQ9_CODES
    ]
    comps.append({"code": {"coding": [{"system": LOINC, "code": "44261-6"}]}, "valueInteger": 8})
    obs = {
        "resourceType": "Observation",
        "id": "c9",
        "status": "final",
        "effectiveDateTime": "2026-02-01",
        "code": {"coding": [{"system": LOINC, "code": "44249-1"}]},
        "component": comps,
    }
    s = only(fhir.read_scores(obs))
    assert (9, 8, False) == (s.total, s.reported_total, s.total_agrees)


# -- errors and unrecognized input --------------------------------------------------------------------


def _error(resource: Any, **kw: Any) -> str:
    with pytest.raises(InvalidInput) as info:
        fhir.read_assessments(resource, **kw)
    return str(info.value)


def test_wrong_resource_type() -> None:
    """A resource that is not a response, an Observation or a Bundle is named with what is allowed."""
    assert (
        "record Patient/p1, field 'resourceType': expected a QuestionnaireResponse, an Observation or a Bundle "
        "(got 'Patient' (text)); allowed: QuestionnaireResponse, Observation, Bundle"
    ) == _error({"resourceType": "Patient", "id": "p1"})


def test_unknown_answer_code_in_a_nested_item_names_the_path() -> None:
    """The error names the resource, the path down the groups, the item and the allowed codes."""
    qr = phq9_response([0] * 9)
    qr["item"] = [{"linkId": "group", "item": qr["item"]}]
    qr["item"][0]["item"][3]["answer"] = [{"valueCoding": {"system": LOINC, "code": "LA9999-9"}}]
    assert (
        "record QuestionnaireResponse/qr1, field 'item[0].item[3].answer[0]', measure 'phq9', item 'item4': "
        "unknown answer code (got 'http://loinc.org|LA9999-9' (text)); allowed: LOINC LA6568-5 = 0, "
        "LA6569-3 = 1, LA6570-1 = 2, LA6571-9 = 3; or a code given an ordinalValue/itemWeight by the "
        "Questionnaire, a ValueSet or a CodeSystem"
    ) == _error(qr)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (
            [{"valueInteger": 4}],
            "field 'item[3].answer[0]', measure 'phq9', item 'item4': answer out of range (got 4 "
            "(number)); allowed: 0 = not at all, 1 = several days, 2 = more than half the days, "
            "3 = nearly every day",
        ),
        (
            [{"valueInteger": 1, "valueString": "1"}],
            "field 'item[3].answer[0]': more than one value[x] (valueInteger, valueString)",
        ),
        (
            [{"valueInteger": 1}, {"valueInteger": 2}],
            "field 'item[3].answer[1]', measure 'phq9', item 'item4': a measure item takes one answer",
        ),
        (
            [{"valueDate": "2026-01-01"}],
            "field 'item[3].answer[0]', measure 'phq9', item 'item4': a valueDate cannot "
            "answer a measure item; allowed: valueCoding, valueCodeableConcept, "
            "valueInteger, valueDecimal, valueQuantity, valueBoolean, valueString (yes/no)",
        ),
        (
            [{"valueString": "often"}],
            "field 'item[3].answer[0]', measure 'phq9', item 'item4': an answer must be one of "
            "the item's coded values (got 'often' (text)); allowed: 0 = not at all, 1 = "
            "several days, 2 = more than half the days, 3 = nearly every day",
        ),
        ([{}], "field 'item[3].answer[0]': an answer needs a value[x]"),
    ],
    ids=["out-of-range", "two-values", "two-answers", "wrong-type", "text", "no-value"],
)
def test_malformed_answers(answers: list[Any], message: str) -> None:
    """Each malformed answer is an InvalidInput naming the resource and the answer's path."""
    qr = phq9_response([0] * 9)
    qr["item"][3]["answer"] = answers
    assert f"record QuestionnaireResponse/qr1, {message}" == _error(qr)


@pytest.mark.parametrize(
    ("total", "message"),
    [
        (
            {"valueString": "twelve"},
            "a reported total must be a number (got 'twelve' (text)); allowed: valueInteger, "
            "valueDecimal, valueQuantity or a numeric valueString",
        ),
        ({"valueInteger": 28}, "reported total out of range (got 28 (number)); allowed: 0 to 27"),
    ],
    ids=["not-a-number", "out-of-range"],
)
def test_malformed_totals(total: dict[str, Any], message: str) -> None:
    """A reported total must be a number within the total's range."""
    qr = phq9_response([0] * 9, total=total)
    assert f"record QuestionnaireResponse/qr1, field 'item[9].answer[0]', measure 'phq9': {message}" == _error(qr)


def test_an_item_given_twice_is_refused() -> None:
    """Two linkIds for one item: the second must not silently win."""
    qr = phq9_response([0] * 9)
    qr["item"].append({"linkId": "/44260-8", "answer": [{"valueInteger": 1}]})
    assert (
        "record QuestionnaireResponse/qr1, field 'item[9]': 'item9' of measure 'phq9' is given twice "
        "(also at item[8].answer[0])"
    ) == _error(qr)


def test_a_panel_member_missing_from_the_bundle() -> None:
    """hasMember must resolve in the Bundle (or contained); a missing member is an error, not a missing item."""
    obs = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "44249-1"}]},
        "hasMember": [{"reference": "Observation/x"}],
    }
    assert (
        "record Observation/o1, field 'hasMember[0]': the member Observation is not in this Bundle; send the "
        "panel together with its members (got 'Observation/x' (text))"
    ) == _error(obs)


def test_bad_item_map_and_measures() -> None:
    """item_map targets and measure names are checked."""
    with pytest.raises(InvalidInput, match="item_map"):
        fhir.read_assessments(phq9_response([0] * 9), item_map={"q1": "phq9.item99"})
    with pytest.raises(InvalidInput, match="did you mean 'phq9'"):
        fhir.read_assessments(phq9_response([0] * 9), measures=["phq-9"])


def test_unknown_questionnaire_is_reported_not_guessed() -> None:
    """A response to an unknown questionnaire is listed as unrecognized; read_scores raises."""
    qr = {
        "resourceType": "QuestionnaireResponse",
        "id": "qx",
        "status": "completed",
        "questionnaire": "http://example.org/Questionnaire/mood",
        "item": [{"linkId": "q1", "answer": [{"valueInteger": 1}]}],
    }
    reading = fhir.read_assessments(qr)
    assert ([], 1) == (reading.assessments, len(reading.unrecognized))
    with pytest.raises(InvalidInput) as info:
        fhir.read_scores(qr)
    assert (
        "not recognized (nothing was guessed): QuestionnaireResponse/qx: no panel, item or total code of a known "
        "measure (questionnaire 'http://example.org/Questionnaire/mood'). Give the Questionnaire (definitions=), "
        "an item_map= or measures=, or pass unrecognized='skip'"
    ) == str(info.value)


def test_score_fhir_reads_files_and_reports_json() -> None:
    """score_fhir takes a path (for the CLI) and reports JSON-ready scores and disagreements."""
    report = fhir.score_fhir(str(FIXTURES / "ktc-phq9-questionnaireresponse.json"))
    data = json.loads(json.dumps(report.to_dict()))
    assert (9, [], []) == (data["scores"][0]["total"], data["disagreements"], data["unrecognized"])


def test_score_fhir_bad_json(tmp_path: Path) -> None:
    """A file that is not JSON is an InvalidInput naming the file."""
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"bad\.json: not valid JSON"):
        fhir.score_fhir(bad)


def test_reading_does_not_import_fhir_resources() -> None:
    """Reading FHIR JSON works on plain dicts; fhir.resources is imported only to emit or validate."""
    code = (
        "import sys, json; from cocm_rules import fhir; "
        f"fhir.read_scores(json.load(open({str(FIXTURES / 'ktc-phq9-questionnaireresponse.json')!r}))); "
        "assert 'fhir.resources' not in sys.modules, 'imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert 0 == proc.returncode, proc.stderr


def test_emitting_without_fhir_resources_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without fhir.resources, output raises BackendUnavailable('FHIR output', 'fhir')."""
    monkeypatch.setitem(sys.modules, "fhir.resources.R4B", None)
    with pytest.raises(BackendUnavailable) as info:
        fhir.score_to_observation(cocm_rules.score("phq9", [0] * 9), "Patient/p1", "2026-01-05")
    assert ("FHIR output", "fhir") == (info.value.what, info.value.extra)
    assert "pip install 'cocm-rules[fhir]'" in str(info.value)


# -- a patient Bundle -> Episode -> Engine -------------------------------------------------------------


def test_patient_bundle_to_episode() -> None:
    """Patient, EpisodeOfCare, Encounters, CarePlan, responses and an Observation become an Episode."""
    ep = fhir.read_episode(load("patient-bundle.json"))
    assert ("p-fhir-1", "cocm", dt.date(2026, 8, 3), "active_treatment", "Practitioner/cm-1", "female") == (
        ep.patient_id,
        ep.program,
        ep.enrollment_date,
        ep.status,
        ep.care_manager,
        ep.sex,
    )
    assert [("phq9", 18), ("phq9", 14), ("gad7", 12)] == [
        (a.measure, sum(a.answers.values()) if a.answers else a.total) for a in ep.assessments
    ]
    assert [("initial_assessment", 60, "in_person"), ("follow_up", 30, None), ("follow_up", 30, "in_person")] == [
        (c.kind, c.minutes, c.mode) for c in ep.contacts
    ]  # the cancelled Encounter is not a contact
    assert dt.date(2026, 10, 20) == ep.relapse_prevention_plan_date


def test_patient_bundle_through_the_engine_raises_a_suicide_risk_alert() -> None:
    """PHQ-9 item 9 at 1 in the Bundle's latest response gives a suicide_risk alert."""
    ep = fhir.read_episode(load("patient-bundle.json"))
    alerts = Engine.load().evaluate(ep, as_of=dt.date(2026, 11, 6))
    assert "suicide-phq9-item9" in [a.rule_id for a in alerts if a.category == "suicide_risk"]


def _bundle_without(types: set[str]) -> dict[str, Any]:
    b = load("patient-bundle.json")
    b["entry"] = [e for e in b["entry"] if e["resource"]["resourceType"] not in types]
    return b


def test_without_an_episode_of_care_the_defaults_are_explicit() -> None:
    """No EpisodeOfCare: program, status and enrollment_date must be passed; nothing is assumed."""
    b = _bundle_without({"EpisodeOfCare"})
    with pytest.raises(InvalidInput) as info:
        fhir.read_episode(b)
    assert (
        "record Bundle/p-fhir-1-episode, field 'program': the Bundle has no EpisodeOfCare; pass program=..., "
        "status=..., enrollment_date=... (no defaults are assumed); allowed: cocm, smi"
    ) == str(info.value)
    ep = fhir.read_episode(b, program="smi", status="active_treatment", enrollment_date=dt.date(2026, 8, 1))
    assert ("smi", dt.date(2026, 8, 1), None) == (ep.program, ep.enrollment_date, ep.care_manager)


def test_a_keyword_contradicting_the_episode_of_care_is_an_error() -> None:
    """The Bundle says enrolled 2026-08-03; a different enrollment_date is refused."""
    with pytest.raises(InvalidInput, match="contradicts the Bundle's EpisodeOfCare"):
        fhir.read_episode(load("patient-bundle.json"), enrollment_date="2026-08-04")


def test_episode_of_care_status_mapping() -> None:
    """onhold -> inactive and finished -> discharged by default; planned needs a status_map."""
    b = load("patient-bundle.json")
    eoc = next(e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "EpisodeOfCare")
    for status, expected in (("onhold", "inactive"), ("finished", "discharged")):
        eoc["status"] = status
        assert expected == fhir.read_episode(b).status
    eoc["status"] = "planned"
    with pytest.raises(InvalidInput, match="has no registry status"):
        fhir.read_episode(b)
    assert "active_treatment" == fhir.read_episode(b, status_map={"planned": "active_treatment"}).status


def test_unmapped_encounter_types_are_reported() -> None:
    """An Encounter whose type is no contact kind is not counted silently: an error, or a kind named by the host."""
    b = copy.deepcopy(load("patient-bundle.json"))
    enc = next(e["resource"] for e in b["entry"] if e["resource"].get("id") == "enc-2")
    enc["type"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "390906007"}]}]
    with pytest.raises(InvalidInput, match="Encounter/enc-2 type: no type maps to a contact kind"):
        fhir.read_episode(b)
    ep = fhir.read_episode(b, contact_kinds={"http://snomed.info/sct|390906007": "follow_up"})
    assert 3 == len(ep.contacts)
    assert 2 == len(fhir.read_episode(b, unrecognized="skip").contacts)


def test_a_resource_about_another_patient_is_refused() -> None:
    """A Bundle is about one patient: a response for another is an error."""
    b = load("patient-bundle.json")
    qr = next(e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse")
    qr["subject"] = {"reference": "Patient/someone-else"}
    with pytest.raises(InvalidInput, match="refers to another patient"):
        fhir.read_episode(b)


# -- contact roles and consent (issue 12: the CoCM codes count care-manager time) --------------------

ROLE = "urn:cocm-rules:role"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONSENT_CATEGORY = {"coding": [{"system": "urn:cocm-rules:consent", "code": "collaborative_care"}]}


def _participants(b: dict[str, Any], enc_id: str, *codings: tuple[str, str]) -> None:
    """Give Encounter ``enc_id`` one participant per (system, code) type."""
    enc = next(e["resource"] for e in b["entry"] if e["resource"].get("id") == enc_id)
    enc["participant"] = [
        {"type": [{"coding": [{"system": system, "code": code}]}], "individual": {"reference": f"Practitioner/{code}"}}
        for system, code in codings
    ]


def _consent(rid: str, status: str = "active", **fields: Any) -> dict[str, Any]:
    consent = {
        "resourceType": "Consent",
        "id": rid,
        "status": status,
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]},
        "category": [CONSENT_CATEGORY],
        "patient": {"reference": "Patient/p-fhir-1"},
    }
    return consent | fields


def test_encounter_participant_types_give_the_contact_role() -> None:
    """A participant type in urn:cocm-rules:role, or one the host maps (contact_roles), says
    whose time the Encounter's minutes are; a participant type that maps to no role (ATND) is
    left alone: the contact has no role (its minutes are then not counted toward the codes)."""
    b = copy.deepcopy(load("patient-bundle.json"))
    _participants(b, "enc-1", (ROLE, "care_manager"))
    _participants(b, "enc-2", (PARTICIPATION, "CON"))
    _participants(b, "enc-3", (PARTICIPATION, "ATND"))

    assert ["care_manager", None, None] == [c.role for c in fhir.read_episode(b).contacts]
    ep = fhir.read_episode(b, contact_roles={f"{PARTICIPATION}|CON": "psychiatric_consultant"})
    assert ["care_manager", "psychiatric_consultant", None] == [c.role for c in ep.contacts]


def test_participants_with_two_roles_leave_the_role_unset_with_a_note() -> None:
    """An Encounter whose participants map to two roles (the care manager and the consultant)
    does not say whose time its minutes are: the role stays unset (not counted toward the
    CoCM codes) and a note says why; the contact and its minutes are kept."""
    b = copy.deepcopy(load("patient-bundle.json"))
    _participants(b, "enc-1", (ROLE, "care_manager"), (ROLE, "psychiatric_consultant"))

    reading = fhir.read_patient(b)

    assert (None, 60) == (reading.episode.contacts[0].role, reading.episode.contacts[0].minutes)
    [note] = [n for n in reading.notes if n.resource == "Encounter/enc-1"]
    assert ("participant", None) == (note.path, note.set_aside)
    assert "more than one role (care_manager, psychiatric_consultant)" in note.reason


def test_a_collaborative_care_consent_gives_the_consent_date() -> None:
    """The earliest active Consent of category urn:cocm-rules:consent|collaborative_care (or a
    host's consent_codes) gives the consent date, as written (dateTime; R5 date). A withdrawn
    (inactive) or draft one does not count."""
    b = copy.deepcopy(load("patient-bundle.json"))
    host = {"coding": [{"system": "https://ehr.example.org/consent", "code": "cocm"}]}
    b["entry"] += [
        {"resource": _consent("c-withdrawn", "inactive", dateTime="2026-07-01")},
        {"resource": _consent("c-draft", "draft", dateTime="2026-07-15")},
        {"resource": _consent("c-1", dateTime="2026-08-03T09:05:00-05:00")},
        {"resource": _consent("c-renewed", dateTime="2026-10-01")},
    ]
    assert dt.date(2026, 8, 3) == fhir.read_episode(b).consent_date

    r5 = copy.deepcopy(load("patient-bundle.json"))
    r5["entry"].append({"resource": _consent("c-r5", category=[host], date="2026-08-04")})
    r5["entry"][-1]["resource"]["subject"] = r5["entry"][-1]["resource"].pop("patient")
    ep = fhir.read_episode(r5, consent_codes=["https://ehr.example.org/consent|cocm"])
    assert dt.date(2026, 8, 4) == ep.consent_date
    assert None is fhir.read_episode(load("patient-bundle.json")).consent_date


def test_a_consent_of_another_category_is_not_guessed() -> None:
    """A Consent the reader does not recognize (a privacy consent) is unrecognized: an error
    unless unrecognized='skip', as for a CarePlan; it is never taken for consent to CoCM."""
    b = copy.deepcopy(load("patient-bundle.json"))
    privacy = {"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}
    b["entry"].append({"resource": _consent("c-privacy", category=[privacy], dateTime="2026-08-03")})

    with pytest.raises(InvalidInput, match="Consent/c-privacy category: not a consent to Collaborative Care"):
        fhir.read_episode(b)
    assert None is fhir.read_episode(b, unrecognized="skip").consent_date


def test_a_consent_without_a_date_is_set_aside() -> None:
    """A consent to CoCM without a readable date is not counted: it is set aside (a
    data-quality alert) and the time-tracking rules ask for the consent."""
    b = copy.deepcopy(load("patient-bundle.json"))
    b["entry"].append({"resource": _consent("c-undated")})

    reading = fhir.read_patient(b)

    assert None is reading.episode.consent_date
    [aside] = reading.episode.set_aside
    assert ("consent", "Consent/c-undated dateTime") == (aside.kind, aside.source)
    alerts = {a.rule_id for a in Engine.load().evaluate(reading.episode, as_of=dt.date(2026, 11, 6))}
    assert {"dq-set-aside", "billing-minutes-without-role"} <= alerts


def test_a_consent_about_another_patient_is_refused() -> None:
    """A Consent is read for the Bundle's patient only."""
    b = copy.deepcopy(load("patient-bundle.json"))
    b["entry"].append({"resource": _consent("c-other", patient={"reference": "Patient/someone-else"})})
    with pytest.raises(InvalidInput, match="refers to another patient"):
        fhir.read_episode(b)


def test_care_plan_and_consent_codes_may_be_given_as_generators() -> None:
    """The reader keeps its settings: codes given as a generator are read once and used."""
    b = copy.deepcopy(load("patient-bundle.json"))
    plan = next(e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "CarePlan")
    plan["category"] = [{"coding": [{"system": "https://ehr.example.org/care-plan", "code": "rpp"}]}]
    host = {"coding": [{"system": "https://ehr.example.org/consent", "code": "cocm"}]}
    b["entry"].append({"resource": _consent("c-1", category=[host], dateTime="2026-08-03")})

    reader = fhir.FhirReader(
        care_plan_codes=(c for c in ["https://ehr.example.org/care-plan|rpp"]),
        consent_codes=(c for c in ["https://ehr.example.org/consent|cocm"]),
    )
    ep = reader.read_episode(b)

    assert (dt.date(2026, 10, 20), dt.date(2026, 8, 3)) == (ep.relapse_prevention_plan_date, ep.consent_date)


# -- the reader's settings, checked once (issue 15) ---------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"status_map": {"planned": "enrolled"}}, "status_map['planned']"),
        ({"contact_kinds": {"visit|x": "chat"}}, "contact_kinds['visit|x']"),
        ({"default_contact_kind": "chat"}, "default_contact_kind"),
        ({"contact_roles": {"x|nurse": "nurse"}}, "contact_roles['x|nurse']"),
        ({"item_map": {"Q1": "phq9.item99"}}, "item_map['Q1']"),
        ({"unrecognized": "ignore"}, "unrecognized"),
        ({"definitions": [{"resourceType": "Patient", "id": "x"}]}, "resourceType"),
    ],
)
def test_a_reader_setting_that_cannot_be_used_is_refused_when_the_reader_is_made(
    settings: dict[str, Any], field: str
) -> None:
    """Issue 15: the settings of reading FHIR are one object, checked once, before any Bundle
    is read (the CDS Hooks service used to probe read_episode with a made-up Bundle to find
    out); the error names the setting."""
    with pytest.raises(InvalidInput) as info:
        fhir.FhirReader(**settings)
    assert field == info.value.field


def test_an_unknown_measure_setting_says_what_it_may_have_meant() -> None:
    """``measures=`` names measures of the library, checked when the reader is made."""
    with pytest.raises(InvalidInput, match="did you mean 'phq9'"):
        fhir.FhirReader(measures=["phq-9x"])


def test_one_reader_reads_many_bundles_as_the_module_functions_do() -> None:
    """A reader made once reads each Bundle as the one-off function does with the same
    settings; its settings are its own: changing the caller's dict afterwards changes nothing,
    and a generator of definitions is not spent by the first call."""
    b = copy.deepcopy(load("patient-bundle.json"))
    enc = next(e["resource"] for e in b["entry"] if e["resource"].get("id") == "enc-2")
    enc["type"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "390906007"}]}]
    kinds = {"http://snomed.info/sct|390906007": "follow_up"}
    reader = fhir.FhirReader(contact_kinds=kinds)
    kinds["http://snomed.info/sct|390906007"] = "chat"
    expected = fhir.read_episode(b, contact_kinds={"http://snomed.info/sct|390906007": "follow_up"})
    assert [expected, expected] == [reader.read_episode(b), reader.read_episode(copy.deepcopy(b))]
    sdc = load("sdc-phq9-questionnaireresponse.json")
    scorer = fhir.FhirReader(definitions=(d for d in [load("sdc-phq9-questionnaire.json")]), item_map=SDC_ITEMS)
    assert [(10, 13), (10, 13)] == [
        (s.total, s.reported_total) for s in (*scorer.read_scores(sdc), *scorer.read_scores(sdc))
    ]


def test_definitions_inside_a_bundle_serve_that_bundle_only() -> None:
    """A Questionnaire sent inside a Bundle values that Bundle's answers; the reader does not
    keep it for the next resource it reads (that one is refused without its Questionnaire)."""
    reader = fhir.FhirReader(item_map=SDC_ITEMS)
    sdc = load("sdc-phq9-questionnaireresponse.json")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": load("sdc-phq9-questionnaire.json")}, {"resource": sdc}],
    }
    assert 10 == only(reader.read_scores(bundle)).total
    with pytest.raises(InvalidInput, match="unknown answer code"):
        reader.read_scores(sdc)


def test_per_call_values_are_arguments_of_the_call() -> None:
    """What differs per patient (program, status, enrollment date, care manager, which
    EpisodeOfCare) is an argument of the call, not a setting of the reader."""
    reader = fhir.FhirReader()
    b = _bundle_without({"EpisodeOfCare"})
    ep = reader.read_episode(b, program="smi", status="active_treatment", enrollment_date=dt.date(2026, 8, 1))
    assert ("smi", "active_treatment") == (ep.program, ep.status)
    assert ("program", "status", "enrollment_date") == reader.read_patient(b).missing


def test_the_keyword_form_takes_exactly_the_reader_settings() -> None:
    """``read_episode(bundle, **settings)`` is ``FhirReader(**settings).read_episode(bundle)``:
    the keywords are the reader's settings, and a misspelt one is a TypeError (a programmer's
    mistake), not a silently ignored setting."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(fhir.FhirReader) if f.init}
    assert fields == set(fhir.ReaderSettings.__annotations__)
    with pytest.raises(TypeError, match="status_mpa"):
        fhir.read_episode(load("patient-bundle.json"), status_mpa={})  # type: ignore[call-arg]


# -- output ---------------------------------------------------------------------------------------------


def r4b_valid(resource: dict[str, Any]) -> None:
    """Validate with the fhir.resources R4B model of the resource (and of each Bundle entry)."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    for entry in resource.get("entry", []):
        r4b_valid(entry["resource"])


def test_score_observation_has_the_loinc_codes() -> None:
    """The total's LOINC code, items as components with LOINC answers, the band as interpretation."""
    s = only(fhir.read_scores(load("us-core-phq9-questionnaireresponse.json")))
    obs = fhir.score_to_observation(
        s, "Patient/example", dt.date(2022, 11, 29), derived_from=["QuestionnaireResponse/phq-9-example"]
    )
    r4b_valid(obs)
    assert ("44261-6", 12) == (obs["code"]["coding"][0]["code"], obs["valueInteger"])
    comps = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
    assert [*PHQ9_CODES, "69722-7"] == [c for c in comps if c[0].isdigit()]
    assert "LA6570-1" == comps["44250-9"]["valueCodeableConcept"]["coding"][0]["code"]
    assert "phq9.moderate" == obs["interpretation"][0]["coding"][0]["code"]


def test_score_observation_marks_what_rests_on_secondary_sources() -> None:
    """PCL-5's LOINC codes are secondary: the coding carries the status extension and a note says so;
    a prorated PHQ-9 total is a valueQuantity with a note."""
    pcl = fhir.score_to_observation(cocm_rules.score("pcl5", [1] * 20), "Patient/p1", "2026-01-05")
    coding = pcl["code"]["coding"][0]
    assert ("101698-9", [{"url": fhir.STATUS_EXTENSION, "valueCode": "secondary"}]) == (
        coding["code"],
        coding["extension"],
    )
    assert any("101698-9" in n["text"] for n in pcl["note"])
    prorated = cocm_rules.score("phq9", [2, 2, 2, 2, 2, 2, 2, 1, None])
    obs = fhir.score_to_observation(prorated, "Patient/p1", "2026-01-05")
    assert {"value": 16.88, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}"} == obs[
        "valueQuantity"
    ]
    assert any("prorated" in n["text"] for n in obs["note"])


def test_cssrs_observation_uses_the_panel_and_level_codes() -> None:
    """A measure without a total: the panel code (93373-9), no value, the level as component 93374-7."""
    s = cocm_rules.score("cssrs_screener", [1, 1, 1, 0, 0, 0])
    obs = fhir.score_to_observation(s, "Patient/p1", "2026-01-05")
    codes = [c["code"]["coding"][0]["code"] for c in obs["component"]]
    assert ("93373-9", "not-applicable") == (
        obs["code"]["coding"][0]["code"],
        obs["dataAbsentReason"]["coding"][0]["code"],
    )
    assert "93374-7" in codes
    r4b_valid(obs)


def test_score_bundle_with_members() -> None:
    """US Core style: a panel Observation whose hasMember are the total and the item Observations."""
    s = cocm_rules.score("phq9", [1] * 9)
    bundle = fhir.score_to_bundle(s, "Patient/p1", "2026-01-05", bundle_type="transaction")
    r4b_valid(bundle)
    panel = bundle["entry"][0]["resource"]
    assert ("44249-1", 10) == (panel["code"]["coding"][0]["code"], len(panel["hasMember"]))
    assert "PUT" == bundle["entry"][0]["request"]["method"]


def _alert(category: str, action: str, **kw: Any) -> Alert:
    fields: dict[str, Any] = {
        "rule_id": f"r-{category}",
        "ruleset": "test",
        "ruleset_version": "1",
        "title": f"{category} rule",
        "category": category,
        "severity": "high",
        "priority": 90,
        "message": "message",
        "action": action,
        "source": "test source",
        "evidence": {},
        "as_of": dt.date(2026, 11, 6),
        "patient_id": "p1",
    }
    fields.update(kw)
    return Alert(**fields)


def test_alert_bundle_resources_by_category() -> None:
    """suicide_risk -> Flag + RiskAssessment + Task; treatment_to_target -> DetectedIssue + Task;
    other categories -> Task. Everything validates with the R4B models."""
    alerts = [
        _alert(
            "suicide_risk", "same_day_safety_assessment", evidence={"cssrs_screener.level": "high"}, severity="critical"
        ),
        _alert("treatment_to_target", "psychiatric_case_review", evidence={"phq9.pct_reduction": 12.5}),
        _alert("engagement", "contact_patient", severity="moderate"),
    ]
    bundle = fhir.alerts_to_bundle(alerts, "Patient/p1")
    r4b_valid(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    assert ["Flag", "RiskAssessment", "Task", "DetectedIssue", "Task", "Task"] == [r["resourceType"] for r in resources]
    flag, risk, task = resources[:3]
    assert "high" == risk["prediction"][0]["qualitativeRisk"]["coding"][0]["code"]
    assert (f"urn:uuid:{flag['id']}", "stat") == (task["reasonReference"]["reference"], task["priority"])
    issue, review = resources[3:5]
    assert ("high", "psychiatric_consultant") == (issue["severity"], review["performerType"][0]["coding"][0]["code"])
    assert "care_manager" == resources[5]["performerType"][0]["coding"][0]["code"]
    assert bundle == fhir.alerts_to_bundle(alerts, "Patient/p1")  # stable ids


def test_engine_alerts_from_a_fhir_bundle_to_fhir() -> None:
    """The whole round: Bundle -> Episode -> Engine -> alert Bundle, valid R4B."""
    ep = fhir.read_episode(load("patient-bundle.json"))
    alerts = Engine.load().evaluate(ep, as_of=dt.date(2026, 11, 6))
    bundle = fhir.alerts_to_bundle(alerts, "Patient/p-fhir-1")
    r4b_valid(bundle)
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert {"Flag", "RiskAssessment", "DetectedIssue", "Task"} == set(types)
    assert len(alerts) == types.count("Task")


def test_validate_checks_what_the_models_do_not() -> None:
    """fhir.resources accepts a bogus Flag.status and obs-6 violations; validate() does not.
    An R5-only element (Task.reason) is refused: output is checked against R4B, not R5."""
    flag = {"resourceType": "Flag", "status": "bogus", "code": {"text": "x"}, "subject": {"reference": "Patient/1"}}
    get_fhir_model_class("Flag").model_validate(flag)  # the model alone lets it through
    with pytest.raises(InvalidInput, match=r"Flag\.status is not in its required value set"):
        fhir.validate(flag)
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueInteger": 1,
        "dataAbsentReason": {"text": "unknown"},
    }
    with pytest.raises(InvalidInput, match="obs-6"):
        fhir.validate(obs)
    task = {"resourceType": "Task", "status": "requested", "intent": "proposal", "reason": [{"concept": {"text": "x"}}]}
    with pytest.raises(InvalidInput, match="not a valid FHIR R4B Task"):
        fhir.validate(task)


def test_public_names() -> None:
    """The module's __all__ is sorted."""
    assert sorted(fhir.__all__) == fhir.__all__


@pytest.mark.parametrize(
    ("resource_type", "field", "value"),
    [("Encounter", "status", ["finished"]), ("EpisodeOfCare", "status", {"code": "active"})],
)
def test_a_status_that_is_not_a_code_is_a_located_error(resource_type: str, field: str, value: Any) -> None:
    """A list or mapping where a code belongs is an InvalidInput naming the resource and field,
    never a TypeError from deep inside the reader."""
    bundle = json.loads((FIXTURES / "patient-bundle.json").read_text())
    resource = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type)
    resource[field] = value
    with pytest.raises(InvalidInput) as info:
        fhir.read_episode(bundle)
    assert (f"{resource_type}/{resource['id']}", field) == (info.value.record, info.value.field)


# -- strict JSON: repeated keys, bytes that are not UTF-8, deep nesting (issue 11, items 1 and 12) -----


DUPLICATE_ITEM9 = (
    b'{"resourceType": "QuestionnaireResponse", "id": "qr-dup", "status": "completed", "authored": "2026-01-05",'
    b' "item": [{"linkId": "44260-8", "answer": [{"valueCoding": {"system": "http://loinc.org", "code": "LA6571-9"},'
    b' "valueCoding": {"system": "http://loinc.org", "code": "LA6568-5"}}]}]}'
)


def test_a_repeated_key_in_a_fhir_file_is_refused_with_its_path(tmp_path: Path) -> None:
    """Item 9 answered twice in one answer object (`valueCoding` "nearly every day", then "not
    at all"): the last would silently win and hide the positive answer. The file is refused,
    naming the file, the path of the object and the key."""
    path = tmp_path / "dup.json"
    path.write_bytes(DUPLICATE_ITEM9)
    with pytest.raises(InvalidInput) as info:
        fhir.score_fhir(path)
    assert (str(path), "item[0].answer[0]") == (info.value.record, info.value.field)
    assert "the key 'valueCoding' appears more than once" in str(info.value)


def test_a_repeated_key_in_fhir_text_is_refused() -> None:
    """JSON text given to load_resource is read by the same strict reader."""
    with pytest.raises(InvalidInput) as info:
        fhir.load_resource(DUPLICATE_ITEM9.decode())
    assert ("<text>", "item[0].answer[0]") == (info.value.record, info.value.field)


def test_has_member_that_is_not_a_list_is_a_located_error() -> None:
    """`"hasMember": 3` on a panel in a Bundle is an InvalidInput naming the resource and the
    field, not a TypeError from inside the reader."""
    bundle = load("us-core-phq9-observation-bundle.json")
    panel = bundle["entry"][0]["resource"]
    panel["hasMember"] = 3
    with pytest.raises(InvalidInput) as info:
        fhir.read_assessments(bundle)
    assert (f"Observation/{panel['id']}", "hasMember") == (info.value.record, info.value.field)


def test_odd_shapes_found_by_fuzzing_do_not_escape_as_python_errors() -> None:
    """Shapes the mutation test found: a contained resource whose id is a list (TypeError:
    unhashable), an Encounter.length unit that is a list (TypeError), a numeric valueString
    total beyond float range (inf). Each is read or refused as InvalidInput."""
    qr = phq9_response([0] * 9, total={"valueString": "1" * 400})
    qr["contained"] = [{"resourceType": "Questionnaire", "id": []}]
    with pytest.raises(InvalidInput, match="a reported total must be a number"):
        fhir.read_assessments(qr)
    bundle = load("patient-bundle.json")
    next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "enc-1")["length"]["code"] = ["min"]
    assert ["Encounter/enc-1"] == [n.resource for n in fhir.read_patient(bundle).notes]


def test_a_file_that_is_not_utf8_or_nested_too_deeply_is_invalid_input(tmp_path: Path) -> None:
    """Bytes that are not UTF-8, and 100,000 nested arrays, are InvalidInput naming the file."""
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'{"resourceType": "Observation", "id": "caf\xe9"}')
    deep = tmp_path / "deep.json"
    deep.write_bytes(b'{"resourceType": "Bundle", "entry": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    with pytest.raises(InvalidInput, match="not valid UTF-8"):
        fhir.score_fhir(latin1)
    with pytest.raises(InvalidInput, match="nested too deeply"):
        fhir.score_fhir(deep)


@pytest.mark.usefixtures("restore_structlog")
def test_score_fhir_cli_reports_unreadable_files_with_status_2(tmp_path: Path) -> None:
    """`cocm-rules score --fhir` on a repeated key, bytes that are not UTF-8 or deep nesting
    exits with status 2 and a one-line reason, never a traceback."""
    from typer.testing import CliRunner

    from cocm_rules.cli import app

    files = {"dup": DUPLICATE_ITEM9, "latin1": b'{"id": "caf\xe9"}', "deep": b"[" * 100_000 + b"]" * 100_000}
    for name, data in files.items():
        (tmp_path / f"{name}.json").write_bytes(data)
        result = CliRunner().invoke(app, ["score", "--fhir", str(tmp_path / f"{name}.json")])
        assert (2, None) == (
            result.exit_code,
            result.exception if not isinstance(result.exception, SystemExit) else None,
        )
        assert "Traceback" not in result.output


def test_items_nested_deeper_than_the_reader_walks_are_invalid_input() -> None:
    """A response whose groups nest thousands of levels (given as a dict, not JSON text) is
    refused with the path where the nesting went too deep, not a RecursionError."""
    qr = phq9_response([0] * 9)
    node: dict[str, Any] = {"linkId": "leaf"}
    for n in range(5000):
        node = {"linkId": f"g{n}", "item": [node]}
    qr["item"].append(node)
    with pytest.raises(InvalidInput, match="nested too deeply"):
        fhir.read_assessments(qr)


def test_bundles_nested_in_definitions_beyond_recursion_are_invalid_input() -> None:
    """Definitions nested far beyond Python's recursion limit give InvalidInput too."""
    inner: dict[str, Any] = {"resourceType": "Questionnaire", "id": "q"}
    for _ in range(5000):
        inner = {"resourceType": "Bundle", "entry": [{"resource": inner}]}
    with pytest.raises(InvalidInput, match="nested too deeply"):
        fhir.read_assessments(phq9_response([0] * 9), definitions=[inner])


# -- one impossible value keeps the patient (issue 11, item 4) ----------------------------------------


def _patient_bundle_with(*resources: dict[str, Any]) -> dict[str, Any]:
    b = load("patient-bundle.json")
    b["entry"].extend({"resource": r} for r in resources)
    return b


def _observation(rid: str, code: str, value: dict[str, Any], date: str = "2026-11-02") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/p-fhir-1"},
        "effectiveDateTime": date,
        "code": {"coding": [{"system": LOINC, "code": code}]},
        **value,
    }


def test_a_phq9_total_far_out_of_range_keeps_the_patient() -> None:
    """A PHQ-9 total Observation of 270 (range 0-27) no longer refuses the patient: the
    administration is kept, scored as invalid (a data-quality alert, and as the latest PHQ-9 it
    fails closed for suicide risk), listed in the reading's notes; the rest is read."""
    bundle = _patient_bundle_with(_observation("t270", "44261-6", {"valueInteger": 270}, "2026-11-03"))
    reading = fhir.read_patient(bundle)
    assert reading.episode is not None
    assert ("phq9", 270, None) == (
        reading.episode.assessments[-1].measure,
        reading.episode.assessments[-1].total,
        reading.episode.assessments[-1].answers,
    )
    assert 3 == len(reading.episode.contacts)
    [note] = reading.notes
    assert ("Observation/t270", "valueInteger") == (note.resource, note.path)
    assert "reported total out of range" in note.reason
    alerts = {a.rule_id for a in Engine.load().evaluate(reading.episode, as_of=dt.date(2026, 11, 6))}
    assert {"dq-invalid-administration", "suicide-risk-unknown"} <= alerts


def test_an_impossible_item9_keeps_the_patient_and_fails_closed() -> None:
    """Item 9 answered 7, or with a code no definition knows, in the latest PHQ-9: the patient
    is read, the administration is invalid and "suicide risk cannot be ruled out" fires."""
    for answer in ({"valueInteger": 7}, {"valueCoding": {"system": LOINC, "code": "LA9999-9"}}):
        bundle = load("patient-bundle.json")
        qr = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "phq9-week13")
        qr["item"][8]["answer"] = [answer]
        ep = fhir.read_episode(bundle)
        week13 = next(a for a in ep.assessments if a.id == "QuestionnaireResponse/phq9-week13")
        assert week13.answers["item9"] in (7, "http://loinc.org|LA9999-9")
        alerts = [a.rule_id for a in Engine.load().evaluate(ep, as_of=dt.date(2026, 11, 6))]
        assert "suicide-risk-unknown" in alerts
        assert "suicide-phq9-item9" not in alerts


def test_impossible_values_are_still_errors_outside_an_episode() -> None:
    """Scoring resources (read_scores, `score --fhir`) still refuses an impossible value: only
    a patient's episode keeps it, as invalid."""
    with pytest.raises(InvalidInput, match="reported total out of range"):
        fhir.read_scores(_observation("t270", "44261-6", {"valueInteger": 270}))


@pytest.mark.parametrize(
    ("length", "reason"),
    [
        ({"value": 1e308, "unit": "h", "code": "h"}, "not a possible length of one contact"),
        ({"value": 1e308, "unit": "min", "code": "min"}, "not a possible length of one contact"),
        ({"value": 3000, "unit": "min", "code": "min"}, "not a possible length of one contact"),
        ({"value": -5, "unit": "min", "code": "min"}, "not a possible length of one contact"),
        ({"value": "60", "unit": "min"}, "length needs a number and a UCUM unit"),
    ],
    ids=["1e308-hours", "1e308-minutes", "3000-minutes", "negative", "text"],
)
def test_an_impossible_encounter_length_counts_the_contact_without_minutes(length: dict[str, Any], reason: str) -> None:
    """Encounter.length of 1e308 hours (an OverflowError before) or minutes beyond a day (the
    whole patient refused before): the contact is kept without minutes, with a note."""
    bundle = load("patient-bundle.json")
    enc = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "enc-1")
    enc["length"] = length
    reading = fhir.read_patient(bundle)
    assert reading.episode is not None
    assert [None, 30, 30] == [c.minutes for c in reading.episode.contacts]
    [note] = reading.notes
    assert ("Encounter/enc-1", "length") == (note.resource, note.path)
    assert reason in note.reason
    assert note.reason.startswith("counted as a contact without its minutes")


def test_a_contact_without_a_readable_date_is_set_aside_with_a_note() -> None:
    """An Encounter whose period.start is not a date, or a period that ends before it starts,
    keeps the patient: the first contact is not counted, the second has no minutes."""
    bundle = load("patient-bundle.json")
    encounters = {
        e["resource"]["id"]: e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"
    }
    encounters["enc-1"]["period"]["start"] = "2026-13-45"
    encounters["enc-2"]["period"]["end"] = "2026-09-14T09:00:00-05:00"
    reading = fhir.read_patient(bundle)
    assert reading.episode is not None
    assert [("follow_up", None), ("follow_up", 30)] == [(c.kind, c.minutes) for c in reading.episode.contacts]
    assert [("Encounter/enc-1", "period.start"), ("Encounter/enc-2", "period")] == [
        (n.resource, n.path) for n in reading.notes
    ]
    assert reading.notes[0].reason.startswith("not counted as a contact: not a real date")


# -- PHQ-9 as a total and item 9 (issue 11, item 5, the FHIR part) -----------------------------------


def test_a_response_with_only_the_total_and_item9_reads_as_total_and_item9() -> None:
    """A QuestionnaireResponse carrying only the PHQ-9 total (44261-6) and item 9 (44260-8)
    becomes {"measure": "phq9", "total": 18, "answers": {"item9": 0}} in the episode."""
    qr = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-t9",
        "status": "completed",
        "subject": {"reference": "Patient/p-fhir-1"},
        "authored": "2026-11-03",
        "item": [
            {"linkId": "44261-6", "answer": [{"valueInteger": 18}]},
            {"linkId": "44260-8", "answer": [{"valueCoding": {"system": LOINC, "code": LA[0]}}]},
        ],
    }
    [a] = fhir.read_assessments(qr).assessments
    assert ("phq9", {"item9": 0}, 18) == (a.measure, a.answers, a.reported_total)
    ep = fhir.read_episode(_patient_bundle_with(qr))
    assert {"measure": "phq9", "date": "2026-11-03", "total": 18, "answers": {"item9": 0}} == ep.assessments[
        -1
    ].model_dump(mode="json", include={"measure", "date", "total", "answers"})


def test_a_total_and_an_item9_observation_of_one_date_are_one_administration() -> None:
    """An EHR flowsheet's PHQ-9 total (44261-6) and item 9 (44260-8) as two Observations of
    the same patient and date are read as one administration with a total and item 9."""
    total = _observation("t18", "44261-6", {"valueInteger": 18})
    item9 = _observation("i9", "44260-8", {"valueCodeableConcept": {"coding": [{"system": LOINC, "code": LA[2]}]}})
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": total}, {"resource": item9}]}
    [a] = fhir.read_assessments(bundle).assessments
    assert ("phq9", {"item9": 2}, 18, "Observation/t18 + Observation/i9") == (
        a.measure,
        a.answers,
        a.reported_total,
        a.source,
    )
    assert {"total": "Observation/t18 valueInteger", "item9": "Observation/i9 valueCodeableConcept"} == a.paths
    ep = fhir.read_episode(_patient_bundle_with(total, item9))
    assert ({"item9": 2}, 18) == (ep.assessments[-1].answers, ep.assessments[-1].total)


def test_observations_that_overlap_or_differ_in_date_stay_apart() -> None:
    """Two totals on one date are two administrations; a total and item 9 of different dates
    or patients are not merged."""
    t1 = _observation("t1", "44261-6", {"valueInteger": 18})
    t2 = _observation("t2", "44261-6", {"valueInteger": 5})
    i9 = _observation("i9", "44260-8", {"valueInteger": 1}, "2026-11-03")
    other = _observation("o9", "44260-8", {"valueInteger": 1}) | {"subject": {"reference": "Patient/other"}}
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in (t1, t2, i9, other)]}
    assert ["Observation/t1", "Observation/t2", "Observation/i9", "Observation/o9"] == [
        a.source for a in fhir.read_assessments(bundle).assessments
    ]


def test_a_panel_with_a_total_and_item9_members_reads_as_total_and_item9() -> None:
    """A PHQ-9 panel Observation whose members are the total and item 9 is one administration."""
    total = _observation("t", "44261-6", {"valueInteger": 18})
    item9 = _observation("i", "44260-8", {"valueInteger": 0})
    panel = _observation("p", "44249-1", {}) | {
        "hasMember": [{"reference": "Observation/t"}, {"reference": "Observation/i"}]
    }
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in (panel, total, item9)]}
    [a] = fhir.read_assessments(bundle).assessments
    assert ("Observation/p", {"item9": 0}, 18) == (a.source, a.answers, a.reported_total)


# -- a patient outside an episode of care (issue 11, item 3: the reader's part) ----------------------


def test_read_patient_says_why_a_patient_is_not_enrolled() -> None:
    """Without an EpisodeOfCare, or with one whose status is `planned`, read_patient returns no
    episode, the reason and what is missing; episode_with builds it from given values, and
    read_episode still raises the same error."""
    reading = fhir.read_patient(_bundle_without({"EpisodeOfCare"}))
    assert (None, ("program", "status", "enrollment_date"), None) == (
        reading.episode,
        reading.missing,
        reading.episode_of_care,
    )
    assert "the Bundle has no EpisodeOfCare" in str(reading.not_enrolled)
    ep = reading.episode_with(program="smi", status="inactive", enrollment_date=dt.date(2026, 8, 1))
    assert ("smi", "inactive", 3) == (ep.program, ep.status, len(ep.assessments))
    b = load("patient-bundle.json")
    next(e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "EpisodeOfCare")["status"] = "planned"
    planned = fhir.read_patient(b)
    assert (None, ("status",), "EpisodeOfCare/eoc-1", "planned") == (
        planned.episode,
        planned.missing,
        planned.episode_of_care,
        planned.unmapped_status,
    )
    assert "cocm" == planned.episode_with(status="active_treatment", program="smi").program  # the Bundle's program
    with pytest.raises(InvalidInput, match="has no registry status"):
        fhir.read_episode(b)


# -- only documented errors leave the reader ------------------------------------------------------------

_WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.sampled_from(["", "x", "2026-13-45", "2026-01-01T25:00", "LA6569-3", "Patient/p-fhir-1", "44260-8", "h"]),
    st.just([]),
    st.just({}),
    st.just({"coding": 3}),
    st.just({"coding": [{"system": 3, "code": []}]}),
    st.just({"reference": 3}),
    st.just({"value": 1e308, "code": "h"}),
)
_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json")) + ["patient-bundle.json"] * 4


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


@given(st.data())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_resources_raise_only_invalid_input(data: st.DataObject) -> None:
    """A published example with one to three values replaced by odd JSON values (or removed):
    reading, scoring and read_episode either succeed or raise InvalidInput, nothing else."""
    resource = load(data.draw(st.sampled_from(_FIXTURES)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(resource)[1:] or [()]))
        if not path:
            break
        holder = resource
        for part in path[:-1]:
            holder = holder[part]
        if data.draw(st.booleans()) and isinstance(holder, dict):
            del holder[path[-1]]
        else:
            holder[path[-1]] = copy.deepcopy(data.draw(_WEIRD))  # st.just gives one object each time
    lib = cocm_rules.load_measures()
    for read in (
        lambda r: fhir.read_assessments(r, library=lib),
        lambda r: fhir.score_fhir(r, library=lib, unrecognized="skip"),
        lambda r: fhir.read_patient(r, library=lib, unrecognized="skip"),
        lambda r: fhir.read_episode(
            r, library=lib, unrecognized="skip", program="cocm", status="active_treatment", enrollment_date="2026-01-01"
        ),
    ):
        with contextlib.suppress(InvalidInput):
            read(resource)


# -- records set aside reach the engine (issue 11, item 4) -------------------------------------------


def _rules(alerts: list[Alert]) -> list[str]:
    return sorted(a.rule_id for a in alerts)


def test_a_contact_without_its_minutes_is_set_aside_and_raises_a_data_quality_alert() -> None:
    """Encounter.length of 1e308 hours: the contact counts without minutes, the episode says
    what was set aside, and the engine raises dq-set-aside naming the Encounter."""
    bundle = load("patient-bundle.json")
    enc = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "enc-1")
    enc["length"] = {"value": 1e308, "unit": "h", "system": "http://unitsofmeasure.org", "code": "h"}
    episode = fhir.read_episode(bundle)
    [aside] = episode.set_aside
    assert ("value", dt.date(2026, 8, 3), "Encounter/enc-1 length") == (aside.kind, aside.date, aside.source)
    [alert] = [a for a in Engine.load().evaluate(episode, dt.date(2026, 11, 6)) if a.rule_id == "dq-set-aside"]
    assert "Encounter/enc-1 length" in alert.message


def test_an_undated_phq9_is_set_aside_and_fails_closed() -> None:
    """A PHQ-9 QuestionnaireResponse without `authored` cannot be placed in the series: the
    patient is kept, the response is set aside, and suicide risk cannot be ruled out."""
    bundle = load("patient-bundle.json")
    qr = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "phq9-week13")
    del qr["authored"]
    episode = fhir.read_episode(bundle)
    assert [("assessment", "phq9")] == [(x.kind, x.measure) for x in episode.set_aside]
    alerts = Engine.load().evaluate(episode, dt.date(2026, 11, 6))
    assert {"dq-set-aside", "suicide-risk-unknown"} <= set(_rules(alerts))
    assert "suicide_risk" == alerts[0].category


def test_a_phq9_total_that_is_no_number_alone_keeps_the_patient_and_fails_closed() -> None:
    """A PHQ-9 total Observation whose value is text, with no items: before, read_episode
    refused the whole patient; now that administration is set aside and fails closed."""
    bundle = load("patient-bundle.json")
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000099",
            "resource": {
                "resourceType": "Observation",
                "id": "phq9-total-text",
                "status": "final",
                "subject": {"reference": "Patient/p-fhir-1"},
                "effectiveDateTime": "2026-11-05",
                "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
                "valueString": "severe",
            },
        }
    )
    episode = fhir.read_episode(bundle)
    [aside] = episode.set_aside
    assert ("assessment", "phq9", dt.date(2026, 11, 5)) == (aside.kind, aside.measure, aside.date)
    alerts = {a.rule_id: a for a in Engine.load().evaluate(episode, dt.date(2026, 11, 6))}
    assert "could not be read" in alerts["suicide-risk-unknown"].message
    assert "dq-set-aside" in alerts


def test_a_phq9_response_with_only_total_and_item9_is_treated_to_target() -> None:
    """End to end (issue 11, item 5): PHQ-9 responses carrying only the total and item 9 give
    a baseline and a latest total, so treat-to-target rules can run, and no fail-closed alert."""
    bundle = load("patient-bundle.json")
    for e in bundle["entry"]:
        r = e["resource"]
        if r["resourceType"] == "QuestionnaireResponse":
            total = 18 if r["id"] == "phq9-baseline" else 17
            r["item"] = [
                {"linkId": "/44260-8", "answer": [{"valueCoding": {"system": "http://loinc.org", "code": "LA6568-5"}}]},
                {"linkId": "/44261-6", "answer": [{"valueInteger": total}]},
            ]
    episode = fhir.read_episode(bundle)
    names = ["phq9.baseline", "phq9.latest", "safety_item_missing"]
    facts = cocm_rules.derive_facts(episode, dt.date(2026, 11, 6), names=names)
    assert {"phq9.baseline": 18, "phq9.latest": 17, "safety_item_missing": False} == facts
    alerts = Engine.load().evaluate(episode, dt.date(2026, 11, 6))
    assert "t2t-phq9-not-improving" in _rules(alerts)
    assert "suicide_risk" not in {a.category for a in alerts}


def test_a_task_names_every_recipient_of_its_alert() -> None:
    """Task.performerType lists the alert's recipients in its order (the first is the one
    expected to act): a PHQ-9 not improving goes to the consultant, the care manager and the
    PCP; the Task's notes say who it is for. Valid R4B."""
    alerts = [_alert("treatment_to_target", "psychiatric_case_review"), _alert("engagement", "contact_patient")]
    resources = [e["resource"] for e in fhir.alerts_to_bundle(alerts, "Patient/p1")["entry"]]
    tasks = [r for r in resources if r["resourceType"] == "Task"]
    roles = [[c["coding"][0]["code"] for c in t["performerType"]] for t in tasks]
    assert [["psychiatric_consultant", "care_manager", "pcp"], ["care_manager"]] == roles
    assert "Primary care provider" == tasks[0]["performerType"][2]["text"]
    assert {"text": "For: Psychiatric consultant, Behavioral health care manager, Primary care provider"} in tasks[0][
        "note"
    ]
    r4b_valid(fhir.alerts_to_bundle(alerts, "Patient/p1"))


def test_consultant_actions_add_the_consultant_to_a_task() -> None:
    """A host routing by action can add the psychiatric consultant to the Tasks of those
    actions, after the alert's own recipients (never twice)."""
    alerts = [
        _alert("engagement", "contact_patient", recipients=["care_manager"]),
        _alert("treatment_to_target", "psychiatric_case_review"),
    ]
    bundle = fhir.alerts_to_bundle(
        alerts, "Patient/p1", consultant_actions=["contact_patient", "psychiatric_case_review"]
    )
    tasks = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"]
    roles = [[c["coding"][0]["code"] for c in t["performerType"]] for t in tasks]
    assert [["care_manager", "psychiatric_consultant"], ["psychiatric_consultant", "care_manager", "pcp"]] == roles
