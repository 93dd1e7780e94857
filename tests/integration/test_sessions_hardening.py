"""Sessions and CSRF against a determined attacker.

A pending sign-in is single use on the server; a failed callback never signs anyone out;
the CSRF cookie is `__Host-` over https and rotates at sign-in and sign-out; writes sent
from another origin are refused; sessions end when idle, and the ended ones are purged on
a schedule; a creator can sign out everywhere and a buyer can make a browser forget them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.auth.pending import PENDING_LIFETIME
from app.auth.purge import purge_once
from app.auth.sessions import _digest, start_session
from app.db.tables import AuthSession
from app.main import create_app
from app.payments.buyer import Buyer, new_buyer, open_buyer, seal_buyer
from tests.support.servers import linkmint_serve
from tests.support.unlock_support import add_premium, make_seller
from tests.support.whop_browser import open_authorize_page, query_of

SESSION = "lm_session"
PENDING = "lm_oauth"
BUYER = "lm_buyer"
CROSS_SITE_REFUSAL = "This request came from another website"


# --- helpers --------------------------------------------------------------------------


@dataclasses.dataclass
class StubWhop:
    origin: str
    requests: list[tuple[str, str]]

    def token_requests(self) -> int:
        return sum(
            1 for method, path in self.requests if (method, path) == ("POST", "/oauth/token")
        )


@contextlib.contextmanager
def whop_refusing_codes() -> Iterator[StubWhop]:
    """A stand-in Whop whose token endpoint refuses every code (`invalid_grant`), noting
    each request it is sent."""
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                seen.append((self.command, self.path.split("?")[0]))
            body = json.dumps({"error": "invalid_grant", "error_description": "bad code"})
            self.send_response(400)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield StubWhop(f"http://127.0.0.1:{server.server_port}", seen)
    finally:
        server.shutdown()
        server.server_close()


def pointed_at(settings, origin: str):
    return dataclasses.replace(
        settings, whop_api_base=f"{origin}/api/v1", whop_oauth_base=f"{origin}/oauth"
    )


async def pending_rows() -> list[dict]:
    return await AuthSession.raw("SELECT state_hash, expires_at FROM pending_sign_in")


async def session_exists(token: str) -> bool:
    return await AuthSession.exists().where(AuthSession.token_hash == _digest(token))


def set_cookies(response: httpx.Response, name: str) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]


@pytest.fixture(autouse=True)
async def _no_pending_sign_ins():
    """conftest's TRUNCATE does not know this table; start and end each test without rows."""
    await AuthSession.raw("DELETE FROM pending_sign_in")
    yield
    await AuthSession.raw("DELETE FROM pending_sign_in")


# --- 1. a pending sign-in is single use on the server -----------------------------------


async def test_a_pending_sign_in_is_stored_as_the_hash_of_its_state(client):
    r = await client.get("/auth/login", follow_redirects=False)
    state = query_of(r.headers["location"])["state"]
    rows = await pending_rows()
    assert [row["state_hash"] for row in rows] == [hashlib.sha256(state.encode()).hexdigest()]
    left = rows[0]["expires_at"] - datetime.now(UTC)
    assert timedelta(seconds=PENDING_LIFETIME - 30) < left <= timedelta(seconds=PENDING_LIFETIME)


async def test_a_replayed_pending_cookie_never_reaches_whops_token_endpoint(settings):
    with whop_refusing_codes() as whop:
        app = create_app(pointed_at(settings, whop.origin))
        async with AsyncTestClient(app, base_url=settings.app_url) as browser:
            login = await browser.get("/auth/login", follow_redirects=False)
            state = query_of(login.headers["location"])["state"]
            cookie = browser.cookies[PENDING]
            callback = "/auth/callback?" + urlencode({"code": "some-code", "state": state})

            first = await browser.get(callback, follow_redirects=False)
            assert first.status_code == 400 and "Whop did not accept this sign-in" in first.text
            assert whop.token_requests() == 1
            assert await pending_rows() == []

            browser.cookies.set(PENDING, cookie)  # the same cookie, kept by an attacker
            again = await browser.get(callback, follow_redirects=False)
    assert again.status_code == 400, again.text
    assert "This sign-in was already used" in again.text
    assert "Max-Age=0" in set_cookies(again, PENDING)[0]
    assert whop.token_requests() == 1  # Whop never saw the replay


