"""What a person does in the browser tests, step by step: in the studio (claim a handle, find
a row, wait for htmx) and as a buyer (unlock the cook's secret recipe and pay for it)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.unlock_support import add_premium


def row(page: Page, title: str) -> Locator:
    exactly = re.compile(f"^{re.escape(title)}$")
    return page.locator("#link-list > li").filter(
        has=page.locator(".link-title-text", has_text=exactly)
    )


async def htmx_settled(page: Page) -> None:
    """Wait until htmx has finished swapping and settling: new content is wired up (its
    forms answer through htmx) only then, some 20 ms after the swap."""
    busy = page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
    await expect(busy).to_have_count(0)


async def claim(page: Page, handle: str) -> None:
    field = page.get_by_role("textbox", name="Your handle")
    await field.fill(handle)
    await expect(page.locator("#handle-status")).to_have_text(f"“{handle}” is available.")
    await page.get_by_role("button", name="Claim my handle").click()
    await expect(page.get_by_role("heading", name="Your studio")).to_be_visible()
    await page.wait_for_load_state("load")  # htmx and SortableJS are wired up after this


SECRET = "https://secret.example/the-recipe"


@pytest.fixture
async def recipe(whop, make_creator) -> dict:
    company = await whop.create_connected_company(title="Cook", email="cook@example.com")
    cook = await make_creator(
        handle="cook", display_name="The Cook", whop_company_id=company.id, payout_enabled=True
    )
    return await add_premium(cook, title="Secret recipe", url=SECRET, price_cents=500)


async def unlock_and_pay(
    page: Page, recipe: dict, shot=None, email: str = "buyer@example.com", country: str = "US"
) -> None:
    await page.goto("/cook")
    card = page.locator(f"#premium-{recipe['id']}")
    await expect(card).to_contain_text("Secret recipe")
    await expect(card).to_contain_text("$5.00")
    assert SECRET not in await page.content()
    button = card.get_by_role("button", name="Unlock for $5.00")
    await expect(button).to_be_visible()
    if shot:
        await shot(page, "offer")
    await button.click()

    await expect(page.get_by_role("button", name="Pay $5.00")).to_be_visible()  # Whop's page
    await page.get_by_label("Email for the receipt").fill(email)
    await page.get_by_label("Country").select_option(country)
    await page.get_by_label("Card number").fill("4242 4242 4242 4242")
    await page.get_by_label("Expiry (MM/YY)").fill("12/39")
    await page.get_by_label("CVC").fill("123")
    await page.get_by_role("button", name="Pay $5.00").click()


async def flips_to_the_link_after_the_return(page: Page, recipe: dict) -> None:
    await expect(page).to_have_url(re.compile(rf"/cook(#premium-{recipe['id']})?$"))
    link = page.locator(f"#premium-{recipe['id']}").get_by_role("link", name="Secret recipe")
    await expect(link).to_have_attribute("href", SECRET)
