"""PostgreSQL outages under a running server: stopped, refusing, frozen.

What must hold: requests fail fast (a 503, not a hang and not a 500), /readyz answers within
2 s, pages seen before the outage keep being served (stale) for as long as it lasts, the
log stays a few dozen lines, and once the database is back every money invariant holds.

The big test runs its own PostgreSQL (outage_support.EmbeddedPostgres) under the app, and a
second `linkmint serve` on the test database as Whop (its emulator), so Whop stays up while
the app's database is down: buyers go on paying, Whop's webhooks to the app fail and are
retried, and the buyers' returns fail until the database is back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack

import asyncpg
import httpx
import pytest

from app.emulator import faults
from app.whop import WhopClient
from tests.support.money_invariants import money_check
from tests.support.outage_support import (
    EmbeddedPostgres,
    Load,
    Purchase,
    Sample,
    come_back,
    failure_lines,
    pay,
    start_purchase,
    timing,
)
from tests.support.servers import ROOT, Server, free_port, start_server

pytestmark = pytest.mark.costly

STOPPED_FOR = 15.0
FROZEN_FOR = 10.0
TTL = 5.0  # PAGE_CACHE_TTL of the app under test: the outages outlast it
LOG_WINDOW = 10.0  # LOG_REPEAT_WINDOW: so that the counts are written during the test
STATEMENT_TIMEOUT = 5.0  # the default: the client gives up a second later
MAX_LOG_LINES = 60


def whop_env(whop_url: str) -> dict[str, str]:
    return {
        "WHOP_API_BASE": f"{whop_url}/_whop/api/v1",
        "WHOP_OAUTH_BASE": f"{whop_url}/_whop/oauth",
    }


def wait_until_answering(url: str, path: str = "/healthz", within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url}{path} did not answer within {within}s")


async def timed_get(http: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = await http.get(path)
    return r, time.monotonic() - started


# --- a database that refuses, or answers nothing at all ---------------------------------


@pytest.mark.parametrize("database", ["refusing", "frozen"])
async def test_readyz_and_pages_answer_503_fast_when_the_database_cannot_be_reached(database):
    with ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        if database == "frozen":
            listener.listen(64)  # connections complete in the kernel, and nothing answers
        else:
            listener.close()  # nothing listens: refused
        env = {
            **whop_env("http://127.0.0.1:9"),
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/linkmint",
        }
        server = start_server(stack, f"db-{database}", pool=2, env=env)
        wait_until_answering(server.url)
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
            for _ in range(3):
                r, took = await timed_get(http, "/readyz")
                assert r.status_code == 503 and took < 2.0, (r.status_code, took)
            r, first = await timed_get(http, "/alice")
            again = [await timed_get(http, "/alice") for _ in range(5)]
        # Once the database is known to be down nobody waits for it (app/db/outage.py).
        assert first < STATEMENT_TIMEOUT + 2
        assert max(took for _, took in again) < 0.5, again
        for page in (r, *(r for r, _ in again)):
            assert page.status_code == 503
            assert "Temporarily unavailable" in page.text and "Traceback" not in page.text
            assert "default-src 'self'" in page.headers["content-security-policy"]
            assert page.headers["retry-after"] == "5"
        server.stop()
        assert "Traceback" not in server.log_path.read_text()


# --- stopped and frozen under load, with buyers paying -----------------------------------


async def test_an_outage_under_load_fails_fast_serves_stale_pages_logs_little_and_loses_no_money(
    settings,
):
    with ExitStack() as stack:
        pg = EmbeddedPostgres()
        stack.callback(pg.destroy)
        app_db = await pg.create_database("linkmint")
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "app.cli", "migrate"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": app_db},
            check=True,
            capture_output=True,
            timeout=120,
        )
        whop_server = start_server(stack, "whop", pool=4)
        whop_server.wait_ready()
        await faults.clear_faults()
        # Whop retries a failed webhook 3, 6 and 12 s later (a tenth of its real schedule).
        await faults.set_control_settings(time_scale=0.3, receiver_timeout=2.0)
        whop_settings = dataclasses.replace(settings, app_url=whop_server.url)
        async with WhopClient.connect(whop_settings) as whop:
            app_url = f"http://127.0.0.1:{free_port()}"
            # Whop's webhooks for the seller's company, to the app (the Whop process's own
            # dashboard webhook goes to itself). Its secret is the app's webhook secret.
            company = (await whop.create_connected_company(title="Alice", email="a@ex.com")).id
            hook = await whop.create_webhook(f"{app_url}/webhooks/whop", resource_id=company)
            try:
                world = await _seed(app_db, company)
                app = start_server(
                    stack,
                    "outage-app",
                    pool=4,
                    port=int(app_url.rsplit(":", 1)[1]),
                    env={
                        **whop_env(whop_server.url),
                        "DATABASE_URL": app_db,
                        "WHOP_WEBHOOK_SECRET": hook.secret,
                        "PAGE_CACHE_TTL": str(TTL),
                        "LOG_REPEAT_WINDOW": str(LOG_WINDOW),
                    },
                )
                app.wait_ready()
                run = await _outages(pg, app_db, app, world)
                app.stop()  # (its last counts are written as it stops)
                money = await _settled_money(whop, [company], app_db)
            finally:
                key = {"Authorization": f"Bearer {settings.whop_api_key}"}
                async with httpx.AsyncClient(base_url=whop_settings.api_base, headers=key) as api:
                    await api.delete(f"/webhooks/{hook.id}")
                await faults.reset_control_settings()
        _judge(run, failure_lines(app.log_path, run.log_from), money)


@dataclasses.dataclass
class Run:
    """What the outages test did, and when (monotonic seconds)."""

    load: Load
    log_from: int  # the server log's size when the database was stopped
    stopped_at: float = 0.0
    started_at: float = 0.0
    frozen_at: float = 0.0
    thawed_at: float = 0.0
    paid: list[Purchase] = dataclasses.field(default_factory=list)
    refused: int = 0  # Unlock presses the app refused (503) while its database was out
    stale: httpx.Response | None = None  # a page served while the database was stopped
    back: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    edit_seen: float = 0.0  # after the restart: an edit on the page, seconds after it
    returns: list[int] = dataclasses.field(default_factory=list)  # buyers' last reloads


async def _cached(http: httpx.AsyncClient, path: str, within: float) -> None:
    """Until `path` is answered from the page cache; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while (cache := (await http.get(path)).headers.get("x-cache")) != "hit":
        assert time.monotonic() < deadline, f"{path} still answered {cache!r} after {within} s"
        await asyncio.sleep(0.2)


