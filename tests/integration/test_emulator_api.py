"""The emulated Whop platform API, its hosted pages and its webhooks, over real HTTP."""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import standardwebhooks

from app.emulator import faults, platform, store
from app.whop.webhooks import verify_webhook
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    Receiver,
    api,
    browser,
    checkout,
    complete_kyc,
    connected_company,
    emulator_control,
    eventually,
    hook_for,
    live_settings,
    pay,
    query_of,
    receiver,
)

RETURN = "https://linkmint.example/dashboard/payouts/return"
REFRESH = "https://linkmint.example/dashboard/payouts/refresh"


def assert_whop_error(response: httpx.Response, status: int, type_: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= {"type", "code", "message"}
    assert error["type"] == type_
    assert error["message"]
    return error


# --- the door -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer apik_wrong"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
    ],
)
async def test_every_request_needs_the_bearer_api_key(live_settings, headers):
    async with httpx.AsyncClient(base_url=live_settings.api_base, headers=headers) as anon:
        for method, path in [("GET", "/payments/pay_x"), ("POST", "/companies"), ("GET", "/nope")]:
            r = await anon.request(method, path)
            assert_whop_error(r, 401, "unauthorized")


async def test_an_unknown_endpoint_answers_whops_404_body(api):
    assert_whop_error(await api.get("/no_such_thing/here"), 404, "not_found")


async def test_a_body_that_is_not_json_is_a_400(api):
    r = await api.post(
        "/companies", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert assert_whop_error(r, 400, "bad_request")["code"] == "invalid_json"


async def test_no_api_version_header_is_needed_and_any_is_ignored(api, live_settings):
    company = await connected_company(api, live_settings)
    r = await api.get(f"/companies/{company['id']}", headers={"Api-Version-Date": "2026-10-15-1"})
    assert r.status_code == 200


async def test_the_configured_credentials_exist_at_start_up(api, live_settings):
    r = await api.get(f"/companies/{live_settings.whop_parent_company_id}")
    assert r.status_code == 200
    assert r.json()["id"] == live_settings.whop_parent_company_id


async def platform_rows(settings) -> tuple[list[str], list[str]]:
    """The platform company's payout accounts, and the companies its API key names."""
    async with store.connection() as conn:
        accounts = await conn.fetch(
            "SELECT payout_account_id FROM whop_emulator.company WHERE id = $1",
            settings.whop_parent_company_id,
        )
        keys = await conn.fetch(
            "SELECT company_id FROM whop_emulator.api_key WHERE key_hash = $1",
            store.secret_hash(settings.whop_api_key),
        )
    return [r["payout_account_id"] for r in accounts], [k["company_id"] for k in keys]


async def test_start_up_is_safe_when_processes_start_together(api, live_settings):
    before = await platform_rows(live_settings)
    await asyncio.gather(*(platform.bootstrap(live_settings) for _ in range(6)))
    accounts, key_owners = await platform_rows(live_settings)
    # One platform company, its payout account kept, the API key still naming it.
    assert (accounts, key_owners) == before
    assert len(accounts) == 1 and key_owners == [live_settings.whop_parent_company_id]
    assert (await api.get(f"/companies/{live_settings.whop_parent_company_id}")).status_code == 200


# --- companies -----------------------------------------------------------------------------


async def test_a_connected_company_is_created_under_the_parent(api, live_settings):
    company = await connected_company(api, live_settings, metadata={"creator_id": "42"})
    assert company["id"].startswith("biz_") and len(company["id"]) == 18
    assert company["metadata"] == {"creator_id": "42"}
    assert company["verified"] is False
    fetched = (await api.get(f"/companies/{company['id']}")).json()
    assert fetched["id"] == company["id"] and fetched["title"] == company["title"]
    listed = (await api.get("/companies", params={"first": 100})).json()
    assert company["id"] in {c["id"] for c in listed["data"]}


@pytest.mark.parametrize(
    "body,status,param",
    [
        ({"email": "a@example.com", "parent_company_id": "P"}, 400, "title"),
        ({"title": "T", "parent_company_id": "P"}, 400, "email"),
        ({"title": "T", "email": "a@example.com"}, 400, "parent_company_id"),
        ({"title": "T", "email": "not-an-email", "parent_company_id": "P"}, 422, "email"),
        (
            {"title": "T", "email": "a@example.com", "parent_company_id": "P", "metadata": [1]},
            422,
            "metadata",
        ),
    ],
)
async def test_bad_company_requests_say_which_parameter(api, live_settings, body, status, param):
    if body.get("parent_company_id") == "P":
        body["parent_company_id"] = live_settings.whop_parent_company_id
    r = await api.post("/companies", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param


async def test_only_the_api_keys_own_company_can_be_a_parent(api, live_settings):
    other = await connected_company(api, live_settings)
    r = await api.post(
        "/companies",
        json={"title": "T", "email": "a@example.com", "parent_company_id": other["id"]},
    )
    assert_whop_error(r, 403, "forbidden")


async def test_an_unknown_company_is_a_404(api):
    assert_whop_error(await api.get("/companies/biz_Nope0000000000"), 404, "not_found")


async def test_a_repeated_idempotency_key_replays_the_first_answer(api, live_settings):
    body = {
        "title": "Once",
        "email": "once@example.com",
        "parent_company_id": live_settings.whop_parent_company_id,
    }
    key = {"Idempotency-Key": f"k-{time.time_ns()}"}
    first = await api.post("/companies", json=body, headers=key)
    again = await api.post("/companies", json=body, headers=key)
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = await api.post("/companies", json={**body, "title": "Twice"}, headers=key)
    assert assert_whop_error(other, 400, "bad_request")["code"] == "idempotency_key_reused"


async def test_concurrent_requests_with_one_idempotency_key_create_one_object(api, live_settings):
    body = {
        "title": "Racer",
        "email": "racer@example.com",
        "parent_company_id": live_settings.whop_parent_company_id,
    }
    key = {"Idempotency-Key": f"race-{time.time_ns()}"}
    answers = await asyncio.gather(
        *(api.post("/companies", json=body, headers=key) for _ in range(5))
    )
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["id"] for r in answers}) == 1


