"""What the Whop tests share: a webhook receiver on loopback, a buyer and a creator who walk
the emulator's hosted pages, and fixtures that make the emulator fast and tidy.

The emulator under test is the one inside `live_server` (a real `linkmint serve` on
127.0.0.1), reached over real HTTP. Faults and control settings live in the shared test
database, so arming one here is obeyed there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.emulator import faults
from app.whop import RetryPolicy, WhopClient


async def eventually(check: Callable[[], Any], within: float = 10.0, every: float = 0.05) -> Any:
    """Poll `check` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(every)


# --- a webhook receiver ---------------------------------------------------------------------


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records every request and answers as told."""

    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    delay: float = 0.0  # seconds before answering
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def bodies(self) -> list[dict[str, Any]]:
        import json

        return [json.loads(r.body) for r in self.requests]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if self.delay:
                await asyncio.sleep(self.delay)
            status = self.statuses.pop(0) if self.statuses else 200
            self.requests.append(Received(time.monotonic(), headers, body, status))
            writer.write(
                f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
async def emulator_control() -> AsyncIterator[None]:
    """Whop's retry schedule at 1/100 speed for this test; no fault outlives it."""
    await faults.clear_faults()
    await faults.set_control_settings(time_scale=0.01, receiver_timeout=2.0)
    yield
    await faults.clear_faults()
    await faults.reset_control_settings()


@pytest.fixture
def live_settings(settings: Settings, live_server: str) -> Settings:
    """The test settings, pointed at the live server (its emulator is at /_whop)."""
    return dataclasses.replace(settings, app_url=live_server)


@pytest.fixture
async def api(live_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP to the emulated Whop API, with the platform's API key."""
    async with httpx.AsyncClient(
        base_url=live_settings.api_base,
        headers={"Authorization": f"Bearer {live_settings.whop_api_key}"},
        timeout=10,
    ) as client:
        yield client


@pytest.fixture
async def browser(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    """A person's browser on the hosted pages (redirects are inspected, not followed)."""
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as client:
        yield client


def recorded_calls(whop: WhopClient) -> list[tuple[str, str]]:
    """The HTTP requests `whop` makes to Whop's API from now on, as (method, path under the
    API's base)."""
    made: list[tuple[str, str]] = []

    async def record(request: httpx.Request) -> None:
        made.append((request.method, request.url.path.removeprefix("/_whop/api/v1")))

    whop._http.event_hooks["request"].append(record)
    return made


def wait_out_whop(app: Any) -> None:
    """As if the waits Whop asked the app's client for (429s) were over."""
    app.state.whop._quiet_until.clear()


class Sleeps(list):
    """Records each backoff the client asks for, and waits only a token moment."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def whop(live_settings: Settings, sleeps: Sleeps) -> AsyncIterator[WhopClient]:
    """The app's (background) Whop client, pointed at the live emulator, with instant backoff."""
    client = WhopClient.connect(
        live_settings,
        retry=RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2),
        sleep=sleeps,
    )
    async with client:
        yield client


@pytest.fixture
async def receiver(api: httpx.AsyncClient) -> AsyncIterator[Receiver]:
    """A webhook receiver; `await hook_for(receiver, api, company)` registers it."""
    rx = Receiver()
    await rx.start()
    yield rx
    await rx.stop()
    listed = await api.get("/webhooks", params={"first": 100})
    for hook in listed.json()["data"]:
        if hook["url"] == rx.url:
            await api.delete(f"/webhooks/{hook['id']}")


async def hook_for(rx: Receiver, api: httpx.AsyncClient, company_id: str, **extra: Any) -> dict:
    """Register `rx` for one company's events; returns the webhook with its secret."""
    r = await api.post("/webhooks", json={"url": rx.url, "resource_id": company_id, **extra})
    assert r.status_code == 200, r.text
    return r.json()


# --- the people on the hosted pages ---------------------------------------------------------

_COUNTER = iter(range(1, 1_000_000))


async def connected_company(api: httpx.AsyncClient, settings: Settings, **extra: Any) -> dict:
    n = next(_COUNTER)
    r = await api.post(
        "/companies",
        json={
            "title": f"Creator {n}",
            "email": f"creator{n}@example.com",
            "parent_company_id": settings.whop_parent_company_id,
            "metadata": {"creator_id": str(n)},
            **extra,
        },
    )
    assert r.status_code == 200, r.text
    return r.json()


async def complete_kyc(browser: httpx.AsyncClient, link_url: str, **fields: str) -> httpx.Response:
    page = await browser.get(link_url)
    assert page.status_code == 200, page.text
    form = {
        "legal_name": "Ada Lovelace",
        "country": "GB",
        "account_number": "000123456789",
        "action": "complete",
        **fields,
    }
    return await browser.post(link_url, data=form)


async def checkout(
    api: httpx.AsyncClient,
    company_id: str,
    *,
    price: float = 10.0,
    fee: float | None = 1.23,
    currency: str = "usd",
    metadata: dict[str, str] | None = None,
    redirect_url: str | None = "https://linkmint.example/checkout/confirm?unlock=u1",
) -> dict:
    plan: dict[str, Any] = {
        "company_id": company_id,
        "currency": currency,
        "plan_type": "one_time",
        "initial_price": price,
    }
    if fee is not None:
        plan["application_fee_amount"] = fee
    body: dict[str, Any] = {"plan": plan, "metadata": metadata or {"unlock_id": "u1"}}
    if redirect_url:
        body["redirect_url"] = redirect_url
    r = await api.post("/checkout_configurations", json=body)
    assert r.status_code == 200, r.text
    return r.json()


_HIDDEN = re.compile(r'name="(session|attempt)" value="([^"]+)"')


async def pay(
    browser: httpx.AsyncClient,
    purchase_url: str,
    *,
    card: str = "4242 4242 4242 4242",
    email: str = "buyer@example.com",
    **fields: str,
) -> httpx.Response:
    """Open the hosted checkout, fill in the card, press Pay; the unfollowed answer."""
    page = await browser.get(purchase_url)
    assert page.status_code == 200, page.text
    hidden = dict(_HIDDEN.findall(page.text))
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)[1]
    form = {"email": email, "card_number": card, "expiry": "12/39", "cvc": "123", **hidden}
    return await browser.post(action, data={**form, **fields})


def query_of(location: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(location).query))


async def funded_company(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, settings: Settings, *, sales: int = 1
) -> dict:
    """A connected company that finished KYC (so it has a payout method) and sold `sales`
    $10.00 checkouts with a $1.23 fee: 8.77 each in its balance."""
    company = await connected_company(api, settings)
    link = await api.post(
        "/account_links",
        json={
            "company_id": company["id"],
            "use_case": "account_onboarding",
            "return_url": f"{settings.app_url}/?kyc=done",
            "refresh_url": f"{settings.app_url}/?kyc=again",
        },
    )
    assert link.status_code == 200, link.text
    done = await complete_kyc(browser, link.json()["url"])
    assert done.status_code == 303, done.text
    for _ in range(sales):
        config = await checkout(api, company["id"], price=10.0, fee=1.23)
        paid = await pay(browser, config["purchase_url"])
        assert paid.status_code == 303, paid.text
    return company
