"""A person walks the emulator's hosted pages in Chromium: KYC onboarding and checkout.

The harness fails a test on any console error or Content-Security-Policy violation.
"""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from app.emulator import faults
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    api,
    checkout,
    connected_company,
    emulator_control,
    live_settings,
    query_of,
)

pytestmark = pytest.mark.browser


async def test_a_creator_completes_kyc_and_returns_to_the_app(
    page: Page, api, live_settings, live_server: str, shot
):
    company = await connected_company(api, live_settings)
    link = (
        await api.post(
            "/account_links",
            json={
                "company_id": company["id"],
                "use_case": "account_onboarding",
                "return_url": f"{live_server}/?kyc=returned",
                "refresh_url": f"{live_server}/?kyc=refresh",
            },
        )
    ).json()

    await page.goto(link["url"])
    await expect(page.get_by_role("heading", level=1)).to_contain_text(company["title"])
    async with page.expect_navigation() as refused:
        await page.get_by_role("button", name="Submit verification").click()
    response = await refused.value
    assert response is not None and response.status == 422
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    await expect(page.get_by_text("Enter the legal name")).to_be_visible()  # nothing filled in
    await page.get_by_label("Legal name").fill("Ada Lovelace")
    await page.get_by_label("Country").select_option("GB")
    await page.get_by_label("Bank account number").fill("000123456789")
    await shot(page, "kyc")
    await page.get_by_role("button", name="Submit verification").click()

    await expect(page).to_have_url(f"{live_server}/?kyc=returned")
    methods = (await api.get("/payout_methods", params={"company_id": company["id"]})).json()
    assert [m["destination"]["country_code"] for m in methods["data"]] == ["GB"]


async def test_a_buyer_is_declined_then_pays_and_returns_with_the_payment_id(
    page: Page, api, live_settings, live_server: str, shot
):
    company = await connected_company(api, live_settings)
    config = await checkout(
        api, company["id"], price=4.99, fee=0.5, redirect_url=f"{live_server}/?unlock=u1"
    )

    await page.goto(config["purchase_url"])
    await expect(page.get_by_text("$4.99").first).to_be_visible()
    await page.get_by_label("Email for the receipt").fill("buyer@example.com")
    await page.get_by_label("Card number").fill("4000 0000 0000 0002")
    await page.get_by_label("Expiry (MM/YY)").fill("12/39")
    await page.get_by_label("CVC").fill("123")
    async with page.expect_navigation() as declined:
        await page.get_by_role("button", name="Pay $4.99").click()
    response = await declined.value
    # Chromium shows a document that is not text/html as raw text: say so, not "no alert".
    assert response is not None and response.status == 402
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    await expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    await shot(page, "declined")

    await page.get_by_label("Card number").fill("4242 4242 4242 4242")
    await page.get_by_label("CVC").fill("123")
    await page.get_by_role("button", name="Pay $4.99").click()

    await expect(page).to_have_url(
        re.compile(re.escape(f"{live_server}/?unlock=u1&payment_id=pay_"))
    )
    query = query_of(page.url)
    assert query["checkout_status"] == "success"
    payment = (await api.get(f"/payments/{query['payment_id']}")).json()
    assert payment["status"] == "paid" and payment["total"] == 4.99


async def test_a_buyer_from_germany_is_told_of_the_tax_and_pays_it_on_top(
    page: Page, api, live_settings, emulator_control, shot
):
    await faults.set_control_settings(tax_rates={"DE": 19, "GB": 20})
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"], price=5.0, fee=0.5, redirect_url=None)

    await page.goto(config["purchase_url"])
    note = "Whop adds tax for buyers in United Kingdom (20%), Germany (19%)."
    await expect(page.get_by_text(note)).to_be_visible()
    country = page.get_by_label("Country")
    await expect(country).to_have_value("US")
    await expect(country).to_have_accessible_description(note)
    await page.get_by_label("Email for the receipt").fill("kaeufer@example.de")
    await country.select_option(label="Germany")
    await page.get_by_label("Card number").fill("4242 4242 4242 4242")
    await page.get_by_label("Expiry (MM/YY)").fill("12/39")
    await page.get_by_label("CVC").fill("123")
    await shot(page, "checkout-germany")
    await page.get_by_role("button", name="Pay $5.00").click()

    await expect(page.get_by_role("heading", name="Payment complete")).to_be_visible()
    receipt = f"You paid $5.95 to {company['title']}, $0.95 of it tax."
    await expect(page.get_by_text(receipt)).to_be_visible()
    listed = (await api.get("/payments", params={"company_id": company["id"]})).json()["data"]
    [payment] = listed
    assert (payment["total"], payment["subtotal"], payment["tax_amount"]) == (5.95, 5.0, 0.95)
