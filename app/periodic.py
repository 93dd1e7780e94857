"""Work a process does in the background while it is up (the maintenance pass, the money
audit, purging ended sessions, folding old Insights, flushing counts): one loop for the
periodic passes, so each has the same jitter and the same way of surviving a failed pass,
and one way to run a background task for as long as the app is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from litestar import Litestar


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


@asynccontextmanager
async def in_background(*work: tuple[str, Coroutine[Any, Any, object]]) -> AsyncIterator[None]:
    """Run each `(name, coroutine)` as a task while the block runs; at its end, cancel them
    and wait until they have stopped."""
    tasks = [asyncio.create_task(coroutine, name=name) for name, coroutine in work]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def periodic_lifespan(
    name: str, period: float, work: Callable[[], Awaitable[object]], what: str, log: logging.Logger
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan: `work()` about every `period` seconds while the app is up (`every`)."""

    @asynccontextmanager
    async def run(app: Litestar) -> AsyncIterator[None]:
        async with in_background((name, every(period, work, what, log))):
            yield

    return run
