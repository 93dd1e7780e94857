"""In Chromium, the emulator's hosted pages send a person back to a caller on another origin.

The caller (Whop's SDK, another app pointed at the emulator) is a tiny HTTP server on
another loopback port. A browser checks the redirect that answers a posted form against the
page's `form-action`, so without the caller's origin in it the Pay, Submit and Approve
buttons would do nothing; the harness also fails the test on any CSP violation.
"""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from playwright.async_api import Page, expect

from app.emulator import identity
from tests.support.whop_browser import pkce_pair
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    api,
    checkout,
    connected_company,
    live_settings,
    query_of,
)

pytestmark = pytest.mark.browser

OTHER_CLIENT = "app_ReturnOriginBrowser"  # an OAuth client that is not Linkmint
PAGE = (
    b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Other app</title>'
    b'<link rel="icon" href="data:,"></head><body><h1>Back at the other app</h1></body></html>'
)


@dataclass
class OtherApp:
    """A caller of the emulator on its own loopback port: it answers every GET with a page
    and remembers the paths it was asked for."""

    url: str = ""
    paths: list[str] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.paths.append(head.split(b" ", 2)[1].decode("latin-1"))
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(PAGE), PAGE)
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def other_app() -> AsyncIterator[OtherApp]:
    app = OtherApp()
    server = await asyncio.start_server(app.serve, "127.0.0.1", 0)
    app.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield app
    finally:
        server.close()
        await server.wait_closed()


async def test_a_buyer_pays_and_lands_back_on_the_callers_origin(
    page: Page, api, live_settings, live_server: str, other_app: OtherApp
):
    assert other_app.url != live_server
    company = await connected_company(api, live_settings)
    config = await checkout(
        api, company["id"], price=4.99, fee=0.5, redirect_url=f"{other_app.url}/thanks?order=o1"
    )

    await page.goto(config["purchase_url"])
    await page.get_by_label("Email for the receipt").fill("buyer@example.com")
    await page.get_by_label("Card number").fill("4242 4242 4242 4242")
    await page.get_by_label("Expiry (MM/YY)").fill("12/39")
    await page.get_by_label("CVC").fill("123")
    await page.get_by_role("button", name="Pay $4.99").click()

    await expect(page).to_have_url(
        re.compile(re.escape(f"{other_app.url}/thanks?order=o1&payment_id=pay_"))
    )
    await expect(page.get_by_role("heading", name="Back at the other app")).to_be_visible()
    query = query_of(page.url)
    assert query["checkout_status"] == "success"
    payment = (await api.get(f"/payments/{query['payment_id']}")).json()
    assert payment["status"] == "paid" and payment["total"] == 4.99
    assert other_app.paths[0].startswith("/thanks?order=o1&payment_id=pay_")


async def test_a_creator_finishes_kyc_and_lands_back_on_the_callers_origin(
    page: Page, api, live_settings, other_app: OtherApp
):
    company = await connected_company(api, live_settings)
    link = await api.post(
        "/account_links",
        json={
            "company_id": company["id"],
            "use_case": "account_onboarding",
            "return_url": f"{other_app.url}/payouts/return",
            "refresh_url": f"{other_app.url}/payouts/refresh",
        },
    )
    assert link.status_code == 200, link.text

    await page.goto(link.json()["url"])
    await page.get_by_label("Legal name").fill("Ada Lovelace")
    await page.get_by_label("Bank account number").fill("000123456789")
    await page.get_by_role("button", name="Submit verification").click()

    await expect(page).to_have_url(f"{other_app.url}/payouts/return")
    await expect(page.get_by_role("heading", name="Back at the other app")).to_be_visible()


async def test_a_person_approves_and_lands_on_the_clients_callback_on_another_origin(
    page: Page, live_server: str, other_app: OtherApp, approve_on_whop
):
    callback = f"{other_app.url}/auth/callback"
    await identity.register_client(OTHER_CLIENT, "Another app", "another-secret", callback)
    params = {
        "response_type": "code",
        "client_id": OTHER_CLIENT,
        "redirect_uri": callback,
        "scope": "openid profile email",
        "state": "state-o1",
        "nonce": "nonce-o1",
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }

    await page.goto(f"{live_server}/_whop/oauth/authorize?{urlencode(params)}")
    await approve_on_whop(page)

    await expect(page).to_have_url(re.compile(re.escape(f"{callback}?code=")))
    await expect(page.get_by_role("heading", name="Back at the other app")).to_be_visible()
    assert query_of(page.url)["state"] == "state-o1"
