"""A buyer unlocks a premium link in Chromium, through the emulator's hosted checkout, and
watches the unlock complete on the creator's page without reloading it — whichever of the
return from checkout, the webhook or the reconciler gets there.

To make "watching" observable, each test holds back the path that would otherwise finish
first: the webhook is held by a `reorder` fault (released when the test clears the faults)
or dropped, and the return's questions to Whop fail with injected 500s.
"""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest
from playwright.async_api import Page, expect

from app.db.tables import Unlock
from app.emulator import faults, identity
from app.payments.reconcile import SweepOptions, reconcile
from tests.support.axe import assert_accessible
from tests.support.browser_flows import (  # noqa: F401 (the recipe fixture)
    SECRET,
    flips_to_the_link_after_the_return,
    recipe,
    unlock_and_pay,
)
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    emulator_control,
    live_settings,
    sleeps,
    whop,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("emulator_control")]


async def hold_the_webhook() -> None:
    """payment.succeeded waits for a second one that never comes, until clear_faults()."""
    await faults.add_fault("reorder", event_type="payment.succeeded", count=2)


async def whop_fails_the_return() -> None:
    """The return's lookup of its payment fails (all three of the client's tries; a few
    more in case another test's late webhook asks Whop meanwhile)."""
    await faults.add_fault("api", method="GET", path="/payments/*", status=500, times=6)


async def waiting_on_the_page(page: Page, recipe: dict) -> None:
    await expect(page).to_have_url(re.compile(rf"/cook(#premium-{recipe['id']})?$"))
    card = page.locator(f"#premium-{recipe['id']}")
    await expect(card).to_contain_text("Waiting for your payment to be confirmed")
    await page.evaluate("window.stillTheSamePage = true")


async def flips_to_the_link(page: Page, recipe: dict) -> None:
    link = page.locator(f"#premium-{recipe['id']}").get_by_role("link", name="Secret recipe")
    await expect(link).to_have_attribute("href", SECRET, timeout=10_000)
    await expect(page.locator(f"#premium-{recipe['id']}")).to_contain_text("Unlocked")
    assert await page.evaluate("window.stillTheSamePage === true"), "the page was reloaded"


async def completed_via(recipe: dict) -> str:
    [row] = await Unlock.select().where(Unlock.link == recipe["id"])
    assert row["status"] == "COMPLETED"
    return row["completed_via"]


async def test_the_buyer_watches_the_webhook_unlock_the_link(page: Page, recipe, shot):
    await hold_the_webhook()
    await whop_fails_the_return()
    await unlock_and_pay(page, recipe, shot)
    await waiting_on_the_page(page, recipe)
    await shot(page, "waiting")
    await faults.clear_faults()  # Whop answers again and lets the webhook go
    await flips_to_the_link(page, recipe)
    await shot(page, "unlocked")
    assert await completed_via(recipe) == "webhook"

    await page.reload()  # and the page remembers: the link is still theirs
    await expect(page.locator(f"#premium-{recipe['id']}").get_by_role("link")).to_have_attribute(
        "href", SECRET
    )


async def test_a_busy_whop_tells_the_buyer_when_to_press_again_and_that_press_goes_through(
    screen: Page, recipe, shot, problems
):
    # A wait longer than a request may block (2 s) is answered at once; short, since the
    # live server's Whop client keeps it for every test after this one.
    await faults.add_fault(
        "api", method="POST", path="/checkout_configurations", status=429, retry_after=3
    )
    page = screen
    await page.goto("/cook")
    card = page.locator(f"#premium-{recipe['id']}")
    await card.get_by_role("button", name="Unlock for $5.00").click()
    await expect(card).to_contain_text(
        "The payment provider is busy. Nothing was charged; please try again in 3 seconds."
    )
    button = card.get_by_role("button", name="Unlock for $5.00")
    await expect(button).to_be_visible()
    await expect(button).to_be_in_viewport()
    await shot(page, "busy")
    await assert_accessible(page, "a premium card whose checkout Whop was too busy to open")
    # Chromium logs the 503 that carried the message; it is the app speaking, not failing.
    assert len(problems.take(r"^console error: .*status of 503 .*/unlock\)$")) == 1

    await page.wait_for_timeout(3_000)  # as the message asks
    await button.click()
    await expect(page.get_by_role("button", name="Pay $5.00")).to_be_visible()  # Whop's page


