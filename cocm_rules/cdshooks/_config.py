"""The service's configuration: one YAML file, validated with located errors.

Loading uses the project's safe YAML loader (no tags, anchors or duplicate keys; every value
located as ``file:line:column``) and pydantic models that refuse unknown keys. Relative paths
in the file (``jwks_file``, ``rulesets``, ``fhir.definitions``) are read relative to the
file's own folder. ``docs/cds-hooks.md`` shows a complete example.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from .._validation import StrictModel, problems_from
from .._yaml import Document, YamlError, load_file, load_text
from ..episode import CONTACT_KINDS, STATUSES
from ..errors import DefinitionError, Problem
from ..rules.language import CATEGORIES
from ..vocabulary import Recipient

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "AuthConfig",
    "CardLink",
    "EpisodeDefaults",
    "FhirReadingConfig",
    "FhirServerConfig",
    "ServerConfig",
    "ServiceConfig",
    "ServiceConfigError",
    "TrustedClient",
    "is_loopback_host",
    "load_config",
    "parse_config",
]

#: Signing algorithms a CDS client may use. CDS Hooks 2.0, "JWT Signing Algorithm": never
#: ``none`` and never a symmetric (HMAC) algorithm; ES384 and RS384 are RECOMMENDED.
ASYMMETRIC_ALGORITHMS: tuple[str, ...] = (
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class ServiceConfigError(DefinitionError):
    """Raised when the service's configuration file (or a file it names) is wrong; every
    mistake is listed as ``file:line:column``."""

    kind = "service config"


def is_loopback_host(host: str | None) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: addresses only this machine can reach."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_http_url(value: str, what: str, *, https_unless_loopback: bool = True) -> str:
    """An absolute http(s) URL without query or fragment; https unless the host is loopback."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute http(s) URL, e.g. https://cds.example.org")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not have a query or a fragment")
    if https_unless_loopback and parts.scheme != "https" and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"{what} must use https (CDS Hooks 2.0, Security and Safety: all exchanges use TLS); "
            "plain http is accepted only for a loopback host (127.0.0.1, ::1, localhost)"
        )
    return value


def _date_or_today(value: Any) -> Any:
    if isinstance(value, str) and value != "today":
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected 'today' or a date (YYYY-MM-DD), got {value!r}") from None
    return value


