"""axe-core in the browser tests: inject the vendored checker into a page, get its violations.

The checker is tests/browser/vendor/axe-<version>.min.js (`vendor/update.sh` re-vendors it
from npm). Its hash is checked against vendor/SHA256SUMS before every injection, so a file
changed after vendoring fails the test instead of quietly running other code in the page.

`page.add_script_tag(path=…)` adds the file's text as an inline <script>, which the app's
Content-Security-Policy refuses: audit pages of a browser context opened with
`bypass_csp=True` (`AXE_CONTEXT_OPTIONS`), and leave CSP checks to the other tests.

    violations = await axe_violations(page)            # WCAG 2.0 and 2.1, levels A and AA
    await assert_accessible(page, "checkout, declined")  # fails listing rule, target, contrast
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from playwright.async_api import Page

VENDOR = Path(__file__).resolve().parents[1] / "browser" / "vendor"
AXE_FILE = re.compile(r"axe-\d+\.\d+\.\d+\.min\.js")

WCAG2_AA = ("wcag2a", "wcag2aa")
WCAG21_AA = (*WCAG2_AA, "wcag21a", "wcag21aa")

AXE_CONTEXT_OPTIONS = {"bypass_csp": True}


def axe_script(vendor: Path = VENDOR) -> Path:
    """The vendored axe-core, once its SHA-256 matches the one SHA256SUMS lists for it."""
    sums = {}
    for line in (vendor / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.partition("  ")
        sums[name.strip()] = digest.strip()
    names = [name for name in sums if AXE_FILE.fullmatch(name)]
    assert len(names) == 1, f"{vendor}/SHA256SUMS must list exactly one axe-*.min.js: {names}"
    script = vendor / names[0]
    actual = hashlib.sha256(script.read_bytes()).hexdigest()
    assert actual == sums[names[0]], (
        f"{script} does not match its SHA256SUMS entry (sha256 {actual}): "
        f"re-vendor it with {vendor}/update.sh"
    )
    return script


def run_options(
    tags: Iterable[str] = WCAG21_AA,
    rules: Iterable[str] | None = None,
    disable: Iterable[str] = (),
) -> dict[str, Any]:
    """axe.run's options: the named `rules` if given, else every rule with one of `tags`,
    less the rules in `disable`."""
    only = (
        {"type": "rule", "values": list(rules)} if rules else {"type": "tag", "values": list(tags)}
    )
    options: dict[str, Any] = {"runOnly": only, "resultTypes": ["violations"]}
    if disabled := list(disable):
        options["rules"] = {rule: {"enabled": False} for rule in disabled}
    return options


async def axe_violations(
    page: Page,
    *,
    tags: Iterable[str] = WCAG21_AA,
    rules: Iterable[str] | None = None,
    disable: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (its results' `violations` list)."""
    if not await page.evaluate("typeof window.axe === 'object'"):  # a new document
        await page.add_script_tag(path=axe_script())
    options = run_options(tags, rules, disable)
    results = await page.evaluate("(options) => axe.run(document, options)", options)
    return results["violations"]


def _contrast(node: dict[str, Any]) -> str:
    for check in [*node["any"], *node["all"], *node["none"]]:
        data = check.get("data")
        if check["id"] == "color-contrast" and isinstance(data, dict):
            return (
                f"contrast {data.get('contrastRatio')}:1, needs {data.get('expectedContrastRatio')}"
                f" ({data.get('fgColor')} on {data.get('bgColor')},"
                f" {data.get('fontSize')} {data.get('fontWeight')})"
            )
    return ""


def describe(violations: list[dict[str, Any]], where: str = "") -> str:
    """One readable block per violation: rule, impact and help, then each failing element's
    target and markup, with the measured contrast for colour-contrast failures."""
    lines = [f"{len(violations)} accessibility rule(s) violated{' on ' + where if where else ''}:"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.append(f"  {violation['helpUrl']}")
        for node in violation["nodes"]:
            lines.append(f"  * {' '.join(map(str, node['target']))}  {node['html'][:160]}")
            detail = _contrast(node) or node.get("failureSummary", "").replace("\n", " ")
            lines.append(f"    {detail}")
    return "\n".join(lines)


async def assert_accessible(
    page: Page,
    label: str = "",
    *,
    tags: Iterable[str] = WCAG21_AA,
    rules: Iterable[str] | None = None,
    disable: Iterable[str] = (),
) -> None:
    """Fail with `describe`'s list when axe finds any violation on the page."""
    violations = await axe_violations(page, tags=tags, rules=rules, disable=disable)
    where = f"{label} ({page.url})" if label else page.url
    assert not violations, describe(violations, where)