async def test_with_the_redirect_dropped_the_buyer_comes_back_and_watches_it_unlock(
    page: Page, recipe
):
    await hold_the_webhook()
    await faults.add_fault("drop_redirect")
    await unlock_and_pay(page, recipe)
    await expect(page.get_by_role("heading", name="Payment complete")).to_be_visible()
    await page.goto("/cook")  # the buyer finds their way back by themselves
    await waiting_on_the_page(page, recipe)
    await faults.clear_faults()
    await flips_to_the_link(page, recipe)
    assert await completed_via(recipe) == "webhook"


async def test_with_the_webhook_dropped_the_reconciler_unlocks_it_while_the_buyer_watches(
    page: Page, recipe, whop
):
    await faults.add_fault("drop", event_type="payment.succeeded", attempts=4)
    await whop_fails_the_return()
    await unlock_and_pay(page, recipe)
    await waiting_on_the_page(page, recipe)
    # What the periodic task does, now.
    report = await reconcile(whop, SweepOptions(every=timedelta(0), calls=100))
    assert report.results["completed"] == 1
    await flips_to_the_link(page, recipe)
    assert await completed_via(recipe) == "reconcile"


async def test_a_buyer_from_germany_pays_tax_on_top_and_the_link_unlocks(
    page: Page, recipe, whop, shot
):
    await faults.set_control_settings(tax_rates={"DE": 19})
    await unlock_and_pay(page, recipe, country="DE")
    await flips_to_the_link_after_the_return(page, recipe)
    await shot(page, "unlocked-with-tax")
    [row] = await Unlock.select().where(Unlock.link == recipe["id"])
    payment = await whop.retrieve_payment(row["provider_payment_id"])
    assert (payment.total, payment.subtotal, payment.tax_amount) == (595, 500, 95)
    assert (row["status"], row["price_cents"]) == ("COMPLETED", 500)


async def test_without_javascript_a_buyer_can_still_unlock_and_open_the_link(no_js_context, recipe):
    page = await no_js_context.new_page()
    await page.goto("/cook")
    # htmx and the Share button's script (no plain links: no click reporter), neither of
    # which runs here.
    await expect(page.locator("script")).to_have_count(2)
    await page.get_by_role("link", name=re.compile("Secret recipe")).click()
    await expect(page).to_have_url(re.compile(rf"/u/{recipe['id']}$"))
    await page.get_by_role("button", name="Unlock for $5.00").click()

    await expect(page.get_by_role("button", name="Pay $5.00")).to_be_visible()
    await page.get_by_label("Email for the receipt").fill("nojs@example.com")
    await page.get_by_label("Card number").fill("4242 4242 4242 4242")
    await page.get_by_label("Expiry (MM/YY)").fill("12/39")
    await page.get_by_label("CVC").fill("123")
    await page.get_by_role("button", name="Pay $5.00").click()

    await expect(page).to_have_url(re.compile(r"/cook(#premium-\d+)?$"))
    await page.get_by_role("link", name=re.compile("Secret recipe")).click()
    await expect(page.get_by_role("link", name="Secret recipe")).to_have_attribute("href", SECRET)
    await expect(page.get_by_text("Unlocked. This link is yours.")).to_be_visible()


async def test_a_buyer_restores_their_purchase_on_a_new_device_by_signing_in_with_whop(
    page: Page, browser, live_server, problems, recipe
):
    tag = secrets.token_hex(4)
    account = await identity.create_user(
        f"Rae Restore {tag}", f"rae_{tag}", f"rae.{tag}@example.com"
    )
    await unlock_and_pay(page, recipe, email=account["email"])  # paid on the phone
    await flips_to_the_link_after_the_return(page, recipe)

    laptop = await browser.new_context(base_url=live_server)
    laptop.on("page", problems.watch)
    try:
        other = await laptop.new_page()
        await other.goto("/cook")
        card = other.locator(f"#premium-{recipe['id']}")
        await expect(card.get_by_role("button", name="Unlock for $5.00")).to_be_visible()
        await other.get_by_role("link", name=re.compile("Restore purchases")).click()
        await other.get_by_label(re.compile(account["name"])).check()  # Whop's consent page
        await other.get_by_role("button", name="Approve").click()
        await expect(other.get_by_role("heading", name="Restore your purchases")).to_be_visible()
        await expect(other.get_by_text("Secret recipe from @cook")).to_be_visible()
        await other.get_by_role("button", name="Restore to this browser").click()
        await expect(other).to_have_url(f"{live_server}/cook")
        await expect(card.get_by_role("link", name="Secret recipe")).to_have_attribute(
            "href", SECRET
        )
    finally:
        await laptop.close()
