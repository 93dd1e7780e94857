"""Sign in with Whop, end to end: /auth/login, /auth/callback, /auth/logout.

The round trips run over real HTTP against `linkmint serve` (the `live_server` fixture),
whose app calls the emulator at its own URL exactly as it would call Whop; a scripted
browser (`whop_browser`) follows the emulator's page like a person. Failures where Whop
itself is down use an in-process app pointed at a closed port or at a server that only
answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.auth.pending import unseal
from app.auth.service import record_sign_in
from app.auth.sessions import _digest, start_session
from app.db.tables import AuthSession, Creator
from app.emulator import identity
from app.emulator.identity import AuthorizationCode, WhopUser
from app.emulator.oauth import s256
from app.main import create_app
from tests.support.servers import linkmint_serve
from tests.support.studio_support import snapshot
from tests.support.whop_browser import (
    approve_at_whop,
    new_test_user,
    open_authorize_page,
    pkce_pair,
    query_of,
    sign_in_through_whop,
    start_login,
)

SESSION = "lm_session"  # the cookie's name over http (tests run on http://)
PENDING = "lm_oauth"


# --- helpers --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def browser_on(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, follow_redirects=False, timeout=10) as b:
        yield b


def with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {**query_of(url), **changes}
    return urlunsplit(
        parts._replace(query=urlencode({k: v for k, v in query.items() if v is not None}))
    )


def plant_cookie(browser: httpx.AsyncClient, token: str) -> None:
    """As if the server had set it: a session cookie for the browser's host."""
    browser.cookies.set(SESSION, token, domain=browser.base_url.host)


def set_cookie_header(response: httpx.Response, name: str) -> str:
    matches = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(matches) == 1, response.headers.get_list("set-cookie")
    return matches[0]


async def session_rows() -> int:
    return await AuthSession.count()


async def plant_existing_session(browser: httpx.AsyncClient, make_creator) -> str:
    """The browser is already signed in as someone; a failed sign-in must not end that."""
    creator = await make_creator(handle=None)
    token = await start_session(creator["id"])
    plant_cookie(browser, token)
    return token


async def assert_failed_page(
    response: httpx.Response, status: int, words: str, token: str, before: tuple
) -> None:
    """The failure's page: the pending sign-in is over, the session `token` is untouched, and
    no creator or session was made or changed (`before`: their rows before the callback)."""
    assert response.status_code == status, response.text
    assert "text/html" in response.headers["content-type"]
    assert words in response.text
    assert 'href="/auth/login?next=' in response.text and "Try again" in response.text
    assert "Max-Age=0" in set_cookie_header(response, PENDING)
    assert not any(h.startswith(f"{SESSION}=") for h in response.headers.get_list("set-cookie"))
    assert await AuthSession.exists().where(AuthSession.token_hash == _digest(token))
    assert "You are still signed in as before." in response.text
    assert await snapshot(Creator, AuthSession) == before


# --- /auth/login ----------------------------------------------------------------------


async def test_login_sends_the_browser_to_whop_with_pkce_state_and_nonce(client, settings):
    r = await client.get("/auth/login?next=/dashboard/links", follow_redirects=False)
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith(f"{settings.oauth_base}/authorize?")
    q = query_of(location)
    assert q["response_type"] == "code"
    assert q["client_id"] == settings.whop_client_id
    assert q["redirect_uri"] == settings.redirect_uri
    assert q["scope"] == "openid profile email"
    assert q["code_challenge_method"] == "S256"
    assert len(q["state"]) >= 32 and len(q["nonce"]) >= 32

    cookie = set_cookie_header(r, PENDING)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=600" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie
    value = client.cookies[PENDING]
    assert q["state"] not in value and q["nonce"] not in value  # sealed, not just signed
    pending = unseal(value, settings.secret_key)
    assert pending is not None
    assert pending.state == q["state"] and pending.nonce == q["nonce"]
    assert 43 <= len(pending.verifier) <= 128
    assert s256(pending.verifier) == q["code_challenge"]
    assert pending.next == "/dashboard/links"


