"""A buyer comes back from Whop's checkout while our database is down: Chromium shows the
"Confirming your payment…" page, which carries on to the creator's page by itself once the
database answers again — with JavaScript and without."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, expect

from app.db.tables import Unlock
from app.emulator import faults
from tests.support.database_switch import (  # noqa: F401 (fixtures)
    database,
    db_switch,
    switched_server,
)
from tests.support.servers import Server
from tests.support.unlock_support import add_premium, connected_company
from tests.support.whop_testkit import emulator_control  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("emulator_control")]
SECRET = "https://secret.example/while-down"


@pytest.fixture
async def recipe(switched_server: Server, settings, make_creator) -> dict:
    async with httpx.AsyncClient(base_url=switched_server.url, timeout=10) as http:
        company = await connected_company(http, settings, "cook")
    cook = await make_creator(handle="cook", whop_company_id=company, payout_enabled=True)
    return await add_premium(cook, title="Secret recipe", url=SECRET, price_cents=500)


@pytest.fixture(params=[True, False], ids=["javascript", "no-javascript"])
def javascript(request: pytest.FixtureRequest) -> bool:
    return request.param


@pytest.fixture
async def page(
    javascript: bool, browser: Browser, switched_server: Server, problems
) -> AsyncIterator[Page]:
    """A fresh browser profile aimed at the switched server, watched like every other."""
    context = await browser.new_context(
        base_url=switched_server.url, java_script_enabled=javascript
    )
    context.set_default_timeout(5_000)
    context.on("page", problems.watch)
    try:
        yield await context.new_page()
    finally:
        await context.close()
    assert not problems.items, problems.items


async def unlock_and_pay(page: Page, recipe: dict, javascript: bool) -> None:
    await page.goto("/cook")
    card = page.locator(f"#premium-{recipe['id']}")
    if not javascript:  # the card is a link to the premium link's own page
        await card.get_by_role("link", name=re.compile("Secret recipe")).click()
    await page.get_by_role("button", name="Unlock for $5.00").click()
    await page.get_by_label("Email for the receipt").fill("down@example.com")
    await page.get_by_label("Card number").fill("4242 4242 4242 4242")
    await page.get_by_label("Expiry (MM/YY)").fill("12/39")
    await page.get_by_label("CVC").fill("123")
    await page.get_by_role("button", name="Pay $5.00").click()


async def test_the_confirming_page_carries_on_to_the_creators_page_once_the_database_answers(
    page: Page, javascript, database, recipe
):
    await faults.add_fault("drop", attempts=4, times=100)  # no webhook: the return must do it

    async def database_stops_after_the_payment(route: Route) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        paid = await route.fetch(max_redirects=0)  # Whop takes the payment...
        database.cut()  # ...and our database stops before the buyer is back
        await route.fulfill(response=paid)

    await page.route("**/_whop/checkout/*", database_stops_after_the_payment)
    await unlock_and_pay(page, recipe, javascript)
    await expect(page.get_by_role("heading", name="Confirming your payment…")).to_be_visible()
    assert "/checkout/confirm?unlock=" in page.url
    [row] = await Unlock.select(Unlock.status).where(Unlock.link == recipe["id"])
    assert row["status"] == "PENDING"

    database.restore()
    await expect(page).to_have_url(re.compile(rf"/cook#premium-{recipe['id']}$"), timeout=15_000)
    if not javascript:
        await page.locator(f"#premium-{recipe['id']}").get_by_role("link").click()
    await expect(page.get_by_role("link", name="Secret recipe")).to_have_attribute("href", SECRET)
    [row] = await Unlock.select(Unlock.completed_via).where(Unlock.link == recipe["id"])
    assert row["completed_via"] == "redirect"
