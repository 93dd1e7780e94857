"""Browser tests: Playwright driving Debian's headless Chromium against a real `linkmint serve`.

Why the async Playwright API: pytest-asyncio runs in auto mode with one session-scoped event
loop, and this suite's autouse fixtures (migrations, the TRUNCATE after each test) are async.
Playwright's sync API drives its own loop through greenlets and marks that loop as the
thread's running loop, which collides with pytest-asyncio's runner; the async API simply
shares the session loop. So every browser fixture and test here is `async`.

Every page a test opens is watched: console errors, uncaught page errors, failed requests
and Content-Security-Policy violations (both the console's lines, "Refused to …" or
"… violates the following Content Security Policy directive …" depending on the Chromium
version, and the `securitypolicyviolation` DOM event, reported through an exposed binding
by an init script that Playwright injects outside the page's CSP). Whatever was seen and not
claimed by the test with `problems.take()` fails the test at teardown, one per line.

Chromium is `/usr/bin/chromium` (Debian's package; `.ci/run` installs it). Without it the
browser tests are skipped on a laptop, and fail loudly in CI (`CI=true`).
"""

# ruff: noqa: F811 (fixtures are imported, then named as arguments)
from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    async_playwright,
    expect,
)

from tests.support.axe import AXE_CONTEXT_OPTIONS
from tests.support.database import (  # noqa: F401 (fixtures: registered by being named here)
    _clean,
    _migrated,
    app,
    client,
    live_server,
    make_creator,
    other_client,
    sign_in,
)
from tests.support.screens import EVERY_SCREEN, SIZES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI and the dev containers run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 5_000  # a local server answers in milliseconds; fail fast rather than hang
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "browser-screenshots"  # failures

