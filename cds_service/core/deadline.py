"""A point in time a hook call must answer by, and the budgets carved out of it. Pure.

EHRs give a CDS service about 5 s before they show the prescriber nothing; the service answers
within its own deadline (2 s by default) with whatever it has checked by then, and says on a
card what it could not check. Each slow part (the FHIR server, the model) works against a
`Deadline` of its own, cut from the request's with `budget`, so one slow part cannot eat the
time the others need.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


class DeadlineExceeded(Exception):
    """A part of the work ran out of its time; the message says which and how long it had."""


class Deadline:
    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self.seconds = seconds  # the allowance as given, for messages
        self.ends_at = clock() + seconds

    @classmethod
    def unlimited(cls) -> Deadline:
        return cls(float("inf"))

    def remaining(self) -> float:
        return max(0.0, self.ends_at - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self.ends_at

    def budget(self, seconds: float, reserve_s: float = 0.0) -> Deadline:
        """A deadline for one part of the work: at most `seconds` from now, and ending
        `reserve_s` before this one so that the work after it still has time."""
        child = Deadline(seconds, self._clock)
        child.ends_at = min(child.ends_at, self.ends_at - reserve_s)
        child.seconds = max(0.0, min(seconds, child.ends_at - self._clock()))
        return child

    def timeout(self, at_most: float) -> float:
        """A socket timeout that does not outlast the deadline (never 0: that means
        non-blocking to some libraries)."""
        return max(0.001, min(at_most, self.remaining()))


def queued_seconds(request_start: str | None, now_epoch: float) -> float:
    """How long a call waited before the service saw it, from the `X-Request-Start` header a
    proxy in front sets when the request arrives (nginx: `t=${msec}`, seconds with a fraction;
    others send milliseconds or microseconds since the epoch). 0 when absent or unreadable, and
    never negative: the header can only shorten a call's own deadline, never lengthen it."""
    if not request_start:
        return 0.0
    text = request_start.strip().removeprefix("t=")
    try:
        stamp = float(text)
    except ValueError:
        return 0.0
    if stamp > 1e14:  # microseconds
        stamp /= 1e6
    elif stamp > 1e11:  # milliseconds
        stamp /= 1e3
    waited = now_epoch - stamp
    return waited if 0.0 < waited < 3600.0 else 0.0  # beyond an hour: a wrong clock, not a queue
