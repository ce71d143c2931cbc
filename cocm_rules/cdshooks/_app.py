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
``context.patientId``, a key repeated in one object, ...); 401 a missing or refused token (a
generic body: the reason is only logged); 404 unknown path; 408 a body slower than
``server.body_timeout_seconds``; 412 required data neither prefetched nor obtainable from the
FHIR server; 413 a body over ``max_request_bytes``; 500 an unexpected failure (no details).
``GET /openapi.json`` is the OpenAPI document of these endpoints (``_openapi``).
FHIR data that is present but cannot be read (a malformed resource, a response that
contradicts the Patient) is a 200 with one ``warning`` card that says no alert was computed:
the clinician sees that the rules did not run instead of an empty, reassuring list.

Logs carry event names, ids of configuration (iss, tenant, rule ids), counts and durations:
never the patient id, answers, free text, tokens or the request body.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Literal

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .. import __version__
from .._json import loads as strict_json
from .._log import get_logger
from ..engine import Engine
from ..episode import Episode
from ..errors import InvalidInput
from ..fhir import FhirReader, PatientReading
from ._auth import AuthError, Caller, Verifier
from ._cards import cards_for, data_error_card, not_enrolled_card, notes_card
from ._config import ServiceConfig, config_problem
from ._openapi import OPENAPI_PATH, openapi_document
from ._prefetch import FHIR_ID, BadRequest, PreconditionFailed, gather, prefetch_templates
from ._unenrolled import safety_alerts

__all__ = ["HOOK", "SERVICE_ID", "create_app"]

log = get_logger(__name__)

#: The id of the one CDS Service: ``{baseUrl}/cds-services/cocm-patient-view``.
SERVICE_ID = "cocm-patient-view"
HOOK = "patient-view"
_NO_STORE = {"Cache-Control": "no-store"}
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


class _TooSlow(Exception):
    pass


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status, headers=_NO_STORE)


def _parse_json(body: bytes) -> Any:
    """The request body, read strictly (cocm_rules._json): a key repeated in one object (a
    second ``valueInteger`` for item 9 in the prefetch) is refused, never guessed between;
    so are NaN, numbers beyond float range, text that is not UTF-8 and deep nesting. The
    message names the path and the key, never a value."""
    try:
        return strict_json(body)
    except InvalidInput as e:
        where = f" at {e.field}" if e.field else ""
        reason = "duplicate_key" if "appears more than once" in e.reason else "invalid_json"
        raise BadRequest(f"the request body cannot be read{where}: {e.reason}", reason=reason) from e


