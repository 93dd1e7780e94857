"""Abuse limits kept in PostgreSQL (app/web/limits.py), and the buyer's return asking Whop
at most once per unlock every few seconds (app/payments/convergence.py).

The limits are the ones that ship. Most tests go through a real `linkmint serve` behind its
default trusted proxy (this host), so each X-Forwarded-For address is a client of its own,
exactly as behind nginx; Whop calls are counted by the emulator, in PostgreSQL, so a call
made by any process counts.
"""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.auth.sessions import cookie_name, start_session
from app.db.engine import BoundedPostgresEngine
from app.db.tables import Link, Unlock
from app.emulator import faults
from app.main import create_app
from app.web import limits
from app.web.fastlane import LinkmintApp
from app.web.limits import Limit
from tests.support.cache_support import notifications_landed, wait_until
from tests.support.database_switch import (  # noqa: F401 (fixtures)
    database,
    db_switch,
    switched_server,
)
from tests.support.servers import Server, linkmint_serve
from tests.support.unlock_support import (
    add_premium,
    make_seller,
    pay,
    query_of,
    start_checkout,
    unlock_row,
)
from tests.support.whop_testkit import emulator_control  # noqa: F401 (fixture)

CLIENT = "203.0.113.7"  # (TEST-NET-3: documentation addresses)
OTHER_CLIENT = "198.51.100.23"
CSP_BODY = json.dumps(
    {"csp-report": {"document-uri": "https://example.test/a", "violated-directive": "img-src"}}
)


@dataclass(frozen=True)
class Route:
    limit: Limit
    method: str
    path: str
    allowed: int  # what it answers while under the limit
    page: bool = True


ROUTES = [
    Route(limits.LOGIN, "GET", "/auth/login", 303),
    Route(limits.CALLBACK, "GET", "/auth/callback", 400),
    Route(limits.CONFIRM, "GET", "/checkout/confirm?unlock=nope", 404),
    Route(limits.UNLOCK_PER_LINK, "POST", "/u/99999/unlock", 404),
    Route(limits.CSP_REPORT, "POST", "/csp-report", 204, page=False),
]


async def ask(http: httpx.AsyncClient, route: Route, address: str) -> httpx.Response:
    """`route` asked by the client at `address` (forwarded by the trusted proxy)."""
    headers = {"x-forwarded-for": address}
    if route.method == "GET":
        return await http.get(route.path, headers=headers)
    if route.path == "/csp-report":
        headers["content-type"] = "application/csp-report"
        return await http.post(route.path, content=CSP_BODY, headers=headers)
    headers["x-csrftoken"] = http.cookies["lm_csrf"]
    return await http.post(route.path, headers=headers)


@asynccontextmanager
async def browser(base: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base, timeout=15, follow_redirects=False) as http:
        await http.get("/healthz")  # the CSRF cookie
        yield http


def assert_refused(r: httpx.Response, limit: Limit, *, page: bool = True) -> None:
    assert r.status_code == 429, r.text
    assert 1 <= int(r.headers["retry-after"]) <= limit.seconds
    assert r.headers["cache-control"] == "no-store"
    assert "You sent too many requests in a short time." in r.text
    if page:
        assert r.headers["content-type"].startswith("text/html")
        assert "Slow down a little" in r.text
    else:
        assert r.headers["content-type"].startswith("text/plain")


# --- each route, per client -----------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.limit.bucket)
async def test_each_route_answers_429_after_its_limit_and_only_to_that_client(live_server, route):
    async with browser(live_server) as http:
        answers = [(await ask(http, route, CLIENT)).status_code for _ in range(route.limit.hits)]
        assert answers == [route.allowed] * route.limit.hits
        assert_refused(await ask(http, route, CLIENT), route.limit, page=route.page)
        assert_refused(await ask(http, route, CLIENT), route.limit, page=route.page)
        assert (await ask(http, route, OTHER_CLIENT)).status_code == route.allowed


