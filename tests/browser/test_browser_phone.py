"""The studio, the payout page and a buyer's pages on a phone, and in the dark.

On a 390 × 844 and a 360 × 740 screen, every screen in every state fits the width (no
horizontal scroll): before a handle is claimed, empty, with links (one with a very long
title and URL), with earnings on, with sales, with the inline editor open; the payout page;
the restore and forget pages. The top bar keeps "Sign out" on screen, "Sign out everywhere"
sits in a menu, sales become stacked cards and the live preview opens from a button.

In the dark colour scheme every signed-in page has a dark background, and the studio meets
WCAG 2.1 AA (axe-core) in both schemes, on a desktop and on a phone.

Set LM_PHONE_SHOTS=1 to keep screenshots of every screen under var/browser-screenshots/phone/
for a person to look at.
"""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from app.db.tables import Creator
from app.shared.dates import format_date
from tests.browser.conftest import SCREENSHOTS, Problems, _new_context
from tests.support.axe import AXE_CONTEXT_OPTIONS, assert_accessible
from tests.support.browser_flows import htmx_settled
from tests.support.sales import record_sale
from tests.support.screens import WIDEST, signed_in
from tests.support.studio_support import add_links
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    api,
    connected_company,
    funded_company,
    live_settings,
)

pytestmark = pytest.mark.browser

PHONES = {"390x844": {"width": 390, "height": 844}, "360x740": {"width": 360, "height": 740}}
DESKTOP = {"width": 1280, "height": 800}
SHOTS = SCREENSHOTS / "phone"

LONG_TITLE = "Everything I learned about sourdough starters in my grandmother's kitchen, 1998–2026"
LONG_URL = (
    "https://www.example.com/a/very/long/path/that/never/ends/"
    + "segment-" * 12
    + "?utm_source=linkmint&utm_medium=bio&utm_campaign=a-rather-long-campaign-name"
)
UNBROKEN_TITLE = "Supercalifragilisticexpialidocious" * 2


async def phone_context(
    request: pytest.FixtureRequest,
    browser: Browser,
    live_server: str,
    problems: Problems,
    **options: Any,
) -> AsyncIterator[BrowserContext]:
    async for context in _new_context(request, browser, live_server, problems, **options):
        yield context


@pytest.fixture(params=list(PHONES))
async def phone(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, problems: Problems
) -> AsyncIterator[Page]:
    """A watched page on a phone-sized screen (a touch screen, like a phone's)."""
    async for context in phone_context(
        request, browser, live_server, problems, viewport=PHONES[request.param], has_touch=True
    ):
        yield await context.new_page()


@pytest.fixture
async def hosted_pages(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP for walking the emulator's hosted KYC and checkout pages in set-up."""
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as client:
        yield client


async def sale(creator: dict[str, Any], title: str, *, at: datetime, **fields: Any) -> None:
    await record_sale(creator, at=at, title=title, **fields)


async def fits(page: Page, name: str) -> None:
    """The page is no wider than the screen, and (when asked) a screenshot to look at."""
    await page.wait_for_load_state("load")
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1]:
        wide = await page.evaluate(WIDEST)
        pytest.fail(f"{name}: {widths[0]} px wide on a {widths[1]} px screen; too wide: {wide}")
    if os.environ.get("LM_PHONE_SHOTS") == "1":
        await page.evaluate("window.scrollTo(0, 0)")
        size = page.viewport_size or {"width": 0}
        scheme = await page.evaluate(
            "matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'"
        )
        path = SHOTS / f"phone-{size['width']}-{scheme}-{name}.png"
        await page.screenshot(path=path, full_page=True)
        for part in ("#links", "#earnings"):
            if await page.locator(part).count():
                where = SHOTS / f"phone-{size['width']}-{scheme}-{name}-{part[1:]}.png"
                await page.locator(part).screenshot(path=where)


async def sign_out_is_on_screen(page: Page) -> None:
    sign_out = page.locator("#sign-out")
    await expect(sign_out).to_be_visible()
    box = await sign_out.bounding_box()
    width = await page.evaluate("window.innerWidth")
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"Sign out at {box} on {width} px"


