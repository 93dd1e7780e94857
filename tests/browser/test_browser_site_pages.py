"""The pages that need no account: landing, error pages, static files, under the strict CSP."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

pytestmark = pytest.mark.browser


async def test_the_landing_page_is_styled_and_offers_sign_in_with_whop(page: Page):
    response = await page.goto("/")
    assert response is not None and response.status == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]

    await expect(page.get_by_role("heading", level=1)).to_contain_text("One link")
    sign_in = page.get_by_role("link", name="Sign in with Whop")
    await expect(sign_in).to_have_attribute("href", "/auth/login?next=/dashboard")
    # The stylesheet loaded under the CSP (app.css gives the page its background).
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(246, 248, 247)"


async def test_an_unknown_address_shows_a_friendly_styled_404_page(page: Page, live_server):
    response = await page.goto("/there/is/nothing/here")
    assert response is not None and response.status == 404
    assert "default-src 'self'" in response.headers["content-security-policy"]

    await expect(page.get_by_role("heading", level=1)).to_have_text("Nothing here")
    await expect(page.get_by_role("link", name="Back to Linkmint")).to_have_attribute("href", "/")
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(246, 248, 247)"

    await page.get_by_role("link", name="Back to Linkmint").click()
    await expect(page).to_have_url(f"{live_server}/")


async def test_static_files_are_served_with_the_security_headers(page: Page):
    for path, kind in [
        ("/static/css/app.css", "text/css"),
        ("/static/vendor/htmx-2.0.11.min.js", "javascript"),
        ("/static/vendor/sortable-1.15.7.min.js", "javascript"),
    ]:
        response = await page.goto(path)
        assert response is not None and response.status == 200, path
        assert kind in response.headers["content-type"], path
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        assert response.headers["x-content-type-options"] == "nosniff", path