async def _outages(pg: EmbeddedPostgres, dsn: str, server: Server, world: dict) -> Run:
    """Load on the app; the database stopped for STOPPED_FOR, then frozen for FROZEN_FOR,
    with buyers paying at Whop meanwhile and reloading their return page afterwards."""
    app = server.url
    polls = []
    for purchase in await _purchases(app, world, 2):  # buyers waiting on the page, polling
        sql = "SELECT id FROM unlock WHERE purchase_url = $1"
        unlock_id = await _sql(dsn, sql, purchase.purchase_url)
        polls.append((f"/unlocks/{unlock_id}/status", purchase.cookies))
    # Carol's and Dave's pages are asked for only while the database is out (stopped and
    # frozen), so nothing of them is known.
    run = Run(Load(app, pages=("alice", "bob"), polls=polls), log_from=0)
    run.load.start()
    async with httpx.AsyncClient(base_url=app, timeout=15) as http:
        # The load caches Alice's page within moments, but the buyers' unlocks above may
        # still have invalidations on their way (late on a busy machine), so wait for a hit.
        await _cached(http, "/alice", within=20.0)

        buyers = await _purchases(app, world, 4)
        run.log_from = server.log_path.stat().st_size
        run.stopped_at = time.monotonic()
        await asyncio.to_thread(pg.stop)
        await _while_out(http, run, world, buyers, "/carol", until=run.stopped_at + STOPPED_FOR)
        run.stale = await http.get("/alice")
        run.started_at = time.monotonic()
        await asyncio.to_thread(pg.start)
        run.back.append(await _back_to_normal(http, run.started_at))
        await _sql(dsn, "UPDATE creator SET display_name = 'Alice After' WHERE handle = 'alice'")
        run.edit_seen = await _eventually(lambda: _shows(http, "/alice", "Alice After"), 5)
        run.returns += [await _return_until_settled(p) for p in buyers]

        buyers = await _purchases(app, world, 4)
        run.frozen_at = time.monotonic()
        await asyncio.to_thread(pg.freeze)
        try:
            await _while_out(http, run, world, buyers, "/dave", until=run.frozen_at + FROZEN_FOR)
        finally:
            run.thawed_at = time.monotonic()
            pg.thaw()
        run.back.append(await _back_to_normal(http, run.thawed_at))
        run.returns += [await _return_until_settled(p) for p in buyers]

        after = await _purchases(app, world, 2)  # and business as usual
        await _pay_and_come_back(after, over=0.5)
        run.paid.extend(after)
        await asyncio.sleep(1)
    await run.load.stop()
    return run


