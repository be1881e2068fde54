"""Pair predictions cached in Redis, with a process-local LRU in front and a circuit breaker.

A value is one pair's calibrated probabilities over every side effect, as float16 bytes (two
bytes per side effect): a changed threshold or tier setting needs no cache flush. Keys carry
the model version, so a new model never reads an old model's numbers. Redis is an accelerator,
never a dependency: any Redis error or timeout counts as a miss, and after
`breaker_failures` consecutive failures Redis is not called for `breaker_cooldown_s`, so a dead
Redis costs one timeout per cool-down, not one per request.

Redis decides what a card says, so what it returns is not trusted: every value written there
carries an HMAC-SHA-256 over the Redis key and the value (`RedisMac`), and a value that does not
verify (forged, corrupted, copied from another pair's key, or written under another key) is a
miss, counted (`ddi_cds_cache_rejected_total`) and logged (sampled). The in-process LRU holds
values verified or computed in this process, so it carries no MAC.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast
from urllib.parse import urlsplit

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cds_service.operations import metrics
from cds_service.operations.log_sampler import LogSampler

_T = TypeVar("_T")

log = logging.getLogger("cds_service.cache")
_LOOKUP_RESULT = {"hits_local": "local", "hits_redis": "redis", "misses": "miss"}
KEY_PREFIX = "ddi-cds:pair"
MAC_BYTES = 32  # the whole HMAC-SHA-256: 32 bytes on a 1.9 kB value cost nothing
# Derives the MAC key from the pseudonym key: a label of its own, so that the two keys differ
INTEGRITY_LABEL = b"ddi-cds cache v1"
REJECTION_LOG_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class CacheState:
    redis: str  # "up", "down" (the last call failed or the breaker is open) or "off" (no URL)
    detail: str
    hits_local: int
    hits_redis: int
    misses: int
    redis_errors: int
    rejected: int  # values from Redis that failed verification (also counted as misses)


@functools.cache
def request_path_client(
    redis_url: str, timeout_s: float, ca_file: Path | None = None
) -> redis.Redis:
    """A Redis client for the request path: millisecond timeouts, one attempt, no retries. One
    per URL, timeout and CA file in a process, so that the cache, the token replay store and the
    repeat-card store share its connection pool (redis-py remakes the pool in a forked worker).

    `rediss://` is TLS; `ca_file` verifies a server certificate a private CA signed. Errors name
    the setting, never the URL: it may carry the password."""
    tls = urlsplit(redis_url).scheme == "rediss"
    options: dict[str, object] = {}
    if ca_file is not None:
        if not tls:  # a CA file with a plain URL would look like TLS and be cleartext
            raise ValueError("DDI_CDS_REDIS_CA_FILE is set but DDI_CDS_REDIS_URL is not rediss://")
        if not Path(ca_file).is_file():
            raise ValueError(f"DDI_CDS_REDIS_CA_FILE: {ca_file} is not a readable file")
        options["ssl_ca_certs"] = str(ca_file)
    if tls:  # explicit: redis-py before 6 did not check the certificate's host name
        options.update(ssl_cert_reqs="required", ssl_check_hostname=True)
    return redis.Redis.from_url(
        redis_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        **options,
    )


def integrity_key(configured: str, pseudonym_key: bytes) -> bytes:
    """The key of the MACs on what the service keeps in Redis: `configured` (hex, from
    DDI_CDS_CACHE_KEY), else derived from the pseudonym key, which every worker and replica
    sharing a Redis already shares; Redis never learns either."""
    if configured:
        try:
            key = bytes.fromhex(configured)
        except ValueError:
            raise ValueError("DDI_CDS_CACHE_KEY must be hexadecimal") from None
        if len(key) < 16:
            raise ValueError("DDI_CDS_CACHE_KEY needs at least 16 bytes")
        return key
    return hmac.new(pseudonym_key, INTEGRITY_LABEL, hashlib.sha256).digest()


class RedisMac:
    """HMAC-SHA-256 for values kept in Redis, and keyed names for keys that hold identifiers.

    A value is stored as `tag || payload`, the tag over b"value\0", the key's length (4 bytes,
    big-endian), the key and the payload: a genuine value copied under another key (another
    pair, another model version) does not verify there. Names are over b"name\0" and a JSON
    list, so the two uses never share a message."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a cache integrity key needs at least 16 bytes")
        self._key = key

    def seal(self, redis_key: str, payload: bytes) -> bytes:
        return self._tag(redis_key, payload) + payload

    def open(self, redis_key: str, value: object) -> bytes | None:
        """The payload, or None when `value` is not one this key sealed under `redis_key`."""
        if not isinstance(value, bytes) or len(value) < MAC_BYTES:
            return None
        tag, payload = value[:MAC_BYTES], value[MAC_BYTES:]
        return payload if hmac.compare_digest(tag, self._tag(redis_key, payload)) else None

    def name(self, parts: Sequence[str]) -> str:
        """A keyed name for identifiers: without the key, guessed ids cannot be tested."""
        message = b"name\0" + json.dumps(list(parts), ensure_ascii=False).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _tag(self, redis_key: str, payload: bytes) -> bytes:
        name = redis_key.encode("utf-8")
        message = b"value\0" + len(name).to_bytes(4, "big") + name + payload
        return hmac.new(self._key, message, hashlib.sha256).digest()


