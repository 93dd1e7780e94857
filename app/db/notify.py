"""One LISTEN connection per process, feeding the in-memory caches that PostgreSQL invalidates.

Triggers (migrations 2026-11-27T00:40 and T02:00) NOTIFY at every commit that changes what a
cache holds; each process keeps one dedicated connection LISTENing on every channel its
caches need. A cache is a `Subscriber`: it names the channels it follows and what to do with
a payload, and it is told when the connection comes and goes. While the connection is down a
cache must serve nothing (notifications are being missed), and when it comes back it must
start empty (notifications were missed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, suppress
from typing import Any, Protocol

import asyncpg

from app.db.outage import describe

log = logging.getLogger("app.db.notify")

EVERYTHING = "*"  # the payload a TRUNCATE sends: drop everything


class Subscriber(Protocol):
    channels: Mapping[str, Callable[[str], None]]  # channel -> what a payload invalidates
    listener: Listener | None

    def set_live(self, live: bool) -> None: ...


class Listener:
    """LISTENs on its subscribers' channels, reconnecting with backoff; pings while idle."""

    def __init__(
        self,
        subscribers: Sequence[Subscriber],
        dsn: str,
        *,
        ping_every: float = 5.0,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self.subscribers = list(subscribers)
        self.dsn = dsn
        self.ping_every = ping_every
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.server_pid: int | None = None  # the listening backend (tests terminate it)
        self._handlers: dict[str, list[Callable[[str], None]]] = {}
        for subscriber in self.subscribers:
            for channel, handler in subscriber.channels.items():
                self._handlers.setdefault(channel, []).append(handler)

    def _set_live(self, live: bool) -> None:
        for subscriber in self.subscribers:
            subscriber.set_live(live)

    async def run(self) -> None:
        backoff = self.min_backoff
        while True:
            conn: asyncpg.Connection | None = None
            try:
                # Bounded: LISTEN on a frozen server would otherwise wait for as long as it is.
                conn = await asyncpg.connect(
                    self.dsn, timeout=self.ping_every, command_timeout=self.ping_every
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                for channel in self._handlers:
                    await conn.add_listener(channel, self._notified)
                self.server_pid = conn.get_server_pid()
                self._set_live(True)
                backoff = self.min_backoff
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), self.ping_every)
                    except TimeoutError:
                        # A silent half-open connection would never say it is gone.
                        await asyncio.wait_for(conn.fetchval("SELECT 1"), self.ping_every)
                log.warning("cache listener lost its connection; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — any failure: go dark, retry
                log.warning("cache listener: %s; reconnecting in %.1fs", describe(exc), backoff)
            finally:
                self._set_live(False)
                self.server_pid = None
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    @contextmanager
    def also(self, channel: str, handler: Callable[[str], None]) -> Iterator[None]:
        """Hand each payload on `channel` (one already listened to) to `handler` too, while
        inside: how a test learns that a notification it sent has landed."""
        handlers = self._handlers[channel]
        handlers.append(handler)
        try:
            yield
        finally:
            handlers.remove(handler)

    def _notified(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        for handler in self._handlers.get(channel, ()):
            handler(payload)


def listener_lifespan(
    subscribers: Sequence[Subscriber], dsn: Callable[[], str | None]
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """Runs one listener for the app's lifetime; with no DSN the caches simply stay off."""

    @asynccontextmanager
    async def listening(app: object) -> AsyncIterator[None]:
        url = dsn()
        if not url:
            yield
            return
        listener = Listener(subscribers, url)
        for subscriber in subscribers:
            subscriber.listener = listener
        task = asyncio.create_task(listener.run(), name="cache-listener")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            listener._set_live(False)

    return listening