async def test_each_login_makes_fresh_state_nonce_and_verifier(client, settings):
    first = query_of((await client.get("/auth/login", follow_redirects=False)).headers["location"])
    second = query_of((await client.get("/auth/login", follow_redirects=False)).headers["location"])
    for name in ("state", "nonce", "code_challenge"):
        assert first[name] != second[name]


async def test_on_https_the_pending_cookie_is_secure_and_host_only(settings):
    app = create_app(dataclasses.replace(settings, app_url="https://linkmint.example"))
    async with AsyncTestClient(app, base_url="https://linkmint.example") as browser:
        r = await browser.get("/auth/login", follow_redirects=False)
    cookie = set_cookie_header(r, "__Host-lm_oauth")
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.com",
        "//evil.com/dashboard",
        "https://evil.com",
        "http://evil.com/x",
        "/\\evil.com",
        "\\\\evil.com",
        "/%2F%2Fevil.com",
        "/%252F%252Fevil.com",
        "/%5Cevil.com",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " /dashboard",
        "/\tevil.com",
        "/auth/login",
        "dashboard",
        "",
    ],
)
async def test_next_is_only_ever_a_local_path(client, settings, next_path):
    r = await client.get("/auth/login?" + urlencode({"next": next_path}), follow_redirects=False)
    assert r.status_code == 303
    pending = unseal(client.cookies[PENDING], settings.secret_key)
    assert pending is not None and pending.next == "/dashboard"


@pytest.mark.parametrize("next_path", ["/dashboard", "/dashboard/links?tab=premium", "/alice"])
async def test_a_local_next_path_is_kept(client, settings, next_path):
    await client.get("/auth/login?" + urlencode({"next": next_path}), follow_redirects=False)
    assert unseal(client.cookies[PENDING], settings.secret_key).next == next_path


async def test_login_is_rate_limited_per_client(settings):
    app = create_app(settings)  # its own limiter store, so other tests are unaffected
    async with AsyncTestClient(app, base_url=settings.app_url) as browser:
        statuses = [
            (await browser.get("/auth/login", follow_redirects=False)).status_code
            for _ in range(121)
        ]
    assert statuses[:120] == [303] * 120
    assert statuses[120] == 429


# --- the round trip -------------------------------------------------------------------


async def test_sign_in_round_trip_over_real_http_then_logout(live_server):
    async with browser_on(live_server) as browser:
        user = new_test_user()
        authorize = await start_login(browser, "/dashboard")
        assert authorize.startswith(f"{live_server}/_whop/oauth/authorize?")
        callback = await approve_at_whop(browser, authorize, **user)
        assert callback.startswith(f"{live_server}/auth/callback?code=")
        r = await browser.get(callback)

        assert r.status_code == 303
        assert r.headers["location"] == "/dashboard"
        cookie = set_cookie_header(r, SESSION)
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert f"Max-Age={14 * 24 * 3600}" in cookie
        assert "Max-Age=0" in set_cookie_header(r, PENDING)
        token = browser.cookies[SESSION]

        whop_user = await WhopUser.select().where(WhopUser.username == user["username"]).first()
        creator = await Creator.select().where(Creator.whop_user_id == whop_user["id"]).first()
        assert creator["email"] == user["email"]
        assert creator["display_name"] == user["name"]
        assert creator["handle"] is None  # the studio asks for one
        session = await AuthSession.select().where(AuthSession.token_hash == _digest(token)).first()
        assert session["creator"] == creator["id"]

        assert (await browser.get("/dashboard")).status_code == 200

        await browser.get("/healthz")  # the CSRF cookie, as any page would set it
        r = await browser.post("/auth/logout", headers={"x-csrftoken": browser.cookies["lm_csrf"]})
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "Max-Age=0" in set_cookie_header(r, SESSION)
        assert SESSION not in browser.cookies
        assert not await AuthSession.exists().where(AuthSession.token_hash == _digest(token))

        plant_cookie(browser, token)  # a copied cookie is worthless after logout
        r = await browser.get("/dashboard")
        assert r.status_code == 303 and r.headers["location"].startswith("/auth/login?next=")


