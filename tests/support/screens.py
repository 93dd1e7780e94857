"""What the browser tests share about screens: the sizes and schemes every feature is seen
in, signing a creator in by cookie, and the check that a page fits its window."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from app.auth.sessions import cookie_name, start_session

SIZES = {"desktop": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}
SCHEMES = ("light", "dark")
EVERY_SCREEN = [(size, scheme) for size in SIZES for scheme in SCHEMES]

# The innermost elements that reach past the right edge of the window, for the message.
WIDEST = """
[...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
  .filter((e) => ![...e.children].some((c) => c.getBoundingClientRect().right > innerWidth + 0.5))
  .slice(0, 5)
  .map((e) => `${e.tagName}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`)
"""


async def signed_in(page: Page, live_server: str, creator: dict[str, Any]) -> None:
    """`page`'s browser signed in as `creator` (a session as /auth/callback makes one)."""
    token = await start_session(creator["id"])
    await page.context.add_cookies(
        [{"name": cookie_name(False), "value": token, "url": live_server, "httpOnly": True}]
    )


async def fits(page: Page, where: str = "the page") -> None:
    """No sideways scrolling: the page is no wider than its window."""
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1]:
        wide = await page.evaluate(WIDEST)
        raise AssertionError(
            f"{where}: {widths[0]} px wide in a {widths[1]} px window; too wide: {wide}"
        )
