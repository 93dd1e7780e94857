"""CPU time per request, in process: what each kind of request costs the app itself.

`make bench` measures requests per second through a real server under wrk, which is the
figure that counts, but it is only meaningful on a quiet machine. This measures the app's own
CPU time per request (`time.process_time`, so other processes' load does not blur it) by
calling the ASGI app directly, one request at a time, for the same kinds of request as the
bench's scenarios: the plain-text baseline, the public page from the cache, the public page's
miss, and the miss of a page whose compressed copies the cache then keeps. PostgreSQL's own
CPU is not counted (it is another process); the round trips' waiting is not CPU.

    .venv/bin/python -m bench.cpu [--creators 2000] [--requests 2000]

It seeds its own database (`linkmint_bench_cpu`, dropped and made again) from the bench's
data set and prints microseconds per request and each as a multiple of the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.app import PLAINTEXT_PATH, UNCACHED_PATH
from bench.run import CREDENTIALS, SEED

DATABASE = "linkmint_bench_cpu"
BROWSER = [
    (b"accept", b"text/html,application/xhtml+xml"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"user-agent", b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"),
]


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *BROWSER],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _call(app: Any, path: str) -> int:
    """One GET through the ASGI app; its status."""
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(path), receive, send)
    return status


async def _per_request(
    paths: Callable[[int], str], count: int, call: Callable[[str], Awaitable[int]]
) -> float:
    """Microseconds of this process's CPU per request, over `count` requests."""
    for n in range(min(50, count)):  # warm: templates compiled, statements prepared
        await call(paths(n))
    started = time.process_time()
    for n in range(count):
        status = await call(paths(n))
        if status != 200:
            raise RuntimeError(f"{paths(n)} answered {status}")
    return (time.process_time() - started) / count * 1e6


async def _seed(url: str, creators: int) -> list[str]:
    import asyncpg

    from app.shared.fees import MoneyRules
    from bench.dataset import build_dataset, write_dataset

    conn = await asyncpg.connect(url)
    try:
        rules = MoneyRules.from_rows(
            await conn.fetchrow("SELECT * FROM platform_config WHERE id = 1"),
            await conn.fetch("SELECT * FROM currency_rule"),
        )
        fee_for = functools.partial(rules.fee_for, currency="usd")
        data = build_dataset(
            random.Random(SEED),  # noqa: S311 - a reproducible data set
            creators=creators,
            links_per_creator=12,
            completed_unlocks=0,
            pending_unlocks=0,
            fee_for=fee_for,
        )
        await write_dataset(
            conn, data, parent_company_id=CREDENTIALS["WHOP_PARENT_COMPANY_ID"], fee_for=fee_for
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return [c.handle for c in data.creators]


async def measure(creators: int, count: int) -> dict[str, float]:
    from bench import database
    from bench.app import create_bench_app

    handles = await _seed(database.with_database(os.environ["DATABASE_URL"], DATABASE), creators)
    app = create_bench_app()
    figures: dict[str, float] = {}
    async with app.lifespan():
        call = functools.partial(_call, app)
        cache = app.state.page_cache
        while not cache.live:  # noqa: ASYNC110 - the listener connects in the background
            await asyncio.sleep(0.05)
        # The static files are compressed in a thread after start: its CPU is this process's.
        for thread in threading.enumerate():
            if thread.name == "compress-assets":
                await asyncio.to_thread(thread.join)
        figures["baseline"] = await _per_request(lambda n: PLAINTEXT_PATH, count, call)
        pick = random.Random(1)  # noqa: S311
        figures["page, cached"] = await _per_request(
            lambda n: f"/{handles[pick.randrange(100)]}", count, call
        )

        def miss(n: int) -> str:
            cache.clear()
            return f"/{handles[n % len(handles)]}"

        figures["page, miss (stored)"] = await _per_request(miss, min(count, len(handles)), call)
        figures["page, uncached"] = await _per_request(
            lambda n: f"{UNCACHED_PATH}/{handles[n % len(handles)]}", count, call
        )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--creators", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)

    from dotenv import dotenv_values

    from bench import database
    from bench.run import ROOT

    url = database.with_database(
        database.choose_url(os.environ, dotenv_values(ROOT / ".env")), DATABASE
    )
    os.environ.update(
        {
            **CREDENTIALS,
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            "MAINTENANCE_SECONDS": "3600",
            "WHOP_API_BASE": "",
            "WHOP_OAUTH_BASE": "",
        }
    )
    asyncio.run(database.recreate(url))
    asyncio.run(database.migrate())
    figures = asyncio.run(measure(args.creators, args.requests))
    base = figures["baseline"]
    for name, micros in figures.items():
        print(f"{name:<22} {micros:8.0f} µs CPU   {micros / base:5.1f} × baseline")


if __name__ == "__main__":
    main()
