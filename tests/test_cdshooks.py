"""The CDS Hooks 2.0 service: discovery, patient-view cards, feedback, JWT verification, request
limits and fetching from a FHIR server; in process (FastAPI TestClient) and as a real server on
loopback (uvicorn in a thread, a fake FHIR server in another), checking that logs carry no
patient data. Signing keys are generated here; none is committed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from structlog.testing import capture_logs

from cocm_rules import BackendUnavailable, CocmRulesError, Engine, InvalidInput
from cocm_rules.alerts import Alert
from cocm_rules.cdshooks import (
    PREFETCH_KEYS,
    SERVICE_ID,
    SUMMARY_MAX,
    AuthError,
    ReplayCache,
    ServiceConfig,
    ServiceConfigError,
    build_app,
    cards_for,
    create_app,
    indicator_for,
    load_config,
    main_serve,
    parse_config,
)

with warnings.catch_warnings():  # starlette's TestClient announces a future httpx2 move
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "cdshooks"
BASE = "https://cds.example.org"
ISS = "https://ehr.example.org"
SERVICE_URL = f"{BASE}/cds-services/{SERVICE_ID}"
AS_OF = dt.date(2026, 11, 6)
PATIENT = "p-fhir-1"
FHIR_TOKEN = "fhir-access-token-0d9c"
# Patient data that must never reach a log: ids, birth date, LOINC answer codes of the responses.
PHI = [PATIENT, "p-cds-2", "1980-05-17", "LA6569-3", "LA6570-1", "LA6571-9", FHIR_TOKEN]


# -- keys, tokens, configuration --------------------------------------------------------------------
class Keys:
    """An ES384 and an RS384 key pair of the trusted client, and a stranger's ES384 key."""

    def __init__(self) -> None:
        self.ec = ec.generate_private_key(ec.SECP384R1())
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.stranger = ec.generate_private_key(ec.SECP384R1())
        es = json.loads(ECAlgorithm.to_jwk(self.ec.public_key())) | {"kid": "es-1", "use": "sig", "alg": "ES384"}
        rs = json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key())) | {"kid": "rs-1", "use": "sig"}
        self.jwks = {"keys": [es, rs]}
        self.rsa_public_pem = self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def token(
    keys: Keys,
    aud: Any = SERVICE_URL,
    *,
    alg: str = "ES384",
    kid: str | None = None,
    key: Any = None,
    iss: str = ISS,
    now: float | None = None,
    lifetime: float = 120,
    drop: tuple[str, ...] = (),
    claims: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
) -> str:
    """A CDS client JWT (CDS Hooks 2.0, Trusting CDS Clients), changed as a test needs."""
    now = time.time() if now is None else now
    payload: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "exp": int(now + lifetime),
        "iat": int(now),
        "jti": str(uuid.uuid4()),
    }
    payload |= claims or {}
    for name in drop:
        payload.pop(name, None)
    if key is None:
        key = keys.ec if alg.startswith("ES") else keys.rsa
    if kid is None:
        kid = "es-1" if alg.startswith("ES") else "rs-1"
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, **(headers or {})})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None = None) -> str:
    """A token PyJWT refuses to make: alg none, or HMAC with the client's public key as secret."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b"" if secret is None else hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def config(keys: Keys, **changes: Any) -> ServiceConfig:
    data: dict[str, Any] = {
        "service_url": BASE,
        "trusted_clients": {ISS: {"jwks": keys.jwks}},
        "as_of": AS_OF,
    }
    data |= changes
    return ServiceConfig.model_validate(data)


def client_for(cfg: ServiceConfig, engine: Engine, **kwargs: Any) -> TestClient:
    return TestClient(create_app(cfg, engine=engine, **kwargs))


@pytest.fixture
def client(keys: Keys, engine: Engine) -> TestClient:
    return client_for(config(keys), engine)


def request_fixture(name: str = "patient-view-request.json") -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def call(client: TestClient, keys: Keys, body: Any, **token_args: Any) -> httpx.Response:
    return client.post(f"/cds-services/{SERVICE_ID}", json=body, headers=bearer(token(keys, **token_args)))


def assert_no_phi(logs: list[dict[str, Any]], *extra: str) -> None:
    text = repr(logs)
    leaked = [needle for needle in [*PHI, *extra] if needle in text]
    assert [] == leaked


def no_empty_values(value: Any, path: str = "") -> list[str]:
    """CDS Hooks 2.0, Use of JSON: no null, "", [] or {} (except an empty card list)."""
    bad = []
    if value is None or value in ("", [], {}):
        bad.append(path)
    elif isinstance(value, dict):
        for k, v in value.items():
            bad += no_empty_values(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            bad += no_empty_values(v, f"{path}[{i}]")
    return bad


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


# -- discovery --------------------------------------------------------------------------------------
def test_discovery_lists_the_patient_view_service_with_prefetch_templates(client: TestClient, keys: Keys) -> None:
    """GET /cds-services (with a token whose aud is the discovery URL) describes the service:
    hook, title, description, id, usageRequirements and a template per prefetch key, with
    the LOINC codes of the measure library (panels and items, so panel members come too)."""
    response = client.get("/cds-services", headers=bearer(token(keys, aud=f"{BASE}/cds-services")))
    assert 200 == response.status_code
    [service] = response.json()["services"]
    assert ("patient-view", SERVICE_ID) == (service["hook"], service["id"])
    assert service["title"]
    assert service["description"]
    assert service["usageRequirements"]
    assert list(PREFETCH_KEYS) == list(service["prefetch"])
    assert "Patient/{{context.patientId}}" == service["prefetch"]["patient"]
    observations = service["prefetch"]["observations"]
    assert observations.startswith("Observation?patient={{context.patientId}}&code=")
    assert {"44249-1", "44261-6", "44260-8", "69737-5", "93373-9"} <= set(observations.split("code=")[1].split(","))
    assert all("{{context.patientId}}" in template for template in service["prefetch"].values())


def test_discovery_needs_a_token_unless_configured_open(keys: Keys, engine: Engine) -> None:
    """CDS Hooks 2.0 asks for the JWT on discovery calls too; `require_for_discovery: false`
    opens discovery (it holds no patient data) and nothing else."""
    assert 401 == client_for(config(keys), engine).get("/cds-services").status_code
    open_discovery = client_for(config(keys, auth={"require_for_discovery": False}), engine)
    assert 200 == open_discovery.get("/cds-services").status_code
    assert 401 == open_discovery.post(f"/cds-services/{SERVICE_ID}", json=request_fixture()).status_code


# -- patient-view ---------------------------------------------------------------------------------------
def test_patient_view_with_prefetch_returns_a_critical_card_for_phq9_item9(client: TestClient, keys: Keys) -> None:
    """Done-when of the issue: a PHQ-9 with item 9 >= 1 in the prefetch gives a critical
    suicide-risk card, first, with a summary under 140 characters; every card keeps to the
    spec's shapes (indicator values, source label and topic, uuid, GFM detail, no empty values)."""
    with capture_logs() as logs:
        response = call(client, keys, request_fixture())
    assert 200 == response.status_code
    cards = response.json()["cards"]
    first = cards[0]
    assert ("critical", "suicide_risk") == (first["indicator"], first["source"]["topic"]["code"])
    assert first["summary"].startswith("Suicide risk: PHQ-9 item 9")
    assert "answered 1 of 3" in first["detail"]
    assert "suicide-phq9-item9" in first["detail"]
    assert all(len(c["summary"]) < 140 for c in cards)
    assert {"critical", "warning", "info"} >= {c["indicator"] for c in cards}
    assert len(cards) == len({c["uuid"] for c in cards}) == len({c["source"]["topic"]["code"] for c in cards})
    assert all(c["source"]["label"].startswith("cocm_rules") for c in cards)
    assert [] == no_empty_values(cards)
    assert "no-store" == response.headers["cache-control"]
    [event] = [e for e in logs if e["event"] == "cdshooks.patient_view"]
    assert (ISS, 1, list(PREFETCH_KEYS)) == (event["iss"], event["indicators"]["critical"], event["prefetched"])
    assert_no_phi(logs)


def test_patient_view_accepts_an_rs384_token(client: TestClient, keys: Keys) -> None:
    """Both algorithms the spec recommends (ES384 and RS384) verify."""
    assert 200 == call(client, keys, request_fixture(), alg="RS384").status_code


def test_a_patient_without_alerts_gets_no_cards(client: TestClient, keys: Keys) -> None:
    """A discharged patient: no alert fires, so the answer is an empty card list (CDS Hooks
    2.0: "no decision support ... an empty array of cards")."""
    response = call(client, keys, request_fixture("discharged-patient-request.json"))
    assert (200, {"cards": []}) == (response.status_code, response.json())


def _summaries(response: httpx.Response) -> list[tuple[str, str]]:
    return [(c["indicator"], c["summary"]) for c in response.json()["cards"]]


