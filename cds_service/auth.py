"""The EHR's bearer token, checked as the CDS Hooks 2.0 security section says.

The EHR signs a short-lived JWT (header `alg`, `kid`, optional `jku`; claims `iss`, `aud` = the
called endpoint's URL, `exp`, `iat`, `jti`) with an asymmetric key it publishes as a JWKS. This
module trusts only configured issuers, finds the key by `kid` in the issuer's JWKS (a URL
fetched with `requests` and cached, refetched once on an unknown `kid`, or a local file),
honours `jku` only when it is on that issuer's allow-list, accepts asymmetric algorithms only
(never `none`, never HMAC, whose "secret" could be the public key), checks the time claims with
a small leeway and refuses a `jti` seen before within its lifetime.

Every failure raises `TokenRejected` with a reason for the service's own log; the caller answers
401 without detail. The token itself is never logged or kept, only its `jti` (hashed).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import redis
import requests

from cds_service.deadline import Deadline

ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
MAX_TOKEN_BYTES = 16 * 1024


class TokenRejected(Exception):
    """Why a token was refused: for the log, never for the caller."""


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    iss: str
    jwks_url: str | None = None  # where the issuer publishes its keys
    jwks_file: Path | None = None  # or a pinned local copy of them (then no URL is fetched)
    jku_allowed: tuple[str, ...] = ()  # JWKS URLs a token's `jku` header may name


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    issuer: str
    claims: dict[str, Any] = field(repr=False)


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
        stale = cached is None or now - cached[0] > self.max_age_s
        if stale or (kid not in cached[1] and now - cached[0] > self.min_refresh_s):
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
    """Token ids seen within their lifetime: Redis (shared by all workers), or this process's
    memory when Redis is unavailable."""

    def __init__(self, client: redis.Redis | None) -> None:
        self._client = client
        self._local: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        key = "ddi-cds:jti:" + hashlib.sha256(f"{issuer}|{jti}".encode()).hexdigest()[:40]
        ttl = max(1, int(expires_at - time.time()) + 1)
        if self._client is not None:
            try:
                return bool(self._client.set(key, b"1", nx=True, ex=ttl))
            except (redis.RedisError, OSError):
                pass  # the local memory still refuses replays to this process
        now = time.time()
        with self._lock:
            for old in [k for k, until in self._local.items() if until < now]:
                del self._local[old]
            if key in self._local:
                return False
            self._local[key] = now + ttl
            return True


class TokenVerifier:
    def __init__(
        self,
        issuers: list[TrustedIssuer],
        jwks: JwksCache,
        jti_store: JtiStore,
        *,
        leeway_s: float = 30.0,
    ) -> None:
        self.issuers = {issuer.iss: issuer for issuer in issuers}
        self.jwks, self.jti_store, self.leeway_s = jwks, jti_store, leeway_s

    def verify(
        self, authorization: str | None, audience: str, deadline: Deadline | None = None
    ) -> VerifiedToken:
        """The token of an `Authorization: Bearer …` header, checked for `audience`; a key set
        fetched on the way waits no longer than `deadline` allows."""
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
        if claims["iat"] > time.time() + self.leeway_s:
            raise TokenRejected("issued in the future")
        if not self.jti_store.first_use(issuer.iss, str(claims["jti"]), float(claims["exp"])):
            raise TokenRejected("jti already used")
        return VerifiedToken(issuer.iss, claims)

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


def load_trusted_issuers(path: Path) -> list[TrustedIssuer]:
    """The issuers file: a JSON list of {"iss", "jwks_url" or "jwks_file", "jku_allowed"}.
    A relative `jwks_file` is read next to the issuers file. Raises ValueError saying what is
    wrong, so a misconfigured service does not start."""
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
        unknown = set(entry) - {"iss", "jwks_url", "jwks_file", "jku_allowed"}
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
            )
        )
    return issuers
