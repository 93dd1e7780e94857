"""Shared by the tests of the in-memory caches (page cache, pending polls) and their fast
lanes: a clock to move by hand, waiting for a notification to land, a spy on which
requests reached Litestar at all, and an answer's body as sent (still compressed)."""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx
import pytest
from litestar import Litestar
from piccolo.engine import engine_finder


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def wait_until(predicate, within: float = 5.0, every: float = 0.02) -> float:
    """Await `predicate()` until it is true; the seconds that took."""
    start = time.monotonic()
    while not await predicate():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within}s")
        await asyncio.sleep(every)
    return time.monotonic() - start


async def notifications_landed(cache, channel: str = "linkmint_page") -> None:
    """Wait until `cache` has heard every notification committed so far (PostgreSQL delivers
    them in commit order, so a marker sent now arrives after them all): a test's own setup
    writes must not invalidate what the test itself caches a moment later. The marker is not
    a creator id, so it also empties the cache.

    It waits for the marker itself: a bump of `cache.generation` would also come from the
    setup's own notifications, still landing, and the marker after them would then empty
    the cache just after the test's first page was stored."""
    marker = f"settled-{secrets.token_hex(4)}"
    heard: list[str] = []
    with cache.listener.also(channel, heard.append):
        await engine_finder().run_ddl(f"NOTIFY {channel}, '{marker}'")

        async def landed() -> bool:
            return marker in heard

        await wait_until(landed)


@pytest.fixture
def framework_calls(monkeypatch) -> list[str]:
    """The paths of the HTTP requests that reached Litestar (not answered by a fast lane)."""
    calls: list[str] = []
    through = Litestar.__call__

    async def counting(self, scope, receive, send):
        if scope["type"] == "http":
            calls.append(scope["path"])
        await through(self, scope, receive, send)

    monkeypatch.setattr(Litestar, "__call__", counting)
    return calls


async def as_sent(
    client: httpx.AsyncClient, path: str, accept_encoding: str | None, **kwargs
) -> tuple[httpx.Response, bytes]:
    """GET (or `method=`) `path` with exactly this Accept-Encoding (None: without one, which
    httpx would otherwise add): the answer, and its body as it came, not decoded."""
    request = client.build_request(kwargs.pop("method", "GET"), path, **kwargs)
    if accept_encoding is None:
        del request.headers["accept-encoding"]
    else:
        request.headers["accept-encoding"] = accept_encoding
    response = await client.send(request, stream=True)
    try:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
    return response, body
