"""Earnings, as a creator gets them: Enable earnings, Whop's hosted KYC (the emulator's),
back to the studio, then a premium link priced, listed and previewed without its URL."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.support.browser_flows import claim, htmx_settled, row

pytestmark = pytest.mark.browser

SECRET_URL = "https://example.com/the-secret-recipe"


async def verify_on_whop(page: Page, action: str = "Submit verification") -> None:
    """On the emulator's hosted KYC page: fill it in like a person and press `action`."""
    await expect(page.get_by_role("heading", level=1)).to_contain_text("to get paid")
    await page.get_by_label("Legal name").fill("Bea Browser")
    await page.get_by_label("Country").select_option("GB")
    await page.get_by_label("Bank account number").fill("000123456789")
    await page.get_by_role("button", name=action).click()


async def test_a_creator_enables_earnings_and_prices_a_premium_link(
    page: Page, sign_in_with_whop, live_server: str, shot
):
    await sign_in_with_whop(page)
    await claim(page, "bea.sells")

    # Before payouts: the premium option is there, disabled, with the reason.
    premium = page.get_by_role("radio", name="Premium")
    await expect(premium).to_be_disabled()
    await expect(page.locator("#premium-locked")).to_contain_text("need earnings turned on")
    await expect(page.locator("#payouts-state")).to_contain_text("Get paid for premium links")

    # Enable earnings sends the creator to Whop's hosted KYC; leaving early changes nothing.
    await page.get_by_role("button", name="Enable earnings").click()
    await verify_on_whop(page, action="Leave for now")
    await expect(page).to_have_url(f"{live_server}/dashboard?payouts=unfinished#earnings")
    await expect(page.locator("#payouts-notice")).to_contain_text("not confirmed a payout method")
    await expect(premium).to_be_disabled()
    await shot(page, "unfinished")

    # Finish verification: a new hosted session, completed this time.
    await page.wait_for_load_state("load")
    await page.get_by_role("button", name="Finish verification").click()
    await verify_on_whop(page)
    await expect(page).to_have_url(f"{live_server}/dashboard?payouts=enabled#earnings")
    await expect(page.locator("#payouts-state")).to_contain_text("Earnings are on")
    await page.wait_for_load_state("load")
    await expect(premium).to_be_enabled()

    # A premium link: the fee preview follows the price as it is typed.
    await page.locator("label:has(#kind-premium)").click()
    await expect(premium).to_be_checked()
    await page.get_by_label("Title", exact=True).fill("The secret recipe")
    await page.get_by_label("URL", exact=True).fill(SECRET_URL)
    price = page.get_by_label("Price (USD)")
    await price.fill("4,99")
    await expect(page.locator("#new-price-preview")).to_have_text(
        "Use a point for the decimals, like 4.99."
    )
    await price.fill("4.99")
    await expect(page.locator("#new-price-preview")).to_have_text(
        "You receive $4.49 after the $0.50 platform fee."
    )
    await page.get_by_role("button", name="Add link").click()

    # In the list with its price; in the preview with its price and without its URL.
    paid = row(page, "The secret recipe")
    await expect(paid).to_be_visible()
    await expect(paid.locator(".link-price")).to_have_text(re.compile(r"\$4\.99"))
    await expect(page.locator("#studio-status")).to_contain_text(
        "Premium link “The secret recipe” added."
    )
    await htmx_settled(page)
    preview_item = page.locator("#preview .page-premium")
    await expect(preview_item).to_contain_text("The secret recipe")
    await expect(preview_item).to_contain_text("$4.99")
    assert SECRET_URL not in await page.locator("#preview").inner_html()
    await shot(page, "premium")

    # A reload shows the same: the price was saved.
    await page.reload()
    await expect(row(page, "The secret recipe").locator(".link-price")).to_contain_text("$4.99")


async def test_a_bad_price_is_refused_beside_the_field(page: Page, sign_in_with_whop):
    await sign_in_with_whop(page)
    await claim(page, "bea.prices")
    await page.get_by_role("button", name="Enable earnings").click()
    await verify_on_whop(page)
    await page.wait_for_load_state("load")

    await page.locator("label:has(#kind-premium)").click()
    await page.get_by_label("Title", exact=True).fill("Too cheap")
    await page.get_by_label("URL", exact=True).fill(SECRET_URL)
    await page.get_by_label("Price (USD)").fill("0.50")
    await page.get_by_role("button", name="Add link").click()
    await expect(page.locator("#new-price-error")).to_have_text("The lowest price is $1.00.")
    await expect(page.get_by_label("Price (USD)")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#link-list")).to_have_count(0)
