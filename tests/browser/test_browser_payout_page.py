"""The payout page in Chromium: Whop's official React components on the emulator's loader.

The harness fails a test on any console error or Content-Security-Policy violation, so
each test here also proves the page runs under its policy. Every request the page makes is
recorded: none may leave the live server (offline, nothing is fetched from Whop).
"""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, Request, Response, expect

from app.auth.sessions import cookie_name, start_session
from app.db.tables import Creator
from app.emulator import faults
from app.shared.rules import AA_TEXT, contrast_ratio
from tests.support.sales import record_sale
from tests.support.screens import EVERY_SCREEN, SIZES, fits
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    api,
    connected_company,
    eventually,
    funded_company,
    live_settings,
)

pytestmark = pytest.mark.browser

TOKEN_PATH = "/dashboard/payouts/token"
ELEMENTS = (
    "status-banner-element",
    "verify-element",
    "balance-element",
    "withdraw-button-element",
    "withdrawals-element",
)


@dataclass
class Traffic:
    """Every request the page made, and the answers from the elements' API."""

    live_server: str
    requests: list[str] = field(default_factory=list)
    token_calls: list[float] = field(default_factory=list)
    element_statuses: list[int] = field(default_factory=list)

    def on_request(self, request: Request) -> None:
        self.requests.append(request.url)
        if request.url == self.live_server + TOKEN_PATH:
            assert request.method == "POST"
            self.token_calls.append(time.monotonic())

    def on_response(self, response: Response) -> None:
        if "/_whop/elements/api/" in response.url:
            self.element_statuses.append(response.status)

    def elsewhere(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.live_server + "/")]


@pytest.fixture
async def hosted_pages(live_server: str):
    """Plain HTTP for walking the emulator's hosted KYC and checkout pages in set-up."""
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as client:
        yield client


@pytest.fixture
async def payouts_page(
    context: BrowserContext, page: Page, api, hosted_pages, live_settings, live_server, make_creator
):
    """A signed-in creator whose Whop company is verified and has earned $8.77, on the
    payout page with every request recorded."""
    company = await funded_company(api, hosted_pages, live_settings)
    creator = await make_creator(handle="payee", whop_company_id=company["id"])
    token = await start_session(creator["id"])
    await context.add_cookies(
        [{"name": cookie_name(False), "value": token, "url": live_server, "httpOnly": True}]
    )
    traffic = Traffic(live_server)
    page.on("request", traffic.on_request)
    page.on("response", traffic.on_response)
    return page, traffic, company


@pytest.fixture
async def short_tokens():
    """Access tokens last 3 seconds at the emulator while the test runs."""
    await faults.set_control_settings(access_token_lifetime=3)
    yield
    await faults.reset_control_settings()


async def open_payouts(page: Page) -> None:
    await page.goto("/dashboard/payouts")
    await expect(page.get_by_role("heading", name="Payouts", level=1)).to_be_visible()
    for element in ELEMENTS:
        await expect(page.locator(f'[data-whop-element="{element}"]')).to_be_visible()


async def test_all_five_elements_mount_from_the_emulator_and_nothing_comes_from_whop(
    payouts_page, shot
):
    page, traffic, _ = payouts_page
    await open_payouts(page)

    await expect(page.get_by_role("status")).to_have_text(
        "Your identity is verified. You can withdraw your earnings."
    )
    await expect(page.locator('[data-whop-element="balance-element"]')).to_contain_text("$8.77")
    await expect(page.get_by_role("button", name="Withdraw", exact=True)).to_be_enabled()
    await expect(page.locator('[data-whop-element="verify-element"]')).to_contain_text(
        "Identity verified"
    )
    await expect(page.locator('[data-whop-element="withdrawals-element"]')).to_have_text(
        "No withdrawals yet."
    )
    await expect(page.locator(".payouts-loading")).to_have_count(0)  # every fallback is gone
    await shot(page, "payouts")

    assert traffic.elsewhere() == []
    assert await page.evaluate("typeof window.WhopElements") == "function"
    loaders = await page.evaluate(
        "Array.from(document.scripts, s => s.src).filter(s => s.endsWith('/elements.js'))"
    )
    assert loaders == [traffic.live_server + "/_whop/elements.js"]  # no CDN script injected
    assert len(traffic.token_calls) == 1 and set(traffic.element_statuses) == {200}


