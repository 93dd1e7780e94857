"""Enable earnings: the creator's connected company, Whop's hosted KYC and the way back.

Through HTTP into the app, whose Whop client reaches the emulator mounted in the same app;
the hosted KYC page is driven by HTTP like a person would (it lives at APP_URL/_whop).
"""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest

from app.auth.sessions import cookie_name, start_session
from app.emulator import faults, store
from app.payouts.service import refresh_payout_status
from tests.support.studio_support import HX, creator_row
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    api,
    complete_kyc,
    connected_company,
    emulator_control,
    live_settings,
    sleeps,
    whop,
)

pytestmark = pytest.mark.usefixtures("emulator_control")

KYC_PATH = "/_whop/hosted/kyc/"


@pytest.fixture
async def creator(make_creator) -> dict[str, Any]:
    tag = secrets.token_hex(4)  # the emulator's companies outlive each test
    return await make_creator(
        handle="ada", display_name="Ada Lovelace", email=f"ada.{tag}@example.com"
    )


@pytest.fixture
async def signed_in(client, sign_in, creator):
    await sign_in(client, creator)
    return client


async def emulated_companies(email: str) -> list[dict[str, Any]]:
    async with store.connection() as conn:
        rows = await conn.fetch(
            "SELECT id, parent_id, title, email, metadata::text AS metadata"
            " FROM whop_emulator.company WHERE email = $1",
            email,
        )
    return [dict(r) for r in rows]


async def enable(client) -> str:
    """Press Enable earnings (htmx); returns where the browser is sent."""
    r = await client.post("/dashboard/payouts/enable", headers=HX)
    assert r.status_code == 200, r.text
    return r.headers["hx-redirect"]


