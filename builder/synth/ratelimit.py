"""Client-side rate limiting for requests/min and tokens/min.

Each limit is a virtual clock (GCRA): a request reserves its cost on every clock and waits
until all of them allow it; up to ``burst_s`` seconds' worth of budget may be spent at once.
Reservations are made synchronously in the event loop, so concurrent tasks cannot race."""

from __future__ import annotations

import asyncio
import time
from typing import Callable


class _Clock:
    def __init__(self, per_min: float, burst_s: float) -> None:
        self.seconds_per_unit = 60.0 / per_min
        self.burst_s = burst_s
        self.tat = 0.0  # theoretical arrival time of the next unit

    def reserve(self, cost: float, now: float) -> float:
        start = max(now, self.tat - self.burst_s)
        self.tat = max(self.tat, now) + cost * self.seconds_per_unit
        return start - now


class RateLimiter:
    def __init__(self, requests_per_min: float | None = None, tokens_per_min: float | None = None,
                 burst_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._requests = _Clock(requests_per_min, burst_s) if requests_per_min else None
        self._tokens = _Clock(tokens_per_min, burst_s) if tokens_per_min else None
        self._now = clock
        self.waited_s = 0.0

    def reserve(self, tokens: int) -> float:
        """Reserve one request of ``tokens``; return how long to wait before sending it."""
        now = self._now()
        delay = 0.0
        if self._requests:
            delay = max(delay, self._requests.reserve(1, now))
        if self._tokens:
            delay = max(delay, self._tokens.reserve(tokens, now))
        return delay

    async def acquire(self, tokens: int) -> None:
        delay = self.reserve(tokens)
        if delay > 0:
            self.waited_s += delay
            await asyncio.sleep(delay)