# --- KYC ------------------------------------------------------------------------------------


async def onboarding_link(api, company_id: str) -> dict:
    r = await api.post(
        "/account_links",
        json={
            "company_id": company_id,
            "use_case": "account_onboarding",
            "return_url": RETURN,
            "refresh_url": REFRESH,
        },
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_completing_kyc_adds_a_payout_method_and_returns_to_the_app(
    api, browser, live_settings, live_server
):
    company = await connected_company(api, live_settings)
    assert (await api.get("/payout_methods", params={"company_id": company["id"]})).json()[
        "data"
    ] == []
    link = await onboarding_link(api, company["id"])
    assert link["url"].startswith(f"{live_server}/_whop/hosted/kyc/")
    assert datetime.fromisoformat(link["expires_at"]) > datetime.now(UTC)

    page = await browser.get(link["url"])
    assert page.status_code == 200
    assert company["title"] in page.text
    assert "<script" not in page.text and "style=" not in page.text

    done = await complete_kyc(browser, link["url"])
    assert done.status_code == 303 and done.headers["location"] == RETURN

    methods = (await api.get("/payout_methods", params={"company_id": company["id"]})).json()
    [method] = methods["data"]
    assert method["id"].startswith("potk_") and method["is_default"] is True
    assert method["destination"]["category"] == "next_day_bank"
    assert method["destination"]["country_code"] == "GB"
    assert method["company"] == {"id": company["id"]}
    account = (await api.get(f"/ledger_accounts/{company['id']}")).json()
    assert account["payout_account_details"]["status"] == "connected"

    again = await browser.get(link["url"])  # a used link leads to a fresh one
    assert again.status_code == 303 and again.headers["location"] == REFRESH


async def test_failing_kyc_returns_without_a_payout_method(api, browser, live_settings):
    company = await connected_company(api, live_settings)
    link = await onboarding_link(api, company["id"])
    r = await browser.post(link["url"], data={"action": "fail"})
    assert r.status_code == 303 and r.headers["location"] == RETURN
    assert (await api.get("/payout_methods", params={"company_id": company["id"]})).json()[
        "data"
    ] == []
    account = (await api.get(f"/ledger_accounts/{company['id']}")).json()
    assert account["payout_account_details"]["status"] == "verification_failed"


async def test_leaving_kyc_returns_and_changes_nothing(api, browser, live_settings):
    company = await connected_company(api, live_settings)
    link = await onboarding_link(api, company["id"])
    r = await browser.post(link["url"], data={"action": "abandon"})
    assert r.status_code == 303 and r.headers["location"] == RETURN
    account = (await api.get(f"/ledger_accounts/{company['id']}")).json()
    assert account["payout_account_details"]["status"] == "not_started"


async def test_an_expired_kyc_link_sends_the_person_to_the_refresh_url(api, browser, live_settings):
    company = await connected_company(api, live_settings)
    link = await onboarding_link(api, company["id"])
    token = link["url"].rsplit("/", 1)[1]
    async with store.connection() as conn:
        await conn.execute(
            "UPDATE whop_emulator.account_link SET expires_at = now() - interval '1 second'"
            " WHERE token = $1",
            token,
        )
    for response in (await browser.get(link["url"]), await complete_kyc_post(browser, link)):
        assert response.status_code == 303 and response.headers["location"] == REFRESH


async def complete_kyc_post(browser, link):
    return await browser.post(
        link["url"],
        data={"action": "complete", "legal_name": "A", "country": "US", "account_number": "1234"},
    )


async def test_the_kyc_form_explains_what_is_missing(api, browser, live_settings):
    company = await connected_company(api, live_settings)
    link = await onboarding_link(api, company["id"])
    r = await browser.post(
        link["url"],
        data={"action": "complete", "legal_name": "", "country": "XX", "account_number": "12"},
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "Enter the legal name" in r.text
    assert "Choose a country" in r.text
    assert "4 to 17 digits" in r.text
    account = (await api.get(f"/ledger_accounts/{company['id']}")).json()
    assert account["payout_account_details"]["status"] == "not_started"


async def test_an_unknown_kyc_link_is_a_404_page(browser):
    r = await browser.get("/_whop/hosted/kyc/nope")
    assert r.status_code == 404
    assert "text/html" in r.headers["content-type"]


@pytest.mark.parametrize(
    "change,param",
    [
        ({"use_case": "payouts_portal"}, "use_case"),
        ({"use_case": "nope"}, "use_case"),
        ({"return_url": "javascript:alert(1)"}, "return_url"),
        ({"refresh_url": "/relative"}, "refresh_url"),
    ],
)
async def test_bad_account_link_requests_are_refused(api, live_settings, change, param):
    company = await connected_company(api, live_settings)
    body = {
        "company_id": company["id"],
        "use_case": "account_onboarding",
        "return_url": RETURN,
        "refresh_url": REFRESH,
        **change,
    }
    r = await api.post("/account_links", json=body)
    assert r.status_code == 422 and r.json()["error"]["param"] == param


# --- checkout and payments -----------------------------------------------------------------


async def test_a_checkout_configuration_has_an_inline_plan_and_a_purchase_url(
    api, live_settings, live_server
):
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"], price=10.0, fee=1.23)
    assert config["id"].startswith("ch_")
    assert config["company_id"] == company["id"]
    plan = config["plan"]
    assert plan["id"].startswith("plan_") and plan["plan_type"] == "one_time"
    assert plan["initial_price"] == 10.0 and plan["currency"] == "usd"
    assert config["purchase_url"] == (
        f"{live_server}/_whop/checkout/{plan['id']}?session={config['id']}"
    )
    assert config["metadata"] == {"unlock_id": "u1"}
    fetched = (await api.get(f"/checkout_configurations/{config['id']}")).json()
    assert fetched == config


async def test_the_4242_card_pays_and_returns_to_the_redirect_url(api, browser, live_settings):
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"], metadata={"unlock_id": "unl_1", "creator": "7"})
    page = await browser.get(config["purchase_url"])
    assert page.status_code == 200
    assert "$10.00" in page.text and company["title"] in page.text
    assert "<script" not in page.text and "style=" not in page.text

    r = await pay(browser, config["purchase_url"])
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("https://linkmint.example/checkout/confirm?")
    query = query_of(location)
    assert query["unlock"] == "u1"  # the redirect URL's own query is kept
    assert query["checkout_status"] == "success"
    assert query["payment_id"].startswith("pay_")

    payment = (await api.get(f"/payments/{query['payment_id']}")).json()
    assert payment["status"] == "paid" and payment["substatus"] == "succeeded"
    assert payment["total"] == 10.0 and payment["currency"] == "usd"
    assert payment["application_fee"]["amount"] == 1.23
    assert payment["amount_after_fees"] == 8.77
    assert payment["metadata"] == {"unlock_id": "unl_1", "creator": "7"}
    assert payment["company"]["id"] == company["id"]
    assert payment["checkout_configuration_id"] == config["id"]
    assert payment["plan"]["id"] == config["plan"]["id"]
    assert payment["user"]["email"] == "buyer@example.com"
    assert payment["user"]["id"].startswith("user_")
    assert payment["card_last4"] == "4242"
    assert payment["refundable"] is True and payment["paid_at"]


async def test_the_0002_card_is_declined_and_the_buyer_may_try_again(api, browser, live_settings):
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"])
    r = await pay(browser, config["purchase_url"], card="4000 0000 0000 0002")
    assert r.status_code == 402 and r.headers["content-type"].startswith("text/html")
    assert "Your card was declined." in r.text
    listed = (await api.get("/payments", params={"company_id": company["id"]})).json()["data"]
    [failed] = listed
    assert failed["status"] == "open" and failed["substatus"] == "failed"
    assert failed["failure_message"] == "Your card was declined."
    assert failed["refundable"] is False
    assert f"payment_id={failed['id']}" in r.text and "checkout_status=error" in r.text

    retry = await pay(browser, config["purchase_url"])
    assert retry.status_code == 303
    paid = query_of(retry.headers["location"])["payment_id"]
    assert paid != failed["id"]


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"card": "1234 5678 9012 3456"}, "Use a test card"),
        ({"email": "nobody"}, "email address"),
        ({"expiry": "13/40"}, "MM/YY"),
        ({"expiry": "01/20"}, "expired"),
        ({"cvc": "12"}, "3 or 4 digits"),
    ],
)
async def test_the_checkout_form_explains_what_is_wrong(
    api, browser, live_settings, fields, message
):
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"])
    r = await pay(browser, config["purchase_url"], **fields)
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert message in r.text
    listed = (await api.get("/payments", params={"company_id": company["id"]})).json()
    assert listed["data"] == []


