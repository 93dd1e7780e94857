"""The studio's "Your data" card in a browser: the page downloaded as JSON, a file imported
through its preview and confirm (desktop and phone width, light and dark), a list of URLs,
the sales as CSV, and the same import without JavaScript."""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from app.db.tables import CreatorSocial
from tests.browser.conftest import Problems, _new_context
from tests.support.axe import AXE_CONTEXT_OPTIONS, assert_accessible
from tests.support.browser_flows import htmx_settled, row
from tests.support.screens import fits, signed_in
from tests.support.studio_support import add_links, link_rows

pytestmark = pytest.mark.browser

GOOD = {
    "format": "linkmint-page",
    "version": 1,
    "profile": {
        "display_name": "Alice Example",
        "bio": "",
        "avatar_url": "",
        "theme": "mint",
        "accent_color": "#0f9d76",
    },
}

SIZES = {"desktop": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}


@pytest.fixture
async def alice(make_creator) -> dict[str, Any]:
    creator = await make_creator(handle="alice", display_name="Alice Example")
    await add_links(
        creator,
        {"title": "Shop", "url": "https://shop.example.com"},
        {"title": "Old news", "url": "https://news.example.com"},
    )
    await CreatorSocial.insert(
        CreatorSocial(
            creator=creator["id"], network="github", url="https://github.com/alice", label="alice"
        )
    )
    return creator


@pytest.fixture(params=[(v, s) for v in SIZES for s in ("light", "dark")], ids="-".join)
async def studio(request, browser: Browser, live_server: str, problems: Problems):
    size, scheme = request.param
    options = {"viewport": SIZES[size], "color_scheme": scheme, "accept_downloads": True}
    async for context in _new_context(request, browser, live_server, problems, **options):
        yield await context.new_page()


async def open_card(page: Page, live_server: str, creator: dict[str, Any]) -> None:
    await signed_in(page, live_server, creator)
    await page.goto("/dashboard#transfer")
    await page.wait_for_load_state("load")
    await expect(page.get_by_role("heading", name="Your data")).to_be_visible()


async def export_file(page: Page, tmp_path: Path) -> dict[str, Any]:
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download my page (JSON)").click()
    download = await info.value
    assert download.suggested_filename.startswith("linkmint-alice-")
    assert download.suggested_filename.endswith(".json")
    path = tmp_path / download.suggested_filename
    await download.save_as(path)
    return json.loads(path.read_text())


async def test_import_preview_then_confirm_replaces_the_page(
    studio: Page, alice, live_server: str, tmp_path: Path
):
    page = studio
    await open_card(page, live_server, alice)
    await fits(page, "the studio with the card")

    document = await export_file(page, tmp_path)
    assert [link["title"] for link in document["links"]] == ["Shop", "Old news"]
    document["profile"]["bio"] = "Imported from a file."
    document["links"][1] = {"kind": "link", "title": "Fresh news", "url": "https://fresh.example"}
    assert document["socials"] == [{"network": "github", "url": "https://github.com/alice"}]
    document["socials"][0]["url"] = "https://github.com/alice-renamed"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))

    await page.locator("#import-file").set_input_files(edited)
    await page.get_by_role("button", name="Preview import").click()
    changes = page.locator("#import-changes")
    await expect(changes).to_contain_text("Profile: bio changes.")
    await expect(changes).to_contain_text("Links: 1 added, 1 removed.")
    await expect(changes).to_contain_text("Social icons: 1 changed.")
    await htmx_settled(page)
    await fits(page, "the import preview")
    assert [x["title"] for x in await link_rows(alice)] == ["Shop", "Old news"]

    await page.get_by_role("button", name="Confirm import").click()
    await expect(page.locator("#transfer-done")).to_contain_text("Imported.")
    await htmx_settled(page)
    await expect(row(page, "Fresh news")).to_be_visible()
    await expect(row(page, "Old news")).to_have_count(0)
    await expect(page.locator("#bio")).to_have_value("Imported from a file.")
    await expect(page.locator("#socials")).to_contain_text("alice-renamed")
    await fits(page, "after the import")
    assert [x["title"] for x in await link_rows(alice)] == ["Shop", "Fresh news"]


async def test_a_bad_file_lists_its_problems_beside_the_field(
    studio: Page, alice, live_server: str, tmp_path: Path
):
    page = studio
    await open_card(page, live_server, alice)
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "format": "linkmint-page",
                "version": 1,
                "profile": {
                    "display_name": "A",
                    "bio": "",
                    "avatar_url": "",
                    "theme": "mint",
                    "accent_color": "#0f9d76",
                },
                "links": [{"kind": "link", "title": "Bad", "url": "javascript:alert(1)"}],
            }
        )  # fmt: skip
    )
    await page.locator("#import-file").set_input_files(bad)
    await page.get_by_role("button", name="Preview import").click()
    problems = page.locator("#import-problems")
    await expect(problems).to_contain_text("Link 1 (“Bad”), URL: Links must start with")
    await expect(page.locator("#import-file")).to_have_attribute("aria-invalid", "true")
    await htmx_settled(page)
    await fits(page, "a refused import")
    assert [x["title"] for x in await link_rows(alice)] == ["Shop", "Old news"]


