"""The emulator's hosted pages meet WCAG 2.1 AA as axe-core checks it, in every state a person
sees them: the consent page, the sign-in error page, checkout and KYC, each plain and with
its errors shown, on a desktop and on a 390 × 844 phone, in every colour scheme the CSS has.

axe runs in a context that bypasses the page's CSP (tests/support/axe.py says why); the
other browser tests keep watching the CSP of these same pages.
"""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from app.emulator import faults
from tests.browser.conftest import Problems, _new_context
from tests.support.axe import (
    AXE_CONTEXT_OPTIONS,
    VENDOR,
    assert_accessible,
    axe_script,
    axe_violations,
)
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    api,
    checkout,
    connected_company,
    emulator_control,
    live_settings,
)

pytestmark = pytest.mark.browser

CSS = Path(__file__).resolve().parents[2] / "static" / "css"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def color_schemes() -> list[str]:
    """Light, and dark as well once the emulator's CSS has a dark variant to check (a media
    query, `color-scheme` or `light-dark()`): without one, a dark preference changes nothing."""
    css = "".join((CSS / name).read_text() for name in ("emulator.css", "emulator-hosted.css"))
    dark = "color-scheme" in css or "light-dark(" in css
    return ["light", "dark"] if dark else ["light"]


LOOKS = [(viewport, scheme) for viewport in VIEWPORTS for scheme in color_schemes()]


@pytest.fixture(params=LOOKS, ids="-".join)
async def audited_page(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, problems: Problems
) -> AsyncIterator[Page]:
    """A page at one viewport and colour scheme, in a watched context axe can be injected in."""
    viewport, scheme = request.param
    async for context in _new_context(
        request,
        browser,
        live_server,
        problems,
        viewport=VIEWPORTS[viewport],
        color_scheme=scheme,
        **AXE_CONTEXT_OPTIONS,
    ):
        yield await context.new_page()


async def test_the_consent_page_with_and_without_the_new_user_errors(audited_page: Page):
    page = audited_page
    await page.goto("/")
    await page.get_by_role("link", name="Sign in with Whop").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("with Whop")
    await assert_accessible(page, "consent")

    await page.get_by_label("A new test user").check()
    async with page.expect_navigation() as refused:
        await page.get_by_role("button", name="Approve").click()
    assert (await refused.value).status == 422
    await expect(page.get_by_text("Enter a name.")).to_be_visible()
    await assert_accessible(page, "consent, new-user errors")


async def test_the_sign_in_error_page(audited_page: Page):
    response = await audited_page.goto("/_whop/oauth/authorize?client_id=app_Nobody")
    assert response is not None and response.status == 400
    await expect(audited_page.get_by_role("alert")).to_contain_text("app_Nobody")
    await assert_accessible(audited_page, "sign-in error")


async def test_checkout_plain_with_field_errors_declined_and_done(
    audited_page: Page, api, live_settings, emulator_control, live_server: str
):
    page = audited_page
    await faults.set_control_settings(tax_rates={"DE": 19})  # the tax note shows too
    await faults.add_fault("drop_redirect")  # paid, the buyer stays on Whop's receipt
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"], price=4.99, redirect_url=f"{live_server}/")

    await page.goto(config["purchase_url"])
    await expect(page.get_by_role("button", name="Pay $4.99")).to_be_visible()
    await assert_accessible(page, "checkout")

    async with page.expect_navigation() as refused:
        await page.get_by_role("button", name="Pay $4.99").click()
    assert (await refused.value).status == 422
    await expect(page.get_by_text("Enter a card number.")).to_be_visible()
    await assert_accessible(page, "checkout, field errors")

    await page.get_by_label("Email for the receipt").fill("buyer@example.com")
    await page.get_by_label("Card number").fill("4000 0000 0000 0002")
    await page.get_by_label("Expiry (MM/YY)").fill("12/39")
    await page.get_by_label("CVC").fill("123")
    async with page.expect_navigation() as declined:
        await page.get_by_role("button", name="Pay $4.99").click()
    assert (await declined.value).status == 402
    await expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    await expect(page.get_by_role("link", name="without paying")).to_be_visible()
    await assert_accessible(page, "checkout, declined")

    await page.get_by_label("Card number").fill("4242 4242 4242 4242")
    await page.get_by_label("CVC").fill("123")
    await page.get_by_role("button", name="Pay $4.99").click()
    await expect(page.get_by_role("heading", name="Payment complete")).to_be_visible()
    await assert_accessible(page, "checkout done")


async def test_kyc_plain_and_with_errors(audited_page: Page, api, live_settings, live_server: str):
    page = audited_page
    company = await connected_company(api, live_settings)
    link = (
        await api.post(
            "/account_links",
            json={
                "company_id": company["id"],
                "use_case": "account_onboarding",
                "return_url": f"{live_server}/?kyc=returned",
                "refresh_url": f"{live_server}/?kyc=refresh",
            },
        )
    ).json()

    await page.goto(link["url"])
    await expect(page.get_by_role("heading", level=1)).to_contain_text(company["title"])
    await assert_accessible(page, "KYC")

    async with page.expect_navigation() as refused:
        await page.get_by_role("button", name="Submit verification").click()
    assert (await refused.value).status == 422
    await expect(page.get_by_text("Enter the legal name")).to_be_visible()
    await assert_accessible(page, "KYC, errors")


# --- the helper itself: it finds what is there, and runs only the file that was vendored ---


@pytest.mark.parametrize("audited_page", [("phone", "light")], indirect=True, ids=["phone"])
async def test_axe_reports_the_rule_the_element_and_the_contrast(audited_page: Page):
    await audited_page.set_content(
        '<!doctype html><html lang="en"><title>Faint</title>'
        '<main><p id="faint" style="color: #999; background: #fff">Faint words</p></main>'
    )
    [violation] = await axe_violations(audited_page)
    assert violation["id"] == "color-contrast"
    with pytest.raises(AssertionError) as failed:
        await assert_accessible(audited_page, "a faint page")
    message = str(failed.value)
    assert "1 accessibility rule(s) violated on a faint page (about:blank):" in message
    assert "- color-contrast (serious)" in message
    assert '* #faint  <p id="faint"' in message
    assert "contrast 2.84:1, needs 4.5:1 (#999999 on #ffffff" in message


def test_a_changed_axe_file_is_refused(tmp_path: Path):
    shutil.copytree(VENDOR, tmp_path, dirs_exist_ok=True)
    script = axe_script(tmp_path)
    assert script.parent == tmp_path and script.name.startswith("axe-4.")

    script.write_bytes(script.read_bytes().replace(b"axe", b"axf", 1))
    with pytest.raises(AssertionError, match="does not match its SHA256SUMS entry"):
        axe_script(tmp_path)