async def test_a_checkout_form_posted_twice_is_one_payment(api, browser, live_settings):
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"])
    page = await browser.get(config["purchase_url"])
    import re

    hidden = dict(re.findall(r'name="(session|attempt)" value="([^"]+)"', page.text))
    form = {
        "email": "b@example.com",
        "card_number": "4242424242424242",
        "expiry": "12/39",
        "cvc": "123",
    }
    action = f"/_whop/checkout/{config['plan']['id']}"
    first, second = await asyncio.gather(
        browser.post(action, data={**form, **hidden}), browser.post(action, data={**form, **hidden})
    )
    assert first.headers["location"] == second.headers["location"]
    listed = (await api.get("/payments", params={"company_id": company["id"]})).json()
    assert len(listed["data"]) == 1


async def test_a_checkout_without_redirect_url_ends_on_whops_receipt(api, browser, live_settings):
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"], redirect_url=None)
    r = await pay(browser, config["purchase_url"])
    assert r.status_code == 200 and "Payment complete" in r.text
    assert r.headers["content-type"].startswith("text/html")


async def test_an_unknown_checkout_session_is_a_404_page(api, browser, live_settings):
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"])
    r = await browser.get(f"/_whop/checkout/{config['plan']['id']}?session=ch_nope")
    assert r.status_code == 404