async def test_unlocks_count_per_link_and_all_links_of_one_client_together(live_server):
    per_link = limits.UNLOCK_PER_LINK.hits
    other_link = Route(limits.UNLOCK_PER_LINK, "POST", "/u/88888/unlock", 404)
    async with browser(live_server) as http:
        for _ in range(per_link + 1):
            last = await ask(http, ROUTES[3], CLIENT)
        assert_refused(last, limits.UNLOCK_PER_LINK)
        assert (await ask(http, other_link, CLIENT)).status_code == 404  # its own count
        # Across links, one client's presses share the higher bound (the press the per-link
        # limit refused went no further).
        spent = per_link + 1
        for n in range(limits.UNLOCK.hits - spent):
            r = await ask(http, Route(limits.UNLOCK, "POST", f"/u/{n + 1}/unlock", 404), CLIENT)
            assert r.status_code == 404, n
        assert_refused(
            await ask(http, Route(limits.UNLOCK, "POST", "/u/77777/unlock", 404), CLIENT),
            limits.UNLOCK,
        )
        assert (await ask(http, other_link, OTHER_CLIENT)).status_code == 404


async def test_the_handle_check_counts_per_signed_in_creator(live_server, settings, make_creator):
    cookie = cookie_name(secure=False)  # the live server is plain http on loopback
    tokens = [await start_session((await make_creator(handle=None))["id"]) for _ in range(2)]
    path = "/dashboard/handle/check?handle=zed"
    async with browser(live_server) as first, browser(live_server) as second:
        first.cookies.set(cookie, tokens[0])
        second.cookies.set(cookie, tokens[1])
        for address in (CLIENT, OTHER_CLIENT):  # the creator counts, whatever their address
            for _ in range(limits.HANDLE_CHECK.hits // 2):
                r = await first.get(path, headers={"x-forwarded-for": address})
                assert r.status_code == 200 and "zed" in r.text
        refused = await first.get(path, headers={"x-forwarded-for": "192.0.2.1"})
        assert_refused(refused, limits.HANDLE_CHECK)
        # Another creator on the same address is not limited.
        assert (await second.get(path, headers={"x-forwarded-for": CLIENT})).status_code == 200


# --- across processes, and with the database down -----------------------------------------


@pytest.fixture(scope="module")
def second_server() -> Iterator[Server]:
    with linkmint_serve("limits-second") as server:
        yield server


async def test_two_processes_share_one_count(live_server, second_server):
    route = ROUTES[1]  # /auth/callback
    async with browser(live_server) as one, browser(second_server.url) as two:
        answers = [
            (await ask(one if n % 2 else two, route, CLIENT)).status_code
            for n in range(route.limit.hits)
        ]
        assert answers == [route.allowed] * route.limit.hits
        assert_refused(await ask(one, route, CLIENT), route.limit)
        assert_refused(await ask(two, route, CLIENT), route.limit)
    [row] = await Unlock.raw("SELECT hits FROM rate_limit_hit WHERE bucket = 'auth:callback'")
    assert row["hits"] == route.limit.hits + 2


async def test_the_table_holds_no_client_address(live_server):
    async with browser(live_server) as http:
        await ask(http, ROUTES[0], CLIENT)
    rows = await Unlock.raw("SELECT bucket, key FROM rate_limit_hit")
    assert rows and all(CLIENT not in row["key"] and len(row["key"]) == 64 for row in rows)


async def test_with_the_database_unreachable_the_limits_let_requests_through(
    switched_server, database
):
    async with browser(switched_server.url) as http:
        database.cut()
        # Neither needs the database for itself: a CSP report, a callback with no sign-in.
        assert (await ask(http, ROUTES[4], CLIENT)).status_code == 204
        assert (await ask(http, ROUTES[1], CLIENT)).status_code == 400
    database.restore()

    async def logged() -> bool:  # written by the log's own thread, a moment later
        line = "abuse limit csp-report not counted, request let through"
        return line in switched_server.log_path.read_text()

    await wait_until(logged)  # one line for the outage: app/logs.py counts the repeats


async def test_ended_windows_are_deleted_as_hits_go(client, monkeypatch):
    await Unlock.raw(
        "INSERT INTO rate_limit_hit (bucket, key, hits, expires_at) "
        "VALUES ('auth:login', 'old', 5, now() - interval '1 second')"
    )
    monkeypatch.setattr(limits, "_purged_at", -limits.PURGE_EVERY)  # this process's turn
    assert (await client.get("/auth/login", follow_redirects=False)).status_code == 303
    rows = await Unlock.raw("SELECT key FROM rate_limit_hit")
    assert [r["key"] for r in rows] != [] and "old" not in [r["key"] for r in rows]


# --- the public page's fast path never counts ------------------------------------------------


@pytest.fixture
async def cached(settings) -> AsyncIterator[AsyncTestClient]:
    app = create_app(settings, caches=True)
    async with AsyncTestClient(app, base_url=settings.app_url) as client:

        async def live() -> bool:
            return app.state.page_cache.live

        await wait_until(live)
        yield client


async def test_a_cached_public_page_makes_no_database_call(cached, make_creator, monkeypatch):
    creator = await make_creator(handle="alice", display_name="Alice")
    await Link.insert(Link(creator=creator["id"], title="Blog", url="https://blog.example"))
    await notifications_landed(cached.app.state.page_cache)
    # The connections taken while answering a request (not the app's background work): every
    # statement takes one, through Piccolo or straight on asyncpg (the page's own query).
    answering: ContextVar[str | None] = ContextVar("answering", default=None)
    queries: list[str] = []
    app_call, take = LinkmintApp.__call__, BoundedPostgresEngine.take

    async def marked(self, scope, receive, send):
        token = answering.set(scope.get("path"))
        try:
            await app_call(self, scope, receive, send)
        finally:
            answering.reset(token)

    async def counted(self, *, pooled: bool = True):
        if (path := answering.get()) is not None:
            queries.append(path)
        return await take(self, pooled=pooled)

    monkeypatch.setattr(LinkmintApp, "__call__", marked)
    monkeypatch.setattr(BoundedPostgresEngine, "take", counted)
    first = await cached.get("/alice")
    assert first.headers["x-cache"] == "miss" and queries  # rendered: it read the database
    queries.clear()
    for _ in range(3):
        hit = await cached.get("/alice")
        assert hit.status_code == 200 and hit.headers["x-cache"] == "hit"
    assert queries == []


# --- the buyer's return asks Whop once at a time --------------------------------------------


@pytest.fixture
async def quiet_whop(emulator_control):
    """The emulator's own webhooks to the app are lost: only the return can converge."""
    await faults.add_fault("drop", attempts=4, times=1000)


@pytest.fixture
async def recipe(client, settings, make_creator, quiet_whop):
    alice = await make_seller(client, settings, make_creator, "alice")
    return await add_premium(alice)


async def count_whop_calls(path: str, method: str | None = "GET", hang: float = 0.01) -> int:
    """Arm an emulator fault that only stalls matching API calls, to count them: whichever
    process makes a call spends one of its `times` (they are kept in PostgreSQL)."""
    fault = await faults.add_fault("api", path=path, method=method, hang=hang, times=1000)
    return fault["id"]


async def whop_calls(fault_id: int) -> int:
    [row] = await Unlock.raw("SELECT remaining FROM whop_emulator.fault WHERE id = {}", fault_id)
    return 1000 - row["remaining"]


async def paid_checkout(client, link_id: int) -> tuple[str, str, str]:
    """The unlock, its checkout, and a payment made there (not yet known to Linkmint)."""
    unlock_id, purchase_url = await start_checkout(client, link_id)
    paid = await pay(client, purchase_url)
    return unlock_id, purchase_url, query_of(paid.headers["location"])["payment_id"]


def confirm_url(unlock_id: str, payment_id: str) -> str:
    return f"/checkout/confirm?unlock={unlock_id}&payment_id={payment_id}"


async def past_the_throttle(unlock_id: str) -> None:
    await Unlock.raw(
        "UPDATE unlock SET confirm_asked_at = confirm_asked_at - interval '1 minute' WHERE id = {}",
        unlock_id,
    )


async def returns(bases: list[str], unlock_id: str, payment_id: str) -> list[httpx.Response]:
    """The buyer's return, through each of `bases` at once (real servers: the in-process
    client answers one request at a time)."""
    async with httpx.AsyncClient(timeout=15, follow_redirects=False) as http:
        return await asyncio.gather(
            *(http.get(base + confirm_url(unlock_id, payment_id)) for base in bases)
        )


async def test_rapid_returns_for_one_unlock_ask_whop_once(client, recipe, live_server):
    unlock_id, _, payment_id = await paid_checkout(client, recipe["id"])
    # Each call stalls half a second, so that all five returns are in flight at once.
    counter = await count_whop_calls(f"/payments/{payment_id}", hang=0.5)
    answers = await returns([live_server] * 5, unlock_id, payment_id)
    page = f"/alice#premium-{recipe['id']}"
    assert [(r.status_code, r.headers["location"]) for r in answers] == [(303, page)] * 5
    assert await whop_calls(counter) == 1
    row = await unlock_row(unlock_id)
    assert row["status"] == "COMPLETED" and row["completed_via"] == "redirect"
    # Settled by that payment: later returns ask nothing, however long after.
    await past_the_throttle(unlock_id)
    again = await client.get(confirm_url(unlock_id, payment_id), follow_redirects=False)
    assert again.status_code == 303 and await whop_calls(counter) == 1


async def test_a_return_asks_again_only_after_a_few_seconds(client, recipe):
    unlock_id, _ = await start_checkout(client, recipe["id"])
    made_up = "pay_MadeUp0000001"  # Whop knows no such payment: nothing settles
    counter = await count_whop_calls(f"/payments/{made_up}")
    for _ in range(3):
        r = await client.get(confirm_url(unlock_id, made_up), follow_redirects=False)
        assert r.status_code == 303  # the page shows the unlock as it stands
    assert await whop_calls(counter) == 1
    await past_the_throttle(unlock_id)
    await client.get(confirm_url(unlock_id, made_up), follow_redirects=False)
    assert await whop_calls(counter) == 2
    assert (await unlock_row(unlock_id))["status"] == "PENDING"


async def test_a_settled_second_charge_is_never_asked_about_again(client, recipe):
    unlock_id, purchase_url, first = await paid_checkout(client, recipe["id"])
    second = query_of((await pay(client, purchase_url)).headers["location"])["payment_id"]
    await client.get(confirm_url(unlock_id, first), follow_redirects=False)
    await past_the_throttle(unlock_id)
    await client.get(confirm_url(unlock_id, second), follow_redirects=False)  # refunded
    [dup] = await Unlock.raw(
        "SELECT refunded_at FROM duplicate_payment WHERE payment_id = {}", second
    )
    assert dup["refunded_at"] is not None
    counter = await count_whop_calls("/payments*", method=None)
    await past_the_throttle(unlock_id)
    r = await client.get(confirm_url(unlock_id, second), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/alice#premium-{recipe['id']}"
    assert await whop_calls(counter) == 0


async def test_returns_through_two_processes_ask_whop_once(
    client, recipe, live_server, second_server
):
    unlock_id, _, payment_id = await paid_checkout(client, recipe["id"])
    counter = await count_whop_calls(f"/payments/{payment_id}", hang=1.0)
    answers = await returns([live_server, second_server.url] * 3, unlock_id, payment_id)
    assert [r.status_code for r in answers] == [303] * 6
    assert await whop_calls(counter) == 1
    assert (await unlock_row(unlock_id))["status"] == "COMPLETED"