async def test_a_withdrawal_made_in_the_elements_appears_in_the_withdrawals_list(
    payouts_page, api, shot
):
    page, _, company = payouts_page
    await open_payouts(page)

    await page.get_by_role("button", name="Withdraw", exact=True).click()
    amount = page.get_by_label("Amount to withdraw (USD)")
    await expect(amount).to_have_value("8.77")
    await amount.fill("9.00")
    await page.get_by_role("button", name="Confirm withdrawal").click()
    await expect(page.get_by_role("alert")).to_have_text("You can withdraw at most $8.77.")
    await amount.fill("5.00")
    await page.get_by_role("button", name="Confirm withdrawal").click()

    rows = page.locator('[data-whop-element="withdrawals-element"] tbody tr')
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("$5.00")
    await expect(rows.first).to_contain_text("Completed")
    await expect(page.locator('[data-whop-element="balance-element"]')).to_contain_text("$3.77")
    await shot(page, "withdrawn")

    listed = (await api.get("/withdrawals", params={"company_id": company["id"]})).json()
    assert [(w["amount"], w["status"]) for w in listed["data"]] == [(5.0, "completed")]
    assert await rows.first.get_attribute("data-withdrawal-id") == listed["data"][0]["id"]


async def test_the_token_function_is_called_again_before_each_short_token_expires(
    payouts_page, short_tokens
):
    page, traffic, _ = payouts_page
    await open_payouts(page)
    started = traffic.token_calls[0]

    await eventually(lambda: len(traffic.token_calls) >= 3, within=10)
    gaps = [b - a for a, b in zip(traffic.token_calls, traffic.token_calls[1:], strict=False)]
    assert all(0.5 < gap < 3 for gap in gaps), gaps  # each one before the last one expired
    assert set(traffic.element_statuses) == {200}  # never a request with an expired token

    # Well past the first token's life, the elements still act: a withdrawal goes through.
    assert time.monotonic() - started > 3
    await page.get_by_role("button", name="Withdraw", exact=True).click()
    await page.get_by_label("Amount to withdraw (USD)").fill("1.00")
    await page.get_by_role("button", name="Confirm withdrawal").click()
    await expect(page.locator('[data-whop-element="withdrawals-element"] tbody tr')).to_have_count(
        1
    )
    assert set(traffic.element_statuses) == {200}


async def test_an_unverified_creator_verifies_from_the_banner_and_comes_back_verified(
    context: BrowserContext, page: Page, api, live_settings, live_server, make_creator
):
    company = await connected_company(api, live_settings)
    creator = await make_creator(handle="newpayee", whop_company_id=company["id"])
    token = await start_session(creator["id"])
    await context.add_cookies(
        [{"name": cookie_name(False), "value": token, "url": live_server, "httpOnly": True}]
    )
    await open_payouts(page)
    await expect(page.get_by_role("status")).to_contain_text("Verify your identity with Whop")
    await expect(page.get_by_role("button", name="Verify to withdraw")).to_be_visible()
    await expect(page.locator('[data-whop-element="balance-element"]')).to_contain_text("$0.00")

    await page.get_by_role("status").get_by_role("button", name="Verify identity").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(company["title"])
    await page.get_by_label("Legal name").fill("Ada Lovelace")
    await page.get_by_label("Bank account number").fill("000123456789")
    await page.get_by_role("button", name="Submit verification").click()

    await expect(page).to_have_url(f"{live_server}/dashboard/payouts")
    await expect(page.get_by_role("status")).to_have_text(
        "Your identity is verified. You can withdraw your earnings."
    )
    await expect(page.locator('[data-whop-element="verify-element"]')).to_contain_text(
        "Identity verified"
    )
    await expect(page.get_by_role("button", name="Withdraw", exact=True)).to_be_disabled()


async def test_whop_being_down_is_said_plainly_and_the_elements_recover_when_it_is_back(
    payouts_page, problems
):
    page, traffic, _ = payouts_page
    # Every attempt of the app's first token request fails (its client tries three times).
    await faults.add_fault("api", method="POST", path="/access_tokens", status=503, times=3)
    try:
        await page.goto("/dashboard/payouts")
        await expect(page.get_by_role("alert")).to_have_text(
            "Whop is not answering right now, so your payouts cannot load. Try again soon."
        )
        for element in ELEMENTS:  # the loader asks again, and this time Whop answers
            await expect(page.locator(f'[data-whop-element="{element}"]')).to_be_visible()
        await expect(page.get_by_role("alert")).to_have_count(0)
    finally:
        await faults.clear_faults()
    assert len(traffic.token_calls) == 2
    assert problems.take("status of 502")  # the browser logs the refused token request


VANILLA_SESSION = """async () => {
  const island = document.getElementById("payouts-island");
  const { csrfToken, companyId } = island.dataset;
  const token = await fetch("/dashboard/payouts/token", {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrftoken": csrfToken },
    body: JSON.stringify({ company_id: companyId }),
  }).then((r) => r.json()).then((d) => d.token);
  const spot = document.createElement("div");
  spot.id = "vanilla-balance";
  document.body.append(spot);

  const whop = new window.WhopElements({ environment: "sandbox", locale: "en" });
  const session = whop.createPayoutsSession({ token, companyId, redirectUrl: location.href });
  const sessionReady = new Promise((resolve) => session.on("ready", resolve));
  const element = session.createElement("balance-element", {});
  const loading = element.getSnapshot();
  const elementReady = new Promise((resolve) => element.on("ready", resolve));
  element.mount("#vanilla-balance");
  await sessionReady;
  const readyWith = await elementReady;
  const seen = {
    state: element.state,
    loadingState: loading.state,
    stableSnapshot: element.getSnapshot() === element.getSnapshot(),
    newSnapshot: element.getSnapshot() !== loading,
    readyWithElement: readyWith === element,
    text: spot.textContent,
  };
  element.unmount();
  seen.childrenAfterUnmount = spot.childElementCount;
  try {
    session.createElement("chat-element", {});
  } catch (error) {
    seen.unknownType = error.message;
  }
  session.destroy();
  return seen;
}"""


