"""The public page /{handle}, as a visitor gets it: with JavaScript off, it all still works."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, Page, Route, expect

from app.db.tables import Link

pytestmark = pytest.mark.browser


async def test_the_public_page_works_with_javascript_off(
    no_js_context: BrowserContext, make_creator, live_server: str
):
    # A page set up in the database (the studio's own tests build one through the UI).
    creator = await make_creator(
        handle="sam.noscript",
        display_name="Sam No-Script",
        bio="Everything I make, one click away.",
        theme="midnight",
        accent_color="#e0475b",  # shows on midnight as it is (a dark one is lightened)
    )
    rows = [
        ("link", "My shop", "https://shop.example.com/sam", True),
        ("header", "Elsewhere", "", True),
        ("link", "Old blog", "https://blog.example.com/", False),
        ("link", "Write to me", "mailto:sam@example.com", True),
    ]
    await Link.insert(
        *(
            Link(creator=creator["id"], kind=kind, title=title, url=url, enabled=on, position=n)
            for n, (kind, title, url, on) in enumerate(rows)
        )
    )

    async def shop(route: Route) -> None:
        await route.fulfill(content_type="text/html", body="<title>Shop</title><h1>Sam's shop</h1>")

    await no_js_context.route("https://shop.example.com/**", shop)
    page: Page = await no_js_context.new_page()
    response = await page.goto("/sam.noscript")
    assert response is not None and response.status == 200

    await expect(page.get_by_role("heading", level=1)).to_have_text("Sam No-Script")
    await expect(page.get_by_text("Everything I make, one click away.")).to_be_visible()
    await expect(page.get_by_role("heading", level=2)).to_have_text("Elsewhere")
    links = page.locator(".page-links a")
    await expect(links).to_have_text(["My shop", "Write to me"])  # the disabled one is hidden
    await expect(page.get_by_text("Old blog")).to_have_count(0)
    for n, href in enumerate(["https://shop.example.com/sam", "mailto:sam@example.com"]):
        await expect(links.nth(n)).to_have_attribute("href", href)
        await expect(links.nth(n)).to_have_attribute("rel", "noopener nofollow ugc")
    # Scripts only enhance the page: deferred files of our own, and what needs them (the
    # Share button) is not shown.
    await expect(page.locator("script:not([src^='/static/js/'][defer])")).to_have_count(0)
    await expect(page.get_by_role("button", name="Share this page")).to_have_count(0)
    # The theme and the creator's accent arrive as stylesheets (no inline style under the CSP).
    await expect(page.locator("body")).to_have_class("public theme-midnight")
    await expect(page.locator(".page-monogram")).to_have_css("background-color", "rgb(224, 71, 91)")
    await expect(page.locator('meta[property="og:title"]')).to_have_attribute(
        "content", "Sam No-Script"
    )

    # A link is a real anchor: clicking it leaves for the creator's site, no script needed.
    await links.first.click()
    await expect(page).to_have_url("https://shop.example.com/sam")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sam's shop")


async def test_an_unclaimed_handle_shows_a_friendly_page_offering_it(page: Page, live_server: str):
    response = await page.goto("/nobody.here")
    assert response is not None and response.status == 404

    await expect(page.get_by_role("heading", level=1)).to_have_text("Nothing here yet")
    await expect(page.get_by_text("No one has claimed @nobody.here")).to_be_visible()
    await page.get_by_role("link", name="Claim a page on Linkmint").click()
    await expect(page.get_by_role("button", name="Approve")).to_be_visible()  # Whop's consent
