"""Prefetch templates, and gathering one patient's FHIR data into a Bundle.

CDS Hooks 2.0, "Providing FHIR Resources to a CDS Service":

- "Prefetch Template": the service lists FHIR read/search requests in discovery, with
  prefetch tokens such as ``{{context.patientId}}``; the templates here keep to the
  "Prefetch query restrictions" (instance reads, type searches on a patient reference and
  token equality with comma-separated codes).
- A prefetch value is the resource or searchset Bundle the template would return, or
  ``null`` when there is no data; a key the client chose not to (or could not) satisfy is
  absent, and errors SHOULD come as OperationOutcomes. The client MAY paginate prefetch
  results (``next`` links).
- "It is the CDS Service's responsibility to check prefetched data against its template ...
  and to programmatically retrieve any additional necessary data. If the CDS Service is
  unable to obtain required data because it cannot access the FHIR server and the request did
  not contain the necessary prefetch keys, the service SHALL respond with an HTTP 412
  Precondition Failed status code."
- "FHIR Resource Access": with both ``fhirServer`` and ``fhirAuthorization`` the service MAY
  query the FHIR server with the bearer ``access_token``; the token is transient and never
  stored or logged.

Every prefetch key here is needed: a missing one is fetched (absent, an OperationOutcome, or
a page with a ``next`` link) or the call is answered 412. The bearer token is only ever sent
to URLs under ``fhirServer`` (a ``next`` link elsewhere is refused).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from .._json import loads as strict_json
from .._log import get_logger
from ..errors import InvalidInput
from ..fhir import CARE_PLAN_SYSTEM
from ..measures import MeasureLibrary
from ._config import FhirServerConfig, ServiceConfig, is_loopback_host

__all__ = [
    "PREFETCH_KEYS",
    "BadRequest",
    "Gathered",
    "PreconditionFailed",
    "check_fhir_server",
    "gather",
    "observation_codes",
    "prefetch_templates",
]

log = get_logger(__name__)

#: The prefetch keys of the patient-view service, in the order they are read.
PREFETCH_KEYS = ("patient", "questionnaireResponses", "observations", "encounters", "episodesOfCare", "carePlans")
BUNDLE_ID = "cdshooks-request"
#: A FHIR resource id (R4 "id" datatype): it is put into URLs, so nothing else is accepted.
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class BadRequest(Exception):
    """The hook request is malformed (answered 400, with this message). ``reason`` is a code
    for the log."""

    def __init__(self, message: str, *, reason: str = "bad_prefetch") -> None:
        self.reason = reason
        super().__init__(message)


class PreconditionFailed(Exception):
    """The service could not obtain the data it needs (answered 412). ``reason`` is a code
    for the log; ``keys`` are the prefetch keys concerned."""

    def __init__(self, reason: str, message: str, keys: list[str] | None = None) -> None:
        self.reason = reason
        self.keys = keys or []
        super().__init__(message)


def observation_codes(library: MeasureLibrary) -> list[str]:
    """Every LOINC code the measure library knows (panels, items, totals, results), sorted:
    a panel Observation's members are fetched with it."""
    codes: set[str] = set()
    for m in library.values():
        if m.loinc_panel:
            codes.add(m.loinc_panel.code)
        if m.total and m.total.loinc:
            codes.add(m.total.loinc.code)
        codes.update(it.loinc.code for it in m.items if it.loinc)
        codes.update(r.loinc.code for r in m.results if r.loinc)
    return sorted(codes)


