"""The click report's fast lane: once the app has answered one click, plain click reports are
counted and answered before routing, with the app's own head, and everything else still goes
the whole way through the app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.db.tables import InsightDay, Link
from app.main import create_app
from tests.support import cache_support
from tests.support.cache_support import wait_until

framework_calls = cache_support.framework_calls  # a fixture: the requests Litestar routed

PERSON = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
PING = {"User-Agent": PERSON, "Content-Type": "text/ping", "Ping-To": "https://shop.example"}
# What changes from one answer to the next whoever sends it.
PER_ANSWER = {"x-request-id", "date"}


def head_of(answer: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in answer.headers.items() if k not in PER_ANSWER}


@pytest.fixture
async def lanes(settings) -> Any:
    """A bare client (no cookie, no CSRF header: a ping carries neither) of an app with its
    caches on, and its counting."""
    app = create_app(settings, caches=True)
    async with AsyncTestClient(app, base_url=settings.app_url) as client:

        async def live() -> bool:
            return bool(app.state.page_cache.live)

        await wait_until(live)
        app.state.counting.tally.take()
        yield client, app.state.counting


@pytest.fixture
async def shop(make_creator) -> tuple[int, int]:
    creator = await make_creator(handle="nico", display_name="Nico")
    rows = await Link.insert(
        Link(creator=creator["id"], title="Shop", url="https://shop.example")
    ).returning(Link.id)
    return creator["id"], rows[0]["id"]


async def clicks_stored(counting) -> list[dict[str, Any]]:
    await counting.flush()
    return await InsightDay.select(InsightDay.metric, InsightDay.dimension, InsightDay.hits)


async def test_after_the_first_click_the_lane_answers_with_the_apps_own_head(
    lanes, shop, framework_calls
):
    client, counting = lanes
    creator_id, link_id = shop
    path = f"/_c/{creator_id}/{link_id}"
    first = await client.post(path, content=b"PING", headers=PING)
    assert first.status_code == 204 and framework_calls == [path]
    assert "x-request-id" in first.headers  # routed: the app answered it
    for _ in range(4):
        again = await client.post(path, content=b"PING", headers=PING)
        assert again.status_code == 204 and again.content == b""
        assert head_of(again) == head_of(first)
        assert "set-cookie" not in again.headers and "x-request-id" not in again.headers
    assert framework_calls == [path]  # the other four never reached Litestar
    assert head_of(first)["cache-control"] == "no-store"
    assert "content-security-policy" in head_of(first)
    assert await clicks_stored(counting) == [
        {"metric": "click", "dimension": str(link_id), "hits": 5}
    ]


async def test_the_lane_leaves_out_prefetches_and_bots_as_the_app_does(
    lanes, shop, framework_calls
):
    client, counting = lanes
    creator_id, link_id = shop
    path = f"/_c/{creator_id}/{link_id}"
    await client.post(path, content=b"PING", headers=PING)  # the app's; the rest the lane's
    for extra in ({"Sec-Purpose": "prefetch"}, {"Purpose": "prefetch"}):
        answer = await client.post(path, content=b"PING", headers={**PING, **extra})
        assert answer.status_code == 204
    bot = {**PING, "User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}
    assert (await client.post(path, content=b"PING", headers=bot)).status_code == 204
    assert framework_calls == [path]
    assert await clicks_stored(counting) == [
        {"metric": "click", "dimension": str(link_id), "hits": 1}
    ]


async def test_a_cross_site_ping_or_any_body_is_answered_alike_by_both_paths(
    lanes, shop, framework_calls
):
    """Browsers send pings from the creator's page (same site), but a beacon may come from
    anywhere: the path is exempt from the CSRF token and the same-origin check, and neither
    path reads the body, whatever its size or type."""
    client, counting = lanes
    creator_id, link_id = shop
    path = f"/_c/{creator_id}/{link_id}"
    cross = {**PING, "Origin": "https://elsewhere.example", "Sec-Fetch-Site": "cross-site"}
    bodies = [(b"PING", "text/ping"), (b"x" * 2_000_000, "application/octet-stream")]
    answers = []
    for body, kind in bodies:
        for _ in range(2):  # the first through the app, the second through the lane
            sent = await client.post(path, content=body, headers={**cross, "Content-Type": kind})
            answers.append(sent)
    assert framework_calls == [path]
    assert {a.status_code for a in answers} == {204}
    assert all(head_of(a) == head_of(answers[0]) for a in answers)
    assert await clicks_stored(counting) == [
        {"metric": "click", "dimension": str(link_id), "hits": 4}
    ]


@pytest.mark.parametrize(
    ("path", "status", "counted"),
    [
        ("/_c/0{c}/{l}", 204, 1),  # the app reads a leading zero; the lane leaves it to it
        ("/_c/{c}/{l}/", 204, 1),
        ("/_c/{c}/{l}?via=%00", 400, 0),  # the app refuses a NUL
        ("/_c/{c}/99999999999", 204, 0),  # no such link can exist: answered, not counted
        ("/_c/{c}", 404, 0),
    ],
)
async def test_anything_but_a_plain_report_goes_through_the_app(
    lanes, shop, framework_calls, path, status, counted
):
    client, counting = lanes
    creator_id, link_id = shop
    await client.post(f"/_c/{creator_id}/{link_id}", content=b"PING", headers=PING)
    counting.tally.take()
    framework_calls.clear()
    odd = path.format(c=creator_id, l=link_id)
    answer = await client.post(odd, content=b"PING", headers=PING)
    assert answer.status_code == status
    assert len(framework_calls) == 1  # the app answered it, not the lane
    assert sum(counting.tally.take().values()) == counted


async def test_lanes_answer_only_their_own_method(lanes, shop, framework_calls):
    client, _ = lanes
    creator_id, link_id = shop
    path = f"/_c/{creator_id}/{link_id}"
    await client.post(path, content=b"PING", headers=PING)
    assert (await client.get(path)).status_code == 405
    for _ in range(2):  # the page, cached: the second view is the page lane's
        assert (await client.get("/nico")).status_code == 200
    framework_calls.clear()
    posted = await client.post("/nico", content=b"PING", headers=PING)
    assert posted.status_code == 405 and "x-cache" not in posted.headers  # not the page
    assert framework_calls == ["/nico"]
