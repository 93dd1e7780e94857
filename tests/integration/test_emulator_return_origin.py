"""The emulator's hosted pages let their forms end where their own session returns, and
nowhere else.

A browser checks the redirect that answers a posted form against the page's `form-action`,
so each hosted page (checkout, KYC onboarding, OAuth consent) names 'self' and the origin of
the return URL registered with that session: the checkout configuration's redirect_url,
the account link's return_url and refresh_url, the OAuth request's validated redirect_uri.
On the emulator's own origin that adds nothing. The emulator here is the app's, in process,
at APP_URL (http://testserver.local); the last test runs `linkmint emulator` on its own.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from app.emulator import identity
from tests.support.servers import LOGS, ROOT, free_port
from tests.support.whop_browser import (
    new_test_user,
    open_authorize_page,
    pkce_pair,
    read_forms,
)

API = "/_whop/api/v1"
OTHER = "http://127.0.0.1:8123"  # another app on this machine, as Whop's SDK would be
UNRELATED = "http://127.0.0.1:8124"  # a second caller, whose origin no other page may name
OTHER_CLIENT = "app_ReturnOrigin001"  # an OAuth client that is not Linkmint
OTHER_SECRET = "other-secret"


def directives(response: httpx.Response) -> dict[str, str]:
    csp = response.headers["content-security-policy"]
    return dict(part.strip().split(" ", 1) for part in csp.split(";"))


def form_action(response: httpx.Response) -> str:
    return directives(response)["form-action"]


def auth(settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.whop_api_key}"}


async def new_company(client, settings) -> str:
    r = await client.post(
        f"{API}/companies",
        json={
            "title": "Return origin",
            "email": "return@example.com",
            "parent_company_id": settings.whop_parent_company_id,
        },
        headers=auth(settings),
    )
    assert r.status_code == 200, r.text
    return r.json()["id"]


async def purchase_path(client, settings, redirect_url: str | None) -> str:
    plan = {
        "company_id": await new_company(client, settings),
        "currency": "usd",
        "initial_price": 3,
    }
    body = {"plan": plan, **({"redirect_url": redirect_url} if redirect_url else {})}
    r = await client.post(f"{API}/checkout_configurations", json=body, headers=auth(settings))
    assert r.status_code == 200, r.text
    return r.json()["purchase_url"].removeprefix(settings.app_url)


def card_form(page: httpx.Response, card: str) -> dict[str, str]:
    (form,) = read_forms(page.text)
    return {
        **form.hidden,
        "email": "buyer@example.com",
        "card_number": card,
        "expiry": "12/39",
        "cvc": "123",
    }


# --- checkout --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_url,expected",
    [
        ("{app_url}/checkout/confirm?unlock=u1", "'self'"),
        (f"{OTHER}/confirm?unlock=u1", f"'self' {OTHER}"),
        ("https://Shop.Example:8443/back", "'self' https://shop.example:8443"),
        ("https://shop.example:443/back", "'self' https://shop.example"),
        (None, "'self'"),
    ],
)
async def test_the_checkout_form_may_end_at_its_own_redirect_origin(
    client, settings, redirect_url, expected
):
    redirect_url = redirect_url and redirect_url.format(app_url=settings.app_url)
    path = await purchase_path(client, settings, redirect_url)

    page = await client.get(path)
    assert page.status_code == 200
    assert form_action(page) == expected
    declined = await client.post(path.split("?")[0], data=card_form(page, "4000000000000002"))
    assert declined.status_code == 402
    assert form_action(declined) == expected  # its form is the one that will pay
    paid = await client.post(
        path.split("?")[0], data=card_form(declined, "4242424242424242"), follow_redirects=False
    )
    assert paid.status_code == (303 if redirect_url else 200)
    assert form_action(paid) == expected
    if redirect_url:
        assert paid.headers["location"].startswith(redirect_url.split("?")[0])


async def test_a_checkout_page_never_names_another_sessions_origin(client, settings):
    mine = await purchase_path(client, settings, f"{OTHER}/confirm")
    await purchase_path(client, settings, f"{UNRELATED}/confirm")

    page = await client.get(mine)
    assert form_action(page) == f"'self' {OTHER}"
    assert UNRELATED not in page.headers["content-security-policy"]
    # Only form-action grows: every other directive is the app's strict one.
    plain = await client.get("/")
    assert {k: v for k, v in directives(page).items() if k != "form-action"} == {
        k: v for k, v in directives(plain).items() if k != "form-action"
    }


async def test_a_redirect_url_that_is_no_plain_origin_adds_nothing_to_the_policy(client, settings):
    """The policy is a header: a host that could smuggle a directive is never copied."""
    path = await purchase_path(client, settings, "https://shop.example;script-src/confirm")
    page = await client.get(path)
    assert page.status_code == 200
    assert form_action(page) == "'self'"
    assert directives(page)["script-src"] == "'self'"


async def test_an_unknown_checkout_session_keeps_the_strict_policy(client, settings):
    path = await purchase_path(client, settings, f"{OTHER}/confirm")
    r = await client.get(path.split("?")[0] + "?session=ch_nope")
    assert r.status_code == 404
    assert form_action(r) == "'self'"


# --- KYC onboarding --------------------------------------------------------------------------


async def onboarding_link(client, settings, return_url: str, refresh_url: str) -> str:
    r = await client.post(
        f"{API}/account_links",
        json={
            "company_id": await new_company(client, settings),
            "use_case": "account_onboarding",
            "return_url": return_url,
            "refresh_url": refresh_url,
        },
        headers=auth(settings),
    )
    assert r.status_code == 200, r.text
    return r.json()["url"].removeprefix(settings.app_url)


@pytest.mark.parametrize(
    "return_url,refresh_url,expected",
    [
        ("{app_url}/payouts/return", "{app_url}/payouts/refresh", "'self'"),
        (f"{OTHER}/return", "{app_url}/payouts/refresh", f"'self' {OTHER}"),
        (f"{OTHER}/return", f"{OTHER}/refresh", f"'self' {OTHER}"),
        ("https://a.example/return", f"{OTHER}/refresh", f"'self' {OTHER} https://a.example"),
    ],
)
async def test_the_kyc_form_may_end_at_its_return_and_refresh_origins(
    client, settings, return_url, refresh_url, expected
):
    path = await onboarding_link(
        client,
        settings,
        return_url.format(app_url=settings.app_url),
        refresh_url.format(app_url=settings.app_url),
    )

    page = await client.get(path)
    assert page.status_code == 200
    assert form_action(page) == expected
    refused = await client.post(path, data={"action": "complete"})
    assert refused.status_code == 422
    assert form_action(refused) == expected
    done = await client.post(
        path,
        data={
            "action": "complete",
            "legal_name": "Ada",
            "country": "GB",
            "account_number": "000123456789",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == return_url.format(app_url=settings.app_url)
    assert form_action(done) == expected
    again = await client.get(path, follow_redirects=False)  # used: sent to refresh_url
    assert again.status_code == 303
    assert form_action(again) == expected


async def test_a_kyc_page_never_names_another_links_origin(client, settings):
    mine = await onboarding_link(client, settings, f"{OTHER}/return", f"{OTHER}/refresh")
    await onboarding_link(client, settings, f"{UNRELATED}/return", f"{UNRELATED}/refresh")
    page = await client.get(mine)
    assert form_action(page) == f"'self' {OTHER}"
    assert UNRELATED not in page.headers["content-security-policy"]


# --- OAuth consent ---------------------------------------------------------------------------


def authorize_path(client_id: str, redirect_uri: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid profile email",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }
    return "/_whop/oauth/authorize?" + urlencode(params)


async def test_linkmints_own_consent_page_keeps_form_action_self(client, settings):
    page = await open_authorize_page(
        client, authorize_path(settings.whop_client_id, settings.redirect_uri)
    )
    assert form_action(page.response) == "'self'"
    back = await page.approve_new_user()
    assert back.status_code == 302
    assert back.headers["location"].startswith(settings.redirect_uri)
    assert form_action(back) == "'self'"


async def test_the_consent_form_may_end_at_the_registered_redirect_uris_origin(client, settings):
    callback = f"{OTHER}/auth/callback"
    await identity.register_client(OTHER_CLIENT, "Another app", OTHER_SECRET, callback)
    await identity.register_client(
        OTHER_CLIENT, "Another app", OTHER_SECRET, f"{UNRELATED}/auth/callback"
    )

    page = await open_authorize_page(client, authorize_path(OTHER_CLIENT, callback))
    assert form_action(page.response) == f"'self' {OTHER}"  # not the client's other URI
    invalid = await page.approve_new_user(username="no")
    assert invalid.status_code == 422
    assert form_action(invalid) == f"'self' {OTHER}"
    back = await page.approve_new_user()
    assert back.status_code == 302
    assert back.headers["location"].startswith(f"{callback}?code=")
    assert form_action(back) == f"'self' {OTHER}"


async def test_an_unregistered_redirect_uri_is_never_named_in_the_policy(client, settings):
    await identity.register_client(
        OTHER_CLIENT, "Another app", OTHER_SECRET, f"{OTHER}/auth/callback"
    )
    r = await client.get(authorize_path(OTHER_CLIENT, "http://127.0.0.1:8125/steal"))
    assert r.status_code == 400
    assert form_action(r) == "'self'"
    user = new_test_user()
    page = await open_authorize_page(client, authorize_path(OTHER_CLIENT, f"{OTHER}/auth/callback"))
    forged = {
        **page.form.hidden,
        "redirect_uri": "http://127.0.0.1:8125/steal",
        "decision": "approve",
        "account": "new",
        **user,
    }
    refused = await client.post("/_whop/oauth/authorize", data=forged)
    assert refused.status_code == 400
    assert form_action(refused) == "'self'"


# --- `linkmint emulator` on its own ----------------------------------------------------------

OTHER_CLIENT_ENV = {"WHOP_CLIENT_ID": OTHER_CLIENT, "WHOP_CLIENT_SECRET": OTHER_SECRET}


@pytest.fixture
def standalone_emulator() -> Iterator[tuple[str, str]]:
    """`linkmint emulator` on a free loopback port for another app's OAuth client, whose
    callback is on another port; (its URL, that callback)."""
    port = free_port()
    url, callback = f"http://127.0.0.1:{port}", f"{OTHER}/auth/callback"
    log_path = LOGS / f"standalone-emulator-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "emulator",
                "--port",
                str(port),
                "--redirect-uri",
                callback,
            ],
            cwd=ROOT,
            env={**os.environ, **OTHER_CLIENT_ENV, "LOG_LEVEL": "WARNING"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/_whop/.well-known/jwks.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"linkmint emulator did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield url, callback
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


async def test_the_standalone_emulator_names_only_each_sessions_return_origin(
    standalone_emulator, settings
):
    url, callback = standalone_emulator
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        plan = {
            "company_id": await new_company(http, settings),
            "currency": "usd",
            "initial_price": 3,
        }
        config = await http.post(
            f"{API}/checkout_configurations",
            json={"plan": plan, "redirect_url": f"{UNRELATED}/confirm"},
            headers=auth(settings),
        )
        assert config.status_code == 200, config.text
        checkout = await http.get(config.json()["purchase_url"])
        assert checkout.status_code == 200
        assert form_action(checkout) == f"'self' {UNRELATED}"

        consent = await http.get(authorize_path(OTHER_CLIENT, callback))
        assert consent.status_code == 200
        assert form_action(consent) == f"'self' {OTHER}"
        style = await http.get("/static/css/emulator.css")
        assert form_action(style) == "'self'"