async def test_sixty_racing_callbacks_with_one_cookie_make_one_code_exchange():
    with whop_refusing_codes() as whop:
        env = {"WHOP_API_BASE": f"{whop.origin}/api/v1", "WHOP_OAUTH_BASE": f"{whop.origin}/oauth"}
        with linkmint_serve("race", pool=4, env=env) as server:
            async with httpx.AsyncClient(base_url=server.url) as starter:
                login = await starter.get("/auth/login")
                state = query_of(login.headers["location"])["state"]
                cookie = starter.cookies[PENDING]
            callback = "/auth/callback?" + urlencode({"code": "some-code", "state": state})

            # An explicit Cookie header wins over the client's jar: all sixty carry the cookie.
            same_cookie = {"cookie": f"{PENDING}={cookie}"}
            async with httpx.AsyncClient(base_url=server.url, timeout=20) as attacker:
                answers = await asyncio.gather(
                    *(attacker.get(callback, headers=same_cookie) for _ in range(60))
                )
    assert {r.status_code for r in answers} == {400}
    exchanged = [r for r in answers if "Whop did not accept this sign-in" in r.text]
    replayed = [r for r in answers if "This sign-in was already used" in r.text]
    assert (len(exchanged), len(replayed)) == (1, 59)
    assert whop.token_requests() == 1


# --- 2. a failed callback ends the pending sign-in only ----------------------------------


async def test_a_cross_site_error_callback_leaves_a_signed_in_creator_signed_in(
    client, make_creator, sign_in
):
    token = await sign_in(client, await make_creator())
    r = await client.get(
        "/auth/callback?error=access_denied", headers={"sec-fetch-site": "cross-site"}
    )
    assert r.status_code == 403
    assert "You did not approve the sign-in" in r.text
    assert "You are still signed in as before." in r.text
    assert set_cookies(r, SESSION) == []
    assert await session_exists(token)
    assert (await client.get("/dashboard", follow_redirects=False)).status_code == 200


async def test_a_bad_state_ends_the_pending_sign_in_and_keeps_the_session(
    client, make_creator, sign_in
):
    token = await sign_in(client, await make_creator())
    await client.get("/auth/login", follow_redirects=False)
    assert len(await pending_rows()) == 1
    r = await client.get("/auth/callback?code=c&state=forged", follow_redirects=False)
    assert r.status_code == 400 and "does not belong to this browser" in r.text
    assert "Max-Age=0" in set_cookies(r, PENDING)[0]
    assert await pending_rows() == []
    assert await session_exists(token)
    assert (await client.get("/dashboard", follow_redirects=False)).status_code == 200


async def test_a_failed_callback_says_signed_out_to_a_browser_without_a_session(client):
    r = await client.get("/auth/callback?error=access_denied")
    assert r.status_code == 403 and "You are signed out." in r.text


# --- 3. the CSRF cookie and cross-origin writes ------------------------------------------


async def test_on_https_the_csrf_cookie_is_host_prefixed_and_works(settings):
    app = create_app(dataclasses.replace(settings, app_url="https://linkmint.example"))
    async with AsyncTestClient(app, base_url="https://linkmint.example") as browser:
        r = await browser.get("/healthz")
        (cookie,) = set_cookies(r, "__Host-lm_csrf")
        assert set_cookies(r, "lm_csrf") == []
        assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie
        token = browser.cookies["__Host-lm_csrf"]
        refused = await browser.post("/auth/logout", follow_redirects=False)
        assert refused.status_code == 403
        r = await browser.post(
            "/auth/logout", headers={"x-csrftoken": token}, follow_redirects=False
        )
        assert r.status_code == 303


async def test_signing_in_rotates_the_csrf_token(client):
    before = client.cookies["lm_csrf"]
    login = await client.get("/auth/login?next=/dashboard", follow_redirects=False)
    page = await open_authorize_page(client, login.headers["location"])
    approved = await page.approve_new_user()
    signed_in = await client.get(approved.headers["location"], follow_redirects=False)
    assert signed_in.status_code == 303
    after = client.cookies["lm_csrf"]
    assert after != before
    session = client.cookies[SESSION]

    stale = await client.post(
        "/auth/logout", headers={"x-csrftoken": before}, follow_redirects=False
    )
    assert stale.status_code == 403
    assert await session_exists(session)
    fresh = await client.post(
        "/auth/logout", headers={"x-csrftoken": after}, follow_redirects=False
    )
    assert fresh.status_code == 303
    assert not await session_exists(session)