async def _while_out(
    http: httpx.AsyncClient,
    run: Run,
    world: dict,
    buyers: list[Purchase],
    unseen: str,
    until: float,
) -> None:
    """Until `until`: buyers who started a checkout before pay at Whop and come back to the
    app; new buyers press Unlock; someone asks for a page never seen before."""
    asking = asyncio.create_task(_keep_asking(http, unseen, run.load, "unseen"))
    try:
        over = (until - time.monotonic()) / 2
        paying = asyncio.create_task(_pay_and_come_back(buyers, over=over))
        run.refused += await _try_to_buy(run.load.app, world, run.load, until=until - 2)
        await paying
        run.paid.extend(buyers)
        await asyncio.sleep(max(0.0, until - time.monotonic()))
    finally:
        asking.cancel()


def _judge(run: Run, lines: list[str], money) -> None:
    load = run.load
    stopped, frozen = (run.stopped_at, run.started_at), (run.frozen_at, run.thawed_at)
    pages = load.during("page", *stopped) + load.during("page", *frozen)
    late_stale = [
        s
        for s in load.during("page", *stopped)
        if s.cache == "stale" and s.at > run.stopped_at + TTL
    ]
    readyz = load.during("readyz", run.stopped_at, run.thawed_at)
    needing_db = [s for kind in ("poll", "unseen", "unlock") for s in load.during(kind, *frozen)]
    first_503 = min(
        (s.answered_at - run.frozen_at for s in needing_db if s.status >= 500), default=-1.0
    )
    known_down = [s for s in needing_db if s.at > run.frozen_at + STATEMENT_TIMEOUT + 2]
    fast = [s for s in known_down if s.seconds < 0.5]
    tracebacks = sum("Traceback" in line for line in lines)
    stale = run.stale
    summary = "\n".join(
        [
            f"pages while stopped {STOPPED_FOR:.0f}s: {timing(load.during('page', *stopped))}, "
            f"{len(late_stale)} stale more than the {TTL:.0f}s TTL after the stop",
            f"pages while frozen {FROZEN_FOR:.0f}s: {timing(load.during('page', *frozen))}",
            f"non-200 pages: {sum(s.status != 200 for s in pages)}, stale: "
            f"{sum(s.cache == 'stale' for s in pages)}",
            f"frozen, needing the database: {timing(needing_db)}; first 503 {first_503:.2f}s "
            f"after the freeze; once known down: {timing(known_down)}",
            f"readyz during the outages: {timing(readyz)}, {sorted({s.status for s in readyz})}",
            f"fresh pages (the cache) back after: {[f'{a:.1f}s ({b:.1f}s)' for a, b in run.back]}",
            f"an edit then seen after {run.edit_seen:.1f}s",
            f"Unlock refused while out: {run.refused}; paid {len(run.paid)}; returns {run.returns}",
            f"log: {len(lines)} lines (access log aside), {tracebacks} tracebacks",
            f"money: {money}",
            *(f"  | {line}" for line in lines),
        ]
    )
    print("\n" + summary)

    assert all(s.status == 200 for s in pages), summary
    assert late_stale, summary  # served stale for longer than the TTL
    assert stale is not None and stale.headers["x-cache"] == "stale", summary
    assert "default-src 'self'" in stale.headers["content-security-policy"]
    assert "set-cookie" not in stale.headers
    assert all(s.seconds < 2.0 and s.status in (200, 503) for s in readyz), summary
    assert {s.status for s in load.during("readyz", run.stopped_at + 1, run.started_at)} == {503}
    assert all(s.status in (503, 0) or s.kind == "poll" for s in needing_db), summary
    assert max(s.seconds for s in needing_db) < STATEMENT_TIMEOUT + 2.5, summary
    assert len(fast) >= 0.8 * len(known_down), summary
    assert all(s.status == 503 for s in load.samples if s.kind == "unseen"), summary
    assert run.edit_seen < 5 and run.returns == [303] * len(run.returns), summary
    assert not money.problems and money.payments == len(run.paid), summary
    assert len(lines) <= MAX_LOG_LINES and tracebacks == 0, summary


