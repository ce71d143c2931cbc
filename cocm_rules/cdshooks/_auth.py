"""Trusting CDS clients: verifying the JWT every call carries.

CDS Hooks 2.0, "Security and Safety" / "Trusting CDS Clients": each request carries
``Authorization: Bearer {{JWT}}``, signed by the CDS client with its private key (RFC 7515).
The JWT header has ``alg``, ``kid`` (REQUIRED, unique in the client's JWK Set), ``typ``
(REQUIRED, fixed ``JWT``) and optionally ``jku``; the payload has ``iss``, ``aud`` (the URL of
the CDS Service endpoint being invoked, a string or an array of strings), ``exp``, ``iat``,
``jti`` (all REQUIRED) and optionally ``tenant``. "JWT Signing Algorithm": never ``none``,
never a symmetric algorithm. Services SHOULD allow-list ``iss`` and ``jku``.

What this module checks, in order (each failure has a short reason code, logged; the token
itself and its contents never are):

1. an ``Authorization: Bearer`` header with a token of sane size;
2. header: ``alg`` in the configured asymmetric list; ``typ`` JWT; ``kid`` present;
3. ``iss`` is a configured trusted client; ``jku``, if present, equals that client's
   configured ``jwks_url`` (never fetched from the token);
4. the ``kid`` is in the client's JWK Set (inline, file, or fetched from ``jwks_url`` and
   cached; an unknown kid refetches it, rate-limited, for key rotation); the key's type and
   curve fit ``alg``, its ``use`` is ``sig`` and its own ``alg``, if any, equals the header's;
5. the signature;
6. ``aud`` contains the exact URL of the endpoint called; ``exp`` present, not past (with
   the configured skew) and at most ``max_token_lifetime_seconds`` ahead; ``iat`` present
   and not in the future; ``nbf``, if present, reached; ``jti`` present; ``tenant`` in the
   client's allow-list when one is configured;
7. ``(iss, jti)`` was never seen while its token could be valid (the replay cache keeps it
   until ``exp`` + skew), and only then is it recorded (the Implementation Best Practices,
   "CDS Services: JWT").

The 5-minute bound on ``exp`` is this service's policy, not a line of CDS Hooks 2.0 (which
only requires ``exp``); it is the same bound SMART Backend Services sets on its
authentication JWTs, and it keeps the replay cache small.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import httpx
import jwt

from .._json import loads as strict_json
from .._log import get_logger
from ..errors import CocmRulesError
from ._config import AuthConfig, ServiceConfig, TrustedClient, config_problem

__all__ = ["AuthError", "Caller", "KeyStore", "ReplayCache", "Verifier"]

log = get_logger(__name__)

MAX_TOKEN_CHARS = 16 * 1024
MAX_JWKS_BYTES = 256 * 1024
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def _key_type(alg: str) -> str:
    return {"ES": "EC", "RS": "RSA", "PS": "RSA", "Ed": "OKP"}[alg[:2]]


class AuthError(CocmRulesError):
    """Raised when a request is not authenticated (:meth:`Verifier.verify`). ``reason`` is a
    short code for the log; ``status`` the HTTP status to answer (401, or 503 when the replay
    cache is full). The client only ever sees a generic 401 (the Best Practices advise not to
    say why)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


@dataclass(frozen=True)
class Caller:
    """Who called, from a verified token (safe to log: the Best Practices name iss, tenant, jti)."""

    iss: str
    tenant: str | None
    jti: str


class ReplayCache:
    """``(iss, jti)`` pairs seen, each kept until its token can no longer be valid. Thread-safe.

    When full of unexpired entries it refuses new tokens (fails closed, 503) rather than forget.
    """

    def __init__(self, max_entries: int, clock: Callable[[], float]) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, iss: str, jti: str, until: float) -> None:
        """Record a jti; raise :class:`AuthError` if it was seen and has not expired."""
        key = (iss, jti)
        with self._lock:
            now = self.clock()
            seen_until = self._seen.get(key)
            if seen_until is not None and seen_until >= now:
                raise AuthError("jti_replayed")
            if len(self._seen) >= self.max_entries:
                self._seen = {k: v for k, v in self._seen.items() if v >= now}
                if len(self._seen) >= self.max_entries:
                    raise AuthError("replay_cache_full", status=503)
            self._seen[key] = until


