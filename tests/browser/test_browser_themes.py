"""Every theme in both colour schemes, in Chromium: the public page with links, a section
header and a premium link passes axe-core's WCAG 2.1 AA rules (colour contrast included),
with the accent's text checked on the Unlock button and on a link under keyboard focus; dark
mode really changes the light presets; the studio's preview follows the same scheme."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from app.auth.sessions import cookie_name, start_session
from app.shared.rules import THEMES, contrast_ratio, relative_luminance
from tests.browser.conftest import Problems, _new_context
from tests.support.axe import AXE_CONTEXT_OPTIONS, assert_accessible
from tests.support.studio_support import add_links

pytestmark = pytest.mark.browser

SCHEMES = ("light", "dark")
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
LIGHT_PRESETS = ("mint", "sunrise", "paper")  # these turn dark; midnight and ocean are dark
# One accent per theme, each a case: the default, a violet, a coral, paper's own near-black
# (lightened on dark pages) and an amber that needs dark text.
ACCENTS = {
    "mint": "#0f9d76",
    "midnight": "#6d4aff",
    "sunrise": "#e0475b",
    "paper": "#1f1b16",
    "ocean": "#ffb020",
}

COMPUTED = """() => {
  const css = (selector, property) => getComputedStyle(document.querySelector(selector))[property];
  return {
    page: css("body", "backgroundColor"),
    ink: css(".page-name", "color"),
    card: css(".page-link", "backgroundColor"),
    cardInk: css(".page-link", "color"),
    button: css(".unlock-button", "backgroundColor"),
    buttonInk: css(".unlock-button", "color"),
  };
}"""


async def assert_readable_on_every_stop(page: Page, label: str) -> None:
    """axe cannot measure text over a gradient (it reports it as "incomplete"), so the page
    is checked again over each of its background's colour stops, laid flat."""
    background = await page.evaluate(
        "() => getComputedStyle(document.body).getPropertyValue('--page-bg')"
    )
    stops = re.findall(r"#[0-9a-fA-F]{6}", background)
    assert stops, background
    for stop in stops:
        style = await page.add_style_tag(
            content=f"body.public {{ background: {stop} !important; }}"
        )
        await assert_accessible(page, f"{label}, over {stop}", rules=["color-contrast"])
        await style.evaluate("s => s.remove()")


def hex_of(rgb: str) -> str:
    """ "rgb(12, 16, 32)" as "#0c1020" (alpha, if any, is dropped)."""
    parts = rgb[rgb.index("(") + 1 : rgb.index(")")].replace(",", " ").split()
    return "#" + "".join(f"{round(float(p)):02x}" for p in parts[:3])


async def schemed_context(
    request: pytest.FixtureRequest,
    browser: Browser,
    live_server: str,
    problems: Problems,
    scheme: str,
    viewport: str = "phone",
) -> AsyncIterator[BrowserContext]:
    async for context in _new_context(
        request,
        browser,
        live_server,
        problems,
        color_scheme=scheme,
        reduced_motion="reduce",  # no colour transitions: axe measures the settled colours
        viewport=VIEWPORTS[viewport],
        **AXE_CONTEXT_OPTIONS,
    ):
        yield context


async def themed_creator(make_creator, theme: str) -> dict[str, Any]:
    """A selling creator with the theme's accent, links, a section header and a premium link."""
    creator = await make_creator(
        handle=f"robin.{theme}",
        display_name="Robin Maker",
        bio="Ceramics, slow travel and a newsletter about both.",
        theme=theme,
        accent_color=ACCENTS[theme],
        whop_company_id=f"biz_Theme{theme}",
        payout_enabled=True,
    )
    await add_links(
        creator,
        {"title": "Shop the new collection", "url": "https://shop.example.com/"},
        {"kind": "header", "title": "Watch"},
        {"title": "Studio vlog", "url": "https://video.example.com/robin"},
        {
            "kind": "premium",
            "title": "Glaze recipes",
            "url": "https://files.example.com/g",
            "price_cents": 900,
        },
    )
    return creator


async def open_page(page: Page, theme: str) -> None:
    response = await page.goto(f"/robin.{theme}")
    assert response is not None and response.status == 200
    await expect(page.locator("body")).to_have_class(f"public theme-{theme}")
    # The premium card swaps in its buyer's panel: the Unlock button is filled with the accent.
    await expect(page.get_by_role("button", name="Unlock for $9.00")).to_be_visible()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("theme", THEMES)