NOT_ENROLLED = ("info", "Not enrolled in Collaborative Care: only the suicide-risk rules were run")


def test_a_patient_without_episode_of_care_gets_the_safety_cards_and_says_why(keys: Keys, engine: Engine) -> None:
    """Issue 11, item 3: a patient with a positive PHQ-9 item 9 and no EpisodeOfCare got
    {"cards": []}. The suicide-risk rules run whatever the enrollment: a critical card, then an
    info card saying no other rule could run and why; the log says not_enrolled (no patient
    data). With `episode_defaults` the patient is evaluated fully and that card is not shown."""
    body = request_fixture()
    body["prefetch"]["episodesOfCare"] = None
    with capture_logs() as logs:
        response = call(client_for(config(keys), engine), keys, body)
    assert [("critical", "Suicide risk: PHQ-9 item 9 positive"), NOT_ENROLLED] == _summaries(response)
    assert "No EpisodeOfCare was found for this patient." in response.json()["cards"][1]["detail"]
    event = next(e for e in logs if e["event"] == "cdshooks.patient_view")
    assert ("not_enrolled", ["program", "status", "enrollment_date"], ["suicide-phq9-item9"]) == (
        event["reason"],
        event["missing"],
        event["rules"],
    )
    assert [] == no_empty_values(response.json()["cards"])
    assert_no_phi(logs)
    defaults = {"program": "cocm", "status": "active_treatment", "enrollment_date": "earliest_assessment"}
    cards = _summaries(call(client_for(config(keys, episode_defaults=defaults), engine), keys, body))
    assert "critical" == cards[0][0]
    assert NOT_ENROLLED not in cards
    assert len(cards) > 2  # treatment to target and the other rules ran


def test_a_planned_episode_of_care_runs_only_the_safety_rules(client: TestClient, keys: Keys) -> None:
    """An EpisodeOfCare `planned` (not yet enrolled; no registry status) is answered like no
    enrollment: the suicide-risk card and the info card naming the status. A default status
    never replaces what the EpisodeOfCare says."""
    body = request_fixture()
    body["prefetch"]["episodesOfCare"]["entry"][0]["resource"]["status"] = "planned"
    response = call(client, keys, body)
    assert [("critical", "Suicide risk: PHQ-9 item 9 positive"), NOT_ENROLLED] == _summaries(response)
    assert "has the status 'planned'" in response.json()["cards"][1]["detail"]


def test_a_patient_not_enrolled_without_risk_gets_only_the_info_card(client: TestClient, keys: Keys) -> None:
    """Not enrolled, latest PHQ-9 item 9 answered 0: no suicide-risk card, and no card of any
    other rule (the patient's not improving would otherwise show): only the info card."""
    body = request_fixture()
    body["prefetch"]["episodesOfCare"] = None
    week13 = body["prefetch"]["questionnaireResponses"]["entry"][1]["resource"]
    week13["item"][8]["answer"] = [{"valueCoding": {"system": "http://loinc.org", "code": "LA6568-5"}}]
    assert [NOT_ENROLLED] == _summaries(call(client, keys, body))


def test_a_patient_not_enrolled_and_without_measures_gets_no_cards(client: TestClient, keys: Keys) -> None:
    """No EpisodeOfCare and no measure at all: nothing a rule could read, so no card (a
    patient-view call comes for every chart opened); the log says why."""
    body = request_fixture()
    for key in ("episodesOfCare", "questionnaireResponses", "observations"):
        body["prefetch"][key] = None
    with capture_logs() as logs:
        response = call(client, keys, body)
    assert (200, {"cards": []}) == (response.status_code, response.json())
    event = next(e for e in logs if e["event"] == "cdshooks.patient_view")
    assert ("not_enrolled", 0) == (event["reason"], event["measures"])


def test_a_patient_not_enrolled_whose_only_screen_was_set_aside_gets_the_safety_card(
    client: TestClient, keys: Keys
) -> None:
    """Issue 15: not enrolled, and the one PHQ-9 sent has no date, so it is set aside. The
    service used to answer no card at all ("no measure"): the safety rules never ran and the
    screen that could not be used was silent. Which rules run is now decided in the core
    (cocm_rules.unenrolled): suicide risk cannot be ruled out is a critical card, then the info
    card and the card listing what was set aside."""
    body = request_fixture()
    prefetch = body["prefetch"]
    prefetch["episodesOfCare"] = None
    prefetch["observations"] = None
    responses = prefetch["questionnaireResponses"]["entry"]
    del responses[-1]["resource"]["authored"]
    prefetch["questionnaireResponses"]["entry"] = responses[-1:]
    with capture_logs() as logs:
        response = call(client, keys, body)
    assert ["critical", "info", "info"] == [c["indicator"] for c in response.json()["cards"]]
    assert response.json()["cards"][0]["summary"].startswith("Suicide risk")
    assert NOT_ENROLLED == _summaries(response)[1]
    event = next(e for e in logs if e["event"] == "cdshooks.patient_view")
    assert ("not_enrolled", ["suicide-risk-unknown"]) == (event["reason"], event["rules"])


def test_episode_defaults_fill_only_what_the_episode_of_care_leaves_out(keys: Keys, engine: Engine) -> None:
    """An EpisodeOfCare without a program coding: without defaults the patient counts as not
    enrolled (the safety card, and the info card saying the program is missing); with a default
    program it is evaluated, and its own status and start date still rule (a default never
    overrides the Bundle)."""
    body = request_fixture()
    eoc = body["prefetch"]["episodesOfCare"]["entry"][0]["resource"]
    del eoc["type"]
    no_defaults = call(client_for(config(keys), engine), keys, body)
    assert [("critical", "Suicide risk: PHQ-9 item 9 positive"), NOT_ENROLLED] == _summaries(no_defaults)
    assert "gives no program." in no_defaults.json()["cards"][1]["detail"]
    cfg = config(keys, episode_defaults={"program": "cocm", "status": "discharged"})
    cards = _summaries(call(client_for(cfg, engine), keys, body))
    assert "critical" == cards[0][0]  # status stayed active_treatment from the EpisodeOfCare
    assert NOT_ENROLLED not in cards


def test_an_impossible_item9_answer_fails_closed_and_logs_no_values(client: TestClient, keys: Keys) -> None:
    """Issue 11, item 4: item 9 answered 7 used to refuse the whole patient (one warning card).
    Now the administration is scored as invalid: "suicide risk cannot be ruled out" (critical)
    first, the data-quality card, the other rules, and an info card listing what was not used
    as sent; the log counts, never the value or the field."""
    body = request_fixture()
    qr = body["prefetch"]["questionnaireResponses"]["entry"][1]["resource"]
    qr["item"][8]["answer"] = [{"valueInteger": 7}]
    with capture_logs() as logs:
        response = call(client, keys, body)
    cards = _summaries(response)
    assert ("critical", "Suicide risk: Suicide risk cannot be ruled out") == cards[0]
    # (+1 more: the request's Encounters carry no participant role, so their minutes are not
    # counted toward the CoCM codes and the time-tracking rules ask for the role; issue 12)
    assert ("warning", "Data quality: An administration could not be scored (+1 more)") in cards
    notes = response.json()["cards"][-1]
    assert ("info", "Some of this patient's FHIR data was not used as sent (1)") == cards[-1]
    assert "QuestionnaireResponse/phq9-week13 item\\[8\\].answer\\[0\\]" in notes["detail"]
    assert "answer out of range (got 7 (number))" in notes["detail"]
    event = next(e for e in logs if e["event"] == "cdshooks.patient_view")
    assert 1 == event["notes"]
    assert_no_phi(logs, "valueInteger", "item[8]")


def test_an_impossible_encounter_length_is_answered_with_cards(client: TestClient, keys: Keys) -> None:
    """Issue 11, item 4: an Encounter.length of 1e308 hours raised OverflowError (a 500 and
    no cards). The contact counts without minutes; the suicide-risk card and the rest follow."""
    body = request_fixture()
    body["prefetch"]["encounters"]["entry"][0]["resource"]["length"] = {"value": 1e308, "unit": "h", "code": "h"}
    response = call(client, keys, body)
    cards = _summaries(response)
    assert (200, "critical") == (response.status_code, cards[0][0])
    assert ("info", "Some of this patient's FHIR data was not used as sent (1)") == cards[-1]
    assert "not a possible length of one contact" in response.json()["cards"][-1]["detail"]


def test_data_the_reader_cannot_handle_still_gives_a_warning_card(client: TestClient, keys: Keys) -> None:
    """A resource of an unexpected shape (an Encounter status that is a list) never makes a
    silent 500: the clinician gets the warning card that says the rules did not run."""
    body = request_fixture()
    body["prefetch"]["encounters"]["entry"][0]["resource"]["status"] = ["finished"]
    with capture_logs() as logs:
        response = call(client, keys, body)
    [card] = response.json()["cards"]
    assert (200, "warning") == (response.status_code, card["indicator"])
    assert "data_error" == next(e for e in logs if e["event"] == "cdshooks.patient_view")["reason"]
    assert_no_phi(logs)


