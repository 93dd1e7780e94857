"""The harness itself: it must notice a CSP violation or a script error, or it proves nothing."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, Route

pytestmark = pytest.mark.browser

INLINE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>harness</title></head>
<body>
  <p style="color: red">an inline style attribute</p>
  <script>window.inlineScriptRan = true;</script>
</body></html>
"""


async def _app_csp(page: Page) -> str:
    response = await page.request.get("/healthz")
    return response.headers["content-security-policy"]


async def test_a_csp_violation_on_the_apps_origin_is_caught(page: Page, problems, live_server):
    csp = await _app_csp(page)

    async def serve(route: Route) -> None:
        await route.fulfill(
            status=200,
            content_type="text/html; charset=utf-8",
            headers={"content-security-policy": csp},
            body=INLINE_PAGE,
        )

    await page.route(f"{live_server}/__harness/inline", serve)
    await page.goto("/__harness/inline")

    assert await page.evaluate("window.inlineScriptRan === undefined"), "the CSP did not apply"
    events = problems.take("^CSP violation")
    assert any(e.startswith("CSP violation: script-src-elem blocked inline") for e in events)
    assert any(e.startswith("CSP violation: style-src-attr blocked inline") for e in events)
    console = problems.take("^CSP console")
    # Chromium's wording changes between versions ("Refused to execute inline script…",
    # "Executing inline script violates…"); the harness keys on "Content Security Policy".
    assert any("inline script" in c.lower() for c in console), console
    assert any("inline style" in c.lower() for c in console), console
    assert problems.items == []


async def test_a_script_error_and_a_console_error_are_caught(page: Page, problems, live_server):
    async def serve(route: Route) -> None:
        if route.request.url.endswith(".js"):
            body = 'console.error("harness says no"); throw new Error("harness boom");'
            await route.fulfill(content_type="text/javascript", body=body)
        else:
            html = '<!doctype html><title>x</title><script src="/__harness/boom.js"></script>'
            await route.fulfill(content_type="text/html", body=html)

    await page.route(f"{live_server}/__harness/**", serve)
    await page.goto("/__harness/boom")

    assert [p for p in problems.take("^page error") if "harness boom" in p]
    assert [p for p in problems.take("^console error") if "harness says no" in p]
    assert problems.items == []
