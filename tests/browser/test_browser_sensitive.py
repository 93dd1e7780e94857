"""18+ content as a visitor gets it: the interstitial and its Continue with JavaScript off,
an 18+ link's warning page, at desktop and phone width, in the light and the dark scheme,
each screen fitting its width and clean under axe-core."""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from app.auth.sessions import cookie_name, start_session
from tests.browser.conftest import Problems, _new_context
from tests.support.axe import AXE_CONTEXT_OPTIONS, assert_accessible
from tests.support.studio_support import add_links

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}
SECRET = "https://adults.example/gallery"
WARNING = "This page may contain content for adults."


@pytest.fixture(params=[(v, s) for v in SIZES for s in ("light", "dark")], ids="-".join)
def screen(request: pytest.FixtureRequest) -> dict:
    size, scheme = request.param
    return {"viewport": SIZES[size], "color_scheme": scheme}


@pytest.fixture
async def no_script(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, problems: Problems, screen
) -> AsyncIterator[BrowserContext]:
    """A visitor with JavaScript off, at this size and in this scheme."""
    async for context in _new_context(
        request, browser, live_server, problems, java_script_enabled=False, **screen
    ):
        yield context


@pytest.fixture
async def audited(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, problems: Problems, screen
) -> AsyncIterator[Page]:
    """The same screen with scripts on, for axe-core and the width check."""
    async for context in _new_context(
        request, browser, live_server, problems, **screen, **AXE_CONTEXT_OPTIONS
    ):
        yield await context.new_page()


@pytest.fixture
async def pages(make_creator) -> dict:
    """An 18+ page, and a page for everyone with one 18+ link."""
    alice = await make_creator(
        handle="alice.adult",
        display_name="Alice Example",
        bio="Spicy drawings, weekly.",
        theme="midnight",
        sensitive=True,
    )
    await add_links(alice, {"title": "Gallery", "url": SECRET})
    carol = await make_creator(handle="carol.photos", display_name="Carol", bio="Photos.")
    [_, after_dark] = await add_links(
        carol,
        {"title": "Portfolio", "url": "https://portfolio.example"},
        {"title": "After dark", "url": SECRET, "sensitive": True},
    )
    return {"link_id": after_dark["id"]}


async def fits(page: Page, where: str) -> None:
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{where}: {width[0]} px wide in a {width[1]} px window"


async def test_the_interstitial_and_continue_work_without_javascript(
    no_script: BrowserContext, pages, shot
):
    page = await no_script.new_page()
    await page.goto("/alice.adult")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sensitive content")
    await expect(page.get_by_text(WARNING)).to_be_visible()
    await expect(page.get_by_text("Spicy drawings")).to_have_count(0)
    await expect(page.get_by_role("link", name="Gallery")).to_have_count(0)
    await expect(page).to_have_title("Sensitive content · Linkmint")
    await shot(page, "interstitial")

    await page.get_by_role("link", name="Continue").click()
    await expect(page).to_have_url("/alice.adult?adult=1")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Alice Example")
    await expect(page.get_by_text("Spicy drawings, weekly.")).to_be_visible()
    await expect(page.get_by_role("link", name="Gallery")).to_have_attribute("href", SECRET)
    await shot(page, "content")

    # Back on the page itself: the warning again (nothing was remembered), and Go back leaves.
    await page.goto("/alice.adult")
    await page.get_by_role("link", name="Go back").click()
    await expect(page).to_have_url("/")


async def test_an_18_plus_link_leads_through_its_warning_without_javascript(
    no_script: BrowserContext, pages, shot
):
    async def gallery(route: Route) -> None:
        await route.fulfill(content_type="text/html", body="<title>G</title><h1>The gallery</h1>")

    await no_script.route(f"{SECRET}**", gallery)
    page = await no_script.new_page()
    await page.goto("/carol.photos")
    card = page.get_by_role("link", name="After dark 18+")
    await expect(card).to_have_attribute("href", f"/carol.photos/go/{pages['link_id']}")
    await card.click()
    await expect(page.get_by_text("This link may lead to content for adults.")).to_be_visible()
    await shot(page, "link-warning")
    await page.get_by_role("link", name="Continue to “After dark”").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("The gallery")


async def test_each_screen_fits_and_meets_wcag_aa(audited: Page, pages):
    page = audited
    screens = {
        "interstitial": "/alice.adult",
        "content": "/alice.adult?adult=1",
        "page with an 18+ link": "/carol.photos",
        "link warning": f"/carol.photos/go/{pages['link_id']}",
    }
    for name, path in screens.items():
        await page.goto(path)
        await fits(page, name)
        await assert_accessible(page, name)


@pytest.fixture
async def studio(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, problems: Problems, screen
) -> AsyncIterator[Page]:
    """The studio with scripts on (htmx), at this size and in this scheme."""
    async for context in _new_context(request, browser, live_server, problems, **screen):
        yield await context.new_page()


async def test_the_creator_marks_the_page_and_a_link_in_the_studio(
    studio: Page, live_server: str, make_creator, shot
):
    page = studio
    creator = await make_creator(handle="bea.marks", display_name="Bea", bio="Drawings.")
    token = await start_session(creator["id"])
    await page.context.add_cookies(
        [{"name": cookie_name(False), "value": token, "url": live_server, "httpOnly": True}]
    )
    await page.goto("/dashboard")
    box = page.get_by_label("My page is for adults (18+)")
    await box.check()
    await page.locator("#save-profile").click()
    await expect(page.get_by_text("Profile saved.")).to_have_count(1)
    await expect(page.get_by_label("My page is for adults (18+)")).to_be_checked()
    # The preview is the content (the creator owns it), marked 18+.
    await expect(page.locator("#preview-sensitive")).to_have_text(
        "18+ Visitors see a warning first."
    )
    await expect(page.locator("#preview").get_by_text("Drawings.")).to_have_count(1)

    await page.locator("#new-title").fill("After dark")
    await page.locator("#new-url").fill("https://adults.example/after")
    await page.locator("#new-sensitive").check()
    await page.locator("#add-link").click()
    await expect(page.locator(".link-row .badge-warn", has_text="18+")).to_be_visible()
    await fits(page, "studio")
    await shot(page, "studio")
