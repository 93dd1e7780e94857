"""The creator studio, as a creator uses it: claim a handle, build the page, watch it change."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from tests.support.browser_flows import claim, htmx_settled, row

pytestmark = pytest.mark.browser


def link_titles(page: Page) -> Locator:
    return page.locator("#link-list .link-title-text")


async def add_link(page: Page, title: str, url: str) -> None:
    await page.get_by_label("Title", exact=True).fill(title)
    await page.get_by_label("URL", exact=True).fill(url)
    await page.get_by_role("button", name="Add link").click()
    await expect(row(page, title)).to_be_visible()
    await expect(page.get_by_label("Title", exact=True)).to_have_value("")  # a fresh form


async def drag_row(page: Page, title: str, *, above: str) -> None:
    """A real mouse drag of the row's grip onto the upper part of another row, slow enough
    for SortableJS to see each row it passes over."""
    await page.locator("#link-list").scroll_into_view_if_needed()  # boxes are viewport-relative
    grip = row(page, title).locator(".drag-handle")
    start = await grip.bounding_box()
    target = await row(page, above).locator(".drag-handle").bounding_box()
    assert start is not None and target is not None
    x = start["x"] + start["width"] / 2
    y = start["y"] + start["height"] / 2
    end_y = target["y"] + target["height"] * 0.25
    await page.mouse.move(x, y)
    await page.mouse.down()
    for step in range(1, 16):
        await page.mouse.move(x, y + (end_y - y) * step / 15)
        await page.wait_for_timeout(20)
    await page.wait_for_timeout(200)  # let the last swap's animation finish
    await page.mouse.up()


async def test_the_handle_field_says_live_whether_a_handle_can_be_claimed(
    page: Page, sign_in_with_whop, make_creator
):
    await make_creator(handle="taken.one")
    await sign_in_with_whop(page)
    field = page.get_by_role("textbox", name="Your handle")
    status = page.locator("#handle-status")

    await field.press_sequentially("dashboard")
    await expect(status).to_contain_text("“dashboard” is reserved")
    await field.fill("")
    await field.press_sequentially("taken.one")
    await expect(status).to_contain_text("“taken.one” is taken")
    await field.press_sequentially("x")
    await expect(status).to_have_text("“taken.onex” is available.")

    # Claiming a refused handle keeps the form, with the reason beside the field.
    await field.fill("taken.one")
    await page.get_by_role("button", name="Claim my handle").click()
    await expect(status).to_contain_text("taken")
    await expect(field).to_have_attribute("aria-invalid", "true")

    await field.fill("bea.builds")
    await page.get_by_role("button", name="Claim my handle").click()
    await expect(page.get_by_role("heading", name="Your studio")).to_be_visible()
    await expect(page.get_by_role("link", name="View my page")).to_have_attribute(
        "href", "/bea.builds"
    )


async def test_the_studio_edits_the_public_page_live(
    page: Page, context: BrowserContext, sign_in_with_whop, live_server: str, shot
):
    await sign_in_with_whop(page)
    await claim(page, "bea.links")
    await page.evaluate("window.stillTheSamePage = true")  # gone if anything reloads the page
    preview_links = page.locator("#preview .page-link")

    # Add three links; the live preview follows each one.
    await add_link(page, "Shop", "https://shop.example.com/")
    await add_link(page, "Video", "https://video.example.com/latest")
    await add_link(page, "Newsletter", "mailto:bea@example.com")
    await expect(link_titles(page)).to_have_text(["Shop", "Video", "Newsletter"])
    await expect(preview_links).to_have_text(["Shop", "Video", "Newsletter"])

    # Edit inline: the row becomes a form, then a row again.
    await page.get_by_role("link", name="Edit “Shop”").click()
    editor = page.get_by_role("form", name="Edit “Shop”")
    await expect(editor).to_be_visible()
    await expect(editor.get_by_label("Title")).to_be_focused()
    await editor.get_by_label("Title").fill("My shop")
    await editor.get_by_label("URL").fill("https://shop.example.com/new")
    await editor.get_by_role("button", name="Save").click()
    await expect(page.locator("#link-list form.link-edit")).to_have_count(0)
    await expect(row(page, "My shop").locator(".link-url")).to_have_text(
        "https://shop.example.com/new"
    )
    await expect(preview_links.first).to_have_text("My shop")

    # Cancel leaves the row as it was.
    await page.get_by_role("link", name="Edit “Video”").click()
    await page.get_by_role("form", name="Edit “Video”").get_by_label("Title").fill("Nope")
    await page.get_by_role("link", name="Cancel").click()
    await expect(page.locator("#link-list form.link-edit")).to_have_count(0)
    await expect(link_titles(page)).to_have_text(["My shop", "Video", "Newsletter"])

    # Reorder by dragging Newsletter's grip above My shop: one request saves the new order.
    await drag_row(page, "Newsletter", above="My shop")
    await expect(page.locator("#studio-status")).to_have_text("New order saved.")
    await expect(link_titles(page)).to_have_text(["Newsletter", "My shop", "Video"])
    await expect(preview_links).to_have_text(["Newsletter", "My shop", "Video"])

    # The keyboard way: Move up / Move down buttons, pressed with Enter and Space.
    await htmx_settled(page)
    await page.get_by_role("button", name="Move “Video” up").focus()
    await page.keyboard.press("Enter")
    await expect(link_titles(page)).to_have_text(["Newsletter", "Video", "My shop"])
    # htmx gives focus back to the button (same id), so a keyboard user can keep going.
    await expect(page.get_by_role("button", name="Move “Video” up")).to_be_focused()
    await htmx_settled(page)
    await page.get_by_role("button", name="Move “Newsletter” down").focus()
    await page.keyboard.press("Space")
    await expect(link_titles(page)).to_have_text(["Video", "Newsletter", "My shop"])
    await htmx_settled(page)
    await expect(page.get_by_role("button", name="Move “Video” up")).to_be_disabled()
    await expect(page.get_by_role("button", name="Move “My shop” down")).to_be_disabled()

    # Hide one link: the switch turns off, the row says so, the preview drops it.
    switch = page.get_by_role("switch", name="Show “My shop” on my page")
    await expect(switch).to_have_attribute("aria-checked", "true")
    await switch.click()
    await expect(switch).to_have_attribute("aria-checked", "false")
    await expect(row(page, "My shop")).to_contain_text("Hidden")
    await expect(page.locator("#link-counts")).to_contain_text("2 of 3 showing")
    await expect(preview_links).to_have_text(["Video", "Newsletter"])

    assert await page.evaluate("window.stillTheSamePage === true"), "the studio reloaded"
    await shot(page, "studio")

    # Everything was saved: a reload shows the same list.
    await page.reload()
    await expect(link_titles(page)).to_have_text(["Video", "Newsletter", "My shop"])
    await expect(page.get_by_role("switch", name="Show “My shop” on my page")).to_have_attribute(
        "aria-checked", "false"
    )

    # The public page, opened from the studio: the hidden link is gone, the order matches.
    async with context.expect_page() as opened:
        await page.get_by_role("link", name="View my page").click()
    public = await opened.value
    await expect(public).to_have_url(f"{live_server}/bea.links")
    links = public.locator(".page-links a")
    await expect(links).to_have_text(["Video", "Newsletter"])
    await expect(links.nth(0)).to_have_attribute("href", "https://video.example.com/latest")
    await expect(links.nth(1)).to_have_attribute("href", "mailto:bea@example.com")
    await expect(public.get_by_text("My shop")).to_have_count(0)
    await shot(public, "public")
