"""Probes: /healthz answers while the process is up; /readyz only while PostgreSQL answers."""

from __future__ import annotations

import asyncio
import logging

from litestar import Response, get

from app.db.tables import Creator

log = logging.getLogger("app.web")


@get("/healthz", name="healthz", cache=False, sync_to_thread=False, include_in_schema=False)
def healthz() -> Response[str]:
    return Response("ok\n", media_type="text/plain")


@get("/readyz", name="readyz", cache=False, include_in_schema=False)
async def readyz() -> Response[str]:
    try:
        async with asyncio.timeout(2):
            await Creator.raw("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness check failed: %s", type(exc).__name__)
        return Response("database unreachable\n", status_code=503, media_type="text/plain")
    return Response("ready\n", media_type="text/plain")
