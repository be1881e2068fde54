"""The EHR's bearer token, checked as the CDS Hooks 2.0 security section says.

The EHR signs a short-lived JWT (header `alg`, `kid`, optional `jku`; claims `iss`, `aud` = the
called endpoint's URL, `exp`, `iat`, `jti`) with an asymmetric key it publishes as a JWKS. This
module trusts only configured issuers, finds the key by `kid` in the issuer's JWKS (a URL
fetched with `requests` and cached, refetched once on an unknown `kid`, or a local file),
honours `jku` only when it is on that issuer's allow-list, accepts asymmetric algorithms only
(never `none`, never HMAC, whose "secret" could be the public key), checks the time claims with
a small leeway, refuses a token that lives longer than `token_max_lifetime_s` (5 minutes) and
a `jti` seen before within its lifetime (`JtiStore`, where what happens when Redis is down is
decided and explained).

Every failure raises `TokenRejected` with a reason for the service's own log; the caller answers
401 without detail. The token itself is never logged or kept, only its `jti` (hashed).
An issuer also lists the FHIR servers its tokens may name (`fhir_servers`): a call's
`fhirServer` is read only when it is one of them
(`cds_service.adapters.fhir_client.FhirServerPolicy`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import redis
import requests

from cds_service.config import Settings
from cds_service.core.deadline import Deadline
from cds_service.operations.log_sampler import LogSampler
from cds_service.protocol.fhir_servers import base_url_problem, normalise_base

ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
MAX_TOKEN_BYTES = 16 * 1024
ISSUER_KEYS = frozenset({"iss", "jwks_url", "jwks_file", "jku_allowed", "fhir_servers"})
_FALLBACK_LOG_EVERY_S = 10.0

log = logging.getLogger("cds_service.auth")


class TokenRejected(Exception):
    """Why a token was refused: for the log, never for the caller."""


class ReplayCheckUnavailable(Exception):
    """The shared replay store did not answer and the call writes data: it must be resent."""


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    iss: str
    jwks_url: str | None = None  # where the issuer publishes its keys
    jwks_file: Path | None = None  # or a pinned local copy of them (then no URL is fetched)
    jku_allowed: tuple[str, ...] = ()  # JWKS URLs a token's `jku` header may name
    fhir_servers: tuple[str, ...] = ()  # FHIR bases its tokens may name (no trailing slash)


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    issuer: str
    claims: dict[str, Any] = field(repr=False)
    fhir_servers: tuple[str, ...] = ()  # the issuer's: what this call's fhirServer may be


class JwksCache:
    """Key sets by URL or file; a URL is refetched after `max_age_s`, or at once (at most every
    `min_refresh_s`) when a token names a `kid` it does not hold."""

    def __init__(
        self,
        *,
        timeout_s: float = 2.0,
        max_age_s: float = 3600.0,
        min_refresh_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout_s, self.max_age_s, self.min_refresh_s = timeout_s, max_age_s, min_refresh_s
        self._clock = clock
        self._sets: dict[str, tuple[float, dict[str, jwt.PyJWK]]] = {}
        self._lock = threading.Lock()

    def key(self, source: str, kid: str, deadline: Deadline | None = None) -> jwt.PyJWK:
        """`deadline`: the hook call's; a fetch waits no longer than it allows."""
        with self._lock:
            cached = self._sets.get(source)
        now = self._clock()
        if (
            cached is None
            or now - cached[0] > self.max_age_s
            or (kid not in cached[1] and now - cached[0] > self.min_refresh_s)
        ):
            timeout = (deadline or Deadline.unlimited()).timeout(self.timeout_s)
            keys = self._load(source, timeout)
            with self._lock:
                self._sets[source] = (now, keys)
            cached = (now, keys)
        if kid not in cached[1]:
            raise TokenRejected(f"no key {kid[:40]!r} in the issuer's key set")
        return cached[1][kid]

    def _load(self, source: str, timeout_s: float) -> dict[str, jwt.PyJWK]:
        try:
            if source.startswith(("https://", "http://")):
                response = requests.get(source, timeout=timeout_s)
                response.raise_for_status()
                document = response.json()
            else:
                document = json.loads(Path(source).read_text(encoding="utf-8"))
            keys = {}
            for entry in document.get("keys", []):
                if isinstance(entry, dict) and isinstance(entry.get("kid"), str):
                    try:
                        keys[entry["kid"]] = jwt.PyJWK(entry)
                    except jwt.PyJWTError:
                        continue  # a key type this service does not use
            return keys
        except (requests.RequestException, OSError, ValueError, AttributeError) as error:
            raise TokenRejected(f"the key set could not be read ({type(error).__name__})") from None