async def test_every_studio_state_fits_a_phone(
    phone: Page, live_server: str, make_creator, request: pytest.FixtureRequest
):
    page = phone
    creator = await make_creator(handle=None, display_name="Bea")
    await signed_in(page, live_server, creator)

    await page.goto("/dashboard")
    await expect(page.get_by_role("heading", name="Claim your handle")).to_be_visible()
    await fits(page, "claim")
    await sign_out_is_on_screen(page)

    # The handle is claimed (directly: claiming has its own tests).
    await Creator.update({Creator.handle: "bea.bakes"}).where(Creator.id == creator["id"])
    await page.goto("/dashboard")
    await expect(page.locator("#links-empty")).to_be_visible()
    await fits(page, "empty")
    await sign_out_is_on_screen(page)

    await add_links(
        {**creator, "handle": "bea.bakes"},
        {"kind": "header", "title": "Bakes"},
        {"title": LONG_TITLE, "url": LONG_URL},
        {"title": UNBROKEN_TITLE, "url": "https://example.com/" + "x" * 300},
        {"title": "My shop", "url": "https://shop.example.com"},
    )
    await page.goto("/dashboard")
    await expect(page.locator("#link-list > li")).to_have_count(4)
    await fits(page, "links")

    # The inline editor of the long link.
    await page.get_by_role("link", name=f"Edit “{LONG_TITLE}”").click()
    await expect(page.get_by_label("Title", exact=True).nth(1)).to_have_value(LONG_TITLE)
    await htmx_settled(page)
    await fits(page, "editing")

    await Creator.update(
        {Creator.whop_company_id: "biz_PhoneFirst", Creator.payout_enabled: True}
    ).where(Creator.id == creator["id"])
    await page.goto("/dashboard")
    await expect(page.locator("#payouts-state")).to_contain_text("Earnings are on")
    await fits(page, "earnings-on")
    await sign_out_is_on_screen(page)

    now = datetime.now(UTC).replace(microsecond=0)
    await sale(creator, LONG_TITLE, at=now - timedelta(days=1), price=129_999)
    await sale(creator, UNBROKEN_TITLE, at=now - timedelta(days=2), status="REFUNDED")
    await sale(creator, "My shop", at=now - timedelta(days=3), refunded=100)
    await page.goto("/dashboard")
    sales = page.locator("#earnings-list .sale")
    await expect(sales).to_have_count(3)
    await fits(page, "sales")
    await sign_out_is_on_screen(page)
    # Each sale is a card: its net is on screen, with its label.
    width = await page.evaluate("window.innerWidth")
    for n in range(3):
        net = sales.nth(n).locator(".sale-net")
        await net.scroll_into_view_if_needed()
        box = await net.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width, f"sale {n}'s net at {box}"
    # Dates read "2 Dec 2026", with the ISO moment for machines.
    day = sales.nth(0).locator(".sale-date time")
    await expect(day).to_have_text(format_date(now - timedelta(days=1)))
    await expect(day).to_have_attribute("datetime", (now - timedelta(days=1)).isoformat())
    first_net = sales.nth(0).locator(".sale-net")
    assert await first_net.evaluate("n => getComputedStyle(n, '::before').content") == '"Net"'


async def test_the_top_bar_keeps_sign_out_on_screen_and_the_menu_holds_the_rest(
    phone: Page, live_server: str, make_creator
):
    page = phone
    creator = await make_creator(handle="bea.menu", whop_company_id="biz_Menu", payout_enabled=True)
    await signed_in(page, live_server, creator)
    await page.goto("/dashboard")
    await sign_out_is_on_screen(page)

    everywhere = page.get_by_role("button", name="Sign out everywhere")
    await expect(everywhere).to_be_hidden()
    await page.locator(".account-menu > summary").click()
    await expect(everywhere).to_be_visible()
    await expect(page.locator(".account-menu").get_by_role("link", name="Payouts")).to_be_visible()
    await fits(page, "menu-open")
    box = await page.locator(".account-menu-panel").bounding_box()
    width = await page.evaluate("window.innerWidth")
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box

    await everywhere.click()
    await expect(page.get_by_role("heading", name="You are signed out everywhere")).to_be_visible()
    await fits(page, "signed-out")


