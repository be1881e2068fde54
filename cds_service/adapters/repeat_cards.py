"""Optional (off by default, as in the HL7 PDDI CDS guide): a pair's card shown at order-select
is not shown again at order-sign for the same clinician, patient and encounter.

Redis holds one key per (clinician, patient, encounter, ingredient pair) shown at order-select,
with a short TTL. A mark suppresses a warning, so neither its key nor its value is trusted to
Redis: the key is an HMAC of the identifiers (a plain hash of guessable MRNs could be tested
against Redis), and the value is the mark's expiry sealed with an HMAC bound to the key
(`RedisMac`), so a mark forged, copied from another key, or replayed after its expiry is
ignored and the card shown. Redis being down likewise only means cards are shown again: the
fail-safe direction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import redis

from cds_service.adapters.prediction_cache import (
    RedisMac,
    RejectionLog,
    mget_values,
    request_path_client,
)
from cds_service.core.predictions import PairKey
from cds_service.operations import metrics
from cds_service.protocol.hook_request import HookRequest

log = logging.getLogger("cds_service.repeat_cards")
KEY_PREFIX = "ddi-cds:shown"


class ShownPairs:
    def __init__(
        self,
        redis_url: str,
        *,
        key: bytes,
        ca_file: Path | None = None,
        timeout_s: float = 0.05,
        ttl_s: int = 900,
        clock: Callable[[], float] = time.time,  # wall time: replicas compare each other's expiry
    ) -> None:
        self.ttl_s = ttl_s
        self._client = request_path_client(redis_url, timeout_s, ca_file)
        self._mac = RedisMac(key)
        self._clock = clock
        self._rejections = RejectionLog("repeat-card marks")

    def key(self, request: HookRequest, pair: PairKey) -> str:
        context = request.context
        who = [str(context.get(field, "")) for field in ("userId", "patientId", "encounterId")]
        return f"{KEY_PREFIX}:{self._mac.name([*who, *sorted(pair)])[:32]}"

    def mark(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        expires = int(self._clock()) + self.ttl_s
        try:
            pipeline = self._client.pipeline(transaction=False)
            for key in keys:
                pipeline.set(key, self._mac.seal(key, expires.to_bytes(8, "big")), ex=self.ttl_s)
            pipeline.execute()
        except (redis.RedisError, OSError) as error:
            log.warning("shown cards not recorded (%s): order-sign will show them again",
                        type(error).__name__)  # fmt: skip

    def seen(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        try:
            values = mget_values(self._client.mget(keys))
        except (redis.RedisError, OSError) as error:
            log.warning("shown cards not readable (%s): showing every card", type(error).__name__)
            return set()
        now = self._clock()
        found: set[str] = set()
        rejected: list[str] = []
        for key, value in zip(keys, values, strict=True):
            if value is None:
                continue
            payload = self._mac.open(key, value)
            if payload is None or len(payload) != 8:
                rejected.append(key)
            elif int.from_bytes(payload, "big") > now:  # a genuine mark past its expiry: a
                found.add(key)  # replay (Redis's own TTL would have dropped it), so ignored
        if rejected:
            metrics.CACHE_REJECTED.labels("shown_card").inc(len(rejected))
            self._rejections.record(rejected)
        return found
