"""The emulator's platform: REST API, hosted pages, control API, webhook delivery and the
payout elements' loader (`elements.py`).

`routes(settings)` are mounted under /_whop by `app.emulator.emulator_router`;
`running(settings)` makes the configured credentials exist in the emulator (the API key
belongs to the parent company WHOP_PARENT_COMPANY_ID) and runs this process's webhook
delivery worker. The webhook secret needs no row: deliveries to `APP_URL/webhooks/whop` are
signed with WHOP_WEBHOOK_SECRET (see `delivery.py`).

Start-up is safe when several processes start at once on one database: the bootstrap is
`INSERT … ON CONFLICT`, and the workers share deliveries through `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app.config import Settings, whop_id
from app.emulator import elements, store
from app.emulator.api import api_router
from app.emulator.control import control_router
from app.emulator.delivery import DeliveryWorker
from app.emulator.hosted import HOSTED_ROUTES


def routes(settings: Settings) -> list:
    return [api_router(), control_router(), *HOSTED_ROUTES, *elements.routes()]


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


@asynccontextmanager
async def running(settings: Settings, app: Any = None) -> AsyncIterator[None]:
    """Bootstrap, then deliver webhooks until the app stops (through `app` to itself)."""
    await bootstrap(settings)
    worker = DeliveryWorker(settings, app)
    await worker.start()
    try:
        yield
    finally:
        await worker.stop()
