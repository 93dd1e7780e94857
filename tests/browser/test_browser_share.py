"""Sharing as people do it: the Share button on a public page (the system share sheet, or
the address copied), the studio's share card with its QR code at desktop and phone width in
both colour schemes, and a link scheduled from a browser in another time zone."""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Problems, _new_context
from tests.support.browser_flows import htmx_settled, row
from tests.support.screens import fits, signed_in
from tests.support.studio_support import add_links, creator_row, link_rows

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}
CLIPBOARD = {"permissions": ["clipboard-read", "clipboard-write"]}
# Headless Chromium on Linux has no share sheet; these make each path certain either way.
WITHOUT_SHARE = "Object.defineProperty(Navigator.prototype, 'share', {value: undefined});"
RECORDING_SHARE = """
window.__shared = [];
Object.defineProperty(Navigator.prototype, "share", {
  value: function (data) { window.__shared.push(data); return Promise.resolve(); },
});
"""


async def watched(
    request: pytest.FixtureRequest,
    browser: Browser,
    live_server: str,
    problems: Problems,
    **options: Any,
) -> AsyncIterator[BrowserContext]:
    async for context in _new_context(request, browser, live_server, problems, **options):
        yield context


@pytest.fixture
async def alice(make_creator) -> dict[str, Any]:
    creator = await make_creator(handle="alice", display_name="Alice Example")
    await add_links(creator, {"title": "Shop", "url": "https://shop.example"})
    return creator


# --- the public page ------------------------------------------------------------------------


@pytest.fixture
async def clipboard_page(request, browser, live_server, problems) -> AsyncIterator[Page]:
    async for context in watched(request, browser, live_server, problems, **CLIPBOARD):
        yield await context.new_page()


async def test_without_a_share_sheet_the_button_copies_the_pages_address(
    clipboard_page: Page, alice, live_server: str
):
    page = clipboard_page
    await page.add_init_script(WITHOUT_SHARE)
    await page.goto("/alice")
    button = page.get_by_role("button", name="Share this page")
    await button.click()
    await expect(page.get_by_role("status")).to_have_text("Link copied")
    assert await page.evaluate("navigator.clipboard.readText()") == f"{live_server}/alice"


async def test_with_a_share_sheet_the_button_hands_it_the_address(
    clipboard_page: Page, alice, live_server: str
):
    page = clipboard_page
    await page.add_init_script(RECORDING_SHARE)
    await page.goto("/alice")
    await page.get_by_role("button", name="Share this page").click()
    await page.wait_for_function("window.__shared.length === 1")
    shared = await page.evaluate("window.__shared[0]")
    assert shared == {"title": "Alice Example", "url": f"{live_server}/alice"}
    await expect(page.locator("#share-status")).to_have_text("")  # nothing copied


async def test_without_javascript_there_is_no_share_button(no_js_context: BrowserContext, alice):
    page = await no_js_context.new_page()
    await page.goto("/alice")
    await expect(page.get_by_role("link", name="Shop")).to_be_visible()
    await expect(page.get_by_role("button", name="Share this page")).to_have_count(0)
    await expect(page.locator("#share-page")).to_be_hidden()


# --- the studio's share card ------------------------------------------------------------------


@pytest.fixture(params=[(v, s) for v in SIZES for s in ("light", "dark")], ids="-".join)
async def studio(request, browser, live_server, problems) -> AsyncIterator[Page]:
    size, scheme = request.param
    options = {"viewport": SIZES[size], "color_scheme": scheme, "timezone_id": "UTC", **CLIPBOARD}
    async for context in watched(request, browser, live_server, problems, **options):
        yield await context.new_page()


