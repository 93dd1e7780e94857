"""The emulator's stand-in for Whop's payout elements: the loader it serves and the API the
loader calls with an access token (docs/whop-contract.md §9), over real HTTP to a live server."""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.emulator import faults
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    api,
    browser,
    connected_company,
    funded_company,
    live_settings,
)


async def mint(api, company_id: str, **body) -> dict:
    r = await api.post("/access_tokens", json={"company_id": company_id, **body})
    assert r.status_code == 200, r.text
    return r.json()


def elements_api(live_server: str, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=f"{live_server}/_whop/elements/api", headers=headers)


@pytest.fixture
async def short_tokens():
    """Access tokens last at most 3 s while the test runs."""
    await faults.set_control_settings(access_token_lifetime=3)
    yield
    await faults.reset_control_settings()


# --- the loader -------------------------------------------------------------------------------


async def test_the_loader_is_javascript_that_defines_whop_elements(live_server):
    async with httpx.AsyncClient(base_url=live_server) as http:
        script = await http.get("/_whop/elements.js")
        styles = await http.get("/_whop/elements.css")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["x-content-type-options"] == "nosniff"
    assert "window.WhopElements = WhopElements" in script.text
    for needle in ("eval(", "new Function", "innerHTML", ".style.", 'setAttribute("style"'):
        assert needle not in script.text  # CSP: nothing a strict policy would refuse
    assert styles.status_code == 200
    assert styles.headers["content-type"] == "text/css; charset=utf-8"
    assert ".whop-el-banner" in styles.text


# --- the API the loader calls ----------------------------------------------------------------


async def test_a_token_reads_its_companys_balance_verification_and_withdrawals(
    api, browser, live_settings, live_server
):
    company = await funded_company(api, browser, live_settings, sales=2)
    token = await mint(api, company["id"])
    async with elements_api(live_server, token["token"]) as elements:
        r = await elements.get(f"/payouts/{company['id']}")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    data = r.json()
    assert data["company"] == {"id": company["id"], "title": company["title"]}
    assert data["verification"] == {"status": "connected"}
    assert data["balances"] == {"usd": 17.54}
    assert data["payout_method"]["nickname"].startswith("Checking ••••")
    assert data["withdrawals"] == []
    assert 3590 < data["token_expires_in"] <= 3600


async def test_a_withdrawal_made_with_a_token_moves_the_ledger_once(
    api, browser, live_settings, live_server
):
    company = await funded_company(api, browser, live_settings)
    token = await mint(api, company["id"])
    body = {"amount": 5.25, "currency": "usd"}
    async with elements_api(live_server, token["token"]) as elements:
        headers = {"Idempotency-Key": "one-click"}
        first = await elements.post(f"/payouts/{company['id']}/withdrawals", json=body,
                                    headers=headers)  # fmt: skip
        again = await elements.post(f"/payouts/{company['id']}/withdrawals", json=body,
                                    headers=headers)  # fmt: skip
        too_much = await elements.post(
            f"/payouts/{company['id']}/withdrawals", json={**body, "amount": 3.53}
        )
        data = (await elements.get(f"/payouts/{company['id']}")).json()
    assert first.status_code == 200, first.text
    assert first.json()["id"].startswith("wdrl_") and again.json() == first.json()
    assert too_much.status_code == 422
    assert too_much.json()["error"]["code"] == "insufficient_balance"
    assert data["balances"] == {"usd": 3.52}
    assert [(w["id"], w["amount"], w["status"]) for w in data["withdrawals"]] == [
        (first.json()["id"], 5.25, "completed")
    ]
    listed = (await api.get("/withdrawals", params={"company_id": company["id"]})).json()
    assert [w["id"] for w in listed["data"]] == [first.json()["id"]]


async def test_verification_opens_the_hosted_kyc_page_returning_to_the_redirect_url(
    api, browser, live_settings, live_server
):
    company = await connected_company(api, live_settings)
    token = await mint(api, company["id"])
    back = f"{live_server}/dashboard/payouts"
    async with elements_api(live_server, token["token"]) as elements:
        before = (await elements.get(f"/payouts/{company['id']}")).json()
        r = await elements.post(f"/payouts/{company['id']}/verification", json={"return_url": back})
        assert r.status_code == 200, r.text
        done = await browser.post(
            r.json()["url"],
            data={"legal_name": "Ada", "country": "US", "account_number": "12345678",
                  "action": "complete"},
        )  # fmt: skip
        after = (await elements.get(f"/payouts/{company['id']}")).json()
    assert before["verification"]["status"] == "not_started" and before["payout_method"] is None
    assert done.status_code == 303 and done.headers["location"] == back
    assert after["verification"]["status"] == "connected" and after["payout_method"]


async def test_the_elements_api_takes_a_live_token_for_its_own_company_only(
    api, live_settings, live_server
):
    company = await connected_company(api, live_settings)
    other = await connected_company(api, live_settings)
    token = (await mint(api, company["id"]))["token"]
    expired = (await mint(api, company["id"], expires_at=_in(seconds=1)))["token"]
    async with elements_api(live_server, token) as elements:
        assert (await elements.get(f"/payouts/{other['id']}")).status_code == 403
    async with elements_api(live_server, None) as anonymous:
        assert (await anonymous.get(f"/payouts/{company['id']}")).status_code == 401
    async with elements_api(live_server, live_settings.whop_api_key) as with_api_key:
        refused = await with_api_key.get(f"/payouts/{company['id']}")
        assert refused.status_code == 403 and "access token" in refused.json()["error"]["message"]
    await asyncio.sleep(1.2)
    async with elements_api(live_server, expired) as elements:
        r = await elements.get(f"/payouts/{company['id']}")
        assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"


async def test_a_short_token_lifetime_can_be_set_for_tests(
    api, live_settings, live_server, short_tokens
):
    company = await connected_company(api, live_settings)
    token = await mint(api, company["id"], expires_at=_in(minutes=15))
    lifetime = datetime.fromisoformat(token["expires_at"]) - datetime.now(UTC)
    assert timedelta(seconds=1) < lifetime <= timedelta(seconds=3)
    async with elements_api(live_server, token["token"]) as elements:
        data = (await elements.get(f"/payouts/{company['id']}")).json()
    assert 0 < data["token_expires_in"] <= 3


async def test_the_token_lifetime_control_setting_is_bounded(short_tokens):
    with pytest.raises(faults.FaultError, match="access_token_lifetime must be between"):
        await faults.set_control_settings(access_token_lifetime=0.5)


def _in(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()