async def test_the_preview_opens_from_a_button_on_a_phone(
    phone: Page, live_server: str, make_creator
):
    page = phone
    creator = await make_creator(handle="bea.look", display_name="Bea Looks")
    await add_links(creator, {"title": "My shop", "url": "https://shop.example.com"})
    await signed_in(page, live_server, creator)
    await page.goto("/dashboard")

    preview = page.locator("#preview")
    await expect(preview).to_be_hidden()  # not a 600 px frame under the editor
    await page.get_by_role("link", name="Preview", exact=True).click()
    await expect(preview).to_be_visible()
    await expect(preview).to_contain_text("Bea Looks")
    await expect(preview.get_by_role("link", name="My shop")).to_be_in_viewport()
    await fits(page, "preview-open")
    await page.get_by_role("link", name="Close preview").click()
    await expect(preview).to_be_hidden()


async def test_the_preview_and_the_menu_open_without_javascript_on_a_phone(
    request: pytest.FixtureRequest,
    browser: Browser,
    live_server: str,
    problems: Problems,
    make_creator,
):
    creator = await make_creator(handle="bea.plain", display_name="Bea Plain")
    async for context in phone_context(
        request,
        browser,
        live_server,
        problems,
        viewport=PHONES["360x740"],
        java_script_enabled=False,
    ):
        page = await context.new_page()
        await signed_in(page, live_server, creator)
        await page.goto("/dashboard")
        await page.locator(".account-menu > summary").click()
        await expect(page.get_by_role("button", name="Sign out everywhere")).to_be_visible()
        await page.get_by_role("link", name="Preview", exact=True).click()
        await expect(page.locator("#preview")).to_contain_text("Bea Plain")
        await expect(page.locator("#preview")).to_be_in_viewport()
        await page.get_by_role("link", name="Close preview").click()
        await expect(page.locator("#preview")).to_be_hidden()


async def test_the_preview_is_beside_the_editor_on_a_desktop(
    page: Page, live_server: str, make_creator
):
    await page.set_viewport_size(DESKTOP)
    creator = await make_creator(handle="bea.wide", display_name="Bea Wide")
    await signed_in(page, live_server, creator)
    await page.goto("/dashboard")
    await expect(page.locator("#preview")).to_be_visible()
    await expect(page.get_by_role("link", name="Preview", exact=True)).to_be_hidden()
    await expect(page.get_by_role("button", name="Sign out everywhere")).to_be_visible()
    await expect(page.locator(".account-menu")).to_be_hidden()


async def test_the_payout_page_fits_a_phone(
    phone: Page, live_server: str, make_creator, api, hosted_pages, live_settings
):
    page = phone
    company = await funded_company(api, hosted_pages, live_settings)
    creator = await make_creator(handle="bea.paid", whop_company_id=company["id"])
    await signed_in(page, live_server, creator)
    await page.goto("/dashboard/payouts")
    await expect(page.locator('[data-whop-element="withdrawals-element"]')).to_be_visible()
    await expect(page.locator(".payouts-loading")).to_have_count(0)
    await fits(page, "payouts")
    await sign_out_is_on_screen(page)


async def test_the_restore_and_forget_pages_fit_a_phone(
    phone: Page, live_server: str, make_creator
):
    page = phone
    cook = await make_creator(handle="cook", display_name="The Cook")
    buyer = await make_creator(handle=None)
    await sale(cook, LONG_TITLE, at=datetime.now(UTC), buyer=buyer["whop_user_id"])
    await sale(cook, UNBROKEN_TITLE, at=datetime.now(UTC), buyer=buyer["whop_user_id"])
    await signed_in(page, live_server, buyer)

    await page.goto("/unlocks/restore?next=/cook")
    await expect(page.get_by_role("heading", name="Restore your purchases")).to_be_visible()
    await expect(page.locator(".restore-list li")).to_have_count(2)
    await fits(page, "restore")
    await page.goto("/unlocks/forget?next=/cook")
    await expect(page.get_by_role("heading", name="Forget this browser")).to_be_visible()
    await fits(page, "forget")


# --- dark ----------------------------------------------------------------------------------


def is_dark(rgb: str) -> bool:
    """`rgb(r, g, b)` darker than mid-grey (relative luminance below 0.2)."""
    r, g, b = (int(x) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])

    def linear(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b) < 0.2


async def background(page: Page, selector: str = "body") -> str:
    return await page.locator(selector).first.evaluate("n => getComputedStyle(n).backgroundColor")


@pytest.fixture(params=["light", "dark"])
async def schemed(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, problems: Problems
) -> AsyncIterator[Page]:
    async for context in phone_context(
        request,
        browser,
        live_server,
        problems,
        viewport=PHONES["390x844"],
        color_scheme=request.param,
    ):
        yield await context.new_page()


