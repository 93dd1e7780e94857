"""Probes: /healthz answers while the process is up; /readyz only while PostgreSQL answers."""

from __future__ import annotations

import asyncio
import logging

from litestar import Response, get

from app.db.tables import Creator

log = logging.getLogger("app.ops")


@get("/healthz", name="healthz", cache=False, sync_to_thread=False, include_in_schema=False)
def healthz() -> Response[str]:
    return Response("ok\n", media_type="text/plain")


# Under the 2 s a probe usually allows, whatever the database does: while it is known to be
# unreachable the answer is immediate (app/db/outage.py); a frozen one is waited for this long.
READY_WITHIN = 1.0


@get("/readyz", name="readyz", cache=False, include_in_schema=False)
async def readyz() -> Response[str]:
    try:
        async with asyncio.timeout(READY_WITHIN):
            await Creator.raw("SELECT 1")  # the smallest round trip; no table is read
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness check failed: %s", type(exc).__name__)
        return Response("database unreachable\n", status_code=503, media_type="text/plain")
    return Response("ready\n", media_type="text/plain")
