"""Limits on the endpoints anyone can reach without an EHR token: the try-it page, /explain and
the autocomplete run the engine, the model or the index for whoever asks, so they share one
per-process token bucket (429 with `Retry-After` beyond it) and the try-it check takes at most a
few calls at once (503 beyond that). The hook calls, which carry the prescriber's warnings, are
never queued behind them."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app

from cds_service.config import Settings
from cds_service.web.errors import operation_outcome
from cds_service.web.pages import error_page
from cds_service.web.rate_limit import TokenBucket

EXTENSION = "ddi_cds_open_limits"
EXPLANATIONS_KEPT = 512  # a page's model part is about 20 kB


class Remembered:
    """The last `size` results of an expensive computation, by key (thread-safe LRU)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = compute()  # outside the lock: two first askers may both compute it, harmlessly
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value


@dataclass(frozen=True, slots=True)
class OpenLimits:
    bucket: TokenBucket
    try_it_checks: threading.BoundedSemaphore
    explanations: Remembered = field(default_factory=lambda: Remembered(EXPLANATIONS_KEPT))

    @classmethod
    def install(cls, app: Flask, settings: Settings) -> None:
        app.extensions[EXTENSION] = cls(
            TokenBucket(settings.open_requests_per_s, settings.open_burst),
            threading.BoundedSemaphore(max(1, settings.try_it_max_concurrent)),
        )


def limits() -> OpenLimits:
    installed: OpenLimits = current_app.extensions[EXTENSION]
    return installed


def busy() -> Response:
    """The answer when the try-it check already runs as many times as it may at once."""
    message = "the try-it page is busy; retry in a few seconds"
    response = error_page(503, message) or operation_outcome(503, message)
    response.headers["Retry-After"] = "2"
    return response


def rate_limited() -> Response | None:
    """A blueprint's `before_request`: None to go ahead, else the 429 answer."""
    wait = limits().bucket.take()
    if wait == 0.0:
        return None
    message = "too many requests to this open endpoint; retry later"
    response = error_page(429, message) or operation_outcome(429, message)
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response