@pytest.mark.parametrize(
    "plan_change,param",
    [
        ({"application_fee_amount": 10.0}, "plan.application_fee_amount"),
        ({"application_fee_amount": 0}, "plan.application_fee_amount"),
        ({"initial_price": 10.005}, "plan.initial_price"),
        ({"initial_price": -1}, "plan.initial_price"),
        ({"initial_price": "10"}, "plan.initial_price"),
        ({"currency": "dollars"}, "plan.currency"),
        (
            {"currency": "jpy", "initial_price": 100.5, "application_fee_amount": None},
            "plan.initial_price",
        ),
        ({"plan_type": "renewal"}, "plan.plan_type"),
    ],
)
async def test_bad_inline_plans_are_refused(api, live_settings, plan_change, param):
    company = await connected_company(api, live_settings)
    plan = {
        "company_id": company["id"],
        "currency": "usd",
        "initial_price": 10.0,
        "application_fee_amount": 1.0,
        **plan_change,
    }
    plan = {k: v for k, v in plan.items() if v is not None}
    r = await api.post("/checkout_configurations", json={"plan": plan})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["param"] == param


async def test_an_application_fee_needs_a_connected_company(api, live_settings):
    r = await api.post(
        "/checkout_configurations",
        json={
            "plan": {
                "company_id": live_settings.whop_parent_company_id,
                "currency": "usd",
                "initial_price": 5.0,
                "application_fee_amount": 1.0,
            }
        },
    )
    assert r.status_code == 422 and "parent company" in r.json()["error"]["message"]


async def test_a_zero_decimal_currency_is_priced_in_whole_units(api, browser, live_settings):
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"], price=1500, fee=150, currency="jpy")
    r = await pay(browser, config["purchase_url"])
    payment = (await api.get(f"/payments/{query_of(r.headers['location'])['payment_id']}")).json()
    assert payment["total"] == 1500 and payment["currency"] == "jpy"


