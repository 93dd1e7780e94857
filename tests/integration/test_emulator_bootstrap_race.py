"""Processes started together on a database that has never seen the configured Whop
credentials all bootstrap the emulator at once: every one of them must start, leaving one
platform company and an API key that works.

Each round uses credentials of its own (a fresh parent company and API key), so the
database is fresh for them while the suite's own credentials stay as they were.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

from app.config import Settings
from app.emulator import platform, store

PROCESSES = 8
ROUNDS = 3  # each round is a fresh start: the race is in the first inserts


def fresh_credentials(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        whop_parent_company_id=f"biz_Race{secrets.token_hex(5)}",
        whop_api_key=f"apik_race_{secrets.token_hex(8)}",
    )


async def platform_rows(settings: Settings) -> tuple[int, list[str]]:
    """How many company rows have the parent's id, and the companies its API key names."""
    async with store.connection() as conn:
        companies = await conn.fetchval(
            "SELECT count(*) FROM whop_emulator.company WHERE id = $1",
            settings.whop_parent_company_id,
        )
        keys = await conn.fetch(
            "SELECT company_id FROM whop_emulator.api_key WHERE key_hash = $1",
            store.secret_hash(settings.whop_api_key),
        )
    return companies, [k["company_id"] for k in keys]


async def forget(settings: Settings) -> None:
    async with store.transaction() as conn:
        await conn.execute(
            "DELETE FROM whop_emulator.api_key WHERE key_hash = $1",
            store.secret_hash(settings.whop_api_key),
        )
        await conn.execute(
            "DELETE FROM whop_emulator.company WHERE id = $1", settings.whop_parent_company_id
        )


async def test_processes_bootstrapping_together_leave_one_platform_and_a_working_key(
    client, settings
):
    for _ in range(ROUNDS):
        fresh = fresh_credentials(settings)
        try:
            # (DB_POOL_SIZE=0 in tests: each bootstrap runs on a connection of its own.)
            outcomes = await asyncio.gather(
                *(platform.bootstrap(fresh) for _ in range(PROCESSES)), return_exceptions=True
            )
            assert [o for o in outcomes if o is not None] == []
            assert await platform_rows(fresh) == (1, [fresh.whop_parent_company_id])

            parent = fresh.whop_parent_company_id
            r = await client.get(
                f"/_whop/api/v1/companies/{parent}",
                headers={"Authorization": f"Bearer {fresh.whop_api_key}"},
            )
            assert r.status_code == 200, r.text
            assert r.json()["id"] == parent
        finally:
            await forget(fresh)