async def test_every_signed_in_page_follows_the_colour_scheme(
    schemed: Page, live_server: str, make_creator, api, hosted_pages, live_settings
):
    page = schemed
    dark = await page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    company = await funded_company(api, hosted_pages, live_settings)
    creator = await make_creator(
        handle="bea.night", whop_company_id=company["id"], payout_enabled=True
    )
    await add_links(creator, {"title": LONG_TITLE, "url": LONG_URL})
    await sale(creator, LONG_TITLE, at=datetime.now(UTC) - timedelta(hours=2))
    await signed_in(page, live_server, creator)

    # Whop's payout elements are drawn for a light page: their cards stay light (a
    # .light-surface); the page around them follows the scheme.
    everything = ("body", ".topbar", "main .card")
    screens = {
        "studio": ("/dashboard", everything),
        "payouts": ("/dashboard/payouts", ("body", ".topbar")),
        "restore": ("/unlocks/restore?next=/bea.night", everything),
        "forget": ("/unlocks/forget?next=/bea.night", everything),
        "not-found": ("/dashboard/links/999999/edit", everything),
        "sign-in-declined": ("/auth/callback?error=access_denied", everything),
        "signed-out-everywhere": ("/auth/signed-out-everywhere", everything),
    }
    for name, (path, selectors) in screens.items():
        await page.goto(path)
        await page.wait_for_load_state("load")
        for selector in selectors:
            colour = await background(page, selector)
            assert is_dark(colour) == dark, f"{name} {selector}: {colour}, dark scheme: {dark}"
        await fits(page, f"scheme-{name}")


@pytest.fixture(
    params=[(v, s) for v in ("desktop", "phone") for s in ("light", "dark")], ids="-".join
)
async def audited(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, problems: Problems
) -> AsyncIterator[Page]:
    viewport, scheme = request.param
    async for context in phone_context(
        request,
        browser,
        live_server,
        problems,
        viewport=DESKTOP if viewport == "desktop" else PHONES["390x844"],
        color_scheme=scheme,
        **AXE_CONTEXT_OPTIONS,
    ):
        yield await context.new_page()


async def test_the_studio_meets_wcag_aa_in_both_schemes(
    audited: Page, live_server: str, make_creator
):
    page = audited
    creator = await make_creator(
        handle="bea.axe", display_name="Bea", whop_company_id="biz_Axe", payout_enabled=True
    )
    await add_links(
        creator,
        {"kind": "header", "title": "Bakes"},
        {"title": LONG_TITLE, "url": LONG_URL},
        {"title": "Hidden one", "url": "https://example.com/h", "enabled": False},
    )
    await sale(creator, LONG_TITLE, at=datetime.now(UTC) - timedelta(hours=2))
    await sale(creator, "My shop", at=datetime.now(UTC) - timedelta(days=1), status="REFUNDED")
    await signed_in(page, live_server, creator)
    await page.goto("/dashboard")
    await expect(page.locator("#earnings-list .sale")).to_have_count(2)
    await fits(page, "audited")
    await assert_accessible(page, "studio")
    menu = page.locator(".account-menu > summary")
    if await menu.is_visible():  # on the phone
        await menu.click()
        await assert_accessible(page, "studio, account menu open")
        await page.get_by_role("link", name="Preview", exact=True).click()
        await expect(page.locator("#preview")).to_be_visible()
        await assert_accessible(page, "studio, preview open")


async def test_the_top_bar_fits_every_width_between_phone_and_desktop(
    context: BrowserContext, live_server: str, make_creator
):
    """Tablets and narrow windows too: the full bar only where it fits, the compact one
    below."""
    creator = await make_creator(
        handle="bea.wide", whop_company_id="biz_Wide0001", payout_enabled=True
    )
    page = await context.new_page()
    await signed_in(page, live_server, creator)
    for width in (360, 641, 768, 900, 901, 1024, 1280):
        await page.set_viewport_size({"width": width, "height": 800})
        await page.goto("/dashboard")
        await fits(page, f"studio at {width} px")
        await sign_out_is_on_screen(page)
        menu = page.locator(".account-menu > summary")
        insights = page.locator("#insights-link")
        assert await menu.is_visible() != await insights.is_visible(), width