async def test_every_theme_passes_axe_in_both_schemes(
    request, browser, live_server, problems, make_creator, theme, viewport
):
    await themed_creator(make_creator, theme)
    async for context in schemed_context(
        request, browser, live_server, problems, SCHEMES[0], viewport
    ):
        page = await context.new_page()
        for scheme in SCHEMES:  # one page, seen in each scheme in turn
            await page.emulate_media(color_scheme=scheme)
            await check_theme(page, theme, scheme, viewport)


async def check_theme(page: Page, theme: str, scheme: str, viewport: str) -> None:
    """axe, the colours over every gradient stop, a focused link and the accent's contrast."""
    await open_page(page, theme)
    await assert_accessible(page, f"{theme}, {scheme}, {viewport}")
    await assert_readable_on_every_stop(page, f"{theme}, {scheme}")

    # A link under keyboard focus is filled with the accent: its text must read too.
    link = page.get_by_role("link", name="Shop the new collection")
    await page.keyboard.press("Tab")
    await expect(link).to_be_focused()
    await assert_accessible(page, f"{theme}, {scheme}, focused link", rules=["color-contrast"])
    colours = await page.evaluate(COMPUTED)
    await expect(link).to_have_css("background-color", colours["button"])  # the accent

    # The accent shows against the page (3:1, like any button's shape), and its text
    # reaches AA; the button is the creator's colour on light pages.
    page_bg, button = hex_of(colours["page"]), hex_of(colours["button"])
    assert contrast_ratio(button, page_bg) >= 3, colours
    assert contrast_ratio(button, hex_of(colours["buttonInk"])) >= 4.5, colours
    if relative_luminance(page_bg) > 0.5:
        assert button == ACCENTS[theme]


@pytest.mark.parametrize("theme", THEMES)
async def test_dark_mode_turns_the_light_presets_dark_and_keeps_the_dark_ones(
    request, browser, live_server, problems, make_creator, theme
):
    await themed_creator(make_creator, theme)
    seen = {}
    for scheme in SCHEMES:
        async for context in schemed_context(request, browser, live_server, problems, scheme):
            page = await context.new_page()
            await open_page(page, theme)
            seen[scheme] = await page.evaluate(COMPUTED)
    light, dark = seen["light"], seen["dark"]
    assert relative_luminance(hex_of(dark["page"])) < 0.1, dark  # a dark page…
    assert relative_luminance(hex_of(dark["ink"])) > 0.7, dark  # …with light text
    if theme in LIGHT_PRESETS:
        assert relative_luminance(hex_of(light["page"])) > 0.6, light
        for part in ("page", "ink", "card", "cardInk"):
            assert light[part] != dark[part], (part, light, dark)
    else:
        assert light == dark  # dark by design: nothing to switch


async def test_a_near_black_accent_is_lightened_on_dark_paper_and_kept_on_light_paper(
    request, browser, live_server, problems, make_creator
):
    await themed_creator(make_creator, "paper")
    fills = {}
    for scheme in SCHEMES:
        async for context in schemed_context(request, browser, live_server, problems, scheme):
            page = await context.new_page()
            await open_page(page, "paper")
            fills[scheme] = hex_of((await page.evaluate(COMPUTED))["button"])
    assert fills["light"] == "#1f1b16"
    assert fills["dark"] != "#1f1b16"
    assert contrast_ratio(fills["dark"], "#1d1a16") >= 3


SUNRISE_CARDS = {"light": "rgba(255, 255, 255, 0.78)", "dark": "rgba(255, 255, 255, 0.08)"}


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_the_studio_preview_follows_the_colour_scheme_like_the_page(
    request, browser, live_server, problems, make_creator, scheme
):
    creator = await themed_creator(make_creator, "sunrise")
    async for context in schemed_context(request, browser, live_server, problems, scheme):
        page = await context.new_page()
        await open_page(page, "sunrise")
        on_the_page = await page.evaluate(
            "() => getComputedStyle(document.querySelector('.page-link')).backgroundColor"
        )
        assert on_the_page == SUNRISE_CARDS[scheme]
        token = await start_session(creator["id"])
        await context.add_cookies(
            [{"name": cookie_name(False), "value": token, "url": live_server, "httpOnly": True}]
        )
        await page.goto("/dashboard")
        preview_link = page.locator("#preview .page-link").first
        await expect(preview_link).to_have_css("background-color", on_the_page)
        await expect(page.locator("#preview .preview-screen")).to_have_class(
            "preview-screen public theme-sunrise"
        )