class JtiStore:
    """Token ids seen within their tokens' lifetime, so that each token is accepted once.

    The store is Redis, shared by every worker and replica. When Redis does not answer, what
    happens depends on what the call does (a decision, docs/service.md "EHR tokens"):

    * a hook call only reads and answers with warnings a prescriber must not lose to a cache
      outage: its check falls back to this process's memory. A captured token could then be
      replayed once in each other worker process, and for at most its lifetime (5 minutes at
      most, `token_max_lifetime_s`); a replayed hook call returns the same kind of cards to the
      same caller. Each fallback is counted (`ddi_cds_replay_store_fallbacks_total`) and logged.
    * a feedback call writes to the service's records: it fails closed
      (`ReplayCheckUnavailable`, answered 503 "replay check unavailable; resend later"), so that
      a replayed token can never store data twice.

    `one_process`: this process is the whole service (the WSGI server says so:
    `wsgi.multiprocess` false, as for `ddi-cds serve` or one gunicorn worker), so its memory
    sees every call and stands in for Redis for both kinds of call (what Redis alone had seen
    before it went down is not known to it; counted all the same)."""

    def __init__(self, client: redis.Redis | None) -> None:
        self._client = client
        self._local: dict[str, float] = {}
        self._lock = threading.Lock()
        self._fallbacks = LogSampler(_FALLBACK_LOG_EVERY_S)  # not a line per call

    def first_use(
        self,
        issuer: str,
        jti: str,
        ttl_s: float,
        *,
        writes: bool = False,
        one_process: bool = False,
    ) -> bool:
        """Whether this is the first use of (`issuer`, `jti`); remembered `ttl_s` seconds.
        `writes`: the call stores data (feedback), so a shared store is required."""
        key = "ddi-cds:jti:" + hashlib.sha256(f"{issuer}|{jti}".encode()).hexdigest()[:40]
        ttl = max(1, math.ceil(ttl_s))
        if self._client is not None:
            try:
                return bool(self._client.set(key, b"1", nx=True, ex=ttl))
            except (redis.RedisError, OSError) as error:
                self._fall_back(writes and not one_process, type(error).__name__)
        elif not one_process:
            self._fall_back(writes, "no Redis configured and several processes")
        now = time.time()
        with self._lock:
            for old in [k for k, until in self._local.items() if until < now]:
                del self._local[old]
            if key in self._local:
                return False
            self._local[key] = now + ttl
            return True

    def _fall_back(self, writes: bool, why: str) -> None:
        if writes:
            log.warning("token replay store unavailable (%s): a feedback call is refused", why)
            raise ReplayCheckUnavailable(why)
        # Imported here: `serve --production` sets the metrics up first.
        from cds_service.operations import metrics

        metrics.REPLAY_FALLBACKS.inc()
        count = self._fallbacks.note()
        if count is not None:
            log.warning(
                "token replay store unavailable (%s): %d token(s) checked against this "
                "process's memory only since the last such line "
                "(ddi_cds_replay_store_fallbacks_total counts them)",
                why,
                count,
            )


