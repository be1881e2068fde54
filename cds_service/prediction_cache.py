"""Pair predictions cached in Redis, with a process-local LRU in front and a circuit breaker.

A value is one pair's calibrated probabilities over every side effect, as float16 bytes (two
bytes per side effect): a changed threshold or tier setting needs no cache flush. Keys carry
the model version, so a new model never reads an old model's numbers. Redis is an accelerator,
never a dependency: any Redis error or timeout counts as a miss, and after
`breaker_failures` consecutive failures Redis is not called for `breaker_cooldown_s`, so a dead
Redis costs one timeout per cool-down, not one per request.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cds_service import metrics

log = logging.getLogger("cds_service.cache")
_LOOKUP_RESULT = {"hits_local": "local", "hits_redis": "redis", "misses": "miss"}
KEY_PREFIX = "ddi-cds:pair"


@dataclass(frozen=True, slots=True)
class CacheState:
    redis: str  # "up", "down" (the last call failed or the breaker is open) or "off" (no URL)
    detail: str
    hits_local: int
    hits_redis: int
    misses: int
    redis_errors: int


@functools.cache
def request_path_client(redis_url: str, timeout_s: float) -> redis.Redis:
    """A Redis client for the request path: millisecond timeouts, one attempt, no retries. One
    per URL and timeout in a process, so that the cache, the token replay store and the repeat-
    card store share its connection pool (redis-py remakes the pool in a forked worker)."""
    return redis.Redis.from_url(
        redis_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
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
        self._client = request_path_client(redis_url, timeout_s) if redis_url else None
        self._local: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0
        self._last_error = ""
        self._counts = {"hits_local": 0, "hits_redis": 0, "misses": 0, "redis_errors": 0}

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
            values = self._call(lambda client: client.mget(missing))
            if values is not None:
                fetched = {
                    k: v
                    for k, v in zip(missing, values, strict=True)
                    if isinstance(v, bytes) and v and len(v) % 2 == 0
                }  # anything else is not a float16 vector: a miss (the caller checks sizes)
                with self._lock:
                    self._count("hits_redis", len(fetched))
                    for key, value in fetched.items():
                        self._remember(key, value)
                found.update({k: _decode(v) for k, v in fetched.items()})
        with self._lock:
            self._count("misses", sum(1 for k in missing if k not in found))
        return found

    def put_many(self, values: dict[str, np.ndarray]) -> None:
        encoded = {k: v.astype("<f2").tobytes() for k, v in values.items()}
        with self._lock:
            for key, value in encoded.items():
                self._remember(key, value)
        if encoded and self._redis_allowed():

            def write(client: redis.Redis) -> None:
                pipeline = client.pipeline(transaction=False)
                for key, value in encoded.items():
                    pipeline.set(key, value, ex=self.ttl_s)
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
        else:
            metrics.CACHE_LOOKUPS.labels(_LOOKUP_RESULT[name]).inc(n)

    def _redis_allowed(self) -> bool:
        if self._client is None:
            return False
        with self._lock:
            return self._clock() >= self._open_until

    def _call(self, operation: Callable[[redis.Redis], object], probe: bool = False) -> object:
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
        return result if result is not None else True


def _decode(value: bytes) -> np.ndarray:
    return np.frombuffer(value, dtype="<f2").astype(np.float32)