async def test_signing_out_rotates_the_csrf_token(client, make_creator, sign_in):
    creator = await make_creator()
    await sign_in(client, creator)
    before = client.cookies["lm_csrf"]
    r = await client.post("/auth/logout", follow_redirects=False)  # client sends `before`
    assert r.status_code == 303
    assert client.cookies["lm_csrf"] != before
    session = await sign_in(client, creator)
    stale = await client.post(
        "/auth/logout", headers={"x-csrftoken": before}, follow_redirects=False
    )
    assert stale.status_code == 403
    assert await session_exists(session)


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://testserver.local.evil.example"},
        {"origin": "http://testserver.local:8080"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "http://testserver.local", "sec-fetch-site": "same-site"},
    ],
)
async def test_a_write_from_another_origin_is_refused(client, make_creator, sign_in, headers):
    token = await sign_in(client, await make_creator())
    r = await client.post("/auth/logout", headers=headers, follow_redirects=False)
    assert r.status_code == 403, r.text
    assert CROSS_SITE_REFUSAL in r.text
    assert await session_exists(token)  # with a valid CSRF token, still nothing happened


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"origin": "http://testserver.local", "sec-fetch-site": "same-origin"},
        {"origin": "HTTP://TestServer.local:80"},
        {"sec-fetch-site": "none"},
    ],
)
async def test_a_write_from_this_origin_goes_through(client, make_creator, sign_in, headers):
    token = await sign_in(client, await make_creator())
    r = await client.post("/auth/logout", headers=headers, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert not await session_exists(token)


async def test_routes_exempt_from_csrf_still_take_cross_site_posts(client):
    cross = {"origin": "https://elsewhere.example", "sec-fetch-site": "cross-site"}
    report = {
        "csp-report": {
            "document-uri": "http://testserver.local/x",
            "violated-directive": "script-src",
            "blocked-uri": "inline",
        }
    }
    r = await client.post(
        "/csp-report",
        content=json.dumps(report),
        headers={**cross, "content-type": "application/csp-report"},
    )
    assert r.status_code == 204, r.text
    r = await client.post(
        "/webhooks/whop", content=b"{}", headers={**cross, "content-type": "application/json"}
    )
    assert r.status_code != 403 and CROSS_SITE_REFUSAL not in r.text


# --- 4. idle timeout and purging -----------------------------------------------------------


async def _last_used(token: str) -> datetime:
    rows = await AuthSession.raw(
        "SELECT last_used_at FROM auth_session WHERE token_hash = {}", _digest(token)
    )
    return rows[0]["last_used_at"]


async def _set_last_used(token: str, ago: timedelta) -> None:
    await AuthSession.raw(
        "UPDATE auth_session SET last_used_at = now() - {}::interval WHERE token_hash = {}",
        ago,
        _digest(token),
    )


async def test_a_session_unused_for_a_week_has_ended(client, make_creator, sign_in):
    token = await sign_in(client, await make_creator())
    await _set_last_used(token, timedelta(days=7, minutes=1))
    r = await client.get("/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/auth/login?next=")


async def test_using_a_session_keeps_it_alive_with_a_write_at_most_every_few_minutes(
    client, make_creator, sign_in
):
    token = await sign_in(client, await make_creator())
    await _set_last_used(token, timedelta(days=6))
    assert (await client.get("/dashboard")).status_code == 200
    touched = await _last_used(token)
    assert datetime.now(UTC) - touched < timedelta(minutes=1)  # renewed

    await _set_last_used(token, timedelta(minutes=2))
    recent = await _last_used(token)
    assert (await client.get("/dashboard")).status_code == 200
    assert await _last_used(token) == recent  # used just now: not written again


async def _insert_session(creator_id: int, *, expires_in: timedelta, used_ago: timedelta) -> str:
    token = await start_session(creator_id)
    await AuthSession.raw(
        "UPDATE auth_session SET expires_at = now() + {}::interval, "
        "last_used_at = now() - {}::interval WHERE token_hash = {}",
        expires_in,
        used_ago,
        _digest(token),
    )
    return token


async def _stale_rows(make_creator) -> tuple[str, str, str]:
    creator = await make_creator()
    day = timedelta(days=1)
    expired = await _insert_session(creator["id"], expires_in=-day, used_ago=timedelta(0))
    idle = await _insert_session(creator["id"], expires_in=day, used_ago=8 * day)
    alive = await _insert_session(creator["id"], expires_in=day, used_ago=timedelta(0))
    await AuthSession.raw(
        "INSERT INTO pending_sign_in (state_hash, expires_at) VALUES "
        "('stale', now() - interval '1 second'), ('open', now() + interval '5 minutes')"
    )
    return expired, idle, alive


async def _assert_purged(expired: str, idle: str, alive: str) -> None:
    assert not await session_exists(expired)
    assert not await session_exists(idle)
    assert await session_exists(alive)
    assert [row["state_hash"] for row in await pending_rows()] == ["open"]


async def test_purging_deletes_ended_sessions_and_stale_pending_sign_ins(make_creator):
    expired, idle, alive = await _stale_rows(make_creator)
    assert await purge_once() == (2, 1)
    await _assert_purged(expired, idle, alive)
    assert await purge_once() == (0, 0)  # idempotent


async def test_the_app_purges_on_its_own_schedule(settings, make_creator):
    expired, idle, alive = await _stale_rows(make_creator)
    app = create_app(dataclasses.replace(settings, maintenance_seconds=1))
    async with AsyncTestClient(app, base_url=settings.app_url):
        for _ in range(50):
            if len(await pending_rows()) == 1:  # the pass deletes sessions, then these
                break
            await asyncio.sleep(0.1)
    await _assert_purged(expired, idle, alive)


# --- 5. sign out everywhere, forget this browser -------------------------------------------


async def test_the_studio_offers_sign_out_everywhere(client, make_creator, sign_in):
    await sign_in(client, await make_creator())
    r = await client.get("/dashboard")
    assert 'action="/auth/logout-everywhere"' in r.text
    assert "Sign out everywhere" in r.text


async def test_sign_out_everywhere_ends_every_session_of_this_creator_only(
    client, make_creator, sign_in
):
    creator, other = await make_creator(), await make_creator(handle="bob")
    here = await sign_in(client, creator)
    phone, laptop = await start_session(creator["id"]), await start_session(creator["id"])
    bystander = await start_session(other["id"])
    before = client.cookies["lm_csrf"]

    r = await client.post("/auth/logout-everywhere", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/auth/signed-out-everywhere"
    assert "Max-Age=0" in set_cookies(r, SESSION)[0]
    assert client.cookies["lm_csrf"] != before
    for token in (here, phone, laptop):
        assert not await session_exists(token)
    assert await session_exists(bystander)
    page = await client.get(r.headers["location"])
    assert page.status_code == 200 and "You are signed out everywhere" in page.text


async def test_sign_out_everywhere_needs_the_csrf_token(client, make_creator, sign_in):
    creator = await make_creator()
    here = await sign_in(client, creator)
    phone = await start_session(creator["id"])
    del client.headers["x-csrftoken"]
    r = await client.post("/auth/logout-everywhere", follow_redirects=False)
    assert r.status_code == 403
    assert await session_exists(here) and await session_exists(phone)


async def test_sign_out_everywhere_when_signed_out_just_goes_home(client):
    r = await client.post("/auth/logout-everywhere", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"


def _plant_buyer(client, settings, buyer: Buyer) -> None:
    client.cookies.set(BUYER, seal_buyer(buyer, settings.secret_key), domain=client.base_url.host)


async def test_forget_this_browser_clears_the_buyer_and_its_linked_accounts(client, settings):
    buyer = new_buyer().bound_to("user_Linked000001").bound_to("user_Linked000002")
    _plant_buyer(client, settings, buyer)
    page = await client.get("/unlocks/forget?next=/alice")
    assert page.status_code == 200
    assert "the 2 Whop accounts linked to it" in page.text
    assert 'action="/unlocks/forget"' in page.text

    r = await client.post("/unlocks/forget", data={"next": "/alice"})
    assert r.status_code == 200
    assert "This browser is forgotten" in r.text and 'href="/alice"' in r.text
    (cookie,) = set_cookies(r, BUYER)
    assert "Max-Age=0" in cookie and "HttpOnly" in cookie
    assert BUYER not in client.cookies
    assert "no-store" in r.headers["cache-control"]


async def test_forget_this_browser_needs_the_csrf_token(client, settings):
    _plant_buyer(client, settings, new_buyer().bound_to("user_Linked000001"))
    del client.headers["x-csrftoken"]
    r = await client.post("/unlocks/forget", data={"next": "/alice"})
    assert r.status_code == 403
    assert open_buyer(client.cookies[BUYER], settings.secret_key) is not None


async def test_forget_sends_back_only_to_a_local_page(client):
    page = await client.get("/unlocks/forget?next=https://evil.example")
    assert 'href="https://evil.example"' not in page.text and 'href="/"' in page.text
    r = await client.post("/unlocks/forget", data={"next": "//evil.example"})
    assert r.status_code == 200 and "evil.example" not in r.text


async def test_the_restore_page_offers_forget_this_browser(client, make_creator, sign_in):
    await sign_in(client, await make_creator(whop_user_id="user_Restorer0001"))
    r = await client.get("/unlocks/restore?next=/alice")
    assert r.status_code == 200
    assert 'action="/unlocks/forget"' in r.text and "Forget this browser" in r.text


async def test_the_public_page_links_to_forget_this_browser(client, settings, make_creator):
    seller = await make_seller(client, settings, make_creator, "alice", display_name="Alice")
    await add_premium(seller, title="Secret recipe", price_cents=500)
    r = await client.get("/alice")
    assert r.status_code == 200
    assert 'href="/unlocks/forget?next=/alice"' in r.text
    assert "set-cookie" not in r.headers  # the same page for everyone, still cacheable