async def test_sign_in_returns_to_the_requested_local_page(live_server):
    async with browser_on(live_server) as browser:
        r = await sign_in_through_whop(browser, "/dashboard/links?tab=premium")
        assert r.status_code == 303
        assert r.headers["location"] == "/dashboard/links?tab=premium"


async def test_sign_in_replaces_a_session_an_attacker_planted(live_server, make_creator):
    async with browser_on(live_server) as browser:
        attacker = await make_creator(handle="mallory")
        planted = await start_session(attacker["id"])
        plant_cookie(browser, planted)
        r = await sign_in_through_whop(browser)
        assert r.status_code == 303
        fresh = browser.cookies[SESSION]
        assert fresh != planted
        assert not await AuthSession.exists().where(AuthSession.token_hash == _digest(planted))
        rows = await AuthSession.select(AuthSession.creator)
        assert len(rows) == 1 and rows[0]["creator"] != attacker["id"]


async def test_signing_in_again_finds_the_same_creator_and_keeps_their_edits(live_server):
    async with browser_on(live_server) as browser:
        user = new_test_user()
        await sign_in_through_whop(browser, **user)
        whop_user = await WhopUser.select().where(WhopUser.username == user["username"]).first()
        await Creator.update({Creator.display_name: "Edited in the studio"}).where(
            Creator.whop_user_id == whop_user["id"]
        )
        first_token = browser.cookies[SESSION]
        r = await sign_in_through_whop(browser, account=whop_user["id"])
        assert r.status_code == 303
        creators = await Creator.select().where(Creator.whop_user_id == whop_user["id"])
        assert len(creators) == 1
        assert creators[0]["display_name"] == "Edited in the studio"
        assert browser.cookies[SESSION] != first_token  # rotated again
        assert await session_rows() == 1


async def test_a_session_started_on_one_process_is_honoured_by_another(live_server):
    with linkmint_serve() as server:
        second, log_path = server.url, server.log_path
        async with browser_on(second) as browser:
            r = await sign_in_through_whop(browser)
            assert r.status_code == 303
            token = browser.cookies[SESSION]
            callback_code = r.request.url.params["code"]
        async with browser_on(live_server) as elsewhere:
            plant_cookie(elsewhere, token)
            assert (await elsewhere.get("/dashboard")).status_code == 200
            await elsewhere.get("/healthz")
            r = await elsewhere.post(
                "/auth/logout", headers={"x-csrftoken": elsewhere.cookies["lm_csrf"]}
            )
            assert r.status_code == 303
        async with browser_on(second) as browser:  # signed out on the first process too
            plant_cookie(browser, token)
            assert (await browser.get("/dashboard")).status_code == 303
    log = log_path.read_text()
    assert "/auth/callback?code=[redacted]&state=[redacted]" in log
    assert callback_code not in log  # the access log never carries Whop's code


# --- failures: each ends on a clear page, a session kept ----------------------------------


async def test_declining_at_whop_fails_cleanly(live_server, make_creator):
    async with browser_on(live_server) as browser:
        token = await plant_existing_session(browser, make_creator)
        page = await open_authorize_page(browser, await start_login(browser))
        r = await page.deny()
        before = await snapshot(Creator, AuthSession)
        r = await browser.get(r.headers["location"])
        await assert_failed_page(r, 403, "You did not approve the sign-in", token, before)


async def test_an_error_callback_fails_without_echoing_the_description(live_server, make_creator):
    async with browser_on(live_server) as browser:
        token = await plant_existing_session(browser, make_creator)
        state = query_of(await start_login(browser))["state"]
        before = await snapshot(Creator, AuthSession)
        r = await browser.get(
            "/auth/callback?"
            + urlencode(
                {"error": "server_error", "error_description": "Call +1 555 0100", "state": state}
            )
        )
        await assert_failed_page(r, 400, "Whop could not sign you in", token, before)
        assert "server_error" in r.text and "555 0100" not in r.text


