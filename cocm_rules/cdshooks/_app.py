"""The FastAPI application: discovery, the ``cocm-patient-view`` service and its feedback.

CDS Hooks 2.0 sections followed here:

- "Discovery": ``GET {baseUrl}/cds-services`` returns ``{"services": [...]}``, each with
  ``hook``, ``title``, ``description``, ``id``, ``prefetch`` and ``usageRequirements``.
- "Calling a CDS Service": ``POST {baseUrl}/cds-services/{id}`` with ``hook``,
  ``hookInstance``, ``context`` (REQUIRED), ``fhirServer`` (REQUIRED when
  ``fhirAuthorization`` is given), ``fhirAuthorization`` (``access_token``, ``token_type``
  Bearer, ``expires_in``, ``scope``, ``subject``; ``patient`` when patient-scoped) and
  ``prefetch``. The ``patient-view`` hook's context has ``userId`` and ``patientId``
  (REQUIRED) and ``encounterId`` (OPTIONAL).
- "CDS Service Response": 200 with ``{"cards": [...]}`` (an empty list when there is no
  guidance); 412 when the data cannot be obtained; other 4xx/5xx allowed.
- "Feedback": ``POST {baseUrl}/cds-services/{id}/feedback`` with ``{"feedback": [...]}``,
  each with ``card``, ``outcome`` (accepted | overridden), ``acceptedSuggestions`` (required
  for accepted), ``overrideReason`` (``reason`` Coding, ``userComment``) and
  ``outcomeTimestamp`` (RFC 3339, UTC).
- "Trusting CDS Clients": every call carries a JWT (see ``_auth``).

Status codes of this service: 400 malformed JSON or request (wrong hook, missing
``context.patientId``, ...); 401 a missing or refused token (a generic body: the reason is
only logged); 404 unknown path; 412 required data neither prefetched nor obtainable from the
FHIR server; 413 a body over ``max_request_bytes``; 500 an unexpected failure (no details).
FHIR data that is present but cannot be read (a malformed resource, a response that
contradicts the Patient) is a 200 with one ``warning`` card that says no alert was computed:
the clinician sees that the rules did not run instead of an empty, reassuring list.

Logs carry event names, ids of configuration (iss, tenant, rule ids), counts and durations:
never the patient id, answers, free text, tokens or the request body.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from .. import __version__
from .._log import get_logger
from ..engine import Engine
from ..errors import InvalidInput
from ..fhir import read_assessments, read_episode
from ._auth import AuthError, Caller, Verifier
from ._cards import cards_for, data_error_card
from ._config import ServiceConfig, config_problem
from ._prefetch import BUNDLE_ID, FHIR_ID, BadRequest, PreconditionFailed, gather, prefetch_templates

__all__ = ["HOOK", "SERVICE_ID", "create_app"]

log = get_logger(__name__)

#: The id of the one CDS Service: ``{baseUrl}/cds-services/cocm-patient-view``.
SERVICE_ID = "cocm-patient-view"
HOOK = "patient-view"
_DEFAULTABLE = ("program", "status", "enrollment_date")
_NO_STORE = {"Cache-Control": "no-store"}
_PROBE_PATIENT = {"resourceType": "Patient", "id": "config-check"}
_UUID = re.compile(r"(urn:uuid:)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


# -- request models (CDS Hooks 2.0; unknown members such as `extension` are allowed) ------------
class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class _FhirAuthorization(_Model):
    access_token: str = Field(min_length=1)
    token_type: str
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":  # OAuth 2.0 token types are case-insensitive (RFC 6749, 5.1)
            raise ValueError("must be 'Bearer'")
        return value


class _HookRequest(_Model):
    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1, max_length=256)
    fhirServer: str | None = None
    fhirAuthorization: _FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class _Coding(_Model):
    code: str
    system: str
    display: str | None = None


class _OverrideReason(_Model):
    reason: _Coding | None = None
    userComment: str | None = None


class _AcceptedSuggestion(_Model):
    id: str = Field(min_length=1)


class _Feedback(_Model):
    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[_AcceptedSuggestion] | None = None
    overrideReason: _OverrideReason | None = None
    outcomeTimestamp: str

    @field_validator("outcomeTimestamp")
    @classmethod
    def _utc(cls, value: str) -> str:
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an RFC 3339 date-time in UTC, e.g. 2026-11-06T10:05:31Z") from None
        if "T" not in value or when.utcoffset() != dt.timedelta(0):
            raise ValueError("must be an RFC 3339 date-time in UTC, e.g. 2026-11-06T10:05:31Z")
        return value

    @model_validator(mode="after")
    def _accepted_needs_suggestions(self) -> _Feedback:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("an 'accepted' outcome needs acceptedSuggestions")
        return self


class _FeedbackRequest(_Model):
    feedback: list[_Feedback] = Field(min_length=1)


# -- helpers ----------------------------------------------------------------------------------
class _TooLarge(Exception):
    pass


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status, headers=_NO_STORE)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadRequest("the request body is not valid JSON", reason="invalid_json") from e


def _validation_message(e: ValidationError) -> str:
    """Where and what, never the value sent (it may be patient data)."""
    out = []
    for err in e.errors(include_url=False, include_input=False, include_context=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{loc}: {msg}")
    return "; ".join(out)


async def _read_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


def _declared_too_large(request: Request, limit: int) -> bool:
    declared = request.headers.get("content-length")
    return declared is not None and (not declared.isdigit() or int(declared) > limit)


class _Service:
    """The state of one app: configuration, engine, verifier and templates."""

    def __init__(self, config: ServiceConfig, engine: Engine, insecure_dev: bool, clock: Callable[[], float]) -> None:
        self.config = config
        self.engine = engine
        self.insecure_dev = insecure_dev
        self.clock = clock
        self.verifier = None if insecure_dev else Verifier(config, clock)
        self.templates = prefetch_templates(engine.library, config)
        self.definitions = []
        for path in config.fhir.definitions:
            try:
                with open(path, encoding="utf-8") as f:
                    self.definitions.append(json.load(f))
            except (OSError, ValueError) as e:
                raise config_problem(
                    f"cannot read this FHIR definition: {e}", file=path, context="fhir.definitions"
                ) from e
        self._engine_lock = threading.Lock() if engine.backend_name == "durable" else None
        self._check_fhir_settings()

    # -- authentication ---------------------------------------------------------------------
    def authenticate(self, request: Request, audiences: list[str], endpoint: str) -> Caller | JSONResponse | None:
        """The verified caller; an error response; or None in --insecure-dev mode."""
        if self.verifier is None:
            log.warning("cdshooks.insecure_dev_request", endpoint=endpoint, note="JWT verification is OFF")
            return None
        header = request.headers.get("authorization")
        try:
            return self.verifier.verify(header, audiences)
        except AuthError as e:
            log.warning("cdshooks.auth_failed", endpoint=endpoint, reason=e.reason)
            if e.status == 503:
                return _error(503, "unavailable", "the service cannot accept more tokens right now; retry shortly")
            challenge = 'Bearer error="invalid_token"' if header else "Bearer"
            return JSONResponse(
                {"error": "invalid_token", "message": "the request's bearer token was not accepted"},
                status_code=401,
                headers={"WWW-Authenticate": challenge, **_NO_STORE},
            )

    # -- discovery --------------------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        return {
            "services": [
                {
                    "hook": HOOK,
                    "title": "Collaborative Care (CoCM) registry rules",
                    "description": (
                        "Scores the patient's measures (PHQ-9, GAD-7, C-SSRS, ...) and returns Collaborative Care "
                        "alerts: suicide-risk escalation, treatment to target, engagement, psychiatric case review."
                    ),
                    "id": SERVICE_ID,
                    "prefetch": dict(self.templates),
                    "usageRequirements": (
                        "Needs the patient's QuestionnaireResponses, measure Observations, Encounters, "
                        "EpisodeOfCare and CarePlans, as prefetch or through fhirServer and fhirAuthorization."
                    ),
                }
            ]
        }

    # -- patient-view -------------------------------------------------------------------------
    def as_of(self) -> dt.date:
        """The evaluation date: the configured date, or today in the configured time zone."""
        if isinstance(self.config.as_of, dt.date):
            return self.config.as_of
        return dt.datetime.fromtimestamp(self.clock(), self.config.zone()).date()

    def patient_view(self, body: bytes, caller: Caller | None) -> Response:
        started = time.monotonic()
        event: dict[str, Any] = {"iss": caller.iss if caller else None, "tenant": caller.tenant if caller else None}
        try:
            status, payload, more = self._patient_view(body, event)
        except BadRequest as e:
            log.warning("cdshooks.bad_request", endpoint=SERVICE_ID, reason=e.reason, **event)
            return _error(400, "bad_request", str(e))
        except PreconditionFailed as e:
            log.warning("cdshooks.precondition_failed", reason=e.reason, keys=e.keys, seconds=_since(started), **event)
            return _error(412, "precondition_failed", str(e), keys=e.keys)
        except Exception as e:  # the boundary: never let a message (maybe patient data) out
            log.error("cdshooks.internal_error", endpoint=SERVICE_ID, error=type(e).__name__, **event)
            return _error(500, "internal_error", "the service failed; see its log")
        log.info("cdshooks.patient_view", **event, **more, seconds=_since(started))
        return JSONResponse(payload, status_code=status, headers=_NO_STORE)

    def _patient_view(self, body: bytes, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
        data = _parse_json(body)
        if not isinstance(data, Mapping):
            raise BadRequest("the request body must be a JSON object", reason="invalid_request")
        try:
            req = _HookRequest.model_validate(data)
        except ValidationError as e:
            raise BadRequest(f"invalid CDS Hooks request: {_validation_message(e)}", reason="invalid_request") from e
        # hookInstance is a UUID (CDS Hooks 2.0); anything else is not logged, in case it holds data
        event["hook_instance"] = req.hookInstance if _UUID.fullmatch(req.hookInstance) else "(not a UUID)"
        if req.hook != HOOK:
            raise BadRequest(f"this service answers the {HOOK!r} hook", reason="wrong_hook")
        patient_id = req.context.get("patientId")
        if not isinstance(patient_id, str) or not patient_id:
            raise BadRequest("context.patientId is required (a FHIR Patient id)", reason="missing_patient_id")
        if not FHIR_ID.fullmatch(patient_id):
            raise BadRequest(
                "context.patientId must be a FHIR id ([A-Za-z0-9-.], 1-64 characters)", reason="bad_patient_id"
            )
        user = req.context.get("userId")
        if not isinstance(user, str) or not user:
            raise BadRequest("context.userId is required (e.g. Practitioner/123)", reason="missing_user_id")
        auth = req.fhirAuthorization
        if auth is not None and req.fhirServer is None:
            raise BadRequest("fhirServer is required when fhirAuthorization is given", reason="missing_fhir_server")
        if auth is not None and auth.patient is not None and auth.patient != patient_id:
            raise BadRequest("fhirAuthorization.patient is not context.patientId", reason="token_patient_mismatch")
        got = gather(
            patient_id=patient_id,
            prefetch=req.prefetch,
            templates=self.templates,
            fhir_server=req.fhirServer,
            access_token=auth.access_token if auth is not None else None,
            cfg=self.config.fhir_server,
            insecure_dev=self.insecure_dev,
        )
        event.update(
            prefetched=got.from_prefetch, fetched=got.fetched, fhir_requests=got.requests, resources=got.counts
        )
        if not got.patient_found:
            return 200, {"cards": []}, {"cards": 0, "reason": "patient_not_found"}
        has_episode = any(
            e["resource"].get("resourceType") == "EpisodeOfCare" and e["resource"].get("status") != "entered-in-error"
            for e in got.bundle["entry"]
        )
        if not has_episode and self.config.episode_defaults is None:
            return 200, {"cards": []}, {"cards": 0, "reason": "no_episode_of_care"}
        as_of = self.as_of()
        try:
            episode = self._episode(got.bundle)
            if episode is None:
                return 200, {"cards": []}, {"cards": 0, "reason": "no_enrollment_date"}
            alerts = self._evaluate(episode, as_of)
        except InvalidInput as e:
            card = data_error_card(str(e), self.config, version=__version__)
            more = {"cards": 1, "reason": "data_error", "error_field": e.field, "measure": e.measure}
            return 200, {"cards": [card]}, more
        cards = cards_for(alerts, self.config, as_of=as_of, version=__version__)
        return (
            200,
            {"cards": cards},
            {
                "as_of": as_of.isoformat(),
                "alerts": len(alerts),
                "rules": sorted({a.rule_id for a in alerts}),
                "cards": len(cards),
                "indicators": dict(Counter(c["indicator"] for c in cards)),
            },
        )

    def _episode(self, bundle: dict[str, Any]) -> Any:
        """``read_episode`` with what the configuration gives; a default fills only a field the
        Bundle does not give (read_episode names the first missing one in its error)."""
        kwargs = self._read_kwargs()
        given: dict[str, Any] = {}
        while True:
            try:
                return _guarded(read_episode, bundle, **kwargs, **given)
            except InvalidInput as e:
                name = e.field
                if e.record != f"Bundle/{BUNDLE_ID}" or name not in _DEFAULTABLE or name in given:
                    raise
                value = self._default(name, bundle)
                if value is None:
                    if name == "enrollment_date" and self.config.episode_defaults is not None:
                        return None  # no EpisodeOfCare start and no assessment to date the episode from
                    raise
                given[name] = value

    def _read_kwargs(self) -> dict[str, Any]:
        fhir = self.config.fhir
        return {
            "status_map": fhir.status_map,
            "contact_kinds": fhir.contact_kinds,
            "default_contact_kind": fhir.default_contact_kind,
            "care_plan_codes": fhir.care_plan_codes,
            "item_map": fhir.item_map,
            "definitions": self.definitions,
            "library": self.engine.library,
            "unrecognized": fhir.unrecognized,
        }

    def _check_fhir_settings(self) -> None:
        """Fail at start-up, not on every call, if read_episode refuses the `fhir` settings."""
        probe = {"resourceType": "Bundle", "id": "config-check", "entry": [{"resource": _PROBE_PATIENT}]}
        try:
            read_episode(
                probe, program="cocm", status="active_treatment", enrollment_date="2000-01-01", **self._read_kwargs()
            )
        except InvalidInput as e:
            raise config_problem(f"read_episode refuses these settings: {e}", context="fhir") from e

    def _evaluate(self, episode: Any, as_of: dt.date) -> list[Any]:
        if self._engine_lock is None:
            return self.engine.evaluate(episode, as_of)
        with self._engine_lock:  # the durable backend is not known to be thread-safe
            return self.engine.evaluate(episode, as_of)

    def _default(self, name: str, bundle: dict[str, Any]) -> Any:
        defaults = self.config.episode_defaults
        if defaults is None:
            return None
        if name != "enrollment_date":
            return getattr(defaults, name)
        if defaults.enrollment_date != "earliest_assessment":
            return None
        reading = _guarded(
            read_assessments,
            bundle,
            definitions=self.definitions,
            item_map=self.config.fhir.item_map,
            library=self.engine.library,
        )
        dates = [a.date for a in reading.assessments if a.date is not None]
        return min(dates) if dates else None

    # -- feedback -------------------------------------------------------------------------------
    def feedback(self, body: bytes, caller: Caller | None) -> Response:
        try:
            data = _parse_json(body)
            if not isinstance(data, Mapping):
                raise BadRequest("the request body must be a JSON object", reason="invalid_request")
            try:
                req = _FeedbackRequest.model_validate(data)
            except ValidationError as e:
                raise BadRequest(f"invalid feedback: {_validation_message(e)}", reason="invalid_feedback") from e
        except BadRequest as e:
            log.warning("cdshooks.bad_request", endpoint=f"{SERVICE_ID}/feedback", reason=e.reason)
            return _error(400, "bad_request", str(e))
        outcomes = Counter(f.outcome for f in req.feedback)
        log.info(
            "cdshooks.feedback",
            iss=caller.iss if caller else None,
            tenant=caller.tenant if caller else None,
            feedback=len(req.feedback),
            accepted=outcomes.get("accepted", 0),
            overridden=outcomes.get("overridden", 0),
            accepted_suggestions=sum(len(f.acceptedSuggestions or []) for f in req.feedback),
            override_reasons=sum(1 for f in req.feedback if f.overrideReason and f.overrideReason.reason),
            user_comments=sum(1 for f in req.feedback if f.overrideReason and f.overrideReason.userComment),
        )
        return Response(status_code=200, headers=_NO_STORE)


def _guarded(read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a FHIR reader; an error other than InvalidInput means a shape of data the reader
    does not handle (a defect to fix there): it becomes an InvalidInput, so the clinician is
    told the rules did not run rather than shown nothing."""
    try:
        return read(*args, **kwargs)
    except InvalidInput:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
        log.error("cdshooks.fhir_reader_failed", reader=read.__name__, error=type(e).__name__)
        raise InvalidInput("the FHIR data has a shape this service cannot read") from e


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def create_app(
    config: ServiceConfig,
    *,
    insecure_dev: bool = False,
    engine: Engine | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The CDS Hooks 2.0 service as a FastAPI app (run it with uvicorn, or :func:`serve`).

    ``engine`` reuses a loaded :class:`~cocm_rules.Engine` (default: loaded from
    ``config.rulesets`` and ``config.backend``). ``clock`` returns seconds since the epoch: it
    checks token times and, with ``as_of: today``, says which date the rules are evaluated on.
    ``insecure_dev=True`` turns JWT verification off, with a warning at start-up and on every
    request: for local trials only.

    Raises :class:`~cocm_rules.cdshooks.ServiceConfigError` for a configuration that cannot
    work (no trusted clients, an unreadable JWK Set file) and
    :class:`~cocm_rules.RulesetError` for invalid rulesets.
    """
    if not insecure_dev and not config.trusted_clients:
        raise config_problem(
            "trusted_clients is empty: no CDS client could call this service "
            "(add the clients' iss and keys, or run with --insecure-dev for a local trial)",
            context="trusted_clients",
        )
    if engine is None:
        engine = Engine.load(config.rulesets, backend=config.backend)
    service = _Service(config, engine, insecure_dev, clock)
    app = FastAPI(
        title="cocm_rules CDS Hooks service",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.cds = service
    limit = config.max_request_bytes
    too_large = f"the request body is larger than {limit} bytes"

    @app.get("/cds-services")
    async def discovery(request: Request) -> Response:
        if config.auth.require_for_discovery or insecure_dev:
            denied = await run_in_threadpool(service.authenticate, request, [config.discovery_url], "discovery")
            if isinstance(denied, Response):
                return denied
        return JSONResponse(service.discovery())

    async def guarded(request: Request, endpoint: str, audiences: list[str], handler: Any) -> Response:
        """Every POST goes through the same gate: size limit, client authentication, body."""
        if _declared_too_large(request, limit):
            log.warning("cdshooks.request_too_large", endpoint=endpoint, limit=limit)
            return _error(413, "payload_too_large", too_large)
        caller = await run_in_threadpool(service.authenticate, request, audiences, endpoint)
        if isinstance(caller, Response):
            return caller
        try:
            body = await _read_body(request, limit)
        except _TooLarge:
            log.warning("cdshooks.request_too_large", endpoint=endpoint, limit=limit)
            return _error(413, "payload_too_large", too_large)
        return await run_in_threadpool(handler, body, caller)

    @app.post(f"/cds-services/{SERVICE_ID}")
    async def patient_view(request: Request) -> Response:
        return await guarded(request, SERVICE_ID, [config.endpoint_url(SERVICE_ID)], service.patient_view)

    @app.post(f"/cds-services/{SERVICE_ID}/feedback")
    async def feedback(request: Request) -> Response:
        audiences = [f"{config.endpoint_url(SERVICE_ID)}/feedback", config.endpoint_url(SERVICE_ID)]
        return await guarded(request, f"{SERVICE_ID}/feedback", audiences, service.feedback)

    if insecure_dev:
        log.warning(
            "cdshooks.insecure_dev",
            note="--insecure-dev: JWT verification is OFF and any caller is trusted; for local trials only",
        )
    log.info(
        "cdshooks.ready",
        service_url=config.service_url,
        services=[SERVICE_ID],
        trusted_clients=len(config.trusted_clients),
        insecure_dev=insecure_dev,
        as_of=config.as_of if isinstance(config.as_of, str) else config.as_of.isoformat(),
        rulesets=[f"{rs.name}@{rs.version}" for rs in engine.rulesets.rulesets],
    )
    return app
