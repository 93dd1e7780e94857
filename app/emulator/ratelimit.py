"""Whop's documented rate limit, when asked for (WHOP_EMULATOR_RATE_LIMIT).

Whop: "For /api/v1 requests, authenticated API calls are limited to 600 requests per
minute per operation and API credential"; over it, a 429 whose body says "Try again in N
seconds." (docs/whop-contract.md, Rate limit). With WHOP_EMULATOR_RATE_LIMIT=600 the
emulator answers the same: each operation (a route of the API, such as "retrieve a
payment") is counted per credential over the last 60 seconds, and a call beyond the limit
is refused without being counted, with the wait until the oldest counted call leaves the
minute.

Off by default (0): tests and benchmarks make far more calls a minute than Whop allows one
key, on purpose. The count lives in the emulator process, so an emulator served by several
workers allows each of them the limit.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

WINDOW = 60.0  # seconds: Whop counts calls per minute


class RateLimit:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("a rate limit allows at least one call a minute")
        self.per_minute = per_minute
        self._clock = clock
        self._calls: dict[tuple[str, str], deque[float]] = {}

    def wait(self, credential: str, operation: str) -> int | None:
        """None when the call may go ahead (it is counted); otherwise the whole seconds to
        wait before one may, as Whop's message gives them."""
        now = self._clock()
        calls = self._calls.setdefault((credential, operation), deque())
        while calls and now - calls[0] >= WINDOW:
            calls.popleft()
        if len(calls) >= self.per_minute:
            return max(1, math.ceil(WINDOW - (now - calls[0])))
        calls.append(now)
        return None
