"""A log line at most once in a while, with how many events it stands for. Pure.

For events an attacker can cause at will (401s, forged cache values, calls while the replay
store is down): each is counted on /metrics, and the log says so without a line per event.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class LogSampler:
    """Counts events and says, at most once every `every_s`, how many there were since."""

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock  # replaceable: a test moves time on
        self._lock = threading.Lock()
        self._since = 0
        self._last = -math.inf

    def note(self, events: int = 1) -> int | None:
        """The count to report now, or None when the last report is too recent."""
        with self._lock:
            self._since += events
            now = self.clock()
            if now - self._last < self.every_s:
                return None
            count, self._since, self._last = self._since, 0, now
            return count