def prefetch_templates(library: MeasureLibrary, config: ServiceConfig) -> dict[str, str]:
    """The prefetch templates of the ``cocm-patient-view`` service (CDS Hooks 2.0, "Prefetch
    Template"), keyed as in :data:`PREFETCH_KEYS`."""
    pid = "{{context.patientId}}"
    care_plan_codes = [f"{CARE_PLAN_SYSTEM}|relapse_prevention_plan", *config.fhir.care_plan_codes]
    eoc = f"EpisodeOfCare?patient={pid}"
    if config.fhir.episode_of_care_type:
        eoc += f"&type={config.fhir.episode_of_care_type}"
    return {
        "patient": f"Patient/{pid}",
        "questionnaireResponses": f"QuestionnaireResponse?patient={pid}",
        "observations": f"Observation?patient={pid}&code={','.join(observation_codes(library))}",
        "encounters": f"Encounter?patient={pid}",
        "episodesOfCare": eoc,
        "carePlans": f"CarePlan?patient={pid}&category={','.join(care_plan_codes)}",
    }


def check_fhir_server(url: str, cfg: FhirServerConfig, *, insecure_dev: bool) -> str:
    """The request's ``fhirServer`` without a trailing slash, or :class:`BadRequest`: https
    (CDS Hooks 2.0: "The scheme MUST be https when production data is exchanged") unless the
    host is loopback, ``allow_http`` or ``--insecure-dev``; within ``allowed`` when set."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise BadRequest(
            "fhirServer must be an absolute http(s) base URL without query or fragment", reason="bad_fhir_server"
        )
    if parts.scheme != "https" and not (is_loopback_host(parts.hostname) or cfg.allow_http or insecure_dev):
        raise BadRequest("fhirServer must use https", reason="bad_fhir_server")
    base = url.rstrip("/")
    if cfg.allowed is not None and not any(
        base == a.rstrip("/") or base.startswith(a.rstrip("/") + "/") for a in cfg.allowed
    ):
        raise BadRequest(
            "fhirServer is not one of the FHIR servers this service is configured to use",
            reason="fhir_server_not_allowed",
        )
    return base


@dataclass
class _Slot:
    """One prefetch key: its resources so far, and where to continue if incomplete."""

    key: str
    resources: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)  # (resource, fullUrl)
    needs_fetch: bool = False  # absent or an error: fetch the template
    next_url: str | None = None  # a page with a next link: continue from here
    source: str = "prefetch"


@dataclass
class Gathered:
    """One patient's data as a Bundle for the FHIR reader (:meth:`cocm_rules.fhir.FhirReader.read_patient`)."""

    bundle: dict[str, Any]
    patient_found: bool
    from_prefetch: list[str]
    fetched: list[str]
    requests: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def _outcome_failed(resource: Mapping[str, Any]) -> bool:
    issues = resource.get("issue")
    if not isinstance(issues, list):
        return True  # an OperationOutcome without readable issues: assume the worst
    return any(isinstance(i, Mapping) and i.get("severity") in ("error", "fatal") for i in issues)


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, Mapping) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


def _take(slot: _Slot, value: Any, *, fetched: bool) -> None:
    """Add a prefetch value (or a fetched response) to ``slot``."""
    where = f"the FHIR server's answer for {slot.key!r}" if fetched else f"prefetch {slot.key!r}"

    def bad(message: str) -> Exception:
        if fetched:
            return PreconditionFailed("fhir_server_error", f"{where} {message}", [slot.key])
        return BadRequest(f"{where} {message}")

    if value is None:
        return
    if not isinstance(value, Mapping) or not isinstance(value.get("resourceType"), str):
        raise bad("must be a FHIR resource, a Bundle or null")
    rtype = value["resourceType"]
    if rtype == "OperationOutcome":
        if fetched:
            raise bad("is an OperationOutcome")
        slot.needs_fetch = True  # the client could not prefetch it; try the FHIR server
        return
    if rtype != "Bundle":
        slot.resources.append((dict(value), None))
        return
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        raise bad("has a Bundle.entry that is not a list")
    for n, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("resource"), Mapping):
            raise bad(f"has a Bundle entry[{n}] without a resource")
        resource = entry["resource"]
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, Mapping) else None
        if mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
            if _outcome_failed(resource):
                if fetched:
                    raise bad("reports an error")
                slot.needs_fetch = True
                slot.resources.clear()
                return
            continue
        full = entry.get("fullUrl")
        slot.resources.append((dict(resource), full if isinstance(full, str) else None))
    links = value.get("link") or []
    slot.next_url = _next_link(value) if isinstance(links, list) else None