async def test_the_stand_in_offers_the_vanilla_surface_with_a_string_token(payouts_page):
    page, _, _ = payouts_page
    await open_payouts(page)
    seen = await page.evaluate(VANILLA_SESSION)
    assert seen == {
        "state": "ready",
        "loadingState": "loading",
        "stableSnapshot": True,
        "newSnapshot": True,
        "readyWithElement": True,
        "text": "Available to withdraw$8.77",
        "childrenAfterUnmount": 0,
        "unknownType": "The Whop emulator has no payouts element “chat-element”; it provides "
        "status-banner-element, verify-element, balance-element, withdraw-button-element, "
        "withdraw-element, withdrawals-element",
    }


async def test_earnings_in_a_former_currency_show_above_the_elements_on_every_screen(
    payouts_page, shot
):
    """A creator who sold in euros before selling in dollars sees each currency's earnings,
    server-rendered, beside Whop's one-currency balance; at desktop and phone sizes, light
    and dark, the page fits."""
    page, _, company = payouts_page
    creator = await Creator.select().where(Creator.whop_company_id == company["id"]).first()
    paid = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    await record_sale(creator, at=paid, price=1500, fee=150, currency="eur")
    await record_sale(creator, at=paid, price=499, fee=50, currency=creator["currency"])
    for size, scheme in EVERY_SCREEN:
        await page.set_viewport_size(SIZES[size])
        await page.emulate_media(color_scheme=scheme)
        await open_payouts(page)

        summary = page.get_by_role("region", name="Your earnings in each currency")
        await expect(summary).to_be_visible()
        await expect(summary.locator("#earned-eur dt")).to_have_text("Net earnings in EUR")
        await expect(summary.locator("#earned-eur .total-net")).to_have_text("€13.50")
        await expect(summary.locator("#earned-usd .total-net")).to_have_text("$4.49")
        await expect(page.locator('[data-whop-element="balance-element"]')).to_contain_text("$8.77")
        await fits(page, f"the payout page with earnings in two currencies, {size} {scheme}")
        await elements_are_drawn_for(page, scheme)
        await shot(page, f"payouts-two-currencies-{size}-{scheme}")


# An element's text colour and the colour of the nearest surface behind it with a background
# of its own, as "#rrggbb".
_DRAWN_COLOURS = """el => {
  const hex = c => '#' + c.match(/[\\d.]+/g).slice(0, 3)
    .map(n => (+n).toString(16).padStart(2, '0')).join('');
  const clear = node => getComputedStyle(node).backgroundColor === 'rgba(0, 0, 0, 0)';
  let surface = el;
  while (surface.parentElement && clear(surface)) {
    surface = surface.parentElement;
  }
  return [hex(getComputedStyle(el).color), hex(getComputedStyle(surface).backgroundColor)];
}"""


async def elements_are_drawn_for(page: Page, scheme: str) -> None:
    """Whop's elements are asked for the page's scheme (appearance "dark" or "light"), and
    their text reads on the card they are drawn on (WCAG AA)."""
    dark = re.compile(r"\bwhop-el--dark\b")
    for element in ELEMENTS:
        root = page.locator(f'[data-whop-element="{element}"]')
        if scheme == "dark":
            await expect(root).to_have_class(dark)
        else:
            await expect(root).not_to_have_class(dark)
    for text in ("balance-element .whop-el-amount", "verify-element .whop-el-verified"):
        name, _, part = text.partition(" ")
        ink, surface = await page.locator(f'[data-whop-element="{name}"] {part}').evaluate(
            _DRAWN_COLOURS
        )
        assert contrast_ratio(ink, surface) >= AA_TEXT, (scheme, text, ink, surface)


async def test_the_elements_follow_the_system_scheme_while_the_page_is_open(payouts_page):
    """Switching the system to dark (or back) while the payout page is open redraws Whop's
    elements in that appearance, without a reload."""
    page, traffic, _ = payouts_page
    await page.emulate_media(color_scheme="light")
    await open_payouts(page)
    await elements_are_drawn_for(page, "light")
    await page.emulate_media(color_scheme="dark")
    await elements_are_drawn_for(page, "dark")
    await page.emulate_media(color_scheme="light")
    await elements_are_drawn_for(page, "light")
    assert len(traffic.token_calls) == 1  # redrawn, not reloaded