class TrustedClient(StrictModel):
    """A CDS client allowed to call the service (keyed by its JWT ``iss``), and where its
    public keys are: exactly one of an inline JWK Set, a JWK Set file, or a JWK Set URL."""

    jwks: dict[str, Any] | None = Field(None, description="an inline JWK Set: {keys: [...]}")
    jwks_file: str | None = Field(None, description="path of a JWK Set JSON file")
    jwks_url: str | None = Field(
        None, description="URL of the client's JWK Set; a token's `jku` header must equal it when present"
    )
    tenants: list[str] | None = Field(
        None, min_length=1, description="if given, the token's `tenant` claim must be one of these"
    )

    @model_validator(mode="after")
    def _one_source(self) -> TrustedClient:
        given = [k for k in ("jwks", "jwks_file", "jwks_url") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of jwks (inline), jwks_file or jwks_url"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.jwks_url is not None:
            check_http_url(self.jwks_url, "jwks_url")
        if self.jwks is not None and not isinstance(self.jwks.get("keys"), list):
            raise ValueError("an inline jwks must be a JWK Set: a mapping with a 'keys' list")
        return self


class AuthConfig(StrictModel):
    """How CDS client JWTs are checked (CDS Hooks 2.0, "Trusting CDS Clients")."""

    algorithms: list[str] = Field(default_factory=lambda: list(ASYMMETRIC_ALGORITHMS), min_length=1)
    clock_skew_seconds: int = Field(60, ge=0, le=300, description="leeway for exp, iat and nbf")
    max_token_lifetime_seconds: int = Field(
        300, ge=1, le=3600, description="a token's exp may be at most this far ahead of now (plus skew)"
    )
    jti_cache_size: int = Field(100_000, ge=1, description="jti values remembered until their token expires")
    jwks_cache_seconds: int = Field(300, ge=0, description="how long a fetched JWK Set is reused")
    jwks_refresh_min_seconds: int = Field(
        30, ge=0, description="an unknown kid refetches the JWK Set at most this often"
    )
    jwks_timeout_seconds: float = Field(5.0, gt=0, le=60)
    require_for_discovery: bool = Field(True, description="discovery (GET /cds-services) needs a token too")

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        for alg in value:
            if alg not in ASYMMETRIC_ALGORITHMS:
                raise ValueError(
                    f"algorithm {alg!r} is not allowed: CDS Hooks 2.0 forbids 'none' and symmetric (HMAC) "
                    f"algorithms; allowed: {', '.join(ASYMMETRIC_ALGORITHMS)}"
                )
        return value


class EpisodeDefaults(StrictModel):
    """What to assume for a patient whose Bundle does not say it (no EpisodeOfCare, or one
    without a program or a start date). Each default applies only to what the Bundle leaves
    out; nothing the Bundle says is overridden."""

    program: Literal["cocm", "smi"] | None = None
    status: Literal["active_treatment", "relapse_prevention_plan", "discharged", "inactive"] | None = None
    enrollment_date: Literal["earliest_assessment"] | None = Field(
        None, description="earliest_assessment: the date of the patient's first measure administration in the data"
    )


class FhirReadingConfig(StrictModel):
    """The settings of the service's :class:`cocm_rules.fhir.FhirReader`, made once at start-up
    (see ``docs/fhir.md``), and of the EpisodeOfCare prefetch."""

    unrecognized: Literal["error", "skip"] = Field(
        "skip",
        description="skip: a response or Observation that matches no measure is left out (the prefetch asks "
        "for all of a patient's QuestionnaireResponses); error: it makes the data unreadable",
    )
    status_map: dict[str, str] | None = None
    contact_kinds: dict[str, str] | None = None
    default_contact_kind: str | None = None
    care_plan_codes: list[str] = Field(default_factory=list)
    contact_roles: dict[str, str] | None = Field(
        None, description="Encounter participant types 'system|code' -> contact role (whose time the minutes are)"
    )
    item_map: dict[str, str] | None = None
    definitions: list[str] = Field(default_factory=list, description="JSON files: Questionnaires, ValueSets, ...")
    episode_of_care_type: str | None = Field(
        None, description="token 'system|code' narrowing the EpisodeOfCare prefetch, e.g. to the CoCM program"
    )

    @field_validator("status_map")
    @classmethod
    def _statuses(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for k, v in (value or {}).items():
            if v not in STATUSES:
                raise ValueError(f"status_map[{k!r}] must be one of {', '.join(STATUSES)} (got {v!r})")
        return value

    @field_validator("default_contact_kind")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        if value is not None and value not in CONTACT_KINDS:
            raise ValueError(f"default_contact_kind must be one of {', '.join(CONTACT_KINDS)} (got {value!r})")
        return value

    @field_validator("episode_of_care_type")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and (value.count("|") != 1 or not all(value.split("|")) or "&" in value):
            raise ValueError(f"episode_of_care_type must be a token 'system|code' (got {value!r})")
        return value


class FhirServerConfig(StrictModel):
    """Fetching from the CDS client's FHIR server when prefetch is missing."""

    timeout_seconds: float = Field(10.0, gt=0, le=120, description="per HTTP request")
    deadline_seconds: float = Field(20.0, gt=0, le=300, description="for all fetches of one hook call")
    max_pages: int = Field(20, ge=1, le=1000, description="Bundle pages followed per prefetch key")
    max_response_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    allowed: list[str] | None = Field(
        None, min_length=1, description="if given, fhirServer must start with one of these base URLs"
    )
    allow_http: bool = Field(False, description="accept a plain-http fhirServer that is not on loopback")


class ServerConfig(StrictModel):
    """Connection limits of the HTTP server (``cocm-rules serve``): a client that is slow to
    send its request is cut off instead of holding a connection (and a worker) open."""

    header_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="the request line and headers must arrive within this time"
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="the body must arrive within this time once the token is accepted (408)"
    )
    keep_alive_seconds: int = Field(5, ge=1, le=120, description="an idle kept-alive connection is closed after this")
    max_header_bytes: int = Field(
        16 * 1024, ge=1024, le=1024 * 1024, description="the request line and headers together, at most"
    )
    max_concurrency: int | None = Field(
        None, ge=1, description="connections and requests at once; beyond it, 503 (default: no limit)"
    )
    threads: int = Field(
        2,
        ge=1,
        le=256,
        description=(
            "calls worked on at once per worker process, off the event loop; the others wait in order "
            "(raise it when calls fetch from a FHIR server: they wait on the network)"
        ),
    )


class CardLink(StrictModel):
    """A link added to cards (CDS Hooks 2.0, Link; type absolute)."""

    label: str = Field(min_length=1)
    url: str

    @field_validator("url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a card link must be an absolute http(s) URL")
        return value


class ServiceConfig(StrictModel):
    """Everything the CDS Hooks service needs; see ``docs/cds-hooks.md``."""

    service_url: str = Field(description="the base URL CDS clients call (JWT aud = service_url + /cds-services...)")
    trusted_clients: dict[str, TrustedClient] = Field(
        default_factory=dict, description="JWT iss -> where its public keys are"
    )
    auth: AuthConfig = Field(default_factory=AuthConfig)
    rulesets: list[str] | None = Field(None, description="ruleset files or folders; default: the bundled set")
    backend: Literal["compiled", "durable"] = "compiled"
    store: str | None = Field(
        None,
        description="alert-state store (needs the 'store' extra): a SQLite file path or a PostgreSQL URL "
        "(postgresql://user@host/db). With it, cards have stable uuids, feedback is recorded, an overridden "
        "card acknowledges its alerts and acknowledged or snoozed alerts are not shown again",
    )
    as_of: Annotated[Literal["today"] | dt.date, BeforeValidator(_date_or_today)] = Field(
        "today", description="'today' (in `timezone`, read when each call arrives) or a fixed date"
    )
    timezone: str = Field("UTC", description="IANA time zone that says which date 'today' is")
    episode_defaults: EpisodeDefaults | None = None
    fhir: FhirReadingConfig = Field(default_factory=FhirReadingConfig)
    fhir_server: FhirServerConfig = Field(default_factory=FhirServerConfig)
    max_request_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    server: ServerConfig = Field(default_factory=ServerConfig)
    openapi: bool = Field(
        True, description="serve the OpenAPI document of the endpoints at /openapi.json (no token needed)"
    )
    card_categories: list[str] | None = Field(None, description="alert categories shown as cards; default: all")
    card_recipients: list[Recipient] | None = Field(
        None,
        min_length=1,
        description="show only alerts addressed to one of these (care_manager, psychiatric_consultant, pcp), "
        "e.g. [pcp] for the service a PCP's EHR calls; suicide-risk alerts are always shown; default: all",
    )
    card_links: dict[str, list[CardLink]] = Field(
        default_factory=dict, description="category (or '*') -> links added to its cards"
    )
    source_url: str | None = Field(None, description="card.source.url: where a clinician can read about the rules")

    @field_validator("service_url")
    @classmethod
    def _service_url(cls, value: str) -> str:
        return check_http_url(value, "service_url").rstrip("/")

    @field_validator("source_url")
    @classmethod
    def _source_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value, "source_url", https_unless_loopback=False)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value == "UTC":
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'America/Chicago')") from None
        return value

    @field_validator("card_categories")
    @classmethod
    def _categories(cls, value: list[str] | None) -> list[str] | None:
        for c in value or []:
            if c not in CATEGORIES:
                raise ValueError(f"unknown alert category {c!r}; allowed: {', '.join(CATEGORIES)}")
        return value

    @field_validator("card_links")
    @classmethod
    def _link_keys(cls, value: dict[str, list[CardLink]]) -> dict[str, list[CardLink]]:
        for c in value:
            if c != "*" and c not in CATEGORIES:
                raise ValueError(f"card_links: unknown alert category {c!r}; allowed: '*', {', '.join(CATEGORIES)}")
        return value

    @field_validator("trusted_clients")
    @classmethod
    def _issuers(cls, value: dict[str, TrustedClient]) -> dict[str, TrustedClient]:
        for iss in value:
            if not iss:
                raise ValueError("a trusted client's iss must not be empty")
        return value

    # -- derived ------------------------------------------------------------------------------
    @property
    def discovery_url(self) -> str:
        """``{service_url}/cds-services``: the JWT ``aud`` of a discovery call."""
        return f"{self.service_url}/cds-services"

    def endpoint_url(self, service_id: str) -> str:
        """``{service_url}/cds-services/{id}``: the JWT ``aud`` of a call to that service."""
        return f"{self.service_url}/cds-services/{service_id}"

    def zone(self) -> dt.tzinfo:
        """The time zone that says which date "today" is."""
        return dt.UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)