def _origin(url: str) -> tuple[tuple[str, str | None, int | None], str]:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # e.g. a port that is not a number: matches nothing
        return ("", None, None), "\0"
    return (parts.scheme, parts.hostname, port), parts.path.rstrip("/")


class _Fetcher:
    def __init__(self, base: str, token: str, cfg: FhirServerConfig) -> None:
        self.base = base
        self.cfg = cfg
        self.deadline = time.monotonic() + cfg.deadline_seconds
        self.requests = 0
        self.origin, self.path = _origin(base)
        self.client = httpx.Client(
            timeout=cfg.timeout_seconds,
            follow_redirects=False,  # a redirect could carry the bearer token elsewhere
            headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
        )

    def close(self) -> None:
        self.client.close()

    def _inside(self, url: str) -> bool:
        origin, path = _origin(url)
        return origin == self.origin and (path == self.path or path.startswith(self.path + "/"))

    def get(self, url: str, key: str, *, read: bool) -> Any:
        if not self._inside(url):
            raise PreconditionFailed("link_outside_fhir_server", f"a link for {key!r} leaves fhirServer", [key])
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise PreconditionFailed("fhir_server_timeout", "the FHIR server took too long", [key])
        self.requests += 1
        try:
            timeout = httpx.Timeout(min(self.cfg.timeout_seconds, remaining))
            with self.client.stream("GET", url, timeout=timeout) as response:
                if read and response.status_code in (404, 410):
                    return None
                if response.status_code != 200:
                    reason = "fhir_server_refused" if response.status_code in (401, 403) else "fhir_server_error"
                    raise PreconditionFailed(
                        reason, f"the FHIR server answered {response.status_code} for {key!r}", [key]
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if time.monotonic() > self.deadline:  # a server dripping bytes under the read timeout
                        raise PreconditionFailed("fhir_server_timeout", "the FHIR server took too long", [key])
                    if len(body) > self.cfg.max_response_bytes:
                        raise PreconditionFailed(
                            "fhir_response_too_large", f"the answer for {key!r} is too large", [key]
                        )
            return strict_json(bytes(body), record=f"the FHIR server's answer for {key!r}")
        except InvalidInput as e:  # a repeated key (which value counts?), not UTF-8, NaN, deep nesting
            where = f" at {e.field}" if e.field else ""
            raise PreconditionFailed(
                "fhir_server_error", f"the answer for {key!r} cannot be read{where}: {e.reason}", [key]
            ) from e
        except httpx.TimeoutException as e:
            raise PreconditionFailed("fhir_server_timeout", f"the FHIR server timed out for {key!r}", [key]) from e
        except httpx.HTTPError as e:
            raise PreconditionFailed(
                "fhir_server_unreachable", f"the FHIR server could not be reached for {key!r}", [key]
            ) from e
        except ValueError as e:
            raise PreconditionFailed("fhir_server_error", f"the answer for {key!r} is not JSON", [key]) from e


def _complete(slot: _Slot, template: str, patient_id: str, fetcher: _Fetcher) -> None:
    read = slot.key == "patient"
    if slot.needs_fetch:
        slot.resources.clear()
        slot.next_url = None
        slot.source = "fhir_server"
        _take(
            slot,
            fetcher.get(f"{fetcher.base}/{template.replace('{{context.patientId}}', patient_id)}", slot.key, read=read),
            fetched=True,
        )
        slot.needs_fetch = False
    pages = 1
    while slot.next_url is not None:
        if pages >= fetcher.cfg.max_pages:
            raise PreconditionFailed(
                "too_many_pages", f"more than {fetcher.cfg.max_pages} pages for {slot.key!r}", [slot.key]
            )
        url, slot.next_url = slot.next_url, None
        slot.source = "fhir_server" if slot.source == "fhir_server" else "prefetch+fhir_server"
        _take(slot, fetcher.get(url, slot.key, read=False), fetched=True)
        pages += 1


def gather(
    *,
    patient_id: str,
    prefetch: Mapping[str, Any] | None,
    templates: Mapping[str, str],
    fhir_server: str | None,
    access_token: str | None,
    cfg: FhirServerConfig,
    insecure_dev: bool = False,
) -> Gathered:
    """Prefetched data, completed from the FHIR server where needed, merged into one Bundle.

    ``fhir_server`` is checked (:func:`check_fhir_server`) only when something must be
    fetched. Raises :class:`BadRequest` for malformed prefetch or an unacceptable
    ``fhirServer``, and :class:`PreconditionFailed` when data is missing and cannot be fetched
    (CDS Hooks 2.0: 412).
    """
    given = prefetch or {}
    slots = []
    for key in templates:
        slot = _Slot(key)
        if key in given:
            _take(slot, given[key], fetched=False)
        else:
            slot.needs_fetch = True
        slots.append(slot)
    incomplete = [s.key for s in slots if s.needs_fetch or s.next_url is not None]
    requests = 0
    if incomplete:
        if fhir_server is None or access_token is None:
            raise PreconditionFailed(
                "prefetch_missing_no_fhir_server",
                "prefetch is missing or incomplete for "
                + ", ".join(incomplete)
                + ", and the request has no fhirServer and fhirAuthorization to fetch it",
                incomplete,
            )
        fetcher = _Fetcher(check_fhir_server(fhir_server, cfg, insecure_dev=insecure_dev), access_token, cfg)
        try:
            for slot in slots:
                if slot.key in incomplete:
                    _complete(slot, templates[slot.key], patient_id, fetcher)
        finally:
            fetcher.close()
            requests = fetcher.requests
    entries, patient_found, counts = _entries(slots, patient_id)
    bundle = {"resourceType": "Bundle", "id": BUNDLE_ID, "type": "collection", "entry": entries}
    return Gathered(
        bundle=bundle,
        patient_found=patient_found,
        from_prefetch=[s.key for s in slots if s.source == "prefetch"],
        fetched=[s.key for s in slots if s.source != "prefetch"],
        requests=requests,
        counts=counts,
    )


def _entries(slots: list[_Slot], patient_id: str) -> tuple[list[dict[str, Any]], bool, dict[str, int]]:
    """The Bundle entries of every slot (a resource once, the context's Patient only), whether
    that Patient is there, and how many entries each prefetch key gave. Another Patient in the
    ``patient`` slot is :class:`BadRequest` (prefetched) or :class:`PreconditionFailed`."""
    entries: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    patient_found = False
    counts: dict[str, int] = {}
    for slot in slots:
        for resource, full in slot.resources:
            rtype, rid = resource.get("resourceType"), resource.get("id")
            if slot.key == "patient":
                if rtype != "Patient" or rid != patient_id:
                    if slot.source == "prefetch":
                        raise BadRequest(
                            "prefetch 'patient' is not the Patient named by context.patientId", reason="wrong_patient"
                        )
                    raise PreconditionFailed("wrong_patient", "the FHIR server returned another Patient", ["patient"])
                patient_found = True
            elif rtype == "Patient":
                continue  # only the context's Patient is read
            if isinstance(rtype, str) and isinstance(rid, str):
                if (rtype, rid) in seen:
                    continue
                seen.add((rtype, rid))
            entry: dict[str, Any] = {"resource": resource}
            if full is not None:
                entry["fullUrl"] = full
            entries.append(entry)
            counts[slot.key] = counts.get(slot.key, 0) + 1
    return entries, patient_found, counts
