"""A buyer pays as a guest, with only an email, then on another device signs up with Whop
using that email and restores the purchase: at Whop an email is one account, so the new
"user" is the one the guest checkout made, and it owns the payment."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import re
import secrets

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import WhopTestUser, approve_as_new_whop_user
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


async def test_a_guest_buyer_signs_up_with_the_same_email_elsewhere_and_restores_the_link(
    page: Page, browser, live_server, problems, recipe
):
    tag = secrets.token_hex(4)
    await unlock_and_pay(page, recipe, email=f"Rae.Guest.{tag}@Example.com")  # no account
    await flips_to_the_link_after_the_return(page, recipe)

    laptop = await browser.new_context(base_url=live_server)  # nothing of the first browser
    laptop.on("page", problems.watch)
    try:
        other = await laptop.new_page()
        await other.goto("/cook")
        card = other.locator(f"#premium-{recipe['id']}")
        await expect(card.get_by_role("button", name="Unlock for $5.00")).to_be_visible()
        await other.get_by_role("link", name=re.compile("Restore purchases")).click()
        # On Whop's consent page the buyer "creates" an account with the email they paid with.
        person = WhopTestUser(f"Rae {tag}", f"rae_{tag}", f"rae.guest.{tag}@example.com")
        await approve_as_new_whop_user(other, person)
        await expect(other.get_by_role("heading", name="Restore your purchases")).to_be_visible()
        await expect(other.get_by_text("Secret recipe from @cook")).to_be_visible()
        await other.get_by_role("button", name="Restore to this browser").click()
        await expect(other).to_have_url(f"{live_server}/cook")
        await expect(card.get_by_role("link", name="Secret recipe")).to_have_attribute(
            "href", SECRET
        )
    finally:
        await laptop.close()