# Reports each CSP violation to the test through the `__lmReportCsp` binding. Init scripts
# and bindings are installed over the DevTools protocol, so the page's CSP does not apply.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  const where = e.sourceFile ? ` at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber}` : "";
  const what = e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 160) : "";
  window.__lmReportCsp(
    `${e.effectiveDirective} blocked ${e.blockedURI || "(inline)"}${where}`
    + (e.sample ? ` sample=${JSON.stringify(e.sample)}` : "")
    + (what ? ` on ${what}` : "")
  );
}, true);
"""


class Problems:
    """What went wrong in the pages of one browser context, in the order it happened.

    Chromium logs "Failed to load resource" for every answer of status 400 or more. Two
    kinds are the app speaking, not failing, and are not problems: a page that is itself an
    error page (a 404 for an unknown handle, the 403 that ends a refused sign-in; the tests
    assert those statuses), and the 422 with which the studio answers htmx when a form is
    refused (swapped in with its inline errors, by the htmx config of the dashboard layout,
    templates/layouts/_htmx.html). Any other failed resource is a problem.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[str, str, str]] = []  # (kind, text, url)
        self._error_documents: set[str] = set()

    @property
    def items(self) -> list[str]:
        return [
            f"{kind}: {text} ({url})"
            for kind, text, url in self._entries
            if not (text.startswith("Failed to load resource") and url in self._error_documents)
        ]

    def add(self, kind: str, text: str, url: str = "") -> None:
        self._entries.append((kind, text, url))

    def take(self, pattern: str | None = None) -> list[str]:
        """Claim (remove and return) the problems matching `pattern` (all when None)."""
        taken = [p for p in self.items if pattern is None or re.search(pattern, p)]
        self._entries = [e for e in self._entries if f"{e[0]}: {e[1]} ({e[2]})" not in taken]
        return taken

    def watch(self, page: Page) -> None:
        def on_console(msg: ConsoleMessage) -> None:
            text = msg.text
            csp = text.startswith("Refused to") or "Content Security Policy" in text
            if msg.type == "error" or csp:
                url = msg.location.get("url") or page.url
                self.add("CSP console" if csp else "console error", text, url)

        def on_response(response: Response) -> None:
            request = response.request
            if response.status >= 400 and request.is_navigation_request():
                self._error_documents.add(response.url)
            elif response.status == 422 and request.headers.get("hx-request") == "true":
                self._error_documents.add(response.url)

        def on_request_failed(request: Request) -> None:
            failure = request.failure or ""
            if "ERR_ABORTED" in failure:  # a navigation that superseded the request
                return
            self.add("request failed", f"{request.method} {failure}", request.url)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.add("page error", str(exc), page.url))
        page.on("response", on_response)
        page.on("requestfailed", on_request_failed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.lm_call_failed = report.failed  # the context fixture screenshots failures
    return report


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, or a skip (laptop) / a loud failure (CI) when it is missing."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"{CHROMIUM} is missing: CI must run the browser tests "
                "(.ci/run installs it with `apt-get install -y chromium`)",
                pytrace=False,
            )
        pytest.skip(
            f"{CHROMIUM} is missing; install Debian's chromium to run the browser tests "
            "(they are mandatory when CI=true)"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def problems() -> Problems:
    return Problems()


async def _new_context(
    request: pytest.FixtureRequest,
    browser: Browser,
    base_url: str,
    problems: Problems,
    **options,
) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(base_url=base_url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    await context.expose_binding(
        "__lmReportCsp", lambda source, text: problems.add("CSP violation", text)
    )
    await context.add_init_script(CSP_LISTENER)
    context.on("page", problems.watch)
    try:
        yield context
        if getattr(request.node, "lm_call_failed", False) and context.pages:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            for n, page in enumerate(context.pages):
                path = SCREENSHOTS / f"{request.node.name}-{n}.png"
                await page.screenshot(path=path, full_page=True)
                print(f"screenshot of {page.url}: {path}")
        for page in context.pages:
            if page.is_closed():
                continue
            # A round trip, so that reports the page already sent are delivered first
            # (fails harmlessly with JavaScript off).
            with contextlib.suppress(Exception):
                await page.evaluate("0")
    finally:
        await context.close()
    if problems.items:
        pytest.fail("the browser saw problems:\n  " + "\n  ".join(problems.items), pytrace=False)


@pytest.fixture
async def context(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, problems: Problems
) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (no cookies) aimed at the live server, watched for problems."""
    async for ctx in _new_context(request, browser, live_server, problems):
        yield ctx


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture(params=EVERY_SCREEN, ids="-".join)
async def screen(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, problems: Problems
) -> AsyncIterator[Page]:
    """A watched page at each of the sizes in tests/support/screens.py, in the light and the
    dark scheme (the test runs once for each), ready for axe-core (tests/support/axe.py)."""
    size, scheme = request.param
    async for ctx in _new_context(
        request,
        browser,
        live_server,
        problems,
        viewport=SIZES[size],
        color_scheme=scheme,
        **AXE_CONTEXT_OPTIONS,
    ):
        yield await ctx.new_page()


@pytest.fixture
async def no_js_context(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, problems: Problems
) -> AsyncIterator[BrowserContext]:
    """Like `context`, with JavaScript disabled: what a visitor without scripts gets."""
    async for ctx in _new_context(
        request, browser, live_server, problems, java_script_enabled=False
    ):
        yield ctx


@pytest.fixture
def shot(request: pytest.FixtureRequest):
    """`await shot(page, "name")`: a full-page screenshot under var/browser-screenshots/ when
    LM_BROWSER_SCREENSHOTS=1 (for a person to look at the pages); a no-op otherwise."""

    async def take(page: Page, name: str) -> None:
        if os.environ.get("LM_BROWSER_SCREENSHOTS") != "1":
            return
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):  # from the top, so sticky bars sit where they belong
            await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=SCREENSHOTS / f"{request.node.name}-{name}.png", full_page=True)

    return take


@dataclass(frozen=True)
class WhopTestUser:
    name: str
    username: str
    email: str


def new_whop_user() -> WhopTestUser:
    """A user no earlier run has created: the emulator's tables outlive each test."""
    tag = secrets.token_hex(4)
    return WhopTestUser(f"Bea Browser {tag}", f"bea_{tag}", f"bea.{tag}@example.com")


async def approve_as_new_whop_user(page: Page, user: WhopTestUser) -> None:
    """On the emulator's authorize page: choose "A new test user", fill it in, Approve."""
    await expect(page.get_by_role("heading", level=1)).to_contain_text("with Whop")
    await page.get_by_label("A new test user").check()
    await page.get_by_label("Name", exact=True).fill(user.name)
    await page.get_by_label("Username", exact=True).fill(user.username)
    await page.get_by_label("Email", exact=True).fill(user.email)
    await page.get_by_role("button", name="Approve").click()


@pytest.fixture
def sign_in_with_whop(live_server: str):
    """Sign a fresh Whop test user in through the real pages; ends on /dashboard."""

    async def sign_in(page: Page) -> WhopTestUser:
        user = new_whop_user()
        await page.goto("/")
        await page.get_by_role("link", name="Sign in with Whop").click()
        await approve_as_new_whop_user(page, user)
        await expect(page).to_have_url(f"{live_server}/dashboard")
        # The URL changes before the deferred scripts run; htmx wires the page up only then.
        await page.wait_for_load_state("load")
        return user

    return sign_in


@pytest.fixture
def approve_on_whop():
    """`await approve_on_whop(page)`: on the emulator's consent page, approve as a new user."""

    async def approve(page: Page) -> WhopTestUser:
        user = new_whop_user()
        await approve_as_new_whop_user(page, user)
        return user

    return approve
