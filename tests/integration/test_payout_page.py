"""The payout page (/dashboard/payouts): who sees it, the token its island asks for, and the
Content-Security-Policy that lets Whop's components in and nothing else (issue 5)."""

from __future__ import annotations

import dataclasses
import html
import logging
import re
from datetime import UTC, datetime

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from app.emulator import faults, store
from app.main import create_app
from app.payouts.dashboard import PAYOUT_TOKEN_LIFETIME, WHOP_ELEMENTS_SOURCES
from app.web.headers import render_csp, strict_directives
from tests.support.sales import record_sale

TOKEN = "/dashboard/payouts/token"
ELEMENT_DIRECTIVES = ("script-src", "frame-src", "connect-src", "img-src")
REPORTING = {"report-uri": {"/csp-report"}, "report-to": {"csp"}}
PAID = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def policy(header: str) -> dict[str, set[str]]:
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = set(sources)
    return directives


def added(header: str, strict_header: str | None = None) -> dict[str, set[str]]:
    """What a page's policy adds to the strict default, per directive; nothing is removed
    except a `'none'` that a source replaced."""
    strict, page = policy(strict_header or render_csp()), policy(header)
    assert set(strict) <= set(page)
    extra = {}
    for name, sources in page.items():
        base = strict.get(name, set())
        if base == {"'none'"} and sources != base:
            base = set()
        assert base <= sources, f"{name} lost {base - sources}"
        if sources - base:
            extra[name] = sources - base
    return extra


async def tokens_for(company_id: str) -> int:
    """The access tokens Whop has minted for `company_id`: what a refused request never
    asks for."""
    async with store.connection() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM whop_emulator.access_token WHERE company_id = $1", company_id
        )


async def company_for(client: AsyncTestClient, settings, title: str = "Creator Co") -> str:
    """A connected company at the (in-process) emulator."""
    r = await client.post(
        "/_whop/api/v1/companies",
        json={
            "title": title,
            "email": "creator@example.com",
            "parent_company_id": settings.whop_parent_company_id,
        },
        headers={"Authorization": f"Bearer {settings.whop_api_key}"},
    )
    assert r.status_code == 200, r.text
    return r.json()["id"]


@pytest.fixture
async def owner(client, settings, make_creator, sign_in):
    company_id = await company_for(client, settings)
    alice = await make_creator(handle="alice", whop_company_id=company_id, currency="usd")
    await sign_in(client, alice)
    return alice


@pytest.fixture
async def no_faults_left():
    yield
    await faults.clear_faults()


# --- the page -------------------------------------------------------------------------------


async def test_anonymous_visitors_are_sent_to_sign_in(client):
    r = await client.get("/dashboard/payouts", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/auth/login?next=/dashboard/payouts"


async def test_a_creator_without_a_company_is_told_to_turn_on_earnings(
    client, make_creator, sign_in
):
    await sign_in(client, await make_creator(handle="bob"))
    r = await client.get("/dashboard/payouts")
    assert r.status_code == 200
    assert "Turn on earnings first" in r.text and 'href="/dashboard"' in r.text
    assert 'id="payouts-island"' not in r.text and "island.js" not in r.text
    assert r.headers["content-security-policy"] == render_csp()  # nothing to let in
    assert "camera=()" in r.headers["permissions-policy"]


async def test_the_island_gets_its_configuration_from_data_attributes(client, owner, settings):
    r = await client.get("/dashboard/payouts")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    mount = re.search(r'<div id="payouts-island"[^>]*>', r.text)[0]
    attributes = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', mount))
    assert attributes == {
        "company-id": owner["whop_company_id"],
        "token-url": TOKEN,
        "csrf-token": client.headers["x-csrftoken"],
        "environment": "sandbox",
        "currency": "USD",
        "redirect-url": f"{settings.app_url}/dashboard/payouts",
    }
    assert not re.search(r"<script(?![^>]*\bsrc=)", r.text)  # no inline script
    loader = r.text.index('<script src="/_whop/elements.js" defer></script>')
    island = r.text.index('src="/static/payouts/dist/island.js?v=')
    assert loader < island  # window.WhopElements exists before the island asks for it


def earned(page: str) -> str | None:
    """The text of the page's per-currency summary, tags removed; None when there is none."""
    found = re.search(r'<section[^>]*id="earned-per-currency".*?</section>', page, re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found[0])).split()) if found else None


async def test_sales_in_the_selling_currency_alone_need_no_summary(client, owner):
    await record_sale(owner, at=PAID, price=499, fee=50)
    r = await client.get("/dashboard/payouts")
    assert r.status_code == 200 and earned(r.text) is None