async def test_a_mismatched_state_fails_cleanly(live_server, make_creator):
    async with browser_on(live_server) as browser:
        token = await plant_existing_session(browser, make_creator)
        callback = await approve_at_whop(browser, await start_login(browser))
        before = await snapshot(Creator, AuthSession)
        r = await browser.get(with_query(callback, state="forged-state"))
        await assert_failed_page(r, 400, "does not belong to this browser", token, before)


async def test_a_missing_state_fails_cleanly(live_server, make_creator):
    async with browser_on(live_server) as browser:
        token = await plant_existing_session(browser, make_creator)
        callback = await approve_at_whop(browser, await start_login(browser))
        before = await snapshot(Creator, AuthSession)
        r = await browser.get(with_query(callback, state=None))
        await assert_failed_page(r, 400, "does not belong to this browser", token, before)


async def test_a_callback_in_a_browser_that_never_started_signing_in_is_refused(
    live_server, make_creator
):
    async with browser_on(live_server) as starter:
        callback = await approve_at_whop(starter, await start_login(starter))
    async with browser_on(live_server) as victim:  # e.g. a login-CSRF link
        token = await plant_existing_session(victim, make_creator)
        before = await snapshot(Creator, AuthSession)
        r = await victim.get(callback)
        await assert_failed_page(r, 400, "This sign-in has expired", token, before)


async def test_a_missing_code_fails_cleanly(live_server, make_creator):
    async with browser_on(live_server) as browser:
        token = await plant_existing_session(browser, make_creator)
        callback = await approve_at_whop(browser, await start_login(browser))
        before = await snapshot(Creator, AuthSession)
        r = await browser.get(with_query(callback, code=None))
        await assert_failed_page(r, 400, "without a sign-in code", token, before)


async def test_a_replayed_code_is_refused(live_server):
    async with browser_on(live_server) as browser:
        callback = await approve_at_whop(browser, await start_login(browser))
        assert (await browser.get(callback)).status_code == 303
        token = browser.cookies[SESSION]
        state = query_of(await start_login(browser))["state"]  # a fresh sign-in, the old code
        before = await snapshot(Creator, AuthSession)
        r = await browser.get(with_query(callback, state=state))
        await assert_failed_page(r, 400, "Whop did not accept this sign-in", token, before)
        assert "already been used" in r.text


async def test_a_code_bound_to_another_verifier_is_refused(live_server, make_creator):
    async with browser_on(live_server) as browser:
        token = await plant_existing_session(browser, make_creator)
        authorize = await start_login(browser)
        swapped = with_query(authorize, code_challenge=pkce_pair()[1])  # an injected challenge
        before = await snapshot(Creator, AuthSession)
        r = await browser.get(await approve_at_whop(browser, swapped))
        await assert_failed_page(r, 400, "Whop did not accept this sign-in", token, before)
        assert "code_verifier does not match" in r.text


async def test_an_id_token_with_another_nonce_is_refused(live_server, make_creator):
    async with browser_on(live_server) as browser:
        token = await plant_existing_session(browser, make_creator)
        authorize = with_query(await start_login(browser), nonce="someone-elses-nonce")
        before = await snapshot(Creator, AuthSession)
        r = await browser.get(await approve_at_whop(browser, authorize))
        await assert_failed_page(r, 400, "was not meant for this browser", token, before)