async def _sql(dsn: str, query: str, *args):
    """One query on the app's own database (a connection each: it is stopped and frozen)."""
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def _seed(dsn: str, alices_company: str) -> dict:
    """Four creators: Alice sells a premium link; Alice's and Bob's pages are viewed from
    the start, Carol's and Dave's only ever during an outage."""
    world: dict = {"company": alices_company}
    db = await asyncpg.connect(dsn)
    for n, handle in enumerate(("alice", "bob", "carol", "dave")):
        company = alices_company if handle == "alice" else None
        creator = await db.fetchval(
            "INSERT INTO creator (whop_user_id, handle, display_name, whop_company_id,"
            " payout_enabled) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            f"user_Outage{n:07d}",
            handle,
            handle.title(),
            company,
            company is not None,
        )
        await db.execute(
            "INSERT INTO link (creator, title, url, position) VALUES ($1, 'Blog', $2, 0)",
            creator,
            f"https://{handle}.example/blog",
        )
        if company:
            world["link"] = await db.fetchval(
                "INSERT INTO link (creator, kind, title, url, price_cents, position)"
                " VALUES ($1, 'premium', 'Secret', 'https://secret.example/x', 500, 1)"
                " RETURNING id",
                creator,
            )
    await db.close()
    return world


async def _purchases(app: str, world: dict, count: int) -> list[Purchase]:
    started = []
    for _ in range(count):
        purchase = await start_purchase(app, world["link"])
        assert purchase is not None, "the app could not start a checkout with its database up"
        started.append(purchase)
    return started


async def _pay_and_come_back(purchases: list[Purchase], over: float) -> None:
    """Each buyer pays at Whop (which is up) and comes back to the app, spread over `over`
    seconds; the returns land on an app whose database is down."""
    for purchase in purchases:
        await pay(purchase)
        await come_back(purchase)
        await asyncio.sleep(over / len(purchases))


async def _back_to_normal(
    http: httpx.AsyncClient, since: float, within: float = 30
) -> tuple[float, float]:
    """Seconds from `since` until /readyz is 200 and a page is rendered fresh again, and
    until pages are served from the cache again (its listener is back)."""
    fresh = None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        ready = await http.get("/readyz")
        cache = (await http.get("/alice")).headers.get("x-cache")
        if fresh is None and ready.status_code == 200 and cache in ("miss", "hit", "bypass"):
            fresh = time.monotonic() - since
        if fresh is not None and cache == "hit":
            return fresh, time.monotonic() - since
        await asyncio.sleep(0.1)
    raise AssertionError(f"not back to normal within {within}s")


async def _keep_asking(http: httpx.AsyncClient, path: str, load: Load, kind: str) -> None:
    while True:
        await load.timed(http, kind, path)
        await asyncio.sleep(0.5)


async def _try_to_buy(app: str, world: dict, load: Load, until: float) -> int:
    """A new buyer pressing Unlock every half second: each refused, fast."""
    refused = 0
    while time.monotonic() < until:
        started = time.monotonic()
        purchase = await start_purchase(app, world["link"])
        status = 200 if purchase else 503
        load.samples.append(Sample("unlock", started, time.monotonic() - started, status))
        refused += purchase is None
        await asyncio.sleep(0.5)
    return refused


async def _shows(http: httpx.AsyncClient, path: str, text: str) -> bool:
    r = await http.get(path)
    return r.status_code == 200 and text in r.text


async def _eventually(check, within: float) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            return float("inf")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def _return_until_settled(purchase: Purchase, within: float = 20) -> int:
    """The buyer reloads the return page until the app sends them back to the page."""
    deadline = time.monotonic() + within
    for _ in range(1000):
        if await come_back(purchase) == 303 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    return purchase.returned


async def _settled_money(whop: WhopClient, companies: list[str], dsn: str, within: float = 30):
    deadline = time.monotonic() + within
    db = await asyncpg.connect(dsn)
    try:
        while True:
            check = await money_check(whop, companies, db=db)
            if not check.problems or time.monotonic() > deadline:
                return check
            await asyncio.sleep(1)
    finally:
        await db.close()
