"""Public pages read from a real streaming standby (DATABASE_REPLICA_URL), and never a page
older than a change the process was told of, even while the standby's replay is paused.

The primary and its standby are the module's own (tests/support/private_cluster.py: made in
seconds, on loopback, whatever the machine's PostgreSQL allows), served by real `linkmint
serve` processes whose DATABASE_URL is that primary."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import asyncpg
import httpx
import pytest

from app.config import settings_from
from app.db.engine import make_engine
from app.doctor import replica_finding
from tests.support.cache_support import wait_until
from tests.support.private_cluster import PrivateCluster
from tests.support.servers import Server, free_port, linkmint_serve

# The page statement's tail (app/profiles/service.py), as the standby logs it; the tests'
# own look-ups there end differently.
PAGE_QUERY = "AS links FROM creator WHERE handle"


@pytest.fixture(scope="module")
def replica_server(private_cluster: PrivateCluster) -> Iterator[Server]:
    env = {
        "DATABASE_URL": private_cluster.primary_url,
        "DATABASE_REPLICA_URL": private_cluster.standby_url,
    }
    with linkmint_serve("replica", env=env) as server:
        yield server


async def _fetchval(url: str, query: str, *args: object) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def _make_creator(cluster: PrivateCluster, handle: str, bio: str) -> object:
    """A creator on the cluster's primary; returns its id."""
    return await _fetchval(
        cluster.primary_url,
        "INSERT INTO creator (whop_user_id, handle, bio) VALUES ($1, $2, $3) RETURNING id",
        f"user_{handle}",
        handle,
        bio,
    )


async def _replayed(cluster: PrivateCluster, handle: str, bio: str) -> None:
    async def there() -> bool:
        query = "SELECT bio FROM creator WHERE handle = $1"
        return await _fetchval(cluster.standby_url, query, handle) == bio

    await wait_until(there, within=10)


async def _page(server: Server, handle: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        return await client.get(f"/{handle}")


async def test_a_public_page_is_read_from_the_standby_once_it_has_replayed(
    private_cluster, replica_server
):
    creator = await _make_creator(private_cluster, "fromstandby", "Read where it is cheap")
    await _replayed(private_cluster, "fromstandby", "Read where it is cheap")

    async def read_there() -> bool:
        page = await _page(replica_server, "fromstandby")
        assert page.status_code == 200 and "Read where it is cheap" in page.text
        ran_there = PAGE_QUERY in private_cluster.standby.log
        if not ran_there:  # rendered before the process knew the standby caught up: again
            notify = f"NOTIFY linkmint_page, '{creator}'"
            await _fetchval(private_cluster.primary_url, notify)
        return ran_there

    await wait_until(read_there)


async def test_an_edit_the_standby_has_not_replayed_is_never_cached_from_it(
    private_cluster, replica_server
):
    standby = private_cluster.standby_url
    await _make_creator(private_cluster, "laggy", "Before the edit")
    await _replayed(private_cluster, "laggy", "Before the edit")
    first = await _page(replica_server, "laggy")
    assert "Before the edit" in first.text

    await _fetchval(standby, "SELECT pg_wal_replay_pause()")
    try:

        async def paused() -> bool:
            state = await _fetchval(standby, "SELECT pg_get_wal_replay_pause_state()")
            return state == "paused"

        await wait_until(paused)
        # The edit, committed on the primary (its trigger notifies every process).
        await _fetchval(
            private_cluster.primary_url,
            "UPDATE creator SET bio = 'After the edit' WHERE handle = 'laggy'",
        )
        lagging = await _fetchval(standby, "SELECT bio FROM creator WHERE handle = 'laggy'")
        assert lagging == "Before the edit"  # the standby really is behind

        async def edited() -> bool:
            return "After the edit" in (await _page(replica_server, "laggy")).text

        await wait_until(edited)
        # What is cached now is the edited page, while the standby still has the old one.
        again = await _page(replica_server, "laggy")
        assert again.headers["x-cache"] == "hit"
        assert "After the edit" in again.text and "Before the edit" not in again.text
        still = await _fetchval(standby, "SELECT bio FROM creator WHERE handle = 'laggy'")
        assert still == "Before the edit"
    finally:
        await _fetchval(standby, "SELECT pg_wal_replay_resume()")
    await _replayed(private_cluster, "laggy", "After the edit")
    assert "After the edit" in (await _page(replica_server, "laggy")).text


async def test_pages_are_read_from_the_primary_while_the_standby_cannot_be_reached(
    make_creator,
):
    await make_creator(handle="nostandby", bio="The primary answers")
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/linkmint"
    with ExitStack() as stack:
        server = stack.enter_context(
            linkmint_serve("replica-down", env={"DATABASE_REPLICA_URL": nowhere})
        )
        for _ in range(3):  # the first finds it down; the next ones fail over at once
            page = await _page(server, "nostandby")
            assert page.status_code == 200 and "The primary answers" in page.text


async def test_doctor_reports_the_standby_and_how_far_behind_it_is(private_cluster):
    env = {
        **os.environ,
        "DATABASE_URL": private_cluster.primary_url,
        "DATABASE_REPLICA_URL": private_cluster.standby_url,
    }
    settings = settings_from(env)
    finding = await replica_finding(settings, make_engine(settings))
    assert finding.ok, finding.line()
    assert "is a standby" in finding.detail and "bytes of WAL behind" in finding.detail
