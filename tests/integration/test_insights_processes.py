"""Views and clicks through two real `linkmint serve` processes: exactly what was sent is
counted, whether the processes flush on their schedule or only when they stop."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack

import httpx
import pytest

from app.db.tables import InsightDay, Link
from tests.support.servers import start_server

PERSON = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
VIEWS, CLICKS, BOT_VIEWS = 37, 11, 5


async def totals(creator_id: int) -> dict[tuple[str, str], int]:
    rows = await InsightDay.select(InsightDay.metric, InsightDay.dimension, InsightDay.hits).where(
        InsightDay.creator == creator_id
    )
    return {(row["metric"], row["dimension"]): row["hits"] for row in rows}


async def drive(url: str, handle: str, creator_id: int, link_id: int) -> None:
    """VIEWS views (cache misses and hits alike), CLICKS pings and BOT_VIEWS bot views."""
    person = {"User-Agent": PERSON, "Referer": "https://www.tiktok.com/"}
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for _ in range(VIEWS):
            assert (await http.get(f"/{handle}", headers=person)).status_code == 200
        for _ in range(CLICKS):
            answer = await http.post(
                f"/_c/{creator_id}/{link_id}",
                content=b"PING",
                headers={**person, "Content-Type": "text/ping"},
            )
            assert answer.status_code == 204
        for _ in range(BOT_VIEWS):
            bot = {"User-Agent": "Mozilla/5.0 (compatible; bingbot/2.0)"}
            assert (await http.get(f"/{handle}", headers=bot)).status_code == 200


@pytest.fixture
async def page(make_creator) -> tuple[str, int, int]:
    creator = await make_creator(handle="duo", display_name="Duo")
    rows = await Link.insert(
        Link(creator=creator["id"], title="Shop", url="https://shop.example")
    ).returning(Link.id)
    return "duo", creator["id"], rows[0]["id"]


@pytest.mark.parametrize("flush", ["on-schedule", "on-shutdown"])
async def test_two_processes_count_exactly_what_they_were_sent(page, flush):
    handle, creator_id, link_id = page
    period = "0.3" if flush == "on-schedule" else "3600"
    with ExitStack() as stack:
        servers = [
            start_server(stack, f"insights-{n}", env={"INSIGHTS_FLUSH_SECONDS": period})
            for n in range(2)
        ]
        for server in servers:
            await asyncio.to_thread(server.wait_ready)
        await asyncio.gather(*(drive(s.url, handle, creator_id, link_id) for s in servers))
        want = {("view", ""): 2 * VIEWS, ("click", str(link_id)): 2 * CLICKS}
        if flush == "on-schedule":
            deadline = time.monotonic() + 15
            while (await totals(creator_id)).get(("view", "")) != 2 * VIEWS:
                assert time.monotonic() < deadline, await totals(creator_id)
                await asyncio.sleep(0.1)
        else:
            assert await totals(creator_id) == {}  # nothing flushed while they run
    # Stopped (SIGTERM): each process flushed what it still held, once.
    found = await totals(creator_id)
    assert {key: found.get(key) for key in want} == want
    assert found[("referrer", "tiktok.com")] == 2 * VIEWS
    assert found[("device", "phone")] == 2 * VIEWS
    assert found[("browser", "Chrome")] == 2 * VIEWS
