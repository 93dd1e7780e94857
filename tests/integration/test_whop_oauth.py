"""`WhopOAuth`, the transport under Sign in with Whop, over real HTTP: against the emulator
inside `linkmint serve` (the code exchange, userinfo, discovery and keys, and Whop's OAuth
refusals), against a stand-in Whop that is down or answers nonsense, and in-process when
the emulator is mounted in the app itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from app.auth import oidc
from app.config import Settings
from app.whop import (
    WhopBadResponse,
    WhopOAuth,
    WhopRejected,
    WhopUnauthorized,
    WhopUnavailable,
    WhopUnreachable,
)
from app.whop.oauth import Tokens
from tests.support.whop_browser import new_test_user, open_authorize_page, pkce_pair, query_of


@pytest.fixture
def live_settings(settings: Settings, live_server: str) -> Settings:
    """The test settings, pointed at the live server (its emulator is at /_whop)."""
    return dataclasses.replace(settings, app_url=live_server)


@pytest.fixture
async def whop_oauth(live_settings: Settings) -> AsyncIterator[WhopOAuth]:
    async with WhopOAuth(live_settings) as oauth:
        yield oauth


@dataclass
class Grant:
    code: str
    verifier: str
    user: dict[str, str]


async def approved_code(settings: Settings) -> Grant:
    """A person approves Linkmint on the emulator's page; the code it sends back."""
    verifier = pkce_pair()[0]
    url = oidc.authorize_url(
        settings, state=secrets.token_urlsafe(8), nonce=secrets.token_urlsafe(8), verifier=verifier
    )
    user = new_test_user()
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await open_authorize_page(browser, url)
        answer = await page.approve_new_user(**user)
    assert answer.status_code == 302, answer.text
    return Grant(query_of(answer.headers["location"])["code"], verifier, user)


# --- against the emulator ---------------------------------------------------------------


async def test_a_code_becomes_tokens_and_the_user_over_real_http(live_settings, whop_oauth):
    grant = await approved_code(live_settings)
    tokens = await whop_oauth.exchange_code(code=grant.code, verifier=grant.verifier)
    assert tokens.token_type == "Bearer"
    assert tokens.access_token and tokens.id_token

    info = await whop_oauth.userinfo(tokens.access_token)
    assert info.email == grant.user["email"]
    assert info.preferred_username == grant.user["username"]

    discovery = await whop_oauth.discovery_document()
    assert discovery.issuer == whop_oauth.issuer == live_settings.oauth_issuer
    assert discovery.jwks_uri is not None
    keys = await whop_oauth.jwks(discovery.jwks_uri)
    assert [key["kty"] for key in keys["keys"]] == ["EC"]


async def test_a_code_used_twice_is_refused_with_invalid_grant(live_settings, whop_oauth):
    grant = await approved_code(live_settings)
    await whop_oauth.exchange_code(code=grant.code, verifier=grant.verifier)
    with pytest.raises(WhopRejected) as refused:
        await whop_oauth.exchange_code(code=grant.code, verifier=grant.verifier)
    assert (refused.value.status, refused.value.type) == (400, "invalid_grant")
    assert refused.value.message == "Authorization code has already been used"
    assert not isinstance(refused.value, WhopUnauthorized)


@pytest.mark.parametrize(
    "verifier,error,words",
    [
        (pkce_pair()[0], "invalid_grant", "code_verifier does not match"),
        ("short", "invalid_request", "43-128"),
    ],
    ids=["another-verifier", "too-short"],  # the same ids in every process (pytest-xdist)
)
async def test_a_verifier_that_does_not_fit_is_refused(
    live_settings, whop_oauth, verifier, error, words
):
    grant = await approved_code(live_settings)
    with pytest.raises(WhopRejected) as refused:
        await whop_oauth.exchange_code(code=grant.code, verifier=verifier)
    assert (refused.value.status, refused.value.type) == (400, error)
    assert words in refused.value.message


async def test_a_wrong_client_secret_is_invalid_client_and_never_repeated(live_settings):
    grant = await approved_code(live_settings)
    wrong = dataclasses.replace(live_settings, whop_client_secret="not-the-secret-" + "q" * 20)
    async with WhopOAuth(wrong) as oauth:
        with pytest.raises(WhopUnauthorized) as refused:
            await oauth.exchange_code(code=grant.code, verifier=grant.verifier)
    assert (refused.value.status, refused.value.type) == (401, "invalid_client")
    for secret in (wrong.whop_client_secret, grant.code, grant.verifier):
        assert secret not in str(refused.value)


async def test_userinfo_with_an_unknown_access_token_is_invalid_token(whop_oauth):
    with pytest.raises(WhopUnauthorized) as refused:
        await whop_oauth.userinfo("not-a-token")
    assert (refused.value.status, refused.value.type) == (401, "invalid_token")


# --- Whop down, or answering nonsense ---------------------------------------------------


@dataclass
class StandIn:
    """A stand-in Whop on 127.0.0.1 that gives every request the same answer."""

    status: int
    body: bytes = b""
    content_type: str = "text/html"
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    origin: str = ""


