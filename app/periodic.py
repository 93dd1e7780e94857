"""Work a process repeats while it is up (the maintenance pass, the money audit, purging
ended sessions): one loop for all, so each has the same jitter and the same way of
surviving a failed pass."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable


async def every(
    period: float, work: Callable[[], Awaitable[object]], what: str, log: logging.Logger
) -> None:
    """`work()` about every `period` seconds from one start to the next, with jitter, so
    processes started together do not knock at once; a failed pass is logged to `log` and
    the next one comes as usual."""
    await asyncio.sleep(random.uniform(0.2, 1.0) * period)  # noqa: S311 (jitter)
    loop = asyncio.get_running_loop()
    while True:
        began = loop.time()
        try:
            await work()
        except Exception:
            log.exception("%s failed; trying again next period", what)
        spent = loop.time() - began
        await asyncio.sleep(max(0.0, period * random.uniform(0.8, 1.2) - spent))  # noqa: S311
