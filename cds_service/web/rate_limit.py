"""A token bucket: at most `rate` events a second on average, in bursts of `burst`. Pure.

For the endpoints anyone can reach without an EHR token (the try-it page, /explain, the
autocomplete): per process, so that one client cannot take the cores the hook calls need. The
ingress limits each client address before requests get this far (docs/security.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate_per_s, self.burst = rate_per_s, burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0.0 when the event may go ahead (a token is taken), else the seconds until one will
        be there (for a `Retry-After`)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate_per_s)
            self._updated = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate_per_s