async def finish_on_whop(client, link: str, action: str) -> str:
    """On the hosted KYC page: complete, fail or abandon; returns where Whop sends them."""
    path = link.removeprefix("http://testserver.local")
    assert (await client.get(path)).status_code == 200
    form = {"action": action}
    if action == "complete":
        form |= {"legal_name": "Ada Lovelace", "country": "GB", "account_number": "000123456789"}
    r = await client.post(path, data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"]


async def come_back(client, location: str) -> httpx.Response:
    """Follow Whop's redirect to the app's return (or refresh) URL."""
    assert location.startswith("http://testserver.local/dashboard/payouts/")
    return await client.get(
        location.removeprefix("http://testserver.local"), follow_redirects=False
    )


# --- enabling -------------------------------------------------------------------------------


async def test_enable_earnings_creates_a_connected_company_and_sends_the_creator_to_kyc(
    signed_in, creator, settings
):
    link = await enable(signed_in)
    assert link.startswith(f"{settings.app_url}{KYC_PATH}")

    row = await creator_row(creator)
    assert row["whop_company_id"].startswith("biz_")
    assert row["payout_enabled"] is False
    [company] = await emulated_companies(creator["email"])
    assert company["id"] == row["whop_company_id"]
    assert company["parent_id"] == settings.whop_parent_company_id
    assert company["title"] == "Ada Lovelace"
    assert f'"linkmint_creator_id": "{creator["id"]}"' in company["metadata"]


async def test_the_kyc_link_knows_where_to_send_the_creator_back(signed_in):
    link = await enable(signed_in)
    token = link.rsplit("/", 1)[1]
    async with store.connection() as conn:
        row = await conn.fetchrow(
            "SELECT use_case, return_url, refresh_url FROM whop_emulator.account_link"
            " WHERE token = $1",
            token,
        )
    assert row["use_case"] == "account_onboarding"
    assert row["return_url"] == "http://testserver.local/dashboard/payouts/return"
    assert row["refresh_url"] == "http://testserver.local/dashboard/payouts/refresh"


async def test_a_company_title_falls_back_to_the_handle(client, sign_in, make_creator):
    tag = secrets.token_hex(4)
    bea = await make_creator(handle="bea.sells", email=f"bea.{tag}@example.com")
    await sign_in(client, bea)
    await enable(client)
    [company] = await emulated_companies(bea["email"])
    assert company["title"] == "bea.sells"


async def test_pressing_enable_again_reuses_the_company_with_a_fresh_link(signed_in, creator):
    first = await enable(signed_in)
    second = await enable(signed_in)
    assert first != second  # a new hosted session each time
    companies = await emulated_companies(creator["email"])
    assert len(companies) == 1
    assert (await creator_row(creator))["whop_company_id"] == companies[0]["id"]


async def test_without_javascript_enable_is_a_303_to_whop(signed_in, creator, settings):
    r = await signed_in.post("/dashboard/payouts/enable", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"{settings.app_url}{KYC_PATH}")


async def test_concurrent_enable_requests_make_exactly_one_company(live_server, creator, settings):
    """Ten clicks at once on a real server: one company, stored once, every click sent to KYC."""
    token = await start_session(creator["id"])
    async with httpx.AsyncClient(base_url=live_server, timeout=20) as browser:
        await browser.get("/healthz")
        browser.cookies.set(cookie_name(settings.secure_cookies), token)
        headers = {**HX, "x-csrftoken": browser.cookies["lm_csrf"]}
        responses = await asyncio.gather(
            *(browser.post("/dashboard/payouts/enable", headers=headers) for _ in range(10))
        )
    assert [r.status_code for r in responses] == [200] * 10
    assert all(KYC_PATH in r.headers["hx-redirect"] for r in responses)
    companies = await emulated_companies(creator["email"])
    assert len(companies) == 1
    assert (await creator_row(creator))["whop_company_id"] == companies[0]["id"]


async def test_a_creator_without_an_email_is_told_what_to_do_and_nothing_is_made(
    client, sign_in, make_creator
):
    nomail = await make_creator(handle="nomail", email=None)
    await sign_in(client, nomail)
    r = await client.post("/dashboard/payouts/enable", headers=HX)
    assert r.status_code == 200  # htmx swaps the card with the problem in it
    assert "hx-redirect" not in r.headers
    assert "Whop needs an email address" in r.text
    assert 'id="payouts-onboarding"' in r.text
    assert (await creator_row(nomail))["whop_company_id"] is None

    plain = await client.post("/dashboard/payouts/enable", follow_redirects=False)
    assert plain.status_code == 422
    assert "Whop needs an email address" in plain.text and "Your studio" in plain.text


async def test_whop_failing_to_create_the_company_is_a_clear_message_and_a_retry_works(
    signed_in, creator
):
    await faults.add_fault("api", path="/companies", method="POST", status=500, times=3)
    r = await signed_in.post("/dashboard/payouts/enable", headers=HX)
    assert r.status_code == 200
    assert "hx-redirect" not in r.headers
    assert "Whop did not answer, so nothing was set up" in r.text
    assert (await creator_row(creator))["whop_company_id"] is None
    assert await emulated_companies(creator["email"]) == []

    link = await enable(signed_in)  # the fault is spent: Whop answers again
    assert KYC_PATH in link
    assert len(await emulated_companies(creator["email"])) == 1


async def test_a_company_whose_answer_was_lost_is_not_made_twice(signed_in, creator):
    """Whop made the company but its answer never arrived: the retry replays it (same key)."""
    await faults.add_fault(
        "api", path="/companies", method="POST", status=500, when="after", times=3
    )
    r = await signed_in.post("/dashboard/payouts/enable", headers=HX)
    assert "Whop did not answer" in r.text
    assert (await creator_row(creator))["whop_company_id"] is None

    await enable(signed_in)
    companies = await emulated_companies(creator["email"])
    assert len(companies) == 1
    assert (await creator_row(creator))["whop_company_id"] == companies[0]["id"]


async def test_whop_failing_to_make_the_kyc_link_keeps_the_company_for_the_retry(
    signed_in, creator
):
    await faults.add_fault("api", path="/account_links", method="POST", status=503, times=3)
    r = await signed_in.post("/dashboard/payouts/enable", headers=HX)
    assert "Whop did not answer" in r.text
    stored = (await creator_row(creator))["whop_company_id"]
    assert stored is not None
    assert "Finish verification" in r.text  # the card now offers to continue

    link = await enable(signed_in)
    assert KYC_PATH in link
    assert [c["id"] for c in await emulated_companies(creator["email"])] == [stored]


async def test_whop_refusing_the_company_says_why(client, sign_in, make_creator):
    odd = await make_creator(handle="odd", email="not-an-email")
    await sign_in(client, odd)
    r = await client.post("/dashboard/payouts/enable", headers=HX)
    assert "Whop refused to set up payouts" in r.text
    assert "email" in r.text
    assert (await creator_row(odd))["whop_company_id"] is None


async def test_enable_when_earnings_are_already_on_goes_back_to_the_studio(
    client, sign_in, make_creator
):
    done = await make_creator(
        handle="done", email="done@example.com", whop_company_id="biz_Done", payout_enabled=True
    )
    await sign_in(client, done)
    assert await enable(client) == "/dashboard#earnings"


async def test_the_studio_leads_to_the_payout_page_once_a_company_exists(
    client, sign_in, make_creator
):
    fresh = await make_creator(handle="fresh", email="fresh@example.com")
    await sign_in(client, fresh)
    assert 'href="/dashboard/payouts"' not in (await client.get("/dashboard")).text

    done = await make_creator(
        handle="done", email="done@example.com", whop_company_id="biz_Done", payout_enabled=True
    )
    await sign_in(client, done)
    page = (await client.get("/dashboard")).text
    assert 'id="payouts-link" href="/dashboard/payouts"' in page
    assert 'id="see-payouts"' in page


# --- coming back from Whop ------------------------------------------------------------------


async def test_completing_kyc_enables_earnings_only_after_asking_whop(signed_in, creator):
    link = await enable(signed_in)
    back = await finish_on_whop(signed_in, link, "complete")
    assert back == "http://testserver.local/dashboard/payouts/return"
    assert (await creator_row(creator))["payout_enabled"] is False  # nothing trusted yet

    r = await come_back(signed_in, back)
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard?payouts=enabled#earnings"
    assert (await creator_row(creator))["payout_enabled"] is True

    page = await signed_in.get(r.headers["location"])
    assert "Earnings are on" in page.text
    assert "You can now price premium links." in page.text
    assert 'id="kind-premium"' in page.text
    assert 'id="kind-premium" disabled' not in page.text


@pytest.mark.parametrize("action", ["abandon", "fail"])
async def test_returning_without_a_payout_method_does_not_enable_earnings(
    signed_in, creator, action
):
    link = await enable(signed_in)
    back = await finish_on_whop(signed_in, link, action)
    r = await come_back(signed_in, back)
    assert r.headers["location"] == "/dashboard?payouts=unfinished#earnings"
    assert (await creator_row(creator))["payout_enabled"] is False

    page = await signed_in.get(r.headers["location"])
    assert "Whop has not confirmed a payout method yet" in page.text
    assert "Finish verification" in page.text
    assert 'id="kind-premium" disabled' in page.text

    # "Finish verification" is the same button: a new link for the same company.
    again = await enable(signed_in)
    assert again != link and KYC_PATH in again
    assert len(await emulated_companies(creator["email"])) == 1


async def test_the_return_url_never_trusts_its_query_string(signed_in, creator):
    await enable(signed_in)
    r = await signed_in.get(
        "/dashboard/payouts/return?status=success&payout_enabled=true&verified=1",
        follow_redirects=False,
    )
    assert r.headers["location"] == "/dashboard?payouts=unfinished#earnings"
    assert (await creator_row(creator))["payout_enabled"] is False


async def test_when_whop_cannot_be_asked_the_return_changes_nothing(signed_in, creator):
    await enable(signed_in)
    await faults.add_fault("api", path="/payout_methods", status=500, times=3)
    r = await signed_in.get("/dashboard/payouts/return", follow_redirects=False)
    assert r.headers["location"] == "/dashboard?payouts=unchecked#earnings"
    assert (await creator_row(creator))["payout_enabled"] is False
    page = await signed_in.get(r.headers["location"])
    assert "We could not check with Whop just now" in page.text


async def test_returning_without_a_company_just_shows_the_studio(signed_in, creator):
    r = await signed_in.get("/dashboard/payouts/return", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard#earnings"


async def test_an_unknown_notice_in_the_studio_url_shows_nothing(signed_in):
    page = await signed_in.get("/dashboard?payouts=<script>alert(1)</script>")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert 'id="payouts-notice"' not in page.text


async def test_the_refresh_url_makes_a_new_link_and_goes_there(signed_in, creator):
    first = await enable(signed_in)
    r = await signed_in.get("/dashboard/payouts/refresh", follow_redirects=False)
    assert r.status_code == 303, r.text
    assert KYC_PATH in r.headers["location"] and r.headers["location"] != first
    assert len(await emulated_companies(creator["email"])) == 1


async def test_an_expired_kyc_link_comes_back_through_refresh_to_a_working_one(signed_in, creator):
    link = await enable(signed_in)
    async with store.connection() as conn:
        await conn.execute(
            "UPDATE whop_emulator.account_link SET expires_at = now() - interval '1 second'"
            " WHERE token = $1",
            link.rsplit("/", 1)[1],
        )
    expired = await signed_in.get(
        link.removeprefix("http://testserver.local"), follow_redirects=False
    )
    assert expired.status_code == 303
    fresh = await come_back(signed_in, expired.headers["location"])
    assert fresh.status_code == 303 and KYC_PATH in fresh.headers["location"]

    back = await finish_on_whop(signed_in, fresh.headers["location"], "complete")
    await come_back(signed_in, back)
    assert (await creator_row(creator))["payout_enabled"] is True


async def test_the_refresh_url_when_whop_is_down_explains_and_changes_nothing(signed_in):
    await enable(signed_in)
    await faults.add_fault("api", path="/account_links", method="POST", status=500, times=3)
    r = await signed_in.get("/dashboard/payouts/refresh", follow_redirects=False)
    assert r.headers["location"] == "/dashboard?payouts=unreachable#earnings"
    page = await signed_in.get(r.headers["location"])
    assert "verification could not be reopened" in page.text


async def test_the_refresh_url_without_a_company_goes_back_to_the_studio(signed_in):
    r = await signed_in.get("/dashboard/payouts/refresh", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard#earnings"


# --- refresh_payout_status (what the webhooks call too) -------------------------------------


async def test_refresh_payout_status_follows_whop_both_ways(whop, api, live_settings, make_creator):
    company = await connected_company(api, live_settings)
    stale = await make_creator(handle="stale", whop_company_id=company["id"], payout_enabled=True)
    assert await refresh_payout_status(whop, company["id"]) is False  # no method: cleared
    assert (await creator_row(stale))["payout_enabled"] is False

    link = (
        await api.post(
            "/account_links",
            json={
                "company_id": company["id"],
                "use_case": "account_onboarding",
                "return_url": "https://linkmint.example/r",
                "refresh_url": "https://linkmint.example/f",
            },
        )
    ).json()
    async with httpx.AsyncClient(timeout=10) as person:
        await complete_kyc(person, link["url"])
    assert await refresh_payout_status(whop, company["id"]) is True
    assert (await creator_row(stale))["payout_enabled"] is True


async def test_refresh_payout_status_for_a_company_nobody_has_is_false(whop, api, live_settings):
    company = await connected_company(api, live_settings)
    assert await refresh_payout_status(whop, company["id"]) is False
