"""The emulator's platform: REST API, hosted pages, control API, webhook delivery and the
payout elements' loader (`elements.py`).

`routes(settings)` are mounted under /_whop by `app.emulator.emulator_router`; the control
API answers the configured API key only. `running(settings)` makes the configured
credentials exist in the emulator (the API key belongs to the parent company
WHOP_PARENT_COMPANY_ID), runs this process's webhook delivery worker, and every few minutes
prunes what has aged out of the emulator's tables (`retention.py`). The webhook secret needs
no row: deliveries to `APP_URL/webhooks/whop` are signed with WHOP_WEBHOOK_SECRET (see
`delivery.py`).

Start-up is safe when several processes start at once on one database: the bootstrap is
`INSERT … ON CONFLICT`, the workers share deliveries through `FOR UPDATE SKIP LOCKED`, and
one process at a time prunes (an advisory lock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app.config import Settings, whop_id
from app.emulator import elements, retention, store
from app.emulator.api import api_router
from app.emulator.control import control_router
from app.emulator.delivery import DeliveryWorker
from app.emulator.hosted import HOSTED_ROUTES

log = logging.getLogger("app.emulator.platform")


def routes(settings: Settings) -> list:
    latency = settings.whop_emulator_latency_ms / 1000
    api = api_router(latency, rate_limit=settings.whop_emulator_rate_limit)
    return [api, control_router(settings), *HOSTED_ROUTES, *elements.routes()]


async def bootstrap(settings: Settings) -> None:
    async with store.transaction() as conn:
        await conn.execute(
            """
            INSERT INTO whop_emulator.company (id, title, kyc_status, payout_account_id)
            VALUES ($1, 'Linkmint platform', 'connected', $2)
            ON CONFLICT (id) DO NOTHING
            """,
            settings.whop_parent_company_id,
            whop_id("poact_"),
        )
        await conn.execute(
            """
            INSERT INTO whop_emulator.api_key (key_hash, company_id) VALUES ($1, $2)
            ON CONFLICT (key_hash) DO UPDATE SET company_id = EXCLUDED.company_id
            """,
            store.secret_hash(settings.whop_api_key),
            settings.whop_parent_company_id,
        )


async def prune_forever(every: float = retention.PRUNE_EVERY) -> None:
    """Prune now and then every `every` seconds; a failed pass (an outage) waits for the next."""
    while True:
        try:
            await retention.prune_now()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pruning the emulator's old rows failed; trying again later")
        await asyncio.sleep(every)


@asynccontextmanager
async def running(settings: Settings, app: Any = None) -> AsyncIterator[None]:
    """Bootstrap, then deliver webhooks (through `app` to itself) and prune old rows until
    the app stops."""
    await bootstrap(settings)
    worker = DeliveryWorker(settings, app)
    await worker.start()
    pruning = asyncio.create_task(prune_forever(), name="whop-emulator-retention")
    try:
        yield
    finally:
        pruning.cancel()
        await asyncio.gather(pruning, return_exceptions=True)
        await worker.stop()
