"""Insights in the browser: a visitor's view and click counted once (by the link's ping
without JavaScript, by the beacon script with it), and the creator's Insights page at
desktop and phone sizes, in light and dark, read by axe."""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from app.auth.sessions import cookie_name, start_session
from app.db.tables import InsightDay, Link
from tests.browser.conftest import Problems, _new_context
from tests.support.axe import assert_accessible
from tests.support.screens import fits, signed_in

pytestmark = pytest.mark.browser

# A person's browser: Playwright's headless Chromium says "HeadlessChrome", which the
# insights rightly leave out as a bot.
PERSON = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SHOP = "https://shop.example/spring"


async def visitor_context(
    request, browser: Browser, live_server: str, problems: Problems, **options: Any
) -> AsyncIterator[BrowserContext]:
    async for context in _new_context(
        request, browser, live_server, problems, user_agent=PERSON, **options
    ):
        # The link's own address is elsewhere: answer it here, as that site would.
        async def elsewhere(route: Route) -> None:
            await route.fulfill(status=200, content_type="text/html", body="<title>Shop</title>")

        await context.route("https://shop.example/**", elsewhere)
        yield context


@pytest.fixture(params=["with-script", "without-script"])
async def visitor(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, problems: Problems
) -> AsyncIterator[Page]:
    scripts = request.param == "with-script"
    async for context in visitor_context(
        request, browser, live_server, problems, java_script_enabled=scripts
    ):
        yield await context.new_page()


async def counts(creator_id: int, *, settle: float = 0.0) -> dict[tuple[str, str], int]:
    if settle:
        await asyncio.sleep(settle)
    rows = await InsightDay.select(InsightDay.metric, InsightDay.dimension, InsightDay.hits).where(
        InsightDay.creator == creator_id
    )
    return {(row["metric"], row["dimension"]): row["hits"] for row in rows}


async def counted(creator_id: int, want: dict[tuple[str, str], int]) -> dict:
    """The creator's counts once the live server's flush has stored `want` (or 15 s)."""
    deadline = time.monotonic() + 15
    while True:
        found = await counts(creator_id)
        if all(found.get(key, 0) >= n for key, n in want.items()):
            return found
        if time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_view_and_a_click_are_counted_once(visitor: Page, make_creator):
    creator = await make_creator(handle="ines", display_name="Inés")
    rows = await Link.insert(Link(creator=creator["id"], title="Spring drop", url=SHOP)).returning(
        Link.id
    )
    link_id = rows[0]["id"]

    await visitor.goto("/ines", referer="https://www.instagram.com/ines/")
    link = visitor.get_by_role("link", name="Spring drop")
    assert await link.get_attribute("href") == SHOP
    await link.click()
    await expect(visitor).to_have_url(SHOP)

    view, click = ("view", ""), ("click", str(link_id))
    found = await counted(creator["id"], {view: 1, click: 1})
    # Once more after a flush period or two: a click reported twice would show now.
    found = await counts(creator["id"], settle=1.0)
    assert found[view] == 1 and found[click] == 1
    assert found[("referrer", "instagram.com")] == 1
    assert found[("browser", "Chrome")] == 1 and found[("device", "desktop")] == 1


async def test_the_creator_own_views_and_bots_are_not_counted(
    browser: Browser, live_server: str, problems: Problems, make_creator, request
):
    creator = await make_creator(handle="ines", display_name="Inés")
    token = await start_session(creator["id"])
    async for context in visitor_context(request, browser, live_server, problems):
        await context.add_cookies(
            [{"name": cookie_name(False), "value": token, "url": live_server, "httpOnly": True}]
        )
        page = await context.new_page()
        await page.goto("/ines")
        await expect(page.get_by_role("heading", name="Inés")).to_be_visible()
    async for context in _new_context(request, browser, live_server, problems):  # headless
        page = await context.new_page()
        await page.goto("/ines")
    assert await counts(creator["id"], settle=1.5) == {}


async def test_the_insights_page_reads_well_everywhere(
    screen: Page, live_server: str, make_creator, shot
):
    page = screen
    creator = await make_creator(handle="ines", display_name="Inés")
    me = creator["id"]
    links = []
    for n, title in enumerate(["Spring drop", "A rather long title for a link about sourdough"]):
        rows = await Link.insert(
            Link(creator=me, title=title, url=f"{SHOP}/{n}", position=n)
        ).returning(Link.id)
        links.append(rows[0]["id"])
    today = datetime.now(UTC).date()
    # 30 days of counts in one statement; `back` is how many days ago.
    await InsightDay.raw(
        "INSERT INTO insight_day (creator, day, metric, dimension, hits) "
        "SELECT {}, {}::date - back, metric, dimension, hits FROM generate_series(0, 29) AS back, "
        "LATERAL (VALUES ('view', '', 40 + back), ('click', {}, 10 + back % 7), "
        "('click', {}, 3), ('referrer', 'instagram.com', 30), ('referrer', 'direct', 10 + back), "
        "('device', 'phone', 35), ('device', 'desktop', 5 + back), ('browser', 'Safari', 30), "
        "('browser', 'Chrome', 10 + back)) AS counted(metric, dimension, hits)",
        me,
        today,
        str(links[0]),
        str(links[1]),
    )
    await signed_in(page, live_server, creator)
    await page.goto("/dashboard/insights")
    await expect(page.get_by_role("heading", name="Insights", level=1)).to_be_visible()
    views = sum(40 + back for back in range(30))
    await expect(page.locator("#total-views")).to_have_text(f"{views:,}")
    await expect(page.get_by_role("img", name="Views and clicks per day")).to_be_visible()
    await fits(page, "insights")
    await shot(page, "insights")
    await page.get_by_text("Figures per day").click()
    await expect(page.locator("#daily-table tbody tr")).to_have_count(30)
    await assert_accessible(page, "insights")

    await page.get_by_role("link", name="7 days").click()
    await expect(page.locator("#period-7")).to_have_attribute("aria-current", "page")
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download these figures (CSV)").click()
    saved = await (await download.value).path()
    text = saved.read_text(encoding="utf-8-sig")
    assert text.startswith("date,metric,dimension,value,currency")
    assert f"{today.isoformat()},views,,40," in text
