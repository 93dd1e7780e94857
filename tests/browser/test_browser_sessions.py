"""The account buttons a person reaches for on a shared computer: "Sign out everywhere" in
the studio, "Forget this browser" for a buyer. Both fit a 390 px phone without scrolling
sideways, and both do what they say."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, Page, expect

from app.auth.sessions import cookie_name, start_session
from app.db.tables import AuthSession
from app.payments.buyer import buyer_cookie_name, new_buyer, seal_buyer

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


async def assert_no_sideways_scroll(page: Page) -> None:
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


async def assert_within_the_viewport(page: Page, name: str) -> None:
    box = await page.get_by_role("button", name=name, exact=True).bounding_box()
    size = page.viewport_size
    assert box is not None and size is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], box


async def test_sign_out_everywhere_fits_a_phone_and_ends_every_session(
    context: BrowserContext, page: Page, live_server: str, make_creator, shot
):
    # A company id: the Payouts link shows too, the fullest the studio's top bar gets.
    creator = await make_creator(handle="everywhere", whop_company_id="biz_Everywhere001")
    phone_session = await start_session(creator["id"])  # another device, signed in
    token = await start_session(creator["id"])
    await context.add_cookies(
        [{"name": cookie_name(False), "value": token, "url": live_server, "httpOnly": True}]
    )
    for name, size in (("desktop", DESKTOP), ("390", PHONE)):
        await page.set_viewport_size(size)
        await page.goto("/dashboard")
        if name == "390":  # on a phone it waits in the account menu (⋯)
            await page.locator(".account-menu > summary").click()
        button = page.get_by_role("button", name="Sign out everywhere")
        await expect(button).to_be_visible()
        await expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
        await assert_no_sideways_scroll(page)
        await assert_within_the_viewport(page, "Sign out everywhere")
        await shot(page, f"studio-{name}")

    await page.get_by_role("button", name="Sign out everywhere").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("You are signed out everywhere")
    await assert_no_sideways_scroll(page)
    await shot(page, "signed-out-390")
    assert await AuthSession.count().where(AuthSession.creator == creator["id"]) == 0
    assert phone_session  # ended with the rest
    await page.goto("/dashboard")  # the studio asks to sign in again (it sends you to Whop)
    await expect(page.get_by_role("button", name="Approve")).to_be_visible()


async def test_a_buyer_makes_this_browser_forget_them_on_a_phone(
    context: BrowserContext, page: Page, live_server: str, settings, make_creator, shot
):
    await make_creator(handle="seller")
    buyer = new_buyer().bound_to("user_Forgetful0001")
    name = buyer_cookie_name(False)
    await context.add_cookies(
        [
            {
                "name": name,
                "value": seal_buyer(buyer, settings.secret_key),
                "url": live_server,
                "httpOnly": True,
            }
        ]
    )
    await page.set_viewport_size(DESKTOP)
    await page.goto("/unlocks/forget?next=/seller")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Forget this browser")
    await assert_no_sideways_scroll(page)
    await shot(page, "forget-desktop")

    await page.set_viewport_size(PHONE)
    await assert_no_sideways_scroll(page)
    await assert_within_the_viewport(page, "Forget this browser")
    await shot(page, "forget-390")
    await page.get_by_role("button", name="Forget this browser").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("This browser is forgotten")
    await expect(page.get_by_role("status")).to_contain_text("no longer holds any purchases")
    await assert_no_sideways_scroll(page)
    await shot(page, "forgotten-390")
    assert name not in {c["name"] for c in await context.cookies()}
    await page.get_by_role("link", name="Done").click()
    await expect(page).to_have_url(f"{live_server}/seller")


async def test_the_restore_page_offers_forget_this_browser_on_a_phone(
    context: BrowserContext, page: Page, live_server: str, make_creator, shot
):
    await make_creator(handle="seller")
    viewer = await make_creator(handle=None)
    token = await start_session(viewer["id"])
    await context.add_cookies(
        [{"name": cookie_name(False), "value": token, "url": live_server, "httpOnly": True}]
    )
    await page.set_viewport_size(PHONE)
    await page.goto("/unlocks/restore?next=/seller")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Restore your purchases")
    await assert_no_sideways_scroll(page)
    await assert_within_the_viewport(page, "Forget this browser")
    await shot(page, "restore-390")
    await page.get_by_role("button", name="Forget this browser").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("This browser is forgotten")