async def test_a_list_of_urls_is_added_at_the_end(studio: Page, alice, live_server: str):
    page = studio
    await open_card(page, live_server, alice)
    field = page.get_by_role("textbox", name="One link a line")
    await field.fill("ftp://nope.example\nNewsletter | news.example.org")
    await page.get_by_role("button", name="Add these links").click()
    await expect(page.locator("#import-urls-problems")).to_contain_text("Line 1, URL:")
    await htmx_settled(page)
    await fits(page, "a refused list")

    field = page.get_by_role("textbox", name="One link a line")
    await field.fill("https://www.example.com/shop\nNewsletter | news.example.org")
    await page.get_by_role("button", name="Add these links").click()
    await expect(page.locator("#transfer-done")).to_have_text(
        "2 links added at the end of your page."
    )
    await expect(row(page, "Newsletter")).to_be_visible()
    await expect(row(page, "example.com")).to_be_visible()
    assert [x["title"] for x in await link_rows(alice)] == [
        "Shop",
        "Old news",
        "example.com",
        "Newsletter",
    ]


async def test_the_sales_csv_downloads(studio: Page, alice, live_server: str, tmp_path: Path):
    page = studio
    await open_card(page, live_server, alice)
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download sales (CSV)").click()
    download = await info.value
    assert download.suggested_filename.startswith("linkmint-alice-sales-")
    path = tmp_path / download.suggested_filename
    await download.save_as(path)
    assert path.read_text(encoding="utf-8-sig").startswith("date_utc,link_title,status")


@pytest.fixture(params=[(v, s) for v in SIZES for s in ("light", "dark")], ids="-".join)
async def audited(request, browser: Browser, live_server: str, problems: Problems):
    """axe needs its script in the page, so this context bypasses the CSP (the tests above
    keep it, and fail on any violation)."""
    size, scheme = request.param
    options = {"viewport": SIZES[size], "color_scheme": scheme, **AXE_CONTEXT_OPTIONS}
    async for context in _new_context(request, browser, live_server, problems, **options):
        yield await context.new_page()


async def test_the_card_is_accessible_in_each_state(
    audited: Page, alice, live_server: str, tmp_path: Path
):
    page = audited
    await open_card(page, live_server, alice)
    await assert_accessible(page, "the studio with the Your data card")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "linkmint-page", "version": 1, "links": [1]}')
    await page.locator("#import-file").set_input_files(bad)
    await page.get_by_role("button", name="Preview import").click()
    await expect(page.locator("#import-problems")).to_contain_text("Link 1: not an object")
    await htmx_settled(page)
    await assert_accessible(page, "a refused import")
    await page.get_by_role("textbox", name="One link a line").fill("javascript:x")
    await page.get_by_role("button", name="Add these links").click()
    await expect(page.locator("#import-urls-problems")).to_contain_text("Line 1, URL:")
    await htmx_settled(page)
    await assert_accessible(page, "a refused list of URLs")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({**GOOD, "links": []}))
    await page.locator("#import-file").set_input_files(good)
    await page.get_by_role("button", name="Preview import").click()
    await expect(page.locator("#import-changes")).to_contain_text("Links: 2 removed.")
    await htmx_settled(page)
    await assert_accessible(page, "the import preview")
    await page.get_by_role("button", name="Confirm import").click()
    await expect(page.locator("#transfer-done")).to_contain_text("Imported.")
    await htmx_settled(page)
    await assert_accessible(page, "after the import")


@pytest.fixture
async def no_js(request, browser: Browser, live_server: str, problems: Problems):
    options = {"java_script_enabled": False}
    async for context in _new_context(request, browser, live_server, problems, **options):
        yield context


async def test_the_import_works_without_javascript(
    no_js: BrowserContext, alice, live_server: str, tmp_path: Path
):
    page = await no_js.new_page()
    await open_card(page, live_server, alice)
    document = {**GOOD, "links": [{"kind": "link", "title": "Only", "url": "https://only.example"}]}
    path = tmp_path / "page.json"
    path.write_text(json.dumps(document))
    await page.locator("#import-file").set_input_files(path)
    await page.get_by_role("button", name="Preview import").click()
    await expect(page.locator("#import-changes")).to_contain_text("Links: 1 added, 2 removed.")
    await expect(page.locator("#import-changes")).to_contain_text("Social icons: 1 removed.")
    await page.get_by_role("button", name="Confirm import").click()
    await expect(row(page, "Only")).to_be_visible()
    assert [x["title"] for x in await link_rows(alice)] == ["Only"]