async def test_the_share_card_shows_the_code_copies_the_link_and_downloads_it(
    studio: Page, alice, live_server: str, shot
):
    page = studio
    await signed_in(page, live_server, alice)
    await page.goto("/dashboard")
    await page.wait_for_load_state("load")
    card = page.locator("#share")
    await card.scroll_into_view_if_needed()
    await expect(card.get_by_role("heading", name="Share your page")).to_be_visible()
    address = f"{live_server}/alice"
    await expect(card.get_by_label("Your page's address")).to_have_value(address)

    code = card.get_by_role("img", name=f"QR code that opens {address}")
    await expect(code).to_be_visible()
    # Dark on light with a light quiet zone, in either scheme: the corner pixel is white and
    # the first finder pattern's corner, four modules in, is black.
    pixels = await code.evaluate(
        """(img) => {
          const canvas = document.createElement("canvas");
          canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
          const ctx = canvas.getContext("2d");
          ctx.drawImage(img, 0, 0);
          const module = 10;  // pixels per module in the served SVG
          const at = (x, y) => Array.from(ctx.getImageData(x, y, 1, 1).data);
          return [at(2, 2), at(4 * module + 5, 4 * module + 5)];
        }"""
    )
    assert pixels == [[255, 255, 255, 255], [0, 0, 0, 255]]
    box = await code.bounding_box()
    assert box and box["width"] >= 150  # big enough to scan from a screen

    await card.get_by_role("button", name="Copy link").click()
    await expect(card.get_by_role("status")).to_have_text("Link copied.")
    assert await page.evaluate("navigator.clipboard.readText()") == address

    async with page.expect_download() as svg:
        await card.get_by_role("link", name="Download SVG").click()
    assert (await svg.value).suggested_filename == "linkmint-alice.svg"
    async with page.expect_download() as png:
        await card.get_by_role("link", name="Download PNG").click()
    assert (await png.value).suggested_filename == "linkmint-alice.png"
    await fits(page, "studio with the share card")
    await shot(page, "share-card")


# --- scheduling from another time zone -------------------------------------------------------


@pytest.fixture
async def in_tokyo(request, browser, live_server, problems) -> AsyncIterator[Page]:
    options = {"timezone_id": "Asia/Tokyo", "viewport": SIZES["390"]}
    async for context in watched(request, browser, live_server, problems, **options):
        yield await context.new_page()


async def test_a_schedule_set_in_tokyo_shows_tokyo_time_and_is_stored_in_utc(
    in_tokyo: Page, make_creator, live_server: str
):
    page = in_tokyo
    bob = await make_creator(handle="bob")
    await signed_in(page, live_server, bob)
    await page.goto("/dashboard")
    # The studio takes the browser's zone by itself while the creator is still on UTC.
    await expect(page.locator("#studio-status")).to_have_text(
        "Link times are now shown in Asia/Tokyo time."
    )
    await expect(page.get_by_label("Your time zone")).to_have_value("Asia/Tokyo")
    assert (await creator_row(bob))["time_zone"] == "Asia/Tokyo"
    await htmx_settled(page)

    add = page.locator("#add-link-form")
    await add.get_by_label("Title").fill("Launch day")
    await add.get_by_label("URL").fill("https://launch.example")
    await add.locator("summary", has_text="Schedule").click()
    await add.get_by_label("Show from").fill("2031-12-04T09:00")
    await add.get_by_role("button", name="Add link").click()
    launch = row(page, "Launch day")
    await expect(launch.locator(".link-schedule")).to_have_text(
        "Scheduled: starts 4 Dec 2031, 09:00"
    )
    [stored] = await link_rows(bob)
    assert stored["starts_at"] == datetime(2031, 12, 4, 0, 0, tzinfo=UTC)

    await htmx_settled(page)
    await launch.get_by_role("link", name="Edit “Launch day”").click()
    editor = page.locator("#link-list form.link-edit")
    await expect(editor.get_by_label("Show from")).to_have_value("2031-12-04T09:00")
    await editor.get_by_label("Hide after").fill("2031-12-04T08:00")
    await editor.get_by_role("button", name="Save").click()
    await expect(editor.locator(".field-error")).to_have_text("The end must be after the start.")
    await fits(page, "studio with a refused schedule")
    await editor.get_by_label("Hide after").fill("2031-12-06T21:15")
    await editor.get_by_role("button", name="Save").click()
    await expect(row(page, "Launch day").locator(".link-schedule")).to_have_text(
        "Scheduled: starts 4 Dec 2031, 09:00, until 6 Dec 2031, 21:15"
    )
    [stored] = await link_rows(bob)
    assert stored["ends_at"] == datetime(2031, 12, 6, 12, 15, tzinfo=UTC)
