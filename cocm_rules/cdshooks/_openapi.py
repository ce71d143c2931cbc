"""The OpenAPI 3.0 document of the service's endpoints, written by hand.

FastAPI's generated document is off (the endpoints read their bodies themselves, so it would
describe nothing); this one follows what the endpoints accept and answer, in the shapes of
CDS Hooks 2.0 ("Discovery", "Calling a CDS Service" with the ``patient-view`` context, "CDS
Service Response" / "Card Attributes", "Feedback"), so schema-driven tools (schemathesis,
client generators) can be pointed at ``GET /openapi.json``.

It is served without a token: it is the same for every deployment but for ``service_url``
and the package version, and holds no patient data, prefetch templates, rulesets or keys
(discovery, which lists the deployment's prefetch, keeps its own rule). ``openapi: false``
in the configuration turns it off. The request schemas are never stricter than the service:
what they refuse, the service refuses with a 4xx.
"""

from __future__ import annotations

from typing import Any

from ._config import ServiceConfig
from ._prefetch import PREFETCH_KEYS

__all__ = ["OPENAPI_PATH", "openapi_document"]

#: Where the document is served.
OPENAPI_PATH = "/openapi.json"
#: The id of the one CDS Service (as in ``_app``; repeated to keep this module free of FastAPI).
_SERVICE_ID = "cocm-patient-view"

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}, **extra}


_NO_STORE = {"Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}}}
_UNAUTHORIZED = _json(
    "Error",
    "A missing or refused token; the same body for every reason (the reason is only logged).",
    headers={"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}, **_NO_STORE},
)
_UNAVAILABLE = _json("Error", "The token replay cache is full: retry shortly (fails closed).")
_BAD_REQUEST = _json("Error", "Malformed JSON (a key repeated in one object included) or request.")
_TIMEOUT = _json("Error", "The body did not arrive within server.body_timeout_seconds.")
_TOO_LARGE = _json("Error", "The body is larger than max_request_bytes.")
_FAILED = _json("Error", "An unexpected failure; no details (the error type is logged).")

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "a code: bad_request, invalid_token, ..."},
            "message": {"type": "string", "description": "what was wrong; never a value that was sent"},
            "keys": {"type": "array", "items": {"type": "string"}, "description": "412: the prefetch keys concerned"},
        },
    },
    "Coding": {
        "type": "object",
        "required": ["code", "system"],
        "properties": {"code": {"type": "string"}, "system": {"type": "string"}, "display": {"type": "string"}},
    },
    "FhirResource": {
        "type": "object",
        "description": "A FHIR R4 resource, or a searchset Bundle of them",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string"}},
        "additionalProperties": True,
    },
    "FhirAuthorization": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in", "scope", "subject"],
        "properties": {
            "access_token": {"type": "string", "minLength": 1},
            "token_type": {"type": "string", "pattern": "^[Bb][Ee][Aa][Rr][Ee][Rr]$"},
            "expires_in": {"type": "integer"},
            "scope": {"type": "string"},
            "subject": {"type": "string"},
            "patient": {"type": "string", "nullable": True},
        },
    },
    "PatientViewContext": {
        "type": "object",
        "description": "The patient-view hook's context",
        "required": ["userId", "patientId"],
        "properties": {
            "userId": {"type": "string", "minLength": 1, "description": "e.g. Practitioner/123"},
            "patientId": {"type": "string", "pattern": "^[A-Za-z0-9\\-.]{1,64}$", "description": "a FHIR id"},
            "encounterId": {"type": "string"},
        },
    },
    "HookRequest": {
        "type": "object",
        "required": ["hook", "hookInstance", "context"],
        "properties": {
            "hook": {"type": "string", "enum": ["patient-view"]},
            "hookInstance": {"type": "string", "minLength": 1, "maxLength": 256, "description": "a UUID"},
            "fhirServer": {"type": "string", "nullable": True, "description": "base URL; https"},
            "fhirAuthorization": {"allOf": [_ref("FhirAuthorization")], "nullable": True},
            "context": _ref("PatientViewContext"),
            "prefetch": {
                "type": "object",
                "nullable": True,
                "description": "per key: the template's result, or null for no data; a key left out is fetched",
                "properties": {key: {"allOf": [_ref("FhirResource")], "nullable": True} for key in PREFETCH_KEYS},
            },
        },
    },
    "Link": {
        "type": "object",
        "required": ["label", "url", "type"],
        "properties": {
            "label": {"type": "string"},
            "url": {"type": "string"},
            "type": {"type": "string", "enum": ["absolute", "smart"]},
            "appContext": {"type": "string"},
        },
    },
    "Source": {
        "type": "object",
        "required": ["label"],
        "properties": {
            "label": {"type": "string"},
            "url": {"type": "string"},
            "icon": {"type": "string"},
            "topic": _ref("Coding"),
        },
    },
    "Card": {
        "type": "object",
        "required": ["summary", "indicator", "source"],
        "properties": {
            "uuid": {
                "type": "string",
                "description": "stable across calls while the card's alerts are the same (derived from their "
                "alert ids): send it back in feedback",
            },
            "summary": {"type": "string", "maxLength": 139, "description": "under 140 characters"},
            "detail": {"type": "string", "description": "GitHub Flavored Markdown"},
            "indicator": {"type": "string", "enum": ["info", "warning", "critical"]},
            "source": _ref("Source"),
            "links": {"type": "array", "items": _ref("Link")},
        },
    },
    "CardsResponse": {
        "type": "object",
        "required": ["cards"],
        "properties": {"cards": {"type": "array", "items": _ref("Card")}},
    },
    "Service": {
        "type": "object",
        "required": ["hook", "description", "id"],
        "properties": {
            "hook": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "id": {"type": "string"},
            "prefetch": {"type": "object", "additionalProperties": {"type": "string"}},
            "usageRequirements": {"type": "string"},
        },
    },
    "Discovery": {
        "type": "object",
        "required": ["services"],
        "properties": {"services": {"type": "array", "items": _ref("Service")}},
    },
    "Feedback": {
        "type": "object",
        "required": ["card", "outcome", "outcomeTimestamp"],
        "description": "acceptedSuggestions is required (not empty) when the outcome is accepted",
        "properties": {
            "card": {"type": "string", "minLength": 1, "description": "the card's uuid"},
            "outcome": {"type": "string", "enum": ["accepted", "overridden"]},
            "acceptedSuggestions": {
                "type": "array",
                "nullable": True,
                "items": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {"id": {"type": "string", "minLength": 1}},
                },
            },
            "overrideReason": {
                "type": "object",
                "nullable": True,
                "properties": {
                    "reason": {"allOf": [_ref("Coding")], "nullable": True},
                    "userComment": {"type": "string", "nullable": True},
                },
            },
            "outcomeTimestamp": {
                "type": "string",
                "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*([Zz]|[+-]00:00)$",
                "description": "RFC 3339 date-time in UTC, e.g. 2026-11-06T10:05:31Z",
            },
        },
    },
    "FeedbackRequest": {
        "type": "object",
        "required": ["feedback"],
        "properties": {"feedback": {"type": "array", "minItems": 1, "items": _ref("Feedback")}},
    },
}