async def test_a_creator_who_changed_currency_sees_each_currencys_earnings(client, owner):
    """Whop's components show one currency (USD, the selling currency now); sales made in
    euros before the switch are not lost from sight."""
    await record_sale(owner, at=PAID, price=1000, fee=100, currency="eur")
    await record_sale(owner, at=PAID, price=500, fee=50, currency="eur", refunded=200)
    await record_sale(owner, at=PAID, price=499, fee=50, currency="usd")
    await record_sale(owner, at=PAID, price=499, fee=50, currency="usd", status="REFUNDED")
    await record_sale(owner, at=PAID, price=300, fee=30, currency="gbp", status="PENDING")
    r = await client.get("/dashboard/payouts")
    summary = earned(r.text)
    assert summary is not None
    assert "Whop shows your balance below in USD, the currency you sell in now." in summary
    assert (
        "Net earnings in EUR €11.50 2 sales · €15.00 gross − €1.50 platform fees − €2.00 refunded"
        in summary
    )
    assert "Net earnings in USD $4.49 1 sale · $4.99 gross − $0.50 platform fees" in summary
    assert "GBP" not in summary  # never paid
    assert 'data-currency="USD"' in r.text  # the island itself is unchanged


async def test_sales_only_in_a_former_currency_are_summarised_too(client, owner):
    await record_sale(owner, at=PAID, price=150000, fee=15000, currency="jpy")
    summary = earned((await client.get("/dashboard/payouts")).text)
    assert summary is not None
    assert "Net earnings in JPY ¥135,000 1 sale" in summary
    assert "Net earnings in USD" not in summary


async def test_offline_the_page_policy_adds_exactly_the_emulator_origin(client, owner):
    r = await client.get("/dashboard/payouts")
    header = r.headers["content-security-policy"]
    assert added(header) == {
        **{name: {"http://testserver.local"} for name in ELEMENT_DIRECTIVES},
        **REPORTING,
    }
    assert "'unsafe-eval'" not in header and "'unsafe-inline'" not in header
    assert r.headers["reporting-endpoints"] == 'csp="http://testserver.local/csp-report"'


async def test_the_payout_page_does_not_block_the_camera(client, owner):
    r = await client.get("/dashboard/payouts")
    permissions = r.headers["permissions-policy"]
    assert "camera" not in permissions  # the browser's default: this page and its frames
    assert "microphone=()" in permissions and "geolocation=()" in permissions


@pytest.mark.parametrize("path", ["/", "/dashboard", "/healthz", "/static/css/app.css", "/nope/x"])
async def test_every_other_page_keeps_the_strict_policy(client, owner, path):
    r = await client.get(path, follow_redirects=False)
    assert r.headers["content-security-policy"] == render_csp()
    assert "camera=()" in r.headers["permissions-policy"]
    assert "reporting-endpoints" not in r.headers


async def test_against_whop_the_page_policy_adds_exactly_whops_element_hosts(
    settings, make_creator, sign_in
):
    production = dataclasses.replace(
        settings,
        whop_api_base="https://api.whop.com/api/v1",
        whop_oauth_base="https://api.whop.com/oauth",
        whop_elements_env="production",
    )
    alice = await make_creator(handle="alice", whop_company_id="biz_AtWhop00000001")
    async with AsyncTestClient(create_app(production), base_url=settings.app_url) as client:
        await sign_in(client, alice)
        r = await client.get("/dashboard/payouts")
    assert r.status_code == 200
    strict = render_csp(base=strict_directives(production))
    assert added(r.headers["content-security-policy"], strict) == {
        "script-src": {"https://*.elements.whop.com"},
        "frame-src": {"https://*.whop.com"},
        "connect-src": {"https://*.whop.com"},
        "img-src": {"https://*.whop.com"},
        **REPORTING,
    }
    assert set(WHOP_ELEMENTS_SOURCES) == set(ELEMENT_DIRECTIVES)
    assert "/_whop/elements.js" not in r.text  # the official loader is injected by the island
    assert 'data-environment="production"' in r.text


# --- the token endpoint -------------------------------------------------------------------------


async def test_signed_out_gets_no_token(client, owner, other_client):
    before = await tokens_for(owner["whop_company_id"])
    r = await other_client.post(TOKEN, json={"company_id": owner["whop_company_id"]})
    assert r.status_code == 401
    assert r.json() == {"error": "Your session has ended. Sign in again to see your payouts."}
    assert r.headers["cache-control"] == "no-store"
    assert await tokens_for(owner["whop_company_id"]) == before


async def test_a_creator_without_a_company_gets_no_token(
    client, owner, other_client, make_creator, sign_in
):
    await sign_in(other_client, await make_creator(handle="bob"))
    before = await tokens_for(owner["whop_company_id"])
    r = await other_client.post(TOKEN, json={"company_id": owner["whop_company_id"]})
    assert r.status_code == 403 and "Turn on earnings" in r.json()["error"]
    assert await tokens_for(owner["whop_company_id"]) == before