class RejectionLog:
    """Logs values that failed verification at most once per interval, with the count since,
    so that a flood of forged values cannot flood the log."""

    def __init__(
        self,
        what: str,
        interval_s: float = REJECTION_LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self._sampler = LogSampler(interval_s, clock)

    def record(self, keys: Sequence[str]) -> None:
        count = self._sampler.note(len(keys)) if keys else None
        if count is None:
            return
        log.warning(
            "%d %s from Redis failed verification (forged, corrupted, moved from another key, "
            "or written with another key), ignored; e.g. %s",
            count,
            self.what,
            keys[0],
        )


def cache_key(model_version: str, drug_a: str, drug_b: str) -> str:
    """The model is symmetric in its two drugs, so the pair is stored once, in sorted order."""
    first, second = sorted((drug_a, drug_b))
    return f"{KEY_PREFIX}:{model_version}:{first}:{second}"


class PredictionCache:
    def __init__(
        self,
        redis_url: str | None,
        *,
        key: bytes,
        ca_file: Path | None = None,
        timeout_s: float = 0.05,
        ttl_s: int = 7 * 24 * 3600,
        local_entries: int = 10_000,
        breaker_failures: int = 3,
        breaker_cooldown_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.local_entries = local_entries
        self.breaker_failures = breaker_failures
        self.breaker_cooldown_s = breaker_cooldown_s
        self._clock = clock
        self._client = request_path_client(redis_url, timeout_s, ca_file) if redis_url else None
        self._mac = RedisMac(key)
        self._rejections = RejectionLog("cached predictions", clock=clock)
        self._local: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0
        self._last_error = ""
        self._counts = {
            "hits_local": 0,
            "hits_redis": 0,
            "misses": 0,
            "redis_errors": 0,
            "rejected": 0,
        }

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached probability vectors among `keys` (local first, then one Redis MGET)."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for key in keys:
                value = self._local.get(key)
                if value is not None:
                    self._local.move_to_end(key)
                    found[key] = _decode(value)
            self._count("hits_local", len(found))
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing and self._redis_allowed():
            values = self._call(lambda client: mget_values(client.mget(missing)))
            if values is not None:
                fetched: dict[str, bytes] = {}
                rejected: list[str] = []
                for key, value in zip(missing, values, strict=True):
                    if value is None:
                        continue
                    payload = self._mac.open(key, value)
                    if payload is None:
                        rejected.append(key)
                    elif payload and len(payload) % 2 == 0:  # else no float16 vector: a miss
                        fetched[key] = payload  # (the caller checks the size)
                self._rejections.record(rejected)
                with self._lock:
                    self._count("rejected", len(rejected))
                    self._count("hits_redis", len(fetched))
                    for key, value in fetched.items():
                        self._remember(key, value)
                found.update({k: _decode(v) for k, v in fetched.items()})
        with self._lock:
            self._count("misses", sum(1 for k in missing if k not in found))
        return found

    def put_many(self, values: dict[str, np.ndarray]) -> None:
        encoded = {k: _encode(v) for k, v in values.items()}
        with self._lock:
            for key, value in encoded.items():
                self._remember(key, value)
        if encoded and self._redis_allowed():

            def write(client: redis.Redis) -> None:
                pipeline = client.pipeline(transaction=False)
                for key, value in encoded.items():
                    pipeline.set(key, self._mac.seal(key, value), ex=self.ttl_s)
                pipeline.execute()

            self._call(write)

    def clear_local(self) -> None:
        """Forget the in-process entries (a benchmark's cold start; Redis keeps its own)."""
        with self._lock:
            self._local.clear()

    def state(self) -> CacheState:
        with self._lock:
            counts = dict(self._counts)
            if self._client is None:
                status, detail = "off", "no REDIS_URL: in-process cache only"
            elif self._failures or self._clock() < self._open_until:
                status = "down"
                detail = f"{self._last_error}: answering from the in-process cache and the model"
                if self._clock() < self._open_until:
                    detail += f"; Redis left alone for {self.breaker_cooldown_s:g} s"
            else:
                status, detail = "up", ""
        return CacheState(status, detail, **counts)

    def ping(self) -> CacheState:
        """Probe Redis now (readiness): closes the breaker if Redis is back."""
        if self._client is not None:
            self._call(lambda client: client.ping(), probe=True)
        return self.state()

    def _remember(self, key: str, value: bytes) -> None:
        self._local[key] = value
        self._local.move_to_end(key)
        while len(self._local) > self.local_entries:
            self._local.popitem(last=False)

    def _count(self, name: str, n: int) -> None:
        """Under the lock: this process's tally (for /readyz) and the service-wide metric."""
        self._counts[name] += n
        if name == "redis_errors":
            metrics.REDIS_ERRORS.inc(n)
        elif name == "rejected":
            metrics.CACHE_REJECTED.labels("prediction").inc(n)
        else:
            metrics.CACHE_LOOKUPS.labels(_LOOKUP_RESULT[name]).inc(n)

    def _redis_allowed(self) -> bool:
        if self._client is None:
            return False
        with self._lock:
            return self._clock() >= self._open_until

    def _call(self, operation: Callable[[redis.Redis], _T], probe: bool = False) -> _T | None:
        """The operation's result; None when Redis failed (counted, and the breaker told)."""
        assert self._client is not None
        try:
            result = operation(self._client)
        except (redis.RedisError, OSError) as error:
            with self._lock:
                self._failures += 1
                self._count("redis_errors", 1)
                self._last_error = type(error).__name__
                if probe or self._failures >= self.breaker_failures:
                    self._open_until = self._clock() + self.breaker_cooldown_s
            log.warning("redis unavailable (%s): using the in-process cache", type(error).__name__)
            return None
        with self._lock:
            self._failures = 0
            self._open_until = 0.0
        return result


def mget_values(reply: object) -> list[bytes | None]:
    """MGET's reply as what the synchronous client returns (its stubs type it for both clients)."""
    return cast("list[bytes | None]", reply)


def _encode(probabilities: np.ndarray) -> bytes:
    return probabilities.astype("<f2").tobytes()


def _decode(value: bytes) -> np.ndarray:
    return np.frombuffer(value, dtype="<f2").astype(np.float32)


def as_cached(probabilities: np.ndarray) -> np.ndarray:
    """The probabilities as a cache hit returns them (float16 precision)."""
    return _decode(_encode(probabilities))
