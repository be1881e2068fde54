"""Optional (off by default, as in the HL7 PDDI CDS guide): a pair's card shown at order-select
is not shown again at order-sign for the same clinician, patient and encounter.

Redis holds one key per (clinician, patient, encounter, ingredient pair) shown at order-select,
hashed so that no identifier is stored in clear, with a short TTL. Redis being down only means
cards are shown again: the fail-safe direction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

import redis

from cds_service.prediction_cache import request_path_client
from cds_service.predictions import PairKey
from cds_service.protocol import HookRequest

log = logging.getLogger("cds_service.repeat_cards")
KEY_PREFIX = "ddi-cds:shown"


class ShownPairs:
    def __init__(self, redis_url: str, *, timeout_s: float = 0.05, ttl_s: int = 900) -> None:
        self.ttl_s = ttl_s
        self._client = request_path_client(redis_url, timeout_s)

    @staticmethod
    def key(request: HookRequest, pair: PairKey) -> str:
        context = request.context
        who = "|".join(
            str(context.get(field, "")) for field in ("userId", "patientId", "encounterId")
        )
        digest = hashlib.sha256(f"{who}|{'|'.join(sorted(pair))}".encode()).hexdigest()
        return f"{KEY_PREFIX}:{digest[:32]}"

    def mark(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        try:
            pipeline = self._client.pipeline(transaction=False)
            for key in keys:
                pipeline.set(key, b"1", ex=self.ttl_s)
            pipeline.execute()
        except (redis.RedisError, OSError) as error:
            log.warning("shown cards not recorded (%s): order-sign will show them again",
                        type(error).__name__)  # fmt: skip

    def seen(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        try:
            values = self._client.mget(keys)
        except (redis.RedisError, OSError) as error:
            log.warning("shown cards not readable (%s): showing every card", type(error).__name__)
            return set()
        return {key for key, value in zip(keys, values, strict=True) if value is not None}
