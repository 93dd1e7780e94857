"""The social icons row in a browser: added from the studio, shown on the public page, at
desktop and phone width, in the light and the dark scheme; each screen fits its width, is
clean under axe-core, and breaks no rule of the Content Security Policy (the context fixture
fails the test on any violation)."""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from app.db.tables import CreatorSocial
from tests.browser.conftest import Problems, _new_context
from tests.support.axe import assert_accessible
from tests.support.browser_flows import htmx_settled
from tests.support.screens import fits, signed_in

pytestmark = pytest.mark.browser

MASTODON = "Mastodon: @alice@mastodon.social"


async def add_social(page: Page, network: str, value: str) -> None:
    await page.select_option("#social-network", network)
    await page.fill("#social-value", value)
    await page.click("#add-social")
    await htmx_settled(page)


async def test_a_creator_adds_profiles_in_the_studio_and_visitors_see_the_row(
    screen: Page, live_server: str, make_creator
):
    page = screen
    alice = await make_creator(handle="alice", display_name="Alice", theme="paper")
    await signed_in(page, live_server, alice)
    await page.goto("/dashboard")

    await add_social(page, "instagram", "instagram.com/p/Cx12ab")
    await expect(page.locator("#social-value-error")).to_have_text(
        "That is not an Instagram profile: use your handle like @name "
        "or a link to instagram.com/name."
    )
    await expect(page.locator("#social-value")).to_have_value("instagram.com/p/Cx12ab")

    await add_social(page, "mastodon", "@alice@mastodon.social")
    await expect(page.locator("#socials .link-row")).to_have_text(
        [MASTODON + " https://mastodon.social/@alice"], use_inner_text=True
    )
    await add_social(page, "email", "alice@example.com")
    await expect(page.locator("#studio-status")).to_contain_text("Email saved")
    # The live preview refreshed itself with the row.
    await expect(page.locator(f'#preview a[aria-label="{MASTODON}"]')).to_be_attached()
    await fits(page, "studio")
    await assert_accessible(page, "studio with social icons")

    await page.goto("/alice")
    link = page.locator(f'.page-socials a[aria-label="{MASTODON}"]')
    await expect(link).to_be_visible()
    await expect(link).to_have_attribute("href", "https://mastodon.social/@alice")
    assert "me" in (await link.get_attribute("rel") or "").split()
    await expect(
        page.locator('.page-socials a[aria-label="Email: alice@example.com"]')
    ).to_be_visible()
    box = await link.bounding_box()
    assert box and box["width"] >= 44 and box["height"] >= 44
    # Drawn in the theme's ink, whichever the scheme.
    ink, fill = await page.evaluate(
        """() => [getComputedStyle(document.querySelector('.page-name')).color,
                  getComputedStyle(document.querySelector('.page-social svg')).fill]"""
    )
    assert fill == ink
    # Reached from the keyboard, with a visible focus ring.
    for _ in range(6):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.classList.contains('page-social')"):
            break
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    await fits(page, "public page")
    await assert_accessible(page, "public page with social icons")


async def test_dark_and_light_icons_differ_with_the_scheme(
    browser: Browser, live_server: str, problems: Problems, make_creator, request
):
    alice = await make_creator(handle="alice", theme="mint")
    await CreatorSocial.insert(
        CreatorSocial(creator=alice["id"], network="github", url="https://github.com/a", label="@a")
    )
    colours = {}
    for scheme in ("light", "dark"):
        async for context in _new_context(
            request, browser, live_server, problems, color_scheme=scheme
        ):
            page = await context.new_page()
            await page.goto("/alice")
            colours[scheme] = await page.evaluate(
                "getComputedStyle(document.querySelector('.page-social svg')).fill"
            )
    assert colours["light"] != colours["dark"]