async def test_an_expired_code_is_refused(live_server, make_creator):
    async with browser_on(live_server) as browser:
        token = await plant_existing_session(browser, make_creator)
        callback = await approve_at_whop(browser, await start_login(browser))
        code_hash = identity.digest(query_of(callback)["code"])
        await AuthorizationCode.update(
            {AuthorizationCode.expires_at: datetime.now(UTC) - timedelta(seconds=1)}
        ).where(AuthorizationCode.code_hash == code_hash)
        before = await snapshot(Creator, AuthSession)
        r = await browser.get(callback)
        await assert_failed_page(r, 400, "Whop did not accept this sign-in", token, before)
        assert "expired" in r.text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def whop_answering(status: int) -> Iterator[str]:
    """A stand-in Whop that answers every request with `status`."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "temporarily_unavailable"}')

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


async def _callback_against(
    settings, make_creator, whop_origin: str
) -> tuple[httpx.Response, str, tuple]:
    app = create_app(
        dataclasses.replace(
            settings, whop_api_base=f"{whop_origin}/api/v1", whop_oauth_base=f"{whop_origin}/oauth"
        )
    )
    async with AsyncTestClient(app, base_url=settings.app_url) as browser:
        state = query_of(
            (await browser.get("/auth/login", follow_redirects=False)).headers["location"]
        )["state"]
        token = await plant_existing_session(browser, make_creator)
        before = await snapshot(Creator, AuthSession)
        r = await browser.get(
            f"/auth/callback?code=some-code&state={state}", follow_redirects=False
        )
    return r, token, before


async def test_whop_unreachable_ends_on_a_502_page(settings, make_creator):
    r, token, before = await _callback_against(
        settings, make_creator, f"http://127.0.0.1:{_closed_port()}"
    )
    await assert_failed_page(r, 502, "Whop is not answering", token, before)


async def test_whop_failing_ends_on_a_502_page(settings, make_creator):
    with whop_answering(503) as whop:
        r, token, before = await _callback_against(settings, make_creator, whop)
    await assert_failed_page(r, 502, "Whop had a problem", token, before)


# --- the creator record ---------------------------------------------------------------


async def test_first_sign_in_seeds_the_profile_and_later_ones_only_refresh_the_email(client):
    first = await record_sign_in(
        whop_user_id="user_Seed0000000001",
        email="old@example.com",
        name="  Ada   Lovelace ",
        username="ada",
        picture="https://img.example.com/ada.png",
    )
    assert first.display_name == "Ada Lovelace"
    assert first.avatar_url == "https://img.example.com/ada.png"
    again = await record_sign_in(
        whop_user_id="user_Seed0000000001",
        email="new@example.com",
        name="Someone Else",
        username="ada",
        picture="https://img.example.com/other.png",
    )
    assert again.id == first.id
    assert again.email == "new@example.com"
    assert again.display_name == "Ada Lovelace" and again.avatar_url.endswith("ada.png")


@pytest.mark.parametrize(
    "picture",
    ["http://img.example.com/a.png", "javascript:alert(1)", "data:image/png;base64,AA", None],
)
async def test_only_an_https_whop_picture_becomes_the_avatar(client, picture):
    row = await record_sign_in(
        whop_user_id="user_Pict0000000001", email=None, name=None, username="pic", picture=picture
    )
    assert row.avatar_url == ""
    assert row.display_name == "pic"


async def test_concurrent_first_sign_ins_make_one_creator(client):
    rows = await asyncio.gather(
        *(
            record_sign_in(
                whop_user_id="user_Race0000000001",
                email="r@example.com",
                name="R",
                username="r",
                picture=None,
            )
            for _ in range(6)
        )
    )
    assert len({r.id for r in rows}) == 1
    assert await Creator.count().where(Creator.whop_user_id == "user_Race0000000001") == 1


# --- a second `linkmint serve` --------------------------------------------------------


async def test_a_state_that_is_not_ascii_is_a_mismatch_not_a_crash(client):
    await client.get("/auth/login", follow_redirects=False)
    before = await snapshot(Creator, AuthSession)
    r = await client.get("/auth/callback?" + urlencode({"code": "c", "state": "ünïcode"}))
    assert r.status_code == 400
    assert await snapshot(Creator, AuthSession) == before
    assert "does not belong to this browser" in r.text