_PATH_KEYS: tuple[tuple[str, ...], ...] = (("rulesets",), ("fhir", "definitions"))


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Make the file paths in raw config data absolute, relative to ``base``."""

    def fix(value: Any) -> Any:
        return str((base / value).resolve()) if isinstance(value, str) and not Path(value).is_absolute() else value

    for path in _PATH_KEYS:
        holder: Any = data
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, Mapping) else None
        if isinstance(holder, dict) and isinstance(holder.get(path[-1]), list):
            holder[path[-1]] = [fix(v) for v in holder[path[-1]]]
    clients = data.get("trusted_clients")
    if isinstance(clients, dict):
        for client in clients.values():
            if isinstance(client, dict) and "jwks_file" in client:
                client["jwks_file"] = fix(client["jwks_file"])


def _validate(doc: Document, base: Path) -> ServiceConfig:
    if not isinstance(doc.data, dict):
        raise ServiceConfigError([doc.problem((), "the configuration must be a mapping of keys to values")])
    _resolve_paths(doc.data, base)
    try:
        return ServiceConfig.model_validate(doc.data)
    except ValidationError as e:
        raise ServiceConfigError(problems_from(e, doc, ServiceConfig)) from e


def parse_config(text: str, *, file: str = "<string>", base_dir: str | Path = ".") -> ServiceConfig:
    """A :class:`ServiceConfig` from YAML text; relative paths are read from ``base_dir``.

    Raises :class:`ServiceConfigError` listing every mistake as ``file:line:column``.
    """
    try:
        doc = load_text(text, file)
    except YamlError as e:
        raise ServiceConfigError(e.problems) from e
    return _validate(doc, Path(base_dir))


def load_config(path: str | Path) -> ServiceConfig:
    """Load the service's YAML configuration file (see ``docs/cds-hooks.md``).

    Raises :class:`ServiceConfigError` listing every mistake as ``file:line:column``.
    """
    try:
        doc = load_file(path)
    except YamlError as e:
        raise ServiceConfigError(e.problems) from e
    return _validate(doc, Path(path).resolve().parent)


def config_problem(message: str, *, file: str | None = None, context: str | None = None) -> ServiceConfigError:
    """A one-problem :class:`ServiceConfigError` (a file the configuration names is wrong)."""
    return ServiceConfigError([Problem(message, file=file, context=context)])
