"""Linkmint behind a real PgBouncer in transaction pooling mode (DATABASE_POOLER=pgbouncer):
pages, the studio and their queries through it under concurrency (no prepared statement
kept across transactions), the cache listener's LISTEN straight to PostgreSQL
(DATABASE_DIRECT_URL), webhook events announced through it to `linkmint inbox`, and
`linkmint doctor`'s account of it.

PgBouncer (Debian's `pgbouncer`) runs from a temporary directory on 127.0.0.1, once for the
module (bench/database.py: `PgBouncer`)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from piccolo.engine import engine_finder

from app.config import settings_from
from app.db.engine import make_engine
from app.db.tables import Creator, WebhookEvent
from app.doctor import pooler_finding
from bench.database import PgBouncer
from tests.support.cache_support import wait_until
from tests.support.servers import Server, free_port, start_inbox, start_server
from tests.support.unlock_support import signed_event


def _direct_url() -> str:
    return str(engine_finder().config["dsn"])


@pytest.fixture(scope="module")
def pgbouncer() -> Iterator[PgBouncer]:
    installed = shutil.which("pgbouncer") or Path("/usr/sbin/pgbouncer").exists()
    if not installed and os.environ.get("CI") != "true":
        pytest.skip("pgbouncer is not installed (sudo apt-get install -y pgbouncer)")
    if urlsplit(_direct_url()).hostname is None:
        # The embedded server of `make test` with nothing configured listens only on a
        # socket in its data directory, which PostgreSQL keeps private to the user running it
        # (PgBouncer runs as `postgres`). CI, and any TEST_DATABASE_URL, reach it over TCP.
        pytest.skip("PgBouncer needs PostgreSQL over TCP: set TEST_DATABASE_URL")
    bouncer = PgBouncer(_direct_url(), free_port(), pool_size=4)
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()


def _pooled_env(bouncer: PgBouncer) -> dict[str, str]:
    database = urlsplit(_direct_url()).path.lstrip("/")
    return {
        "DATABASE_URL": bouncer.url(database),
        "DATABASE_DIRECT_URL": _direct_url(),
        "DATABASE_POOLER": "pgbouncer",
    }


@pytest.fixture(scope="module")
def two_servers(pgbouncer: PgBouncer) -> Iterator[list[Server]]:
    with ExitStack() as stack:
        servers = [
            start_server(stack, f"pooled{n}", pool=4, env=_pooled_env(pgbouncer)) for n in (1, 2)
        ]
        for server in servers:
            server.wait_ready()
        yield servers


async def test_pages_render_through_pgbouncer_under_concurrency(make_creator, two_servers):
    # More concurrent renders than PgBouncer has server connections (4): each statement
    # lands on whichever is free, which a named prepared statement would not survive.
    for n in range(12):
        await make_creator(handle=f"pooled{n}", bio=f"Bio number {n}")
    async with httpx.AsyncClient(timeout=10) as client:
        answers = await asyncio.gather(
            *(client.get(f"{two_servers[n % 2].url}/pooled{n % 12}") for n in range(60))
        )
    assert [a.status_code for a in answers] == [200] * 60
    assert all(f"Bio number {n % 12}" in a.text for n, a in enumerate(answers))


async def test_an_edit_reaches_every_process_whose_listener_is_behind_pgbouncer(
    make_creator, two_servers
):
    await make_creator(handle="pooledit", bio="Before")
    async with httpx.AsyncClient(timeout=10) as client:
        for server in two_servers:  # cached in both (the listeners are up: a miss is stored)

            async def cached(server: Server = server) -> bool:
                page = await client.get(f"{server.url}/pooledit")
                return page.headers["x-cache"] == "hit"

            await wait_until(cached, within=10)
        await Creator.update({Creator.bio: "After"}).where(Creator.handle == "pooledit")
        for server in two_servers:

            async def edited(server: Server = server) -> bool:
                return "After" in (await client.get(f"{server.url}/pooledit")).text

            await wait_until(edited, within=2)


async def test_events_stored_through_pgbouncer_are_announced_to_linkmint_inbox(pgbouncer, settings):
    pooled = _pooled_env(pgbouncer)
    deliveries = [
        signed_event(settings, "membership.activated", {"id": f"mem_pooled{n}"}) for n in range(20)
    ]
    with ExitStack() as stack:
        web = start_server(stack, "pooled-announcing", pool=4, env={**pooled, "INBOX_WORKERS": "0"})
        await asyncio.to_thread(web.wait_ready)
        await asyncio.to_thread(start_inbox, stack, web.url, env=pooled)
        async with httpx.AsyncClient(base_url=web.url, timeout=10) as client:
            answers = await asyncio.gather(
                *(client.post("/webhooks/whop", content=b, headers=h) for b, h in deliveries)
            )
        assert [a.text for a in answers] == ["stored\n"] * 20
        ids = [h["webhook-id"] for _, h in deliveries]

        async def processed() -> bool:
            done = WebhookEvent.count().where(
                WebhookEvent.id.is_in(ids), WebhookEvent.processed_at.is_not_null()
            )
            return await done == len(ids)

        await wait_until(processed, within=10)


async def test_doctor_reports_the_pooler_and_the_statement_timeout_through_it(pgbouncer):
    env = {**os.environ, **_pooled_env(pgbouncer)}
    settings = settings_from(env)
    finding = await pooler_finding(settings, make_engine(settings))
    # The test database has no statement_timeout of its own: PgBouncer passes none.
    assert not finding.ok
    assert "no statement_timeout" in finding.detail
    assert "ALTER ROLE" in finding.fix

    broken = settings_from(
        {**env, "DATABASE_DIRECT_URL": f"postgresql://127.0.0.1:{free_port()}/x"}
    )
    finding = await pooler_finding(broken, make_engine(broken))
    assert not finding.ok and "DATABASE_DIRECT_URL" in finding.detail