class TokenVerifier:
    def __init__(
        self,
        issuers: list[TrustedIssuer],
        jwks: JwksCache,
        jti_store: JtiStore,
        *,
        leeway_s: float = 30.0,
        max_lifetime_s: float = 300.0,
    ) -> None:
        self.issuers = {issuer.iss: issuer for issuer in issuers}
        self.jwks, self.jti_store, self.leeway_s = jwks, jti_store, leeway_s
        self.max_lifetime_s = max_lifetime_s

    def verify(
        self,
        authorization: str | None,
        audience: str,
        deadline: Deadline | None = None,
        *,
        writes: bool = False,
        one_process: bool = False,
    ) -> VerifiedToken:
        """The token of an `Authorization: Bearer …` header, checked for `audience`; a key set
        fetched on the way waits no longer than `deadline` allows. `writes`: the call stores
        data, so its replay check must be shared (raises `ReplayCheckUnavailable` otherwise);
        `one_process`: this process is the whole service (see `JtiStore`)."""
        if not authorization or not authorization.startswith("Bearer "):
            raise TokenRejected("no bearer token")
        token = authorization.removeprefix("Bearer ").strip()
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRejected("token too large")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise TokenRejected(f"not a JWT ({type(error).__name__})") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise TokenRejected(f"algorithm {str(algorithm)[:20]!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("no kid in the header")
        issuer = self.issuers.get(unverified.get("iss"))  # type: ignore[arg-type]
        if issuer is None:
            raise TokenRejected("issuer not trusted")
        source = self._key_source(issuer, header.get("jku"))
        key = self.jwks.key(source, kid, deadline)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer.iss,
                leeway=self.leeway_s,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as error:
            raise TokenRejected(f"token refused ({type(error).__name__})") from None
        issued, expires = claims["iat"], claims["exp"]
        if not all(
            isinstance(t, int | float) and not isinstance(t, bool) for t in (issued, expires)
        ):
            raise TokenRejected("iat and exp must be numbers")
        now = time.time()
        if issued > now + self.leeway_s:
            raise TokenRejected("issued in the future")
        if expires - issued > self.max_lifetime_s:
            raise TokenRejected(f"lives {expires - issued:.0f} s, over {self.max_lifetime_s:.0f}")
        # Remembered while the token is acceptable (to exp plus the leeway), which the lifetime
        # check bounds: never longer than the lifetime and twice the leeway.
        remember_s = min(expires + self.leeway_s - now, self.max_lifetime_s + 2 * self.leeway_s)
        if not self.jti_store.first_use(
            issuer.iss, str(claims["jti"]), remember_s + 1, writes=writes, one_process=one_process
        ):
            raise TokenRejected("jti already used")
        return VerifiedToken(issuer.iss, claims, issuer.fhir_servers)

    @staticmethod
    def _key_source(issuer: TrustedIssuer, jku: Any) -> str:
        """A `jku` must be on the allow-list; a pinned local file, when configured, wins over
        any URL (an offline site pins its EHR's keys)."""
        if jku is not None and jku not in issuer.jku_allowed:
            raise TokenRejected("jku not on the issuer's allow-list")
        if issuer.jwks_file:
            return str(issuer.jwks_file)
        if jku is not None:
            return str(jku)
        if issuer.jwks_url:
            return issuer.jwks_url
        raise TokenRejected("the issuer has no key set configured")


def token_verifier(settings: Settings, client: redis.Redis | None) -> TokenVerifier:
    """The verifier the settings describe; `client`: Redis for the replay store (None: not
    configured). Raises ValueError when the settings cannot be served safely."""
    issuers = trusted_issuers(settings)
    if not issuers:
        log.warning(
            "no trusted EHR issuers configured (DDI_CDS_TRUSTED_ISSUERS_FILE): every hook and "
            "feedback call will be refused with 401; for local development use --no-auth"
        )
    return TokenVerifier(
        issuers,
        JwksCache(),  # a fetch on the request path is cut to the call's deadline
        JtiStore(client),
        leeway_s=settings.auth_leeway_s,
        max_lifetime_s=settings.token_max_lifetime_s,
    )


def trusted_issuers(settings: Settings) -> list[TrustedIssuer]:
    """The issuers file's issuers, once the settings that go with them are sound: with any
    issuer, `public_base_url` is required, because a token's `aud` must be checked against the
    service's own URL and never against the Host header a caller chooses."""
    path = settings.trusted_issuers_file
    issuers = load_trusted_issuers(path) if path else []
    if issuers and not settings.public_base_url:
        raise ValueError(
            "DDI_CDS_PUBLIC_BASE_URL must be set when trusted issuers are configured "
            "(DDI_CDS_TRUSTED_ISSUERS_FILE): tokens' aud is checked against it, never against "
            "the request's Host header; set it to the service's URL as the EHRs call it, "
            "e.g. https://cds.hospital.example"
        )
    if settings.public_base_url:
        problem = base_url_problem(settings.public_base_url, http_loopback=True)
        if problem == "plain http":  # TLS ends at a proxy in front; the URL is what EHRs use
            problem = None
        if problem is not None:
            raise ValueError(
                f"DDI_CDS_PUBLIC_BASE_URL={settings.public_base_url!r} is not a base URL "
                f"({problem})"
            )
    if settings.token_max_lifetime_s <= 0:
        raise ValueError("DDI_CDS_TOKEN_MAX_LIFETIME_S must be a positive number of seconds")
    return issuers


def load_trusted_issuers(path: Path) -> list[TrustedIssuer]:
    """The issuers file: a JSON list of {"iss", "jwks_url" or "jwks_file", "jku_allowed",
    "fhir_servers"}. A relative `jwks_file` is read next to the issuers file; `fhir_servers`
    are the exact https base URLs the issuer's tokens may name as `fhirServer` (none: the
    service reads prefetched data only). Raises ValueError saying what is wrong, so a
    misconfigured service does not start."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"trusted issuers file {path}: {error}") from None
    if not isinstance(entries, list):
        raise ValueError(f"trusted issuers file {path}: expected a JSON list of issuers")
    issuers = []
    for number, entry in enumerate(entries):
        where = f"trusted issuers file {path}, entry {number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("iss"), str):
            raise ValueError(f"{where}: needs an 'iss' string")
        unknown = set(entry) - ISSUER_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        jwks_file = entry.get("jwks_file")
        if not entry.get("jwks_url") and not jwks_file:
            raise ValueError(f"{where}: needs 'jwks_url' or 'jwks_file'")
        allowed = entry.get("jku_allowed", [])
        if not isinstance(allowed, list) or not all(isinstance(u, str) for u in allowed):
            raise ValueError(f"{where}: 'jku_allowed' must be a list of URLs")
        issuers.append(
            TrustedIssuer(
                iss=entry["iss"],
                jwks_url=entry.get("jwks_url"),
                jwks_file=(path.parent / jwks_file) if jwks_file else None,
                jku_allowed=tuple(allowed),
                fhir_servers=_fhir_servers(entry.get("fhir_servers", []), where),
            )
        )
    return issuers


def _fhir_servers(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise ValueError(f"{where}: 'fhir_servers' must be a list of https base URLs")
    for url in value:
        problem = base_url_problem(url)
        if problem is not None:
            raise ValueError(
                f"{where}: fhir_servers {url[:200]!r} is not an https base ({problem})"
            )
    return tuple(normalise_base(url) for url in value)