async def test_another_creators_company_is_not_found(
    client, settings, owner, other_client, make_creator, sign_in
):
    mallory_company = await company_for(client, settings, "Mallory Co")
    await sign_in(
        other_client, await make_creator(handle="mallory", whop_company_id=mallory_company)
    )
    r = await other_client.post(TOKEN, json={"company_id": owner["whop_company_id"]})
    assert r.status_code == 404 and r.json() == {"error": "There is no such payout account."}
    assert (await other_client.post(TOKEN, json={})).status_code == 404


async def test_the_owner_gets_a_short_lived_token_for_their_own_company(client, owner):
    before = await tokens_for(owner["whop_company_id"])
    r = await client.post(TOKEN, json={"company_id": owner["whop_company_id"]})
    assert r.status_code == 200, r.text
    assert await tokens_for(owner["whop_company_id"]) == before + 1  # what the refusals lack
    assert r.headers["cache-control"] == "no-store"
    assert set(r.json()) == {"token"}
    elements = await client.get(
        f"/_whop/elements/api/payouts/{owner['whop_company_id']}",
        headers={"Authorization": f"Bearer {r.json()['token']}"},
    )
    assert elements.status_code == 200
    lifetime = PAYOUT_TOKEN_LIFETIME.total_seconds()
    assert lifetime - 30 < elements.json()["token_expires_in"] <= lifetime


async def test_the_token_needs_the_csrf_header(client, owner):
    del client.headers["x-csrftoken"]
    before = await tokens_for(owner["whop_company_id"])
    r = await client.post(TOKEN, json={"company_id": owner["whop_company_id"]})
    assert r.status_code == 403
    assert await tokens_for(owner["whop_company_id"]) == before


async def test_a_body_that_is_not_a_json_object_is_refused(client, owner):
    before = await tokens_for(owner["whop_company_id"])
    r = await client.post(TOKEN, content=b"[1, 2]", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json() == {"error": "Send a JSON object."}
    assert await tokens_for(owner["whop_company_id"]) == before


async def test_whop_being_down_is_a_clear_502(client, owner, no_faults_left):
    await faults.add_fault("api", method="POST", path="/access_tokens", status=503, times=3)
    r = await client.post(TOKEN, json={"company_id": owner["whop_company_id"]})
    assert r.status_code == 502
    assert r.json() == {
        "error": "Whop is not answering right now, so your payouts cannot load. Try again soon."
    }
    assert r.headers["cache-control"] == "no-store"


# --- CSP reports ----------------------------------------------------------------------------------


def violations(directive: str) -> float:
    value = REGISTRY.get_sample_value("linkmint_csp_violations_total", {"directive": directive})
    return value or 0.0


async def test_csp_reports_in_both_formats_are_counted_and_logged_without_secrets(client, caplog):
    before_script, before_frame = violations("script-src-elem"), violations("frame-src")
    legacy = {
        "csp-report": {
            "document-uri": "http://testserver.local/dashboard/payouts?code=SECRET1",
            "effective-directive": "script-src-elem",
            "violated-directive": "script-src-elem",
            "blocked-uri": "https://evil.example/x.js?token=SECRET2",
            "original-policy": "default-src 'self'",
            "script-sample": "SECRET3",
            "disposition": "enforce",
        }
    }
    reporting_api = [
        {
            "type": "csp-violation",
            "url": "http://testserver.local/dashboard/payouts",
            "body": {
                "documentURL": "http://testserver.local/dashboard/payouts",
                "effectiveDirective": "frame-src",
                "blockedURL": "https://frames.example/kyc?session=SECRET4",
                "sourceFile": "http://testserver.local/static/payouts/dist/island.js?v=1",
                "lineNumber": 1,
                "columnNumber": 99,
                "disposition": "enforce",
            },
        },
        {"type": "deprecation", "body": {"id": "x"}},
    ]
    del client.headers["x-csrftoken"]  # browsers send none
    with caplog.at_level(logging.WARNING, logger="app.csp"):
        first = await client.post(
            "/csp-report", json=legacy, headers={"content-type": "application/csp-report"}
        )
        second = await client.post(
            "/csp-report",
            json=reporting_api,
            headers={"content-type": "application/reports+json"},
        )
    assert first.status_code == 204 and second.status_code == 204
    assert violations("script-src-elem") == before_script + 1
    assert violations("frame-src") == before_frame + 1
    logged = caplog.text
    assert "https://evil.example/x.js" in logged and "https://frames.example/kyc" in logged
    assert "SECRET" not in logged


async def test_a_malformed_csp_report_is_refused_and_not_counted(client):
    before = violations("other")
    del client.headers["x-csrftoken"]
    for body in (b"not json", b'{"csp-report": 3}', b'[{"type": "csp-violation"}]'):
        r = await client.post(
            "/csp-report", content=body, headers={"content-type": "application/json"}
        )
        assert r.status_code == 400
    weird = {"csp-report": {"effective-directive": "made-up-directive x"}}
    assert (await client.post("/csp-report", json=weird)).status_code == 204
    assert violations("other") == before + 1  # unknown directives share one label
