"""The selling currency in a browser: a creator picks JPY in the studio's Earnings card,
prices a premium link in whole yen, sees the fee preview and the public page in ¥, at
desktop and phone width, in the light and the dark scheme; each screen fits its width and
is clean under axe-core (the context fixture fails the test on any CSP violation)."""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from app.db.tables import CurrencyRule, PlatformConfig
from app.shared import currencies
from tests.support.axe import assert_accessible
from tests.support.browser_flows import htmx_settled
from tests.support.screens import fits, signed_in
from tests.support.unlock_support import add_premium

pytestmark = pytest.mark.browser


@pytest.fixture
async def jpy_allowed() -> AsyncIterator[None]:
    """The operator allows JPY for this test; the rules are restored afterwards."""
    config = await PlatformConfig.select().where(PlatformConfig.id == 1).first()
    rules = await CurrencyRule.select()
    await currencies.set_bounds("jpy", currencies.Bounds(), allow=True)
    yield
    await PlatformConfig.update({k: v for k, v in config.items() if k != "id"}).where(
        PlatformConfig.id == 1
    )
    await CurrencyRule.delete(force=True)
    await CurrencyRule.insert(*(CurrencyRule(**rule) for rule in rules))


async def test_a_creator_sells_in_yen_from_the_studio_to_the_public_page(
    screen: Page, live_server: str, make_creator, jpy_allowed: None
):
    page = screen
    kenji = await make_creator(
        handle="kenji", display_name="Kenji", whop_company_id="biz_Kenji", payout_enabled=True
    )
    await signed_in(page, live_server, kenji)
    await page.goto("/dashboard")
    await expect(page.locator("#new-price-hint")).to_contain_text("From $1.00 to $1,000.00")

    select = page.get_by_label("Selling currency")
    await expect(select).to_have_value("usd")
    await select.select_option("jpy")
    await page.click("#save-currency")
    await htmx_settled(page)
    await expect(page.locator("#studio-status")).to_contain_text("You now sell in JPY")
    await expect(select).to_have_value("jpy")
    # The link form came along: its price field is in yen now.
    await expect(page.get_by_label("Price (JPY)")).to_be_attached()
    await expect(page.locator("#new-price-hint")).to_contain_text("From ¥100 to ¥150,000.")
    await expect(page.locator("#new-price")).to_have_attribute("placeholder", "500")

    await page.locator("label:has(#kind-premium)").click()
    await expect(page.get_by_label("Price (JPY)")).to_be_visible()
    await page.fill("#new-title", "Tokyo guide")
    await page.fill("#new-url", "https://example.com/tokyo")
    await page.fill("#new-price", "1500")
    await expect(page.locator("#new-price-preview")).to_have_text(
        "You receive ¥1,350 after the ¥150 platform fee."
    )
    await page.click("#add-link")
    await htmx_settled(page)
    await expect(page.locator("#link-list")).to_contain_text("¥1,500")
    await fits(page, "studio")
    await assert_accessible(page, "studio selling in yen")

    await page.goto("/kenji")
    card = page.locator(".page-link", has_text="Tokyo guide")
    await expect(card).to_contain_text("¥1,500")
    await expect(page.get_by_role("button", name="Unlock for ¥1,500")).to_be_visible()
    await fits(page, "public page")
    await assert_accessible(page, "public page with a yen price")


async def test_a_switch_is_refused_beside_the_select_while_links_are_priced(
    screen: Page, live_server: str, make_creator, jpy_allowed: None
):
    page = screen
    kenji = await make_creator(
        handle="kenji", display_name="Kenji", whop_company_id="biz_Kenji", payout_enabled=True
    )
    await add_premium(kenji, title="Recipe", price_cents=500)
    await signed_in(page, live_server, kenji)
    await page.goto("/dashboard")
    await page.get_by_label("Selling currency").select_option("jpy")
    await page.click("#save-currency")
    await htmx_settled(page)
    error = page.locator("#currency-error")
    await expect(error).to_have_text(
        "You have a premium link priced in USD, and prices are never converted. Make it an "
        "ordinary link or delete it first, then switch to JPY and price again."
    )
    await expect(page.get_by_label("Selling currency")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#link-list")).to_contain_text("$5.00")
    await fits(page, "studio, switch refused")
    await assert_accessible(page, "studio with a refused currency switch")