def test_card_categories_and_links_come_from_the_configuration(keys: Keys, engine: Engine) -> None:
    """`card_categories` filters which alert groups become cards; `card_links` adds absolute links."""
    cfg = config(
        keys,
        card_categories=["suicide_risk"],
        card_links={"suicide_risk": [{"label": "Safety protocol", "url": "https://intranet.example.org/safety"}]},
        source_url="https://docs.example.org/cocm",
    )
    [card] = call(client_for(cfg, engine), keys, request_fixture()).json()["cards"]
    assert [{"label": "Safety protocol", "url": "https://intranet.example.org/safety", "type": "absolute"}] == card[
        "links"
    ]
    assert "https://docs.example.org/cocm" == card["source"]["url"]


def _alert(title: str, category: str, severity: str, priority: int = 50) -> Alert:
    return Alert(
        rule_id=f"r-{category}-{severity}",
        ruleset="test",
        ruleset_version="1",
        title=title,
        category=category,
        severity=severity,
        priority=priority,
        message="A <b>message</b> with *stars*.",
        action="repeat_measure",
        source="test source",
        evidence={},
        as_of=AS_OF,
    )


def test_summaries_stay_under_140_characters_and_detail_is_escaped(keys: Keys) -> None:
    """A long title is cut with an ellipsis so the summary, with its "(+N more)", is <140
    characters; text from rulesets is escaped for Markdown (no raw HTML, no stray emphasis)."""
    alerts = [_alert("x" * 300, "engagement", "moderate", 60), _alert("second", "engagement", "low", 10)]
    [card] = cards_for(alerts, config(keys), as_of=AS_OF, version="0")
    assert len(card["summary"]) <= SUMMARY_MAX
    assert card["summary"].endswith("… (+1 more)")
    assert "&lt;b&gt;message&lt;/b&gt; with \\*stars\\*." in card["detail"]


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        ([("suicide_risk", "high")], "critical"),
        ([("suicide_risk", "info")], "critical"),
        ([("engagement", "critical")], "critical"),
        ([("engagement", "high"), ("engagement", "low")], "warning"),
        ([("treatment_to_target", "moderate")], "warning"),
        ([("billing", "info"), ("billing", "low")], "info"),
    ],
)
def test_indicator_follows_category_and_severity(alerts: list[tuple[str, str]], expected: str) -> None:
    """critical for suicide risk or any critical alert; warning for high/moderate; else info."""
    assert expected == indicator_for(_alert("t", c, s) for c, s in alerts)


def test_suicide_risk_card_comes_first_whatever_the_priorities(keys: Keys) -> None:
    """The suicide-risk group leads even when another group's alert has a higher priority."""
    alerts = [_alert("a", "engagement", "high", 99), _alert("b", "suicide_risk", "high", 10)]
    cards = cards_for(alerts, config(keys), as_of=AS_OF, version="0")
    assert ["suicide_risk", "engagement"] == [c["source"]["topic"]["code"] for c in cards]


# -- malformed requests -------------------------------------------------------------------------------
def _without(path: tuple[str, ...]) -> dict[str, Any]:
    body = request_fixture()
    holder: Any = body
    for key in path[:-1]:
        holder = holder[key]
    del holder[path[-1]]
    return body


