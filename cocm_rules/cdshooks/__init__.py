"""A CDS Hooks 2.0 service for cocm_rules: an adapter at the edge, with no clinical logic.

Install with ``pip install 'cocm-rules[service]'`` (FastAPI, uvicorn, httpx, PyJWT with
cryptography); without them, importing this package raises
:class:`~cocm_rules.BackendUnavailable` with that install line. Run it with
``cocm-rules serve --config service.yaml`` (:func:`serve`, :func:`main_serve`) or build the
app with :func:`create_app`. ``docs/cds-hooks.md`` is the guide.

Endpoints (CDS Hooks 2.0, https://cds-hooks.hl7.org/2.0/; section names cited in each module)::

    GET  {service_url}/cds-services                              Discovery
    POST {service_url}/cds-services/cocm-patient-view            the patient-view hook -> cards
    POST {service_url}/cds-services/cocm-patient-view/feedback   Feedback (logged as counts)
    GET  {service_url}/openapi.json                              the OpenAPI document (_openapi)

One call::

    request ─► JWT check (_auth: "Trusting CDS Clients") ─► size / JSON / request checks
            ─► prefetch, completed from fhirServer with fhirAuthorization (_prefetch:
               "Providing FHIR Resources to a CDS Service"; 412 when it cannot be had)
            ─► one Bundle ─► FhirReader.read_patient ─► Engine.evaluate(as_of)
               (not enrolled: the suicide-risk rules only, as cocm_rules.unenrolled decides)
            ─► one card per alert category (_cards: "Card Attributes")

Modules: ``_config`` (ServiceConfig from YAML), ``_auth`` (JWT verification, JWK Sets, jti
replay cache), ``_prefetch`` (templates, gathering, FHIR fetching), ``_cards`` (alerts to
cards), ``_unenrolled`` (hands a patient outside an episode of care to
:mod:`cocm_rules.unenrolled`), ``_openapi`` (the OpenAPI document), ``_app`` (the FastAPI
app), ``_serve`` (uvicorn, with header timeouts and no access log of its own).
"""

from __future__ import annotations

from ..errors import BackendUnavailable

try:
    import fastapi  # noqa: F401
    import httpx  # noqa: F401
    import jwt  # noqa: F401
    import uvicorn  # noqa: F401
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: F401  (pyjwt[crypto])
except ImportError as e:
    raise BackendUnavailable("the CDS Hooks service", "service", cause=str(e)) from e

from ._app import HOOK, SERVICE_ID, create_app
from ._auth import AuthError, Caller, ReplayCache, Verifier
from ._cards import CATEGORY_LABELS, SUMMARY_MAX, cards_for, indicator_for
from ._config import (
    ASYMMETRIC_ALGORITHMS,
    AuthConfig,
    CardLink,
    EpisodeDefaults,
    FhirReadingConfig,
    FhirServerConfig,
    ServerConfig,
    ServiceConfig,
    ServiceConfigError,
    TrustedClient,
    load_config,
    parse_config,
)
from ._openapi import OPENAPI_PATH, openapi_document
from ._prefetch import PREFETCH_KEYS, observation_codes, prefetch_templates
from ._serve import build_app, main_serve, serve, uvicorn_config
from ._unenrolled import SAFETY_CATEGORY, safety_alerts

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "AuthConfig",
    "AuthError",
    "CATEGORY_LABELS",
    "Caller",
    "CardLink",
    "EpisodeDefaults",
    "FhirReadingConfig",
    "FhirServerConfig",
    "HOOK",
    "OPENAPI_PATH",
    "PREFETCH_KEYS",
    "ReplayCache",
    "SAFETY_CATEGORY",
    "SERVICE_ID",
    "SUMMARY_MAX",
    "ServerConfig",
    "ServiceConfig",
    "ServiceConfigError",
    "TrustedClient",
    "Verifier",
    "build_app",
    "cards_for",
    "create_app",
    "indicator_for",
    "load_config",
    "main_serve",
    "observation_codes",
    "openapi_document",
    "parse_config",
    "prefetch_templates",
    "safety_alerts",
    "serve",
    "uvicorn_config",
]
