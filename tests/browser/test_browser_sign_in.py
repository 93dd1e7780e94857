"""Sign in with Whop, as a person does it: through the landing page and Whop's consent page."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

pytestmark = pytest.mark.browser


async def test_a_new_whop_user_signs_in_and_is_asked_for_a_handle(
    page: Page, live_server: str, approve_on_whop, shot
):
    await page.goto("/")
    await page.get_by_role("link", name="Sign in with Whop").click()

    # Whop's (the emulator's) consent page, on its own URL, asking for the OpenID scopes.
    await expect(page).to_have_url(re.compile(re.escape(f"{live_server}/_whop/oauth/authorize?")))
    await shot(page, "authorize")
    await approve_on_whop(page)

    await expect(page).to_have_url(f"{live_server}/dashboard")
    await expect(page.get_by_role("heading", name="Claim your handle")).to_be_visible()
    await expect(page.get_by_role("textbox", name="Your handle")).to_be_focused()
    await shot(page, "claim")

    await page.get_by_role("button", name="Sign out", exact=True).click()
    await expect(page).to_have_url(f"{live_server}/")
    await expect(page.get_by_role("link", name="Sign in with Whop")).to_be_visible()
    # Signed out for real: the studio asks to sign in again (it sends you to Whop).
    await page.goto("/dashboard")
    await expect(page.get_by_role("button", name="Approve")).to_be_visible()


async def test_denying_on_whop_ends_on_a_clear_page_signed_out(page: Page, live_server: str):
    await page.goto("/auth/login?next=/dashboard")
    await page.get_by_role("button", name="Deny").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "You did not approve the sign-in"
    )
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    await page.get_by_role("link", name="Try again").click()
    await expect(page.get_by_role("button", name="Approve")).to_be_visible()