BAD_REQUESTS: dict[str, Callable[[], Any]] = {
    "not JSON": lambda: b'{"hook": "patient-view",',
    "NaN is not JSON": lambda: b'{"hook": NaN}',
    "a JSON array": lambda: b"[]",
    "wrong hook": lambda: request_fixture() | {"hook": "order-sign"},
    "no hookInstance": lambda: _without(("hookInstance",)),
    "no context": lambda: _without(("context",)),
    "no context.patientId": lambda: _without(("context", "patientId")),
    "no context.userId": lambda: _without(("context", "userId")),
    "patientId that is not a FHIR id": lambda: request_fixture() | {"context": {"userId": "x", "patientId": "1&_id=2"}},
    "fhirAuthorization without fhirServer": lambda: (
        request_fixture()
        | {
            "fhirAuthorization": {
                "access_token": "t",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "s",
                "subject": "c",
            }
        }
    ),
    "fhirAuthorization token_type": lambda: (
        request_fixture()
        | {
            "fhirServer": "https://ehr.example.org/fhir",
            "fhirAuthorization": {
                "access_token": "t",
                "token_type": "MAC",
                "expires_in": 300,
                "scope": "s",
                "subject": "c",
            },
        }
    ),
    "token for another patient": lambda: (
        request_fixture()
        | {
            "fhirServer": "https://ehr.example.org/fhir",
            "fhirAuthorization": {
                "access_token": "t",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "s",
                "subject": "c",
                "patient": "other",
            },
        }
    ),
    "plain-http fhirServer to fetch from": lambda: (
        _without(("prefetch", "encounters"))
        | {
            "fhirServer": "http://ehr.example.org/fhir",
            "fhirAuthorization": {
                "access_token": "t",
                "token_type": "Bearer",
                "expires_in": 9,
                "scope": "s",
                "subject": "c",
            },
        }
    ),
    "prefetch value that is text": lambda: request_fixture() | {"prefetch": {"patient": "Patient/p-fhir-1"}},
    "prefetch Patient of another id": lambda: (
        request_fixture()
        | {"prefetch": request_fixture()["prefetch"] | {"patient": {"resourceType": "Patient", "id": "other"}}}
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_malformed_requests_get_400_with_a_clear_message(client: TestClient, keys: Keys, case: str) -> None:
    """Malformed JSON, a wrong hook, missing context.patientId (and the other checks of the
    request) are answered 400 with a message that names the problem, never the value sent."""
    body = BAD_REQUESTS[case]()
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with capture_logs() as logs:
        response = client.post(
            f"/cds-services/{SERVICE_ID}",
            content=content,
            headers={**bearer(token(keys)), "Content-Type": "application/json"},
        )
    assert 400 == response.status_code, response.text
    assert "bad_request" == response.json()["error"]
    assert response.json()["message"]
    assert PATIENT not in response.json()["message"]
    assert_no_phi(logs)


def test_fhir_server_allow_list(keys: Keys, engine: Engine, ehr: FakeEhr) -> None:
    """With `fhir_server.allowed`, a fhirServer outside the list is refused (400) before any
    token is sent to it; one inside it is used. A complete prefetch needs no FHIR server."""
    client = client_for(config(keys, fhir_server={"allowed": ["https://ehr.example.org/fhir"]}), engine)
    response = call(client, keys, fetch_request(ehr.base))
    assert (400, []) == (response.status_code, ehr.requests)
    assert "fhirServer is not one of" in response.json()["message"]
    client = client_for(config(keys, fhir_server={"allowed": [f"{ehr.base}/fhir"]}), engine)
    assert 200 == call(client, keys, fetch_request(ehr.base)).status_code
    complete = fetch_request(ehr.base) | {"prefetch": request_fixture()["prefetch"], "fhirServer": "http://x.example/"}
    assert 200 == call(client, keys, complete).status_code


def test_missing_patient_id_says_so(client: TestClient, keys: Keys) -> None:
    """The message of a missing context.patientId names it."""
    response = call(client, keys, _without(("context", "patientId")))
    assert "context.patientId is required (a FHIR Patient id)" == response.json()["message"]


def test_oversized_bodies_get_413(keys: Keys, engine: Engine) -> None:
    """A body over max_request_bytes is refused with 413, whether it declares its length or
    is sent in chunks; a feedback body too."""
    client = client_for(config(keys, max_request_bytes=2048), engine)
    big = json.dumps(request_fixture()).encode()
    assert len(big) > 2048
    declared = client.post(f"/cds-services/{SERVICE_ID}", content=big, headers=bearer(token(keys)))
    assert (413, "payload_too_large") == (declared.status_code, declared.json()["error"])
    chunked = client.post(
        f"/cds-services/{SERVICE_ID}",
        content=iter([big[:1500], big[1500:]]),
        headers=bearer(token(keys)),
    )
    assert 413 == chunked.status_code
    feedback = client.post(
        f"/cds-services/{SERVICE_ID}/feedback", content=big, headers=bearer(token(keys, aud=f"{SERVICE_URL}/feedback"))
    )
    assert 413 == feedback.status_code


def test_missing_prefetch_without_fhir_server_is_412(client: TestClient, keys: Keys) -> None:
    """CDS Hooks 2.0: data neither prefetched nor obtainable from a FHIR server -> 412
    Precondition Failed, naming the keys; an OperationOutcome or a next page counts as missing."""
    body = request_fixture()
    del body["prefetch"]["encounters"]
    body["prefetch"]["observations"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}
    body["prefetch"]["questionnaireResponses"]["link"] = [{"relation": "next", "url": "https://ehr.example.org/p2"}]
    with capture_logs() as logs:
        response = call(client, keys, body)
    assert 412 == response.status_code
    assert ["questionnaireResponses", "observations", "encounters"] == response.json()["keys"]
    assert (
        "prefetch_missing_no_fhir_server"
        == next(e for e in logs if e["event"] == "cdshooks.precondition_failed")["reason"]
    )


def test_a_null_patient_prefetch_gives_no_cards(client: TestClient, keys: Keys) -> None:
    """`null` means the client has no such data: no Patient, nothing to evaluate."""
    body = request_fixture()
    body["prefetch"]["patient"] = None
    assert {"cards": []} == call(client, keys, body).json()


# -- feedback -----------------------------------------------------------------------------------------------
FEEDBACK_URL = f"{SERVICE_URL}/feedback"


def test_feedback_is_accepted_and_logged_as_counts(client: TestClient, keys: Keys) -> None:
    """POST .../feedback with accepted and overridden outcomes is answered 200; the log has
    counts only (never the user's comment)."""
    body = {
        "feedback": [
            {
                "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
                "outcomeTimestamp": "2026-11-06T10:05:31Z",
            },
            {
                "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"code": "d7ecf885", "system": "https://example.com/override"},
                    "userComment": "Patient seen by crisis team yesterday",
                },
                "outcomeTimestamp": "2026-11-06T10:06:00.52Z",
            },
        ]
    }
    with capture_logs() as logs:
        response = client.post(
            f"/cds-services/{SERVICE_ID}/feedback", json=body, headers=bearer(token(keys, aud=FEEDBACK_URL))
        )
    assert 200 == response.status_code
    [event] = [e for e in logs if e["event"] == "cdshooks.feedback"]
    assert (2, 1, 1, 1, 1) == (
        event["feedback"],
        event["accepted"],
        event["overridden"],
        event["override_reasons"],
        event["user_comments"],
    )
    assert_no_phi(logs, "crisis team")


@pytest.mark.parametrize(
    "item",
    [
        {"card": "c1", "outcome": "accepted", "outcomeTimestamp": "2026-11-06T10:05:31Z"},
        {"card": "c1", "outcome": "dismissed", "outcomeTimestamp": "2026-11-06T10:05:31Z"},
        {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-11-06T10:05:31+02:00"},
        {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "yesterday"},
        {"outcome": "overridden", "outcomeTimestamp": "2026-11-06T10:05:31Z"},
    ],
    ids=["accepted without suggestions", "unknown outcome", "not UTC", "not a timestamp", "no card"],
)
def test_malformed_feedback_gets_400(client: TestClient, keys: Keys, item: dict[str, Any]) -> None:
    """Feedback items follow CDS Hooks 2.0, Feedback: card, outcome accepted|overridden,
    acceptedSuggestions for accepted, outcomeTimestamp in UTC."""
    response = client.post(
        f"/cds-services/{SERVICE_ID}/feedback", json={"feedback": [item]}, headers=bearer(token(keys, aud=FEEDBACK_URL))
    )
    assert 400 == response.status_code


def test_feedback_accepts_the_service_url_as_audience(client: TestClient, keys: Keys) -> None:
    """For feedback, aud may be the feedback URL or the service endpoint URL it hangs off."""
    body = {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-06T10:05:31Z"}]}
    response = client.post(f"/cds-services/{SERVICE_ID}/feedback", json=body, headers=bearer(token(keys)))
    assert 200 == response.status_code
    discovery_aud = bearer(token(keys, aud=f"{BASE}/cds-services"))
    assert 401 == client.post(f"/cds-services/{SERVICE_ID}/feedback", json=body, headers=discovery_aud).status_code


# -- authentication -----------------------------------------------------------------------------------
def _bad_tokens(keys: Keys) -> dict[str, tuple[dict[str, str], str]]:
    """Each case: the headers sent, and the reason the log must give."""
    now = time.time()
    payload = {"iss": ISS, "aud": SERVICE_URL, "exp": int(now + 60), "iat": int(now), "jti": str(uuid.uuid4())}
    return {
        "no header": ({}, "missing_authorization"),
        "wrong scheme": ({"Authorization": f"Basic {token(keys)}"}, "not_bearer"),
        "empty bearer": ({"Authorization": "Bearer "}, "not_bearer"),
        "not a JWT": (bearer("abc.def"), "malformed_token"),
        "bad signature": (bearer(token(keys, key=keys.stranger)), "bad_signature"),
        "tampered payload": (bearer(_tamper(token(keys))), "bad_signature"),
        "unknown kid": (bearer(token(keys, kid="nobody")), "unknown_kid"),
        "no kid": (bearer(jwt.encode(payload, keys.ec, algorithm="ES384")), "kid_missing"),
        "untrusted iss": (bearer(token(keys, iss="https://evil.example.org")), "issuer_not_trusted"),
        "no iss": (bearer(token(keys, drop=("iss",))), "iss_missing"),
        "wrong aud": (bearer(token(keys, aud=f"{BASE}/cds-services")), "wrong_audience"),
        "aud of another host": (
            bearer(token(keys, aud=f"https://other.example.org/cds-services/{SERVICE_ID}")),
            "wrong_audience",
        ),
        "no aud": (bearer(token(keys, drop=("aud",))), "wrong_audience"),
        "expired": (bearer(token(keys, now=now - 600)), "expired"),
        "exp too far ahead": (bearer(token(keys, lifetime=3600)), "exp_too_far_ahead"),
        "no exp": (bearer(token(keys, drop=("exp",))), "exp_missing"),
        "no iat": (bearer(token(keys, drop=("iat",))), "iat_missing"),
        "iat in the future": (bearer(token(keys, claims={"iat": int(now + 200)})), "iat_in_future"),
        "not yet valid": (bearer(token(keys, claims={"nbf": int(now + 200)})), "not_yet_valid"),
        "no jti": (bearer(token(keys, drop=("jti",))), "jti_missing"),
        "alg none": (
            bearer(unsigned_token({"alg": "none", "typ": "JWT", "kid": "es-1"}, payload)),
            "algorithm_not_allowed",
        ),
        "HS256 with the public key as secret": (
            bearer(unsigned_token({"alg": "HS256", "typ": "JWT", "kid": "rs-1"}, payload, keys.rsa_public_pem)),
            "algorithm_not_allowed",
        ),
        "typ not JWT": (bearer(token(keys, headers={"typ": "at+jwt"})), "typ_not_jwt"),
        "jku not configured": (
            bearer(token(keys, headers={"jku": "https://evil.example.org/jwks"})),
            "jku_not_allowed",
        ),
        "RSA kid with ES384": (bearer(token(keys, kid="rs-1")), "key_does_not_fit_algorithm"),
        "ES256 with a P-384 key": (
            bearer(token(keys, alg="ES256", kid="es-1", key=ec.generate_private_key(ec.SECP256R1()))),
            "key_does_not_fit_algorithm",
        ),
        "RS256 where the key says ES384": (bearer(token(keys, alg="RS256", kid="es-1")), "key_does_not_fit_algorithm"),
    }


def _tamper(value: str) -> str:
    header, payload, signature = value.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["iss"] = ISS
    claims["tenant"] = "someone-else"
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


BAD_TOKEN_CASES = list(_bad_tokens(Keys()))


@pytest.mark.parametrize("case", BAD_TOKEN_CASES)
def test_every_bad_token_gets_401_and_a_logged_reason(client: TestClient, keys: Keys, case: str) -> None:
    """Each way a token can be wrong is refused with 401, a WWW-Authenticate challenge and a
    generic body (the Best Practices: do not tell a caller why); the reason is logged, the
    token is not."""
    headers, reason = _bad_tokens(keys)[case]
    with capture_logs() as logs:
        response = client.post(f"/cds-services/{SERVICE_ID}", json=request_fixture(), headers=headers)
    assert 401 == response.status_code
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert {"error": "invalid_token", "message": "the request's bearer token was not accepted"} == response.json()
    assert [reason] == [e["reason"] for e in logs if e["event"] == "cdshooks.auth_failed"]
    sent = headers.get("Authorization", "").partition(" ")[2]
    if sent:
        assert_no_phi(logs, sent)


def test_a_replayed_jti_is_refused(client: TestClient, keys: Keys) -> None:
    """The same token twice: the second call is a replay (jti seen within its lifetime)."""
    once = token(keys)
    assert 200 == client.post(f"/cds-services/{SERVICE_ID}", json=request_fixture(), headers=bearer(once)).status_code
    with capture_logs() as logs:
        again = client.post(f"/cds-services/{SERVICE_ID}", json=request_fixture(), headers=bearer(once))
    assert 401 == again.status_code
    assert ["jti_replayed"] == [e["reason"] for e in logs if e["event"] == "cdshooks.auth_failed"]


def test_aud_may_be_a_list_that_holds_the_endpoint_url(client: TestClient, keys: Keys) -> None:
    """RFC 7519: aud is a string or an array of strings; the endpoint URL must be in it."""
    assert 200 == call(client, keys, request_fixture(), aud=["https://other.example.org", SERVICE_URL]).status_code


def test_tenant_allow_list(keys: Keys, engine: Engine) -> None:
    """With `tenants` configured, the token's tenant claim must be one of them."""
    cfg = config(keys, trusted_clients={ISS: {"jwks": keys.jwks, "tenants": ["org-1"]}})
    client = client_for(cfg, engine)
    assert 200 == call(client, keys, request_fixture(), claims={"tenant": "org-1"}).status_code
    assert 401 == call(client, keys, request_fixture(), claims={"tenant": "org-2"}).status_code
    assert 401 == call(client, keys, request_fixture()).status_code


def test_clock_skew_tolerates_a_slightly_late_token(keys: Keys, engine: Engine) -> None:
    """A token a few seconds past exp passes within the configured skew, and not beyond it."""
    client = client_for(config(keys, auth={"clock_skew_seconds": 30}), engine)
    assert 200 == call(client, keys, request_fixture(), now=time.time() - 130, lifetime=120).status_code
    assert 401 == call(client, keys, request_fixture(), now=time.time() - 200, lifetime=120).status_code


def test_as_of_today_is_the_date_in_the_configured_time_zone(keys: Keys, engine: Engine) -> None:
    """`as_of: today` reads the injected clock when the call arrives, in `timezone`: at 02:00
    UTC on 7 November it is still 6 November in Chicago (the engine never reads the clock)."""
    now = dt.datetime(2026, 11, 7, 2, 0, tzinfo=dt.UTC).timestamp()
    cfg = config(keys, as_of="today", timezone="America/Chicago")
    client = client_for(cfg, engine, clock=lambda: now)
    with capture_logs() as logs:
        assert 200 == call(client, keys, request_fixture(), now=now).status_code
    assert "2026-11-06" == next(e for e in logs if e["event"] == "cdshooks.patient_view")["as_of"]


def test_the_service_errors_are_under_the_root() -> None:
    """Issue 15: AuthError was outside the one hierarchy; both errors of the service now derive
    from CocmRulesError, so a host catches every deliberate error as one type."""
    assert (True, True) == (issubclass(AuthError, CocmRulesError), issubclass(ServiceConfigError, CocmRulesError))
    assert AuthError.__doc__


def test_replay_cache_fails_closed_when_full() -> None:
    """A full cache of unexpired jti values refuses new tokens (503) instead of forgetting;
    expired entries are dropped to make room."""
    now = [1000.0]
    cache = ReplayCache(2, lambda: now[0])
    cache.add("i", "a", until=1010)
    cache.add("i", "b", until=2000)
    with pytest.raises(AuthError) as info:
        cache.add("i", "c", until=2000)
    assert (503, "replay_cache_full") == (info.value.status, info.value.reason)
    now[0] = 1500.0
    cache.add("i", "c", until=2000)  # "a" expired and made room
    with pytest.raises(AuthError):
        cache.add("i", "b", until=2000)


def test_insecure_dev_accepts_calls_without_a_token_and_warns_loudly(keys: Keys, engine: Engine) -> None:
    """--insecure-dev: no token needed; a WARNING at start-up and on every request."""
    with capture_logs() as logs:
        client = client_for(ServiceConfig(service_url="http://127.0.0.1:8080", as_of=AS_OF), engine, insecure_dev=True)
        response = client.post(f"/cds-services/{SERVICE_ID}", json=request_fixture())
        discovery = client.get("/cds-services")
    assert (200, 200) == (response.status_code, discovery.status_code)
    assert "critical" == response.json()["cards"][0]["indicator"]
    warnings_logged = [e["event"] for e in logs if e["log_level"] == "warning"]
    assert 1 == warnings_logged.count("cdshooks.insecure_dev")
    assert 2 == warnings_logged.count("cdshooks.insecure_dev_request")
    assert_no_phi(logs)


# -- configuration and running -------------------------------------------------------------------------
def test_config_file_loads_with_relative_jwks_file(tmp_path: Path, keys: Keys, engine: Engine) -> None:
    """A YAML configuration names a JWK Set file relative to itself; the service trusts it."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "ehr.json").write_text(json.dumps(keys.jwks), encoding="utf-8")
    (tmp_path / "service.yaml").write_text(
        f"service_url: {BASE}/\n"
        f"trusted_clients:\n  {ISS}:\n    jwks_file: keys/ehr.json\n"
        "as_of: 2026-11-06\n"
        "auth:\n  algorithms: [ES384, RS384]\n",
        encoding="utf-8",
    )
    cfg = load_config(tmp_path / "service.yaml")
    assert (BASE, ["ES384", "RS384"]) == (cfg.service_url, cfg.auth.algorithms)
    assert 200 == call(client_for(cfg, engine), keys, request_fixture()).status_code


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("service_url: https://cds.example.org\nauth:\n  algorithms: [HS256]\n", "algorithm 'HS256' is not allowed"),
        ("service_url: http://cds.example.org\n", "service_url must use https"),
        ("service_url: https://cds.example.org\nmax_request_byts: 10\n", "did you mean 'max_request_bytes'?"),
        (
            "service_url: https://cds.example.org\ntrusted_clients:\n  https://ehr:\n    jwks_url: https://a/j\n"
            "    jwks_file: j.json\n",
            "give exactly one of jwks (inline), jwks_file or jwks_url",
        ),
        ("service_url: https://cds.example.org\ncard_categories: [suicide]\n", "unknown alert category 'suicide'"),
        ("service_url: https://cds.example.org\ncard_recipients: [pcpp]\n", "did you mean 'pcp'?"),
        ("service_url: https://cds.example.org\nas_of: soon\n", "expected 'today' or a date"),
    ],
)
def test_config_mistakes_are_located(text: str, message: str) -> None:
    """Every configuration mistake names file:line:column and what is allowed."""
    with pytest.raises(ServiceConfigError) as info:
        parse_config(text, file="service.yaml")
    assert "service.yaml:" in str(info.value)
    assert message in str(info.value)


def test_the_documented_configuration_is_valid() -> None:
    """The service.yaml example in docs/cds-hooks.md loads."""
    text = (ROOT / "docs" / "cds-hooks.md").read_text(encoding="utf-8")
    [example] = [block for block in text.split("```yaml\n")[1:] if block.startswith("# service.yaml")]
    cfg = parse_config(example.split("```")[0], file="docs/cds-hooks.md", base_dir=ROOT / "docs")
    assert ("https://cds.example.org", "America/Chicago") == (cfg.service_url, cfg.timezone)
    assert ["suicide_risk"] == list(cfg.card_links)


@pytest.mark.parametrize(
    "fhir",
    [
        {"item_map": {"Q1": "phq9.item99"}},
        {"contact_kinds": {"visit|x": "chat"}},
        {"contact_roles": {"visit|x": "nurse"}},
    ],
)
def test_fhir_settings_that_read_episode_refuses_stop_the_start(keys: Keys, engine: Engine, fhir: Any) -> None:
    """A bad `fhir` setting fails at start-up (with read_episode's reason), not on every call."""
    with pytest.raises(ServiceConfigError, match="fhir"):
        create_app(config(keys, fhir=fhir), engine=engine)


def test_the_contact_roles_setting_says_whose_time_an_encounter_is(keys: Keys, engine: Engine) -> None:
    """Issue 12: with `fhir.contact_roles` mapping the EHR's participant type, the Encounters'
    minutes are the care manager's; without it the data-quality card asks for the roles."""
    body = request_fixture()
    for entry in body["prefetch"]["encounters"]["entry"]:
        entry["resource"]["participant"] = [
            {"type": [{"coding": [{"system": "https://ehr.example.org/role", "code": "BHCM"}]}]}
        ]
    roles = {"contact_roles": {"https://ehr.example.org/role|BHCM": "care_manager"}}

    with_roles = _summaries(call(client_for(config(keys, fhir=roles), engine), keys, body))
    without = _summaries(call(client_for(config(keys), engine), keys, body))

    assert [] == [c for c in with_roles if c[1].startswith("Data quality")]
    assert [("info", "Data quality: Minutes without a role")] == [c for c in without if c[1].startswith("Data quality")]


def test_a_service_without_trusted_clients_does_not_start(engine: Engine) -> None:
    """No trusted client means no caller could ever be accepted: refuse to start (unless --insecure-dev)."""
    with pytest.raises(ServiceConfigError, match="trusted_clients is empty"):
        create_app(ServiceConfig(service_url=BASE), engine=engine)


def test_insecure_dev_is_for_loopback_only_and_a_config_is_otherwise_required() -> None:
    """--insecure-dev refuses a non-loopback host; without it, --config is required."""
    with pytest.raises(InvalidInput, match="loopback"):
        build_app("0.0.0.0", 8080, None, True)
    with pytest.raises(InvalidInput, match="--config is required"):
        build_app("127.0.0.1", 8080, None, False)


def test_main_serve_reports_bad_arguments_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    """main_serve (behind `cocm-rules serve`) exits 2 with a one-line reason."""
    assert 2 == main_serve(["--host", "0.0.0.0", "--insecure-dev"])
    assert "only binds to a loopback address" in capsys.readouterr().err


def test_missing_service_dependencies_say_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without FastAPI (and friends), importing cocm_rules.cdshooks raises BackendUnavailable
    with the install line."""
    import importlib

    for name in [m for m in sys.modules if m.startswith("cocm_rules.cdshooks")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(BackendUnavailable) as info:
        importlib.import_module("cocm_rules.cdshooks")
    assert "pip install 'cocm-rules[service]'" in str(info.value)


# -- a fake FHIR server and JWK Set host on loopback ----------------------------------------------------
class FakeEhr:
    """A small FHIR server on 127.0.0.1: the patient-view fixture's resources, searches by
    patient, QuestionnaireResponses two pages long; every FHIR call needs the bearer token.
    It also serves the CDS client's JWK Set at /jwks.json."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        prefetch = request_fixture()["prefetch"]
        self.resources: dict[str, list[dict[str, Any]]] = {
            key: [e["resource"] for e in prefetch[key]["entry"]] for key in PREFETCH_KEYS if key != "patient"
        }
        self.patient = prefetch["patient"]
        self.jwks = jwks
        self.requests: list[str] = []
        self.jwks_hits = 0
        self.jwks_broken = False
        self.foreign_next = False
        self.raw: dict[str, bytes] = {}  # path -> a body sent as it is (e.g. JSON with a repeated key)
        ehr = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                ehr.requests.append(self.path)
                parts = urlsplit(self.path)
                if parts.path == "/jwks.json":
                    ehr.jwks_hits += 1
                    return self.reply(503, {}) if ehr.jwks_broken else self.reply(200, ehr.jwks)
                if self.headers.get("Authorization") != f"Bearer {FHIR_TOKEN}":
                    return self.reply(401, {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]})
                if parts.path in ehr.raw:
                    return self.reply(200, ehr.raw[parts.path])
                return self.reply(*ehr.answer(parts.path, parse_qs(parts.query)))

            def reply(self, status: int, body: Any) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        types = {
            "QuestionnaireResponse": "questionnaireResponses",
            "Observation": "observations",
            "Encounter": "encounters",
            "EpisodeOfCare": "episodesOfCare",
            "CarePlan": "carePlans",
        }
        segments = path.removeprefix("/fhir/").split("/")
        if len(segments) == 2 and segments[0] == "Patient":
            return (200, self.patient) if segments[1] == PATIENT else (404, {"resourceType": "OperationOutcome"})
        if len(segments) != 1 or segments[0] not in types:
            return 404, {"resourceType": "OperationOutcome"}
        found = self.resources[types[segments[0]]] if query.get("patient") == [PATIENT] else []
        bundle = searchset(found)
        if segments[0] == "QuestionnaireResponse" and found:
            page = int(query.get("page", ["1"])[0])
            bundle = searchset(found[page - 1 : page])
            if page < len(found):
                host = "http://127.0.0.2:9" if self.foreign_next else self.base
                bundle["link"] = [
                    {"relation": "next", "url": f"{host}/fhir/QuestionnaireResponse?patient={PATIENT}&page={page + 1}"}
                ]
        return 200, bundle

    def __enter__(self) -> FakeEhr:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def ehr(keys: Keys) -> Iterator[FakeEhr]:
    with FakeEhr(keys.jwks) as server:
        yield server


def fetch_request(fhir_base: str, access_token: str = FHIR_TOKEN) -> dict[str, Any]:
    """A patient-view call without prefetch: the service must fetch from the FHIR server."""
    body = request_fixture()
    del body["prefetch"]
    body["fhirServer"] = f"{fhir_base}/fhir"
    body["fhirAuthorization"] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Patient.read patient/Observation.read patient/QuestionnaireResponse.read",
        "subject": "cocm-rules-service",
        "patient": PATIENT,
    }
    return body


def test_missing_prefetch_is_fetched_from_the_fhir_server(client: TestClient, keys: Keys, ehr: FakeEhr) -> None:
    """Without prefetch the service runs the templates against fhirServer with the bearer
    token, follows next links, and gives the same critical card."""
    with capture_logs() as logs:
        response = call(client, keys, fetch_request(ehr.base))
    assert 200 == response.status_code
    assert "critical" == response.json()["cards"][0]["indicator"]
    paths = [urlsplit(p).path for p in ehr.requests]
    assert ["/fhir/Patient/p-fhir-1", "/fhir/QuestionnaireResponse", "/fhir/QuestionnaireResponse"] == paths[:3]
    assert any("code=101697-1,101698-9,44249-1" in p for p in ehr.requests)
    event = next(e for e in logs if e["event"] == "cdshooks.patient_view")
    assert (list(PREFETCH_KEYS), 7) == (event["fetched"], event["fhir_requests"])
    assert_no_phi(logs)


def test_a_partial_prefetch_is_completed_from_the_fhir_server(client: TestClient, keys: Keys, ehr: FakeEhr) -> None:
    """Prefetched keys are used as they are; only the missing ones are fetched."""
    body = fetch_request(ehr.base)
    body["prefetch"] = {k: v for k, v in request_fixture()["prefetch"].items() if k != "encounters"}
    with capture_logs() as logs:
        response = call(client, keys, body)
    assert 200 == response.status_code
    assert [f"/fhir/Encounter?patient={PATIENT}"] == ehr.requests
    assert ["encounters"] == next(e for e in logs if e["event"] == "cdshooks.patient_view")["fetched"]


def test_fhir_server_refusal_or_a_foreign_next_link_is_412(client: TestClient, keys: Keys, ehr: FakeEhr) -> None:
    """A FHIR server that refuses the token, or a next link to another host (the bearer token
    is never sent there), leaves the data incomplete: 412."""
    refused = call(client, keys, fetch_request(ehr.base, access_token="wrong"))
    assert (412, ["patient"]) == (refused.status_code, refused.json()["keys"])
    ehr.foreign_next = True
    ehr.requests.clear()
    foreign = call(client, keys, fetch_request(ehr.base))
    assert (412, ["questionnaireResponses"]) == (foreign.status_code, foreign.json()["keys"])
    assert all(not p.startswith("http://127.0.0.2") for p in ehr.requests)


def test_jwks_url_is_fetched_cached_and_refreshed_for_a_new_kid(keys: Keys, engine: Engine, ehr: FakeEhr) -> None:
    """A client's JWK Set is fetched from its jwks_url once and reused; a token with a jku
    equal to it passes; an unknown kid refetches (key rotation) at most as often as allowed."""
    jwks_url = f"{ehr.base}/jwks.json"
    cfg = config(keys, trusted_clients={ISS: {"jwks_url": jwks_url}}, auth={"jwks_refresh_min_seconds": 0})
    client = client_for(cfg, engine)
    assert 200 == call(client, keys, request_fixture()).status_code
    assert 200 == call(client, keys, request_fixture(), alg="RS384", headers={"jku": jwks_url}).status_code
    assert 1 == ehr.jwks_hits
    assert 401 == call(client, keys, request_fixture(), kid="rotated").status_code
    assert 2 == ehr.jwks_hits


def test_an_unreachable_jwks_url_refuses_tokens_and_a_failed_refresh_keeps_the_old_keys(
    keys: Keys, engine: Engine, ehr: FakeEhr
) -> None:
    """Never fetched: 401 (jwks_unavailable). Fetched once, then the refresh fails: the keys
    fetched before stay in use (an EHR's key-server hiccup does not switch the alerts off)."""
    nowhere = config(keys, trusted_clients={ISS: {"jwks_url": f"http://127.0.0.1:{free_port()}/jwks.json"}})
    with capture_logs() as logs:
        assert 401 == call(client_for(nowhere, engine), keys, request_fixture()).status_code
    assert ["jwks_unavailable"] == [e["reason"] for e in logs if e["event"] == "cdshooks.auth_failed"]
    auth = {"jwks_cache_seconds": 0, "jwks_refresh_min_seconds": 0}
    client = client_for(config(keys, trusted_clients={ISS: {"jwks_url": f"{ehr.base}/jwks.json"}}, auth=auth), engine)
    assert 200 == call(client, keys, request_fixture()).status_code
    ehr.jwks_broken = True
    with capture_logs() as logs:
        assert 200 == call(client, keys, request_fixture()).status_code
    assert [True] == [e["using_cached"] for e in logs if e["event"] == "cdshooks.jwks_fetch_failed"]
    assert 2 == ehr.jwks_hits


# -- the real server on loopback -------------------------------------------------------------------------
@contextlib.contextmanager
def running(make_app: Callable[[str], Any]) -> Iterator[str]:
    """uvicorn on a free port of 127.0.0.1 in a thread, serving ``make_app(base_url)``; yields
    the base URL; the server is stopped (and its thread joined) at the end."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(make_app(base), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start in 10 s"
            time.sleep(0.02)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_real_server_on_loopback(keys: Keys, engine: Engine, ehr: FakeEhr) -> None:
    """uvicorn on 127.0.0.1, called with httpx: discovery, patient-view with prefetch (a
    critical card), without prefetch (fetched from the fake FHIR server, which checks the
    bearer token), feedback, a bad token (401), an oversized body (413); the log holds no
    patient data, no FHIR access token and no JWT."""
    sent: list[str] = []

    def make_app(base: str) -> Any:
        cfg = config(
            keys,
            service_url=base,
            trusted_clients={ISS: {"jwks_url": f"{ehr.base}/jwks.json"}},
            max_request_bytes=64 * 1024,
        )
        return create_app(cfg, engine=engine)

    with capture_logs() as logs, running(make_app) as base, httpx.Client(base_url=base, timeout=20) as http:

        def tok(path: str = f"/cds-services/{SERVICE_ID}", **kw: Any) -> dict[str, str]:
            sent.append(token(keys, aud=base + path, **kw))
            return bearer(sent[-1])

        discovery = http.get("/cds-services", headers=tok("/cds-services"))
        with_prefetch = http.post(f"/cds-services/{SERVICE_ID}", json=request_fixture(), headers=tok())
        fetched = http.post(f"/cds-services/{SERVICE_ID}", json=fetch_request(ehr.base), headers=tok())
        feedback = http.post(
            f"/cds-services/{SERVICE_ID}/feedback",
            json={"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-06T10:00:00Z"}]},
            headers=tok(f"/cds-services/{SERVICE_ID}/feedback"),
        )
        bad = http.post(f"/cds-services/{SERVICE_ID}", json=request_fixture(), headers=tok(key=keys.stranger))
        big = http.post(f"/cds-services/{SERVICE_ID}", content=b"{" + b" " * (70 * 1024) + b"}", headers=tok())
    assert 200 == discovery.status_code
    assert SERVICE_ID == discovery.json()["services"][0]["id"]
    for response in (with_prefetch, fetched):
        assert 200 == response.status_code
        first = response.json()["cards"][0]
        assert "critical" == first["indicator"]
        assert len(first["summary"]) < 140
    assert (200, 401, 413) == (feedback.status_code, bad.status_code, big.status_code)
    assert any(p.startswith("/fhir/QuestionnaireResponse") for p in ehr.requests)
    assert_no_phi(logs, *sent)


def test_python_m_serve_with_insecure_dev_in_a_subprocess() -> None:
    """`python -m cocm_rules.cdshooks --insecure-dev` serves on loopback, warns loudly on its
    output, answers discovery and a patient-view call, and stops when terminated; its whole
    output (structlog events; uvicorn's access log is off, as it prints query strings) holds no
    patient data."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cocm_rules.cdshooks", "--insecure-dev", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                # a query string may carry a patient id: uvicorn's access log (off) would print it
                discovery = httpx.get(f"http://127.0.0.1:{port}/cds-services?patient={PATIENT}", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.1)
        view = httpx.post(f"http://127.0.0.1:{port}/cds-services/{SERVICE_ID}", json=request_fixture(), timeout=20)
    finally:
        proc.terminate()
        try:
            output = proc.communicate(timeout=15)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate()[0].decode()
    assert (200, 200) == (discovery.status_code, view.status_code)
    assert {"cards"} == set(view.json())
    assert "cdshooks.insecure_dev" in output
    assert "JWT verification is OFF" in output
    assert [] == [needle for needle in PHI if needle in output]


def test_fixture_requests_are_what_the_fhir_fixture_says() -> None:
    """The request fixture carries the patient Bundle of tests/fixtures/fhir (item 9 = 1 in
    the week-13 PHQ-9), split by prefetch key."""
    bundle = json.loads((ROOT / "tests" / "fixtures" / "fhir" / "patient-bundle.json").read_text(encoding="utf-8"))
    ours = request_fixture()["prefetch"]
    theirs = {(e["resource"]["resourceType"], e["resource"]["id"]): e["resource"] for e in bundle["entry"]}
    for key in PREFETCH_KEYS:
        value = ours[key]
        resources = [value] if key == "patient" else [e["resource"] for e in value["entry"]]
        for r in resources:
            assert theirs[(r["resourceType"], r["id"])] == r


# -- strict JSON everywhere the service reads it (issue 11, item 1) ----------------------------------


def _with_repeated_key(body: dict[str, Any], marker: str, repeated: str) -> bytes:
    """``body`` as JSON text in which the member ``marker`` is replaced by ``repeated`` (two
    members with one key: json.dumps cannot write that)."""
    text = json.dumps(body)
    assert 1 == text.count(marker)
    return text.replace(marker, repeated).encode()


def test_a_repeated_key_in_the_request_is_a_400_naming_the_path_and_the_key(client: TestClient, keys: Keys) -> None:
    """Item 9 answered "nearly every day" then "not at all" in one answer object of the
    prefetch: json.loads kept the second and the positive answer vanished. Now a 400 names the
    path of the object and the key (never a value); so does a repeated top-level key."""
    body = request_fixture()
    qr = body["prefetch"]["questionnaireResponses"]["entry"][1]["resource"]
    qr["item"][8]["answer"] = [{"valueInteger": 3}]
    data = _with_repeated_key(body, '"valueInteger": 3', '"valueInteger": 3, "valueInteger": 0')
    with capture_logs() as logs:
        response = client.post(
            f"/cds-services/{SERVICE_ID}",
            content=data,
            headers=bearer(token(keys)) | {"Content-Type": "application/json"},
        )
    assert 400 == response.status_code
    message = response.json()["message"]
    assert message.startswith(
        "the request body cannot be read at prefetch.questionnaireResponses.entry[1].resource.item[8].answer[0]: "
        "the key 'valueInteger' appears more than once"
    )
    assert "duplicate_key" == next(e for e in logs if e["event"] == "cdshooks.bad_request")["reason"]
    assert_no_phi(logs)
    top = _with_repeated_key(body, '"hook": "patient-view"', '"hook": "patient-view", "hook": "order-select"')
    response = client.post(f"/cds-services/{SERVICE_ID}", content=top, headers=bearer(token(keys)))
    assert (400, True) == (response.status_code, "the key 'hook' appears more than once" in response.json()["message"])


def test_a_fhir_server_answer_with_a_repeated_key_is_412(client: TestClient, keys: Keys, ehr: FakeEhr) -> None:
    """A FHIR server's searchset whose item-9 answer repeats `valueInteger` cannot be read
    without guessing: the call is answered 412 for that key, with the path."""
    responses = request_fixture()["prefetch"]["questionnaireResponses"]
    responses["entry"][1]["resource"]["item"][8]["answer"] = [{"valueInteger": 3}]
    ehr.raw["/fhir/QuestionnaireResponse"] = _with_repeated_key(
        responses, '"valueInteger": 3', '"valueInteger": 3, "valueInteger": 0'
    )
    response = call(client, keys, fetch_request(ehr.base))
    assert (412, ["questionnaireResponses"]) == (response.status_code, response.json()["keys"])
    assert (
        "entry[1].resource.item[8].answer[0]: the key 'valueInteger' appears more than once"
        in response.json()["message"]
    )


def test_a_definitions_file_with_a_repeated_key_stops_the_start(tmp_path: Path, keys: Keys, engine: Engine) -> None:
    """A Questionnaire file of `fhir.definitions` with a repeated key is a configuration error
    at start-up, naming the file."""
    path = tmp_path / "q.json"
    path.write_text('{"resourceType": "Questionnaire", "id": "q", "id": "r"}', encoding="utf-8")
    with pytest.raises(ServiceConfigError, match="the key 'id' appears more than once"):
        create_app(config(keys, fhir={"definitions": [str(path)]}), engine=engine)


# -- the HTTP server: access log, timeouts (issue 11, item 17) ----------------------------------------


def test_the_access_log_has_method_path_status_and_never_the_query(client: TestClient, keys: Keys) -> None:
    """Every request is logged as method, path, status and seconds; a query string (which may
    carry a patient id) is never logged, and a path that is not the service's is `(other)`."""
    with capture_logs() as logs:
        client.get("/cds-services?patient=p-fhir-1", headers=bearer(token(keys, aud=f"{BASE}/cds-services")))
        client.get("/fhir/Patient/p-fhir-1")
        call(client, keys, request_fixture())
    requests = [(e["method"], e["path"], e["status"]) for e in logs if e["event"] == "cdshooks.http_request"]
    assert [
        ("GET", "/cds-services", 200),
        ("GET", "(other)", 404),
        ("POST", f"/cds-services/{SERVICE_ID}", 200),
    ] == requests
    assert_no_phi(logs)


def test_uvicorn_runs_without_its_access_log_and_with_the_configured_limits() -> None:
    """`serve` gives uvicorn no access log (it writes query strings), no Server header, and the
    `server` section's keep-alive, header size and concurrency limits."""
    from cocm_rules.cdshooks import ServerConfig, uvicorn_config

    server = ServerConfig(keep_alive_seconds=7, max_header_bytes=8192, max_concurrency=50, header_timeout_seconds=3)
    cfg = uvicorn_config(object(), "127.0.0.1", 8080, server)
    assert (False, False, 7, 8192, 50, 3) == (
        cfg.access_log,
        cfg.server_header,
        cfg.timeout_keep_alive,
        cfg.h11_max_incomplete_event_size,
        cfg.limit_concurrency,
        cfg.http.header_timeout,  # type: ignore[union-attr]
    )


@contextlib.contextmanager
def served(app: Any, server: Any) -> Iterator[tuple[str, int]]:
    """``app`` served on a free loopback port as `serve` runs it (uvicorn_config); yields (host, port)."""
    from cocm_rules.cdshooks import uvicorn_config

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn_config(app, "127.0.0.1", port, server, log_level="warning")
    config.lifespan = "off"
    running_server = uvicorn.Server(config)
    thread = threading.Thread(target=running_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not running_server.started:
            assert thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start in 10 s"
            time.sleep(0.02)
        yield "127.0.0.1", port
    finally:
        running_server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _closed_by_server(sock: socket.socket) -> bool:
    """Read until the server closes the connection (True) or 20 s pass (False)."""
    sock.settimeout(20)
    try:
        while sock.recv(1024):
            pass
    except TimeoutError:
        return False
    return True


def test_a_request_whose_headers_never_finish_is_cut_off(keys: Keys, engine: Engine) -> None:
    """A client that connects and sends nothing, or trickles a request line and a header and
    never finishes (no token ever arrives), is disconnected after header_timeout_seconds;
    uvicorn alone kept such connections open."""
    from cocm_rules.cdshooks import ServerConfig

    app = create_app(config(keys), engine=engine)
    with served(app, ServerConfig(header_timeout_seconds=0.5)) as (host, port):
        with socket.create_connection((host, port)) as idle:
            assert _closed_by_server(idle)
        with socket.create_connection((host, port)) as slow:
            slow.sendall(b"POST /cds-services/cocm-patient-view HTTP/1.1\r\nHost: x\r\n")
            assert _closed_by_server(slow)
        with httpx.Client(base_url=f"http://{host}:{port}") as http:  # a normal request still works
            assert 401 == http.get("/cds-services").status_code


def test_a_body_that_does_not_arrive_in_time_gets_408(keys: Keys, engine: Engine) -> None:
    """A client with a valid token that never sends the promised body gets 408 after
    server.body_timeout_seconds instead of holding the request open."""
    app = create_app(config(keys, server={"body_timeout_seconds": 0.2}), engine=engine)
    headers = [
        (b"authorization", f"Bearer {token(keys)}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", b"100"),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": f"/cds-services/{SERVICE_ID}",
        "raw_path": f"/cds-services/{SERVICE_ID}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("cds.example.org", 443),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not sent and not getattr(receive, "started", False):
            receive.started = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b'{"hook": ', "more_body": True}
        await asyncio.Event().wait()  # the rest never comes
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=20))  # without the timeout: TimeoutError
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert (408, "request_timeout") == (start["status"], json.loads(body)["error"])


# -- the OpenAPI document and a schema-driven run (issue 11, item 17) ---------------------------------


def test_the_openapi_document_is_served_without_a_token_and_can_be_turned_off(keys: Keys, engine: Engine) -> None:
    """GET /openapi.json describes discovery, the service and feedback (no token needed: it
    holds no data and no secret); `openapi: false` removes it."""
    client = client_for(config(keys), engine)
    response = client.get("/openapi.json")
    doc = response.json()
    assert (200, "3.0.3", BASE) == (response.status_code, doc["openapi"], doc["servers"][0]["url"])
    assert {
        "/cds-services",
        f"/cds-services/{SERVICE_ID}",
        f"/cds-services/{SERVICE_ID}/feedback",
        "/openapi.json",
    } == set(doc["paths"])
    assert [{"cdsClientJwt": []}] == doc["paths"][f"/cds-services/{SERVICE_ID}"]["post"]["security"]
    assert 404 == client_for(config(keys, openapi=False), engine).get("/openapi.json").status_code


def test_schemathesis_finds_no_server_error_and_no_departure_from_the_document(keys: Keys, engine: Engine) -> None:
    """schemathesis, in process against the ASGI app and bounded (30 derandomized examples
    per operation, valid and invalid data, no network: fhirServer may only be a closed
    loopback port), with a fresh signed JWT per call: no 5xx, and every status code, content
    type, header and body is the one the OpenAPI document describes; invalid data is refused."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks

    cfg = config(keys, fhir_server={"allowed": ["https://127.0.0.1:9/fhir"]}, max_request_bytes=64 * 1024)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(cfg, engine=engine))
    run_checks = [
        not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_headers_conformance,
        checks.response_schema_conformance,
        checks.negative_data_rejection,
    ]
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=30,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                headers = bearer(token(keys, aud=BASE + case.path))
                response = case.call(headers=headers)
                case.validate_response(response, checks=run_checks, headers=headers)

            run()
    assert [
        "GET /cds-services",
        f"POST /cds-services/{SERVICE_ID}",
        f"POST /cds-services/{SERVICE_ID}/feedback",
    ] == labels


def test_a_card_says_who_each_alert_is_for(keys: Keys) -> None:
    """Each alert in a card's detail says who it is for, by the recipients' names, in order."""
    alert = _alert("Not improving", "treatment_to_target", "high").model_copy(
        update={"action": "psychiatric_case_review", "recipients": ["psychiatric_consultant", "care_manager", "pcp"]}
    )
    [card] = cards_for([alert], config(keys), as_of=AS_OF, version="0")
    assert "*For:* Psychiatric consultant, Behavioral health care manager, Primary care provider" in card["detail"]


def test_card_recipients_keeps_the_alerts_for_those_roles_and_every_suicide_risk_alert(keys: Keys) -> None:
    """``card_recipients: [pcp]`` (a service a PCP's EHR calls) keeps the alerts addressed to
    the PCP and drops the others; a suicide-risk alert is kept whoever it is addressed to."""
    for_pcp = _alert("For the PCP", "treatment_to_target", "high").model_copy(update={"recipients": ["pcp"]})
    for_cm = _alert("For the care manager", "engagement", "moderate")
    for_cm = for_cm.model_copy(update={"recipients": ["care_manager"]})
    suicide = _alert("Item 9", "suicide_risk", "high").model_copy(update={"recipients": ["care_manager"]})
    cards = cards_for([for_pcp, for_cm, suicide], config(keys, card_recipients=["pcp"]), as_of=AS_OF, version="0")
    assert ["Suicide risk: Item 9", "Treatment to target: For the PCP"] == [c["summary"] for c in cards]
    every = cards_for([for_pcp, for_cm, suicide], config(keys), as_of=AS_OF, version="0")
    assert 3 == len(every)


# -- the alert lifecycle: stable card uuids, feedback recorded in the store ------------------------
def test_card_uuids_are_stable_and_feedback_acknowledges(keys: Keys, engine: Engine, store_target: str) -> None:
    """With a store, the same patient gives the same card uuids on every call; feedback
    'overridden' with a reason is recorded and acknowledges the card's alerts, whose card is
    then not shown again (the other cards are)."""
    from cocm_rules.store import AlertStore

    client = client_for(config(keys, store=store_target), engine)
    first = call(client, keys, request_fixture()).json()["cards"]
    second = call(client, keys, request_fixture()).json()["cards"]
    assert [c["uuid"] for c in first] == [c["uuid"] for c in second]
    assert len(first) >= 2, [c["summary"] for c in first]
    card = first[-1]
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"code": "already-addressed", "system": "https://example.com/o", "display": "Done"}
        },
        "outcomeTimestamp": f"{AS_OF.isoformat()}T10:05:31Z",
    }
    response = client.post(
        f"/cds-services/{SERVICE_ID}/feedback", json={"feedback": [item]}, headers=bearer(token(keys, aud=FEEDBACK_URL))
    )
    assert 200 == response.status_code
    with AlertStore(store_target) as store:
        assert ["overridden"] == [f.outcome for f in store.feedback(card["uuid"])]
        acks = store.acknowledgements()
        assert acks
        assert {"Done"} == {a.reason for a in acks}
    third = call(client, keys, request_fixture()).json()["cards"]
    assert [c["uuid"] for c in first[:-1]] == [c["uuid"] for c in third]
