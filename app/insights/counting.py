"""A process's counting: what the public page and the click endpoint call per request, and
the task that flushes the tally every few seconds and once more on shutdown.

`note_view` and `note_click` read a handful of request headers straight from the ASGI scope
(the fast lanes have no Litestar request) and add one to the tally; they never await. Not
counted at all, before anything else: prefetches (`Sec-Purpose: prefetch` from Chromium,
`Purpose: prefetch` from others), which are not visits, and are often never shown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar
from litestar.types import Scope

from app.insights.flush import flush
from app.insights.report import RenderedReports
from app.insights.tally import Tally
from app.periodic import every, in_background

log = logging.getLogger("app.insights")

FLUSH_PERIOD = 5.0  # seconds: what a crash can lose at most


class Counting:
    def __init__(
        self,
        *,
        own_host: str,
        session_cookies: tuple[str, ...],
        country_header: str = "",
        tally: Tally | None = None,
    ) -> None:
        self.tally = tally or Tally()
        self.reports = RenderedReports()  # the Insights pages, until the next flush
        self.own_host = own_host
        self._sessions = tuple(name.encode() + b"=" for name in session_cookies)
        self._country = country_header.lower().encode()

    def note_view(self, scope: Scope, creator_id: int) -> None:
        self._note(scope, creator_id, 0)

    def note_click(self, scope: Scope, creator_id: int, link_id: int) -> None:
        self._note(scope, creator_id, link_id)

    def _note(self, scope: Scope, creator_id: int, link_id: int) -> None:
        agent = referrer = where = cookie = b""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                agent = value
            elif name == b"referer":
                referrer = value
            elif name == b"cookie":
                cookie = value
            elif name in (b"sec-purpose", b"purpose") and b"prefetch" in value:
                return
            elif self._country and name == self._country:
                where = value
        self.tally.note(
            creator_id,
            link_id,
            agent.decode("latin-1"),
            referrer.decode("latin-1"),
            where.decode("latin-1"),
            self._session(cookie),
        )

    def _session(self, cookie: bytes) -> str:
        if not cookie:
            return ""
        for part in cookie.split(b";"):
            part = part.strip()
            for prefix in self._sessions:
                if part.startswith(prefix):
                    return part[len(prefix) :].decode("latin-1")
        return ""

    async def flush(self) -> int:
        try:
            return await flush(self.tally, own_host=self.own_host)
        finally:
            self.reports.clear()  # what they show may have changed: read them afresh

    def lifespan(
        self, period: float = FLUSH_PERIOD
    ) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
        """While the app is up: a flush about every `period` seconds, and a last one when
        it stops (after the server has stopped taking requests)."""

        @asynccontextmanager
        async def run(app: Litestar) -> AsyncIterator[None]:
            async with in_background(
                ("linkmint-insights", every(period, self.flush, "flushing insights", log))
            ):
                yield
            try:
                await self.flush()
            except Exception:
                log.exception("the last insights flush failed; its counts are lost")

        return run