def _validation_message(e: ValidationError) -> str:
    """Where and what, never the value sent (it may be patient data)."""
    out = []
    for err in e.errors(include_url=False, include_input=False, include_context=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{loc}: {msg}")
    return "; ".join(out)


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, at most ``limit`` bytes, arrived within ``timeout`` seconds."""
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise _TooLarge
    except TimeoutError:
        raise _TooSlow from None
    return bytes(body)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _AccessLog:
    """One ``cdshooks.http_request`` event per request: method, path, status, seconds. The
    path is one of the service's own (anything else is logged as ``(other)``) and the query
    string is never logged: either may carry a patient id."""

    def __init__(self, app: Any, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log.info(
                "cdshooks.http_request",
                method=scope["method"] if scope["method"] in _METHODS else "(other)",
                path=scope["path"] if scope["path"] in self.paths else "(other)",
                status=status,
                seconds=_since(started),
            )


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
                with open(path, "rb") as f:
                    self.definitions.append(strict_json(f.read(), record=path))
            except (OSError, InvalidInput) as e:
                raise config_problem(
                    f"cannot read this FHIR definition: {e}", file=path, context="fhir.definitions"
                ) from e
        self._engine_lock = threading.Lock() if engine.backend_name == "durable" else None
        self.reader = self._fhir_reader()
        self.store = None
        if config.store is not None:
            from ..store import AlertStore  # BackendUnavailable with the install hint

            self.store = AlertStore(config.store)
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    async def off_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a thread, off the event loop, at most ``server.threads`` at once:
        the other calls wait their turn in arrival order. The work is mostly Python (one GIL),
        so many threads at once would only slow every call down and make the slowest far
        slower; the event loop stays free to accept and read requests."""
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.config.server.threads)
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)

    def _fhir_reader(self) -> FhirReader:
        """The FHIR reader of every call, with the `fhir` settings: one it refuses stops the
        start, not every call."""
        fhir = self.config.fhir
        try:
            return FhirReader(
                library=self.engine.library,
                definitions=self.definitions,
                item_map=fhir.item_map,
                measures=None,
                status_map=fhir.status_map,
                contact_kinds=fhir.contact_kinds,
                default_contact_kind=fhir.default_contact_kind,
                care_plan_codes=fhir.care_plan_codes,
                contact_roles=fhir.contact_roles,
                unrecognized=fhir.unrecognized,
            )
        except InvalidInput as e:
            raise config_problem(f"the FHIR reader refuses these settings: {e}", context="fhir") from e

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
        req, patient_id = _hook_request(body, event)
        auth = req.fhirAuthorization
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
        return self._answer(got.bundle, self.as_of())

    def _answer(self, bundle: Mapping[str, Any], as_of: dt.date) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """The cards for one patient's Bundle, and what the log says about them."""
        try:
            reading: PatientReading = _guarded(self.reader.read_patient, bundle)
            episode = reading.episode or self._with_defaults(reading)
            if episode is not None:
                alerts = self._evaluate(episode, as_of, self._acks(episode.patient_id))
            else:  # not enrolled: the core says which rules still run (cocm_rules.unenrolled)
                alerts = safety_alerts(lambda ep: self._evaluate(ep, as_of), reading, as_of)
                if not alerts and not _measured(reading):  # no card for every chart opened
                    more = {"cards": 0, "reason": "not_enrolled", "missing": list(reading.missing), "measures": 0}
                    return 200, {"cards": []}, more
        except InvalidInput as e:
            card = data_error_card(str(e), self.config, version=__version__)
            more = {"cards": 1, "reason": "data_error", "error_field": e.field, "measure": e.measure}
            return 200, {"cards": [card]}, more
        quiet = [a for a in alerts if a.state in ("acknowledged", "snoozed")]
        shown = [a for a in alerts if a not in quiet]
        cards = cards_for(shown, self.config, as_of=as_of, version=__version__)
        if self.store is not None:
            self._record(shown, cards, as_of)
        extra: dict[str, Any] = {"quiet": len(quiet)} if quiet else {}
        if episode is None:
            cards.append(not_enrolled_card(_why_not_enrolled(reading), self.config, version=__version__))
            extra.update(reason="not_enrolled", missing=list(reading.missing))
        if reading.notes:
            cards.append(notes_card(reading.notes, self.config, version=__version__))
        return (
            200,
            {"cards": cards},
            {
                **extra,
                "as_of": as_of.isoformat(),
                "alerts": len(alerts),
                "rules": sorted({a.rule_id for a in alerts}),
                "cards": len(cards),
                "indicators": dict(Counter(c["indicator"] for c in cards)),
                "notes": len(reading.notes),
            },
        )

    def _with_defaults(self, reading: PatientReading) -> Episode | None:
        """The episode with ``episode_defaults`` for what the Bundle leaves out, or None when
        something stays unknown. A default never replaces what the Bundle says: an
        EpisodeOfCare whose status is no registry status (planned, waitlist) stays not enrolled."""
        defaults = self.config.episode_defaults
        if defaults is None or reading.unmapped_status is not None:
            return None
        fill: dict[str, Any] = {"program": defaults.program, "status": defaults.status}
        if defaults.enrollment_date == "earliest_assessment" and reading.assessment_dates:
            fill["enrollment_date"] = min(reading.assessment_dates)
        if any(fill.get(name) is None for name in reading.missing):
            return None
        return reading.episode_with(**fill)

    def _evaluate(self, episode: Any, as_of: dt.date, acks: list[Any] | None = None) -> list[Any]:
        if self._engine_lock is None:
            return self.engine.evaluate(episode, as_of, acks)
        with self._engine_lock:  # the durable backend is not known to be thread-safe
            return self.engine.evaluate(episode, as_of, acks)

    def _acks(self, patient_id: str) -> list[Any] | None:
        """The store's acknowledgements of this patient (None without a store)."""
        return None if self.store is None else self.store.acknowledgements([patient_id])

    def _record(self, alerts: list[Any], cards: list[dict[str, Any]], as_of: dt.date) -> None:
        """Record the alerts shown, each with the uuid of its card (cards are one per category)."""
        assert self.store is not None
        by_category = {c["source"].get("topic", {}).get("code"): c["uuid"] for c in cards}
        uuids = {a.alert_id: by_category[a.category] for a in alerts if a.category in by_category and a.alert_id}
        self.store.record_alerts([a for a in alerts if a.alert_id in uuids], as_of, uuids)

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
        if self.store is not None:
            by = f"cds-hooks:{caller.iss}" if caller and caller.iss else "cds-hooks"
            for f in req.feedback:
                self.store.record_feedback(_card_feedback(f), by=by)
        return Response(status_code=200, headers=_NO_STORE)


