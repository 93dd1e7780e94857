"""A profile photo chosen through the studio's real file input, on a desktop and on a phone,
in the light and the dark: the preview in the form and the live preview update, the public
page shows it, a bad file is refused beside the field, and "Remove photo" brings back the
monogram. Without JavaScript the same form is a plain multipart POST."""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Problems, _new_context
from tests.support.browser_flows import htmx_settled
from tests.support.screens import fits, signed_in

pytestmark = pytest.mark.browser

SCREENS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SMALL = re.compile(r"/media/[0-9a-f]{32}-96\.webp$")


def photo() -> dict[str, Any]:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), "teal").save(out, "JPEG")
    return {"name": "holiday.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}


@pytest.fixture(
    params=[(s, c) for s in SCREENS for c in ("light", "dark")], ids=lambda p: "-".join(p)
)
async def screen(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, problems: Problems
) -> AsyncIterator[Page]:
    size, scheme = request.param
    async for context in _new_context(
        request, browser, live_server, problems, viewport=SCREENS[size], color_scheme=scheme
    ):
        yield await context.new_page()


async def loaded(image) -> int:
    """The image's intrinsic width once the browser has it (0: it failed to load)."""
    await expect(image).to_be_visible()
    return await image.evaluate("img => img.decode().then(() => img.naturalWidth, () => 0)")


async def test_a_photo_uploaded_in_the_studio_shows_in_the_form_and_on_the_page(
    screen: Page, live_server: str, make_creator, shot
):
    page = screen
    creator = await make_creator(handle="alice", display_name="Alice")
    await signed_in(page, live_server, creator)
    await page.goto("/dashboard")
    await page.wait_for_load_state("load")
    await expect(page.locator("#avatar-preview")).to_have_text("A")  # the monogram
    await fits(page)

    file_input = page.get_by_label("Photo", exact=True)
    await file_input.set_input_files(photo())
    await page.get_by_role("button", name="Upload photo").click()
    await expect(page.locator("#studio-status")).to_have_text("Photo saved.")
    await htmx_settled(page)
    preview = page.locator("img#avatar-preview")
    await expect(preview).to_have_attribute("src", SMALL)
    assert await loaded(preview) == 96
    await expect(page.get_by_label("Or a photo's URL")).to_have_value("")
    await expect(page.get_by_role("button", name="Remove photo")).to_be_visible()
    # The live preview (the public page as it now is) refreshed too.
    await expect(page.locator(".preview-screen img.page-avatar")).to_have_attribute("src", SMALL)
    await fits(page)

    # A file that is no image: refused beside the field, the photo stays.
    await page.get_by_label("Photo", exact=True).set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": b"<svg></svg>"}
    )
    await page.get_by_role("button", name="Upload photo").click()
    await expect(page.locator("#avatar_file-error")).to_contain_text("not a JPEG, PNG, WebP")
    await expect(page.locator("img#avatar-preview")).to_have_attribute("src", SMALL)
    await fits(page)
    await shot(page, "studio")

    await page.goto("/alice")
    avatar = page.locator("img.page-avatar")
    await expect(avatar).to_have_attribute("src", SMALL)
    await expect(avatar).to_have_attribute("srcset", re.compile(r"-256\.webp 2x$"))
    assert await loaded(avatar) in (96, 256)
    await fits(page)
    await shot(page, "page")

    await page.goto("/dashboard")
    await page.wait_for_load_state("load")
    await page.get_by_role("button", name="Remove photo").click()
    await expect(page.locator("#studio-status")).to_have_text("Photo removed.")
    await expect(page.locator("#avatar-preview")).to_have_text("A")
    await page.goto("/alice")
    await expect(page.locator(".page-monogram")).to_have_text("A")


async def test_without_javascript_the_upload_is_a_plain_form(
    no_js_context, live_server: str, make_creator
):
    page = await no_js_context.new_page()
    creator = await make_creator(handle="bo", display_name="Bo")
    await signed_in(page, live_server, creator)
    await page.goto("/dashboard")
    await page.get_by_label("Photo", exact=True).set_input_files(photo())
    await page.get_by_role("button", name="Upload photo").click()
    await page.wait_for_url(re.compile(r"/dashboard#profile$"))
    await expect(page.locator("img#avatar-preview")).to_have_attribute("src", SMALL)