def _keys_by_kid(jwks: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise ValueError(f"{where} is not a JWK Set (a JSON object with a 'keys' list)")
    out: dict[str, dict[str, Any]] = {}
    for key in jwks["keys"]:
        if isinstance(key, Mapping) and isinstance(key.get("kid"), str) and key["kid"]:
            if "d" in key or key.get("kty") == "oct":
                raise ValueError(
                    f"{where} holds a private or symmetric key (kid {key['kid']!r}); give public keys only"
                )
            out[key["kid"]] = dict(key)
    return out


class KeyStore:
    """The public keys of one trusted CDS client."""

    def __init__(self, iss: str, client: TrustedClient, auth: AuthConfig, clock: Callable[[], float]) -> None:
        self.iss = iss
        self.jwks_url = client.jwks_url
        self.tenants = frozenset(client.tenants) if client.tenants is not None else None
        self.auth = auth
        self.clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        if client.jwks is not None:
            try:
                self._keys = _keys_by_kid(client.jwks, f"the inline jwks of {iss!r}")
            except ValueError as e:
                raise config_problem(str(e), context=f"trusted_clients[{iss!r}]") from e
        elif client.jwks_file is not None:
            try:
                with open(client.jwks_file, "rb") as f:
                    data = strict_json(f.read())  # a kid repeated in one key would be a guess too
                self._keys = _keys_by_kid(data, "the file")
            except (OSError, ValueError) as e:
                raise config_problem(
                    f"cannot use this JWK Set file: {e}", file=client.jwks_file, context=f"trusted_clients[{iss!r}]"
                ) from e

    def _fetch(self) -> None:
        assert self.jwks_url is not None
        started = time.monotonic()
        self._attempted_at = self.clock()
        try:
            with (
                httpx.Client(timeout=self.auth.jwks_timeout_seconds, follow_redirects=False) as client,
                client.stream("GET", self.jwks_url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise ValueError(f"HTTP {response.status_code}")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise ValueError("JWK Set too large")
            keys = _keys_by_kid(strict_json(body), "the response")
        except (httpx.HTTPError, ValueError) as e:
            log.warning(
                "cdshooks.jwks_fetch_failed", iss=self.iss, error=type(e).__name__, using_cached=bool(self._keys)
            )
            return
        self._keys = keys
        self._fetched_at = self.clock()
        log.info("cdshooks.jwks_fetched", iss=self.iss, keys=len(keys), seconds=round(time.monotonic() - started, 3))

    def key(self, kid: str) -> dict[str, Any] | None:
        """The JWK with this ``kid``. A ``jwks_url`` is fetched when the cached set is older
        than ``jwks_cache_seconds`` or lacks the kid (key rotation), at most once every
        ``jwks_refresh_min_seconds``; if a refresh fails, the keys fetched before stay in use.
        Raises :class:`AuthError` (``jwks_unavailable``) when no key set could ever be fetched."""
        if self.jwks_url is None:
            return self._keys.get(kid)
        with self._lock:
            now = self.clock()
            expired = self._fetched_at is None or now - self._fetched_at > self.auth.jwks_cache_seconds
            may_fetch = self._attempted_at is None or now - self._attempted_at >= self.auth.jwks_refresh_min_seconds
            if (expired or kid not in self._keys) and may_fetch:
                self._fetch()
            if self._fetched_at is None:
                raise AuthError("jwks_unavailable")
            return self._keys.get(kid)


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Verifier:
    """Checks the bearer JWT of each call (see the module docstring for the order)."""

    def __init__(self, config: ServiceConfig, clock: Callable[[], float] = time.time) -> None:
        self.auth = config.auth
        self.clock = clock
        self.stores = {iss: KeyStore(iss, c, config.auth, clock) for iss, c in config.trusted_clients.items()}
        self.replay = ReplayCache(config.auth.jti_cache_size, clock)

    def verify(self, authorization: str | None, audiences: Sequence[str]) -> Caller:
        """Return the verified :class:`Caller`, or raise :class:`AuthError`.

        ``audiences`` are the URLs accepted as ``aud`` for the endpoint called.
        """
        if not authorization:
            raise AuthError("missing_authorization")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("not_bearer")
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthError("token_too_long")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as e:
            raise AuthError("malformed_token") from e
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.auth.algorithms:
            raise AuthError("algorithm_not_allowed")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise AuthError("typ_not_jwt")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("kid_missing")
        iss = unverified.get("iss")
        if not isinstance(iss, str) or not iss:
            raise AuthError("iss_missing")
        store = self.stores.get(iss)
        if store is None:
            raise AuthError("issuer_not_trusted")
        jku = header.get("jku")
        if jku is not None and (store.jwks_url is None or jku != store.jwks_url):
            raise AuthError("jku_not_allowed")
        jwk = store.key(kid)
        if jwk is None:
            raise AuthError("unknown_kid")
        if (
            jwk.get("kty") != _key_type(alg)
            or (alg in _CURVES and jwk.get("crv") != _CURVES[alg])
            or jwk.get("use", "sig") != "sig"
            or jwk.get("alg", alg) != alg
            or ("key_ops" in jwk and "verify" not in (jwk.get("key_ops") or []))
        ):
            raise AuthError("key_does_not_fit_algorithm")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg).key
            payload = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                options={
                    "verify_signature": True,
                    "verify_exp": False,  # the claims are checked below, against this service's clock
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_sub": False,
                    "verify_jti": False,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.InvalidSignatureError as e:
            raise AuthError("bad_signature") from e
        except jwt.PyJWTError as e:
            raise AuthError("key_or_token_rejected") from e
        return self._claims(payload, iss, store, audiences)

    def _claims(self, payload: dict[str, Any], iss: str, store: KeyStore, audiences: Sequence[str]) -> Caller:
        now = self.clock()
        skew = self.auth.clock_skew_seconds
        aud = payload.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(a, str) and a in audiences for a in auds):
            raise AuthError("wrong_audience")
        exp = payload.get("exp")
        if not _number(exp):
            raise AuthError("exp_missing")
        if now > exp + skew:
            raise AuthError("expired")
        if exp > now + self.auth.max_token_lifetime_seconds + skew:
            raise AuthError("exp_too_far_ahead")
        iat = payload.get("iat")
        if not _number(iat):
            raise AuthError("iat_missing")
        if iat > now + skew:
            raise AuthError("iat_in_future")
        if exp < iat:
            raise AuthError("exp_before_iat")
        nbf = payload.get("nbf")
        if nbf is not None and (not _number(nbf) or nbf > now + skew):
            raise AuthError("not_yet_valid")
        jti = payload.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise AuthError("jti_missing")
        tenant = payload.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise AuthError("tenant_not_allowed")
        if store.tenants is not None and tenant not in store.tenants:
            raise AuthError("tenant_not_allowed")
        self.replay.add(iss, jti, until=float(exp) + skew)
        return Caller(iss=iss, tenant=tenant, jti=jti)
