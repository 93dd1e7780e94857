"""Served over https, the session cookie is pinned to this origin and browsers are told to
come back over https only; served over plain http (on loopback, in development) neither,
since browsers refuse a `__Host-` cookie there and HSTS would lock localhost to https.

Each test signs in through the emulator's Whop page, in-process, on an app of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar.testing import AsyncTestClient

from app.config import Settings
from app.main import create_app
from tests.support.whop_browser import open_authorize_page

HTTPS = "https://linkmint.example"
LOOPBACK = "http://127.0.0.1:8200"
HSTS = "strict-transport-security"


@asynccontextmanager
async def browser_at(settings: Settings, app_url: str) -> AsyncIterator[AsyncTestClient]:
    """A browser on an app served at `app_url`."""
    app = create_app(dataclasses.replace(settings, app_url=app_url))
    async with AsyncTestClient(app, base_url=app_url) as browser:
        yield browser


async def sign_in_through_whop(browser: httpx.AsyncClient) -> httpx.Response:
    """Log in, approve on Whop's page as a new user, come back: the callback's answer."""
    login = await browser.get("/auth/login?next=/dashboard", follow_redirects=False)
    assert login.status_code == 303
    page = await open_authorize_page(browser, login.headers["location"])
    approved = await page.approve_new_user()
    assert approved.status_code == 302, approved.text
    signed_in = await browser.get(approved.headers["location"], follow_redirects=False)
    assert signed_in.status_code == 303, signed_in.text
    return signed_in


def set_cookie(response: httpx.Response, name: str) -> dict[str, str]:
    """The attributes of the one Set-Cookie for `name` (lower-cased names; flags map to '')."""
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    _, *attributes = headers[0].split(";")
    pairs = (a.strip().partition("=") for a in attributes if a.strip())
    return {key.lower(): value for key, _, value in pairs}


def session_cookies(response: httpx.Response) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if "lm_session=" in h]


async def test_over_https_the_session_cookie_is_host_only_secure_and_hsts_is_sent(settings):
    async with browser_at(settings, HTTPS) as browser:
        signed_in = await sign_in_through_whop(browser)

        [header] = session_cookies(signed_in)
        assert header.startswith("__Host-lm_session=")
        cookie = set_cookie(signed_in, "__Host-lm_session")
        assert "secure" in cookie and "httponly" in cookie
        assert cookie["path"] == "/" and "domain" not in cookie
        assert cookie["samesite"].lower() == "lax"

        dashboard = await browser.get("/dashboard", follow_redirects=False)
        assert dashboard.status_code == 200  # the browser's __Host- cookie is the session
        missing = await browser.get("/static/no-such-file.css")
        for response in (signed_in, dashboard, missing):
            assert response.headers[HSTS].startswith("max-age=")
            assert int(response.headers[HSTS].split(";")[0].removeprefix("max-age=")) > 0


async def test_over_plain_http_on_loopback_neither_host_prefix_nor_hsts(settings):
    async with browser_at(settings, LOOPBACK) as browser:
        signed_in = await sign_in_through_whop(browser)

        [header] = session_cookies(signed_in)
        assert header.startswith("lm_session=")
        cookie = set_cookie(signed_in, "lm_session")
        assert "secure" not in cookie and "httponly" in cookie

        dashboard = await browser.get("/dashboard", follow_redirects=False)
        assert dashboard.status_code == 200
        for response in (signed_in, dashboard):
            assert HSTS not in response.headers
            assert not any("__Host-" in h for h in response.headers.get_list("set-cookie"))