def _card_feedback(f: _Feedback) -> Any:
    """One feedback item as the store keeps it (CDS Hooks 2.0: card uuid, outcome, override
    reason, outcome timestamp)."""
    from ..store import CardFeedback

    reason = f.overrideReason
    coding = reason.reason if reason is not None else None
    return CardFeedback(
        service_id=SERVICE_ID,
        card_uuid=f.card.removeprefix("urn:uuid:"),
        outcome=f.outcome,
        outcome_timestamp=dt.datetime.fromisoformat(f.outcomeTimestamp),
        override_reason_code=coding.code if coding is not None else None,
        override_reason_display=coding.display if coding is not None else None,
        override_comment=reason.userComment if reason is not None else None,
    )


def _hook_request(body: bytes, event: dict[str, Any]) -> tuple[_HookRequest, str]:
    """The checked patient-view request and its patient id; :class:`BadRequest` (400) when it
    is malformed. Notes the hookInstance in ``event``."""
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
    return req, patient_id


def _measured(reading: PatientReading) -> bool:
    """The Bundle holds a measure administration: read, or set aside (which the safety rules
    read as a screen that could not be used)."""
    return bool(reading.assessment_dates) or any(n.set_aside == "assessment" for n in reading.notes)


def _why_not_enrolled(reading: PatientReading) -> str:
    """Why the patient counts as not enrolled, in words for the clinician."""
    if reading.episode_of_care is None:
        return "No EpisodeOfCare was found for this patient."
    if reading.unmapped_status is not None:
        return (
            f"The patient's EpisodeOfCare has the status {reading.unmapped_status[:64]!r}, which is not an "
            "enrollment in the registry."
        )
    words = {"program": "program", "status": "registry status", "enrollment_date": "start date"}
    return f"The patient's EpisodeOfCare gives no {' and no '.join(words[k] for k in reading.missing)}."


def _guarded(read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a FHIR reader; an error other than InvalidInput means a shape of data the reader
    does not handle (a defect to fix there): it becomes an InvalidInput, so the clinician is
    told the rules did not run rather than shown nothing."""
    try:
        return read(*args, **kwargs)
    except InvalidInput:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, ArithmeticError, RecursionError) as e:
        log.error("cdshooks.fhir_reader_failed", reader=read.__name__, error=type(e).__name__)
        raise InvalidInput("the FHIR data has a shape this service cannot read") from e


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


async def _gate(
    service: _Service, request: Request, endpoint: str, audiences: list[str], handler: Callable[..., Response]
) -> Response:
    """Every POST goes through the same gate: size limit, client authentication, body."""
    limit = service.config.max_request_bytes
    body_timeout = service.config.server.body_timeout_seconds
    too_large = f"the request body is larger than {limit} bytes"
    if _declared_too_large(request, limit):
        log.warning("cdshooks.request_too_large", endpoint=endpoint, limit=limit)
        return _error(413, "payload_too_large", too_large)
    caller = await service.off_loop(service.authenticate, request, audiences, endpoint)
    if isinstance(caller, Response):
        return caller
    try:
        body = await _read_body(request, limit, body_timeout)
    except _TooLarge:
        log.warning("cdshooks.request_too_large", endpoint=endpoint, limit=limit)
        return _error(413, "payload_too_large", too_large)
    except _TooSlow:
        log.warning("cdshooks.request_timeout", endpoint=endpoint, seconds=body_timeout)
        response = _error(408, "request_timeout", f"the request body did not arrive within {body_timeout:g} s")
        response.headers["Connection"] = "close"
        return response
    return await service.off_loop(handler, body, caller)


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
    paths = {"/cds-services", f"/cds-services/{SERVICE_ID}", f"/cds-services/{SERVICE_ID}/feedback"}
    if config.openapi:
        paths.add(OPENAPI_PATH)
        document = openapi_document(config, version=__version__, insecure_dev=insecure_dev)

        @app.get(OPENAPI_PATH)
        async def openapi() -> Response:
            """The OpenAPI document of the endpoints; it holds no data and no secret, so no token."""
            return JSONResponse(document)

    app.add_middleware(_AccessLog, paths=frozenset(paths))

    @app.get("/cds-services")
    async def discovery(request: Request) -> Response:
        if config.auth.require_for_discovery or insecure_dev:
            denied = await service.off_loop(service.authenticate, request, [config.discovery_url], "discovery")
            if isinstance(denied, Response):
                return denied
        return JSONResponse(service.discovery())

    @app.post(f"/cds-services/{SERVICE_ID}")
    async def patient_view(request: Request) -> Response:
        return await _gate(service, request, SERVICE_ID, [config.endpoint_url(SERVICE_ID)], service.patient_view)

    @app.post(f"/cds-services/{SERVICE_ID}/feedback")
    async def feedback(request: Request) -> Response:
        audiences = [f"{config.endpoint_url(SERVICE_ID)}/feedback", config.endpoint_url(SERVICE_ID)]
        return await _gate(service, request, f"{SERVICE_ID}/feedback", audiences, service.feedback)

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