@contextlib.contextmanager
def whop_answering(status: int, body: bytes = b"", content_type: str = "text/html"):
    stand_in = StandIn(status, body, content_type)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            sent = self.rfile.read(int(self.headers.get("content-length") or 0))
            stand_in.requests.append((self.command, self.path, dict(self.headers), sent))
            self.send_response(stand_in.status)
            self.send_header("content-type", stand_in.content_type)
            self.send_header("content-length", str(len(stand_in.body)))
            self.end_headers()
            self.wfile.write(stand_in.body)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stand_in.origin = f"http://127.0.0.1:{server.server_port}"
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()


def pointed_at(settings: Settings, origin: str) -> Settings:
    """Settings for a real Whop at `origin` (the emulator is not used)."""
    return dataclasses.replace(
        settings, whop_api_base=f"{origin}/api/v1", whop_oauth_base=f"{origin}/oauth"
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CALLS = {
    "token": lambda oauth: oauth.exchange_code(code="some-code", verifier="v" * 64),
    "userinfo": lambda oauth: oauth.userinfo("some-token"),
    "discovery": lambda oauth: oauth.discovery_document(),
    "jwks": lambda oauth: oauth.jwks(f"{oauth.issuer}/.well-known/jwks.json"),
}


@pytest.mark.parametrize("call", CALLS)
async def test_whop_down_is_unreachable(settings, call):
    async with WhopOAuth(pointed_at(settings, f"http://127.0.0.1:{_closed_port()}")) as oauth:
        with pytest.raises(WhopUnreachable) as down:
            await CALLS[call](oauth)
    assert isinstance(down.value, WhopUnavailable)
    assert down.value.reason == "ConnectError"


@pytest.mark.parametrize("call", CALLS)
async def test_whop_failing_is_unavailable_but_not_unreachable(settings, call):
    with whop_answering(503, b"<html>Service Unavailable</html>") as whop:
        async with WhopOAuth(pointed_at(settings, whop.origin)) as oauth:
            with pytest.raises(WhopUnavailable) as failing:
                await CALLS[call](oauth)
    assert not isinstance(failing.value, WhopUnreachable)
    assert failing.value.reason == "HTTP 503"


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("body", [b"<html>ok</html>", b"", b"[1, 2]"])
async def test_an_answer_that_is_not_a_json_object_is_a_bad_response(settings, call, body):
    with whop_answering(200, body) as whop:
        async with WhopOAuth(pointed_at(settings, whop.origin)) as oauth:
            with pytest.raises(WhopBadResponse) as bad:
                await CALLS[call](oauth)
    assert bad.value.reason == "HTTP 200, not a JSON object"


async def test_a_token_answer_without_an_access_token_is_a_bad_response(settings):
    body = json.dumps({"token_type": "Bearer"}).encode()
    with whop_answering(200, body, "application/json") as whop:
        async with WhopOAuth(pointed_at(settings, whop.origin)) as oauth:
            with pytest.raises(WhopBadResponse, match="the token response has no access_token"):
                await CALLS["token"](oauth)


@pytest.mark.parametrize(
    "status,error,family",
    [(400, "invalid_grant", WhopRejected), (401, "invalid_client", WhopUnauthorized)],
)
async def test_oauth_error_bodies_become_rejections(settings, status, error, family):
    body = json.dumps({"error": error, "error_description": "x" * 500}).encode()
    with whop_answering(status, body, "application/json") as whop:
        async with WhopOAuth(pointed_at(settings, whop.origin)) as oauth:
            with pytest.raises(family) as refused:
                await CALLS["token"](oauth)
    assert (refused.value.status, refused.value.type) == (status, error)
    assert refused.value.message == "x" * 200  # Whop's words may reach a page: kept short


async def test_the_code_exchange_sends_the_client_credentials_as_json(settings):
    with whop_answering(200, b'{"access_token": "at"}', "application/json") as whop:
        target = pointed_at(settings, whop.origin)
        async with WhopOAuth(target) as oauth:
            tokens = await oauth.exchange_code(code="the-code", verifier="v" * 64)
            assert tokens == Tokens(access_token="at", id_token=None, token_type=None)
    ((method, path, headers, sent),) = whop.requests
    assert (method, path) == ("POST", "/oauth/token")
    assert headers["User-Agent"] == "Linkmint"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(sent) == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": target.redirect_uri,
        "client_id": target.whop_client_id,
        "client_secret": target.whop_client_secret,
        "code_verifier": "v" * 64,
    }


# --- in-process, with the emulator mounted in the app -------------------------------------


async def test_with_the_emulator_mounted_the_whole_sign_in_runs_in_process(client, settings):
    # APP_URL (testserver.local) is no server at all: only the app itself can answer.
    login = await client.get("/auth/login?next=/dashboard", follow_redirects=False)
    page = await open_authorize_page(client, login.headers["location"])
    approved = await page.approve_new_user()
    assert approved.status_code == 302, approved.text
    signed_in = await client.get(approved.headers["location"], follow_redirects=False)
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == "/dashboard"


async def test_against_real_whop_the_oauth_exchange_goes_over_the_network(settings, app):
    with whop_answering(200, b'{"access_token": "at"}', "application/json") as whop:
        async with WhopOAuth.connect(pointed_at(settings, whop.origin), app) as oauth:
            await oauth.exchange_code(code="the-code", verifier="v" * 64)
    assert [(method, path) for method, path, _, _ in whop.requests] == [("POST", "/oauth/token")]