async def test_payments_are_listed_newest_first_with_filters_and_cursors(
    api, browser, live_settings
):
    company = await connected_company(api, live_settings)
    configs = [await checkout(api, company["id"], metadata={"n": str(i)}) for i in range(3)]
    paid = []
    for config in configs:
        r = await pay(browser, config["purchase_url"])
        paid.append(query_of(r.headers["location"])["payment_id"])
    await pay(browser, configs[0]["purchase_url"], card="4000000000000002")

    seen, after = [], None
    while True:
        params = {"company_id": company["id"], "first": 2, **({"after": after} if after else {})}
        page = (await api.get("/payments", params=params)).json()
        seen += [p["id"] for p in page["data"]]
        if not page["page_info"]["has_next_page"]:
            break
        after = page["page_info"]["end_cursor"]
    assert len(seen) == 4 and len(set(seen)) == 4
    assert seen[1:] == paid[::-1]

    only_paid = (
        await api.get("/payments", params={"company_id": company["id"], "statuses[]": "paid"})
    ).json()
    assert {p["id"] for p in only_paid["data"]} == set(paid)
    one_checkout = await api.get(
        "/payments",
        params={"company_id": company["id"], "checkout_configuration_ids[]": configs[1]["id"]},
    )
    assert [p["id"] for p in one_checkout.json()["data"]] == [paid[1]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = await api.get(
        "/payments", params={"company_id": company["id"], "created_after": future}
    )
    assert later.json()["data"] == []


async def test_payments_of_another_platforms_company_are_not_visible(api, live_settings):
    async with store.transaction() as conn:
        await conn.execute(
            "INSERT INTO whop_emulator.company (id, title, payout_account_id)"
            " VALUES ('biz_OtherPlatform1', 'Other', 'poact_OtherPlatform1')"
            " ON CONFLICT DO NOTHING"
        )
    r = await api.get("/payments", params={"company_id": "biz_OtherPlatform1"})
    assert_whop_error(r, 403, "forbidden")


# --- refunds and the ledger ----------------------------------------------------------------


async def paid_payment(api, browser, settings, **kwargs):
    company = await connected_company(api, settings)
    config = await checkout(api, company["id"], **kwargs)
    r = await pay(browser, config["purchase_url"])
    return company, query_of(r.headers["location"])["payment_id"]


async def balance(api, company_id: str, currency: str = "usd") -> float:
    account = (await api.get(f"/ledger_accounts/{company_id}")).json()
    return {b["currency"]: b["balance"] for b in account["balances"]}.get(currency, 0.0)


async def test_payments_refunds_and_fees_move_the_ledger(api, browser, live_settings):
    parent = live_settings.whop_parent_company_id
    platform_before = await balance(api, parent)
    company, payment_id = await paid_payment(api, browser, live_settings, price=10.0, fee=1.23)
    assert await balance(api, company["id"]) == 8.77
    assert round(await balance(api, parent) - platform_before, 2) == 1.23

    partly = await api.post(f"/payments/{payment_id}/refund", json={"partial_amount": 2.5})
    assert partly.status_code == 200, partly.text
    assert partly.json()["refunded_amount"] == 2.5
    assert partly.json()["substatus"] == "partially_refunded"
    assert partly.json()["status"] == "paid"
    assert await balance(api, company["id"]) == 6.27

    rest = (await api.post(f"/payments/{payment_id}/refund", json={})).json()
    assert rest["refunded_amount"] == 10.0 and rest["substatus"] == "refunded"
    assert rest["refundable"] is False and rest["refunded_at"]
    assert await balance(api, company["id"]) == -1.23  # the fee is not returned

    more = await api.post(f"/payments/{payment_id}/refund", json={})
    assert more.json()["error"]["code"] == "payment_not_refundable"
    refunds = (await api.get("/refunds", params={"payment_id": payment_id})).json()["data"]
    assert sorted(r["amount"] for r in refunds) == [2.5, 7.5]
    assert {r["status"] for r in refunds} == {"succeeded"}
    one = (await api.get(f"/refunds/{refunds[0]['id']}")).json()
    assert one["payment"]["id"] == payment_id


async def test_a_buyer_from_a_taxed_country_pays_tax_that_is_whops_not_the_companys(
    api, browser, live_settings, emulator_control
):
    await faults.set_control_settings(tax_rates={"GB": 20})
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"], price=10.0, fee=1.23)
    page = await browser.get(config["purchase_url"])
    assert "Whop adds tax for buyers in United Kingdom (20%)." in page.text
    r = await pay(browser, config["purchase_url"], country="GB")
    payment_id = query_of(r.headers["location"])["payment_id"]
    payment = (await api.get(f"/payments/{payment_id}")).json()
    assert (payment["total"], payment["subtotal"], payment["tax_amount"]) == (12.0, 10.0, 2.0)
    assert payment["amount_after_fees"] == 8.77 and payment["tax_behavior"] == "exclusive"
    assert payment["application_fee"]["amount"] == 1.23  # the fee is on the price, not the tax
    assert await balance(api, company["id"]) == 8.77  # the tax is Whop's to remit

    partly = (await api.post(f"/payments/{payment_id}/refund", json={"partial_amount": 6.0})).json()
    assert (partly["refunded_amount"], partly["tax_refunded_amount"]) == (6.0, 1.0)
    assert await balance(api, company["id"]) == 3.77  # 5.00 of the price went back
    rest = (await api.post(f"/payments/{payment_id}/refund", json={})).json()
    assert (rest["refunded_amount"], rest["tax_refunded_amount"]) == (12.0, 2.0)
    assert rest["substatus"] == "refunded"
    assert await balance(api, company["id"]) == -1.23


@pytest.mark.parametrize(
    "rates,problem",
    [
        ({"Germany": 19}, "not a two-letter country code"),
        ({"DE": 120}, "between 0 and 100"),
        ({"DE": "19%"}, "must be a number"),
        ([19], "must map countries to percentages"),
    ],
)
async def test_tax_rates_are_a_control_setting_checked_like_the_others(
    emulator_control, rates, problem
):
    with pytest.raises(faults.FaultError, match=problem):
        await faults.set_control_settings(tax_rates=rates)
    settings = await faults.set_control_settings(tax_rates={"de": 19, "GB": 17.5})
    assert settings.tax_rates == {"DE": 19.0, "GB": 17.5}
    assert settings.tax_rate("DE") == 19.0 and settings.tax_rate("US") == 0.0


async def test_a_country_not_on_the_list_is_refused_by_the_checkout_form(
    api, browser, live_settings
):
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"])
    r = await pay(browser, config["purchase_url"], country="XX")
    assert r.status_code == 422 and "Choose a country from the list." in r.text
    assert 'aria-describedby="country-error"' in r.text


async def test_a_refund_larger_than_what_is_left_is_refused(api, browser, live_settings):
    _, payment_id = await paid_payment(api, browser, live_settings)
    r = await api.post(f"/payments/{payment_id}/refund", json={"partial_amount": 10.01})
    assert r.status_code == 422 and r.json()["error"]["param"] == "partial_amount"


async def test_a_failed_payment_cannot_be_refunded(api, browser, live_settings):
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"])
    await pay(browser, config["purchase_url"], card="4000000000000002")
    [failed] = (await api.get("/payments", params={"company_id": company["id"]})).json()["data"]
    r = await api.post(f"/payments/{failed['id']}/refund", json={})
    assert r.status_code == 422 and r.json()["error"]["code"] == "payment_not_refundable"


async def test_withdrawals_need_a_payout_method_and_a_balance(api, browser, live_settings):
    company, _ = await paid_payment(api, browser, live_settings, price=20.0, fee=2.0)
    body = {"company_id": company["id"], "amount": 5.0, "currency": "usd"}
    r = await api.post("/withdrawals", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "payout_method_missing"

    link = await onboarding_link(api, company["id"])
    await complete_kyc(browser, link["url"])
    r = await api.post("/withdrawals", json={**body, "amount": 18.01})
    assert r.status_code == 422 and r.json()["error"]["code"] == "insufficient_balance"
    ok = await api.post("/withdrawals", json=body)
    assert ok.status_code == 200 and ok.json()["id"].startswith("wdrl_")
    assert await balance(api, company["id"]) == 13.0
    listed = (await api.get("/withdrawals", params={"company_id": company["id"]})).json()
    assert [w["amount"] for w in listed["data"]] == [5.0]


# --- access tokens ---------------------------------------------------------------------------


async def test_an_access_token_lasts_an_hour_and_acts_for_its_company_only(api, live_settings):
    company = await connected_company(api, live_settings)
    other = await connected_company(api, live_settings)
    r = await api.post("/access_tokens", json={"company_id": company["id"]})
    assert r.status_code == 200, r.text
    token = r.json()
    lifetime = datetime.fromisoformat(token["expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=59) < lifetime <= timedelta(hours=1)
    async with httpx.AsyncClient(
        base_url=live_settings.api_base, headers={"Authorization": f"Bearer {token['token']}"}
    ) as element:
        assert (await element.get(f"/ledger_accounts/{company['id']}")).status_code == 200
        assert (await element.get(f"/ledger_accounts/{other['id']}")).status_code == 403
        created = await element.post("/companies", json={"title": "x"})
        assert created.status_code == 403


@pytest.mark.parametrize(
    "expires_in,ok",
    [
        (timedelta(hours=3), True),
        (timedelta(hours=3, minutes=5), False),
        (timedelta(seconds=-5), False),
    ],
)
async def test_an_access_token_lives_at_most_three_hours(api, live_settings, expires_in, ok):
    company = await connected_company(api, live_settings)
    expires_at = (datetime.now(UTC) + expires_in).isoformat()
    r = await api.post(
        "/access_tokens", json={"company_id": company["id"], "expires_at": expires_at}
    )
    assert (r.status_code == 200) is ok, r.text


async def test_an_expired_access_token_is_refused(api, live_settings):
    company = await connected_company(api, live_settings)
    token = (await api.post("/access_tokens", json={"company_id": company["id"]})).json()["token"]
    async with store.connection() as conn:
        await conn.execute(
            "UPDATE whop_emulator.access_token SET expires_at = now() - interval '1 second'"
            " WHERE token_hash = $1",
            store.secret_hash(token),
        )
    async with httpx.AsyncClient(
        base_url=live_settings.api_base, headers={"Authorization": f"Bearer {token}"}
    ) as element:
        assert_whop_error(
            await element.get(f"/ledger_accounts/{company['id']}"), 401, "unauthorized"
        )


# --- webhooks --------------------------------------------------------------------------------


async def test_a_registered_webhook_gets_a_ws_secret_shown_once(api, live_settings, receiver):
    company = await connected_company(api, live_settings)
    hook = await hook_for(receiver, api, company["id"], events=["payment.succeeded"])
    assert hook["id"].startswith("hook_")
    assert hook["webhook_secret"].startswith("ws_")
    assert hook["events"] == ["payment.succeeded"] and hook["api_version"] == "v1"
    listed = (await api.get("/webhooks", params={"company_id": company["id"]})).json()["data"]
    assert [h["webhook_secret"] for h in listed] == [None]


async def test_delivered_events_verify_with_the_reference_library_and_ours(
    api, browser, live_settings, receiver, emulator_control
):
    company = await connected_company(api, live_settings)
    hook = await hook_for(receiver, api, company["id"])
    config = await checkout(api, company["id"], metadata={"unlock_id": "unl_9"})
    r = await pay(browser, config["purchase_url"])
    payment_id = query_of(r.headers["location"])["payment_id"]

    await eventually(lambda: receiver.requests)
    [delivery] = receiver.requests
    secret = hook["webhook_secret"]
    library = standardwebhooks.Webhook(base64.b64encode(secret.encode()).decode())
    envelope = library.verify(delivery.body.decode(), delivery.headers)
    event = verify_webhook(secret, delivery.headers, delivery.body)
    assert event.payload == envelope
    assert set(envelope) == {"id", "api_version", "type", "timestamp", "company_id", "data"}
    assert envelope["api_version"] == "v1"
    assert envelope["type"] == "payment.succeeded"
    assert envelope["company_id"] == company["id"]
    assert envelope["id"] == delivery.headers["webhook-id"] == event.webhook_id
    assert envelope["data"]["id"] == payment_id
    assert envelope["data"]["metadata"] == {"unlock_id": "unl_9"}
    assert abs(int(delivery.headers["webhook-timestamp"]) - time.time()) < 30


async def test_refunds_fire_refund_created_then_refund_updated(
    api, browser, live_settings, receiver, emulator_control
):
    company = await connected_company(api, live_settings)
    await hook_for(receiver, api, company["id"], events=["refund.created", "refund.updated"])
    config = await checkout(api, company["id"])
    payment_id = query_of((await pay(browser, config["purchase_url"])).headers["location"])[
        "payment_id"
    ]
    await api.post(f"/payments/{payment_id}/refund", json={"partial_amount": 4.0})
    await eventually(lambda: len(receiver.requests) >= 2)
    events = sorted(receiver.bodies(), key=lambda e: e["type"])
    assert [e["type"] for e in events] == ["refund.created", "refund.updated"]
    created, updated = events
    assert created["data"]["status"] == "pending" and updated["data"]["status"] == "succeeded"
    assert updated["data"]["amount"] == 4.0
    assert updated["data"]["payment"]["id"] == payment_id
    assert updated["data"]["payment"]["refunded_amount"] == 4.0


async def test_kyc_fires_verification_and_payout_method_events(
    api, browser, live_settings, receiver, emulator_control
):
    company = await connected_company(api, live_settings)
    await hook_for(receiver, api, company["id"])
    link = await onboarding_link(api, company["id"])
    await complete_kyc(browser, link["url"])
    await eventually(lambda: len(receiver.requests) >= 2)
    assert sorted(e["type"] for e in receiver.bodies()) == [
        "payout_method.created",
        "verification.succeeded",
    ]
    # As Whop sends them: the payout method names its company inside `data` only.
    envelopes = {e["type"]: e for e in receiver.bodies()}
    created = envelopes["payout_method.created"]
    assert created["company_id"] is None and created["data"]["company"]["id"] == company["id"]
    assert envelopes["verification.succeeded"]["company_id"] == company["id"]


async def test_the_parents_webhook_hears_its_connected_companies(
    api, browser, live_settings, receiver, emulator_control
):
    company = await connected_company(api, live_settings)
    parent_hook = await hook_for(
        receiver,
        api,
        live_settings.whop_parent_company_id,
        child_resource_events=True,
        events=["payment.succeeded"],
    )
    config = await checkout(api, company["id"])
    await pay(browser, config["purchase_url"])
    await eventually(lambda: [b for b in receiver.bodies() if b["company_id"] == company["id"]])
    assert parent_hook["resource_id"] == live_settings.whop_parent_company_id


async def test_the_app_endpoint_is_sent_every_event_signed_with_the_configured_secret(
    api, browser, live_settings, live_server, emulator_control
):
    from app.emulator import delivery as deliveries

    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"])
    payment_id = query_of((await pay(browser, config["purchase_url"])).headers["location"])[
        "payment_id"
    ]
    log = await eventually(
        lambda: deliveries.delivery_log(
            event_type="payment.succeeded", url=f"{live_server}/webhooks/whop"
        )
    )
    mine = [d for d in log if d["body"]["data"]["id"] == payment_id]
    assert mine and mine[0]["body"]["company_id"] == company["id"]
    async with store.connection() as conn:
        secret = await conn.fetchval(
            "SELECT secret FROM whop_emulator.delivery WHERE id = $1", mine[0]["id"]
        )
    assert secret == live_settings.whop_webhook_secret


async def test_a_failing_receiver_is_retried_on_whops_schedule(
    api, browser, live_settings, receiver, emulator_control
):
    receiver.statuses = [500, 503]  # then 200
    company = await connected_company(api, live_settings)
    await hook_for(receiver, api, company["id"], events=["payment.succeeded"])
    config = await checkout(api, company["id"])
    await pay(browser, config["purchase_url"])
    await eventually(lambda: len(receiver.requests) >= 3)
    first, second, third = receiver.requests
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert first.body == second.body == third.body
    # 10 s and 20 s at 1/100 speed
    assert 0.09 <= second.at - first.at < 1.0
    assert 0.19 <= third.at - second.at < 1.2
    await asyncio.sleep(0.5)
    assert len(receiver.requests) == 3


async def test_a_receiver_that_always_fails_gets_four_attempts_then_none(
    api, browser, live_settings, receiver, emulator_control
):
    from app.emulator import delivery as deliveries

    receiver.statuses = [500] * 10
    company = await connected_company(api, live_settings)
    await hook_for(receiver, api, company["id"], events=["payment.succeeded"])
    config = await checkout(api, company["id"])
    await pay(browser, config["purchase_url"])
    await eventually(lambda: len(receiver.requests) >= 4)
    event_id = receiver.requests[0].headers["webhook-id"]
    log = await eventually(
        lambda: _settled(deliveries.delivery_log(event_id=event_id, url=receiver.url))
    )
    assert log[0]["status"] == "failed"
    assert [a["status_code"] for a in log[0]["attempts"]] == [500, 500, 500, 500]
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 4


async def _settled(log_coroutine):
    log = await log_coroutine
    return log if log and log[0]["status"] in ("failed", "succeeded") else None


async def test_a_slow_receiver_delays_nobody_else(
    api, browser, live_settings, receiver, emulator_control
):
    slow = Receiver(delay=1.5)
    await slow.start()
    try:
        company = await connected_company(api, live_settings)
        await hook_for(slow, api, company["id"], events=["payment.succeeded"])
        await hook_for(receiver, api, company["id"], events=["payment.succeeded"])
        config = await checkout(api, company["id"])
        started = time.monotonic()
        await pay(browser, config["purchase_url"])
        await eventually(lambda: receiver.requests)
        assert receiver.requests[0].at - started < 1.3  # the slow one takes 1.5 s
        await eventually(lambda: slow.requests, within=5)
    finally:
        await slow.stop()
        listed = (await api.get("/webhooks", params={"company_id": company["id"]})).json()
        for hook in listed["data"]:
            await api.delete(f"/webhooks/{hook['id']}")


async def test_a_receiver_slower_than_the_timeout_counts_as_a_failure(
    api, browser, live_settings, receiver, emulator_control
):
    from app.emulator import faults

    await faults.set_control_settings(receiver_timeout=0.3)
    receiver.delay = 0.6
    company = await connected_company(api, live_settings)
    await hook_for(receiver, api, company["id"], events=["payment.succeeded"])
    config = await checkout(api, company["id"])
    await pay(browser, config["purchase_url"])
    await eventually(lambda: len(receiver.requests) >= 2, within=10)
    receiver.delay = 0


async def test_a_declined_card_fires_payment_failed(
    api, browser, live_settings, receiver, emulator_control
):
    company = await connected_company(api, live_settings)
    await hook_for(receiver, api, company["id"], events=["payment.succeeded", "payment.failed"])
    config = await checkout(api, company["id"], metadata={"unlock_id": "unl_declined"})
    await pay(browser, config["purchase_url"], card="4000 0000 0000 0002")
    await eventually(lambda: receiver.requests)
    [event] = receiver.bodies()
    assert event["type"] == "payment.failed"
    assert event["data"]["status"] == "open" and event["data"]["substatus"] == "failed"
    assert event["data"]["metadata"] == {"unlock_id": "unl_declined"}


async def test_a_webhook_hears_only_the_events_it_names(
    api, browser, live_settings, receiver, emulator_control
):
    company = await connected_company(api, live_settings)
    await hook_for(receiver, api, company["id"], events=["refund.created"])
    config = await checkout(api, company["id"])
    payment_id = query_of((await pay(browser, config["purchase_url"])).headers["location"])[
        "payment_id"
    ]
    await api.post(f"/payments/{payment_id}/refund", json={})
    await eventually(lambda: receiver.requests)
    await asyncio.sleep(0.3)
    assert [e["type"] for e in receiver.bodies()] == ["refund.created"]


async def test_the_in_process_app_gets_its_own_events_without_a_network(client, settings):
    """Under the test client APP_URL is no server: the app's endpoint is reached in-process."""
    from app.emulator import delivery as deliveries
    from app.emulator import faults

    await faults.set_control_settings(time_scale=0.01)
    try:
        h = {"Authorization": f"Bearer {settings.whop_api_key}"}
        company = (
            await client.post(
                "/_whop/api/v1/companies",
                json={
                    "title": "Local",
                    "email": "l@example.com",
                    "parent_company_id": settings.whop_parent_company_id,
                },
                headers=h,
            )
        ).json()
        config = (
            await client.post(
                "/_whop/api/v1/checkout_configurations",
                json={"plan": {"company_id": company["id"], "currency": "usd", "initial_price": 3}},
                headers=h,
            )
        ).json()
        page = await client.get(config["purchase_url"])
        import re

        hidden = dict(re.findall(r'name="(session|attempt)" value="([^"]+)"', page.text))
        paid = await client.post(
            f"/_whop/checkout/{config['plan']['id']}",
            data={
                **hidden,
                "email": "b@example.com",
                "card_number": "4242424242424242",
                "expiry": "12/39",
                "cvc": "123",
            },
        )
        assert paid.status_code == 200  # no redirect_url: Whop's receipt

        async def attempted():
            log = await deliveries.delivery_log(
                event_type="payment.succeeded", url=f"{settings.app_url}/webhooks/whop"
            )
            mine = [d for d in log if d["company_id"] == company["id"]]
            return mine and mine[0]["attempts"] and mine[0]

        first = (await eventually(attempted))["attempts"][0]
        # an HTTP answer from the app itself (its receiver, or a 404 before it exists)
        assert first["status_code"] is not None and first["error"] is None
    finally:
        await faults.reset_control_settings()