#: A call for a patient without data (each prefetch key null): answered {"cards": []}.
_HOOK_EXAMPLE = {
    "hook": "patient-view",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {"userId": "Practitioner/cm-1", "patientId": "p1"},
    "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}} | dict.fromkeys(PREFETCH_KEYS[1:]),
}
_FEEDBACK_EXAMPLE = {
    "feedback": [
        {
            "card": "0c0b5a0e-8d3f-4a8e-9a53-0b1b1d7f4c11",
            "outcome": "overridden",
            "overrideReason": {"userComment": "seen today"},
            "outcomeTimestamp": "2026-11-06T10:05:31Z",
        }
    ]
}


def openapi_document(config: ServiceConfig, *, version: str, insecure_dev: bool = False) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the endpoints as ``config`` sets them up."""
    token: list[dict[str, list[str]]] = [] if insecure_dev else [{"cdsClientJwt": []}]
    discovery_token = token if config.auth.require_for_discovery else []
    service = f"/cds-services/{_SERVICE_ID}"
    body = {
        "required": True,
        "content": {"application/json": {"schema": _ref("HookRequest"), "example": _HOOK_EXAMPLE}},
    }
    feedback_body = {
        "required": True,
        "content": {"application/json": {"schema": _ref("FeedbackRequest"), "example": _FEEDBACK_EXAMPLE}},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "cocm_rules CDS Hooks service",
            "version": version,
            "description": "A CDS Hooks 2.0 service (patient-view) returning Collaborative Care alerts as cards.",
        },
        "servers": [{"url": config.service_url}],
        "paths": {
            "/cds-services": {
                "get": {
                    "operationId": "discovery",
                    "summary": "CDS Hooks Discovery",
                    "security": discovery_token,
                    "responses": {
                        "200": _json("Discovery", "The service's description and prefetch templates."),
                        "401": _UNAUTHORIZED,
                        "503": _UNAVAILABLE,
                    },
                }
            },
            service: {
                "post": {
                    "operationId": "patientView",
                    "summary": "The patient-view hook: cards for the patient's alerts",
                    "security": token,
                    "requestBody": body,
                    "responses": {
                        "200": _json("CardsResponse", "Cards (possibly none).", headers=_NO_STORE),
                        "400": _BAD_REQUEST,
                        "401": _UNAUTHORIZED,
                        "408": _TIMEOUT,
                        "412": _json("Error", "Required data neither prefetched nor obtainable from fhirServer."),
                        "413": _TOO_LARGE,
                        "500": _FAILED,
                        "503": _UNAVAILABLE,
                    },
                }
            },
            f"{service}/feedback": {
                "post": {
                    "operationId": "feedback",
                    "summary": "CDS Hooks Feedback: logged as counts; recorded in the alert-state store when one is "
                    "configured (an overridden card acknowledges its alerts, with the override reason)",
                    "security": token,
                    "requestBody": feedback_body,
                    "responses": {
                        "200": {"description": "Received (an empty body).", "headers": _NO_STORE},
                        "400": _BAD_REQUEST,
                        "401": _UNAUTHORIZED,
                        "408": _TIMEOUT,
                        "413": _TOO_LARGE,
                        "503": _UNAVAILABLE,
                    },
                }
            },
            OPENAPI_PATH: {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "cdsClientJwt": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "CDS Hooks 2.0 'Trusting CDS Clients': a JWT signed by the CDS client, "
                    "aud = the URL called, a new jti for every call",
                }
            },
        },
    }
