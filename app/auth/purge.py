"""Housekeeping for sign-in: expired or idle sessions and abandoned pending sign-ins.

Neither is ever honoured once stale (every read checks the times), so this only keeps the
tables small. Each pass is two idempotent DELETEs: processes running it at once delete
nothing twice and need no lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from litestar import Litestar

from app.auth.pending import purge_stale_pending
from app.auth.sessions import purge_expired_sessions
from app.periodic import periodic_lifespan

log = logging.getLogger("app.auth")


async def purge_once() -> tuple[int, int]:
    """(sessions, pending sign-ins) deleted."""
    sessions = await purge_expired_sessions()
    pending = await purge_stale_pending()
    if sessions or pending:
        log.info("purged %d ended session(s), %d stale pending sign-in(s)", sessions, pending)
    return sessions, pending


def purge_lifespan(period: float) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """While the app is up: `purge_once()` about every `period` seconds."""
    return periodic_lifespan("linkmint-session-purge", period, purge_once, "purging sessions", log)
