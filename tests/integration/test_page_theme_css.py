"""/{handle}/theme.css, the creator's accent as the page uses it: readable text on it whatever
was stored before the contrast rule, and a dark accent lightened where the page is dark."""

from __future__ import annotations

import re

from app.shared.rules import AA_NON_TEXT, AA_TEXT, contrast_ratio

MIDNIGHT, NIGHT_PAPER = "#0c1020", "#1d1a16"  # page.css's --page-bg-flat


def accent_vars(css: str, selector: str) -> dict[str, str]:
    block = re.search(re.escape(selector) + r" \{ ([^}]*) \}", css)
    assert block, f"no rule for {selector} in:\n{css}"
    return dict(re.findall(r"--page-(accent[\w-]*): (#[0-9a-f]+);", block.group(1)))


async def test_a_stored_middle_tone_gets_black_text_that_passes_aa(client, make_creator):
    await make_creator(handle="violet", accent_color="#7c5cff")  # stored before the rule
    css = (await client.get("/violet/theme.css")).text
    root = accent_vars(css, ":root")
    assert root["accent"] == "#7c5cff"
    assert root["accent-ink"] == "#000000"
    assert contrast_ratio(root["accent"], root["accent-ink"]) >= AA_TEXT


async def test_a_dark_accent_is_lightened_on_dark_pages_only(client, make_creator):
    await make_creator(handle="inky", accent_color="#1f1b16")
    css = (await client.get("/inky/theme.css")).text
    assert accent_vars(css, ":root")["accent"] == "#1f1b16"  # light pages: as chosen
    midnight = accent_vars(css, ".theme-midnight")
    assert contrast_ratio(midnight["accent"], MIDNIGHT) >= AA_NON_TEXT
    assert contrast_ratio(midnight["accent"], midnight["accent-ink"]) >= AA_TEXT
    night = re.search(r"@media \(prefers-color-scheme: dark\) \{(.*)\}", css)
    assert night, css
    paper = accent_vars(night.group(1), ".theme-paper")
    assert contrast_ratio(paper["accent"], NIGHT_PAPER) >= AA_NON_TEXT
    assert ".theme-paper" not in css.replace(night.group(0), "")  # paper by day keeps it


async def test_an_accent_that_shows_everywhere_is_one_rule(client, make_creator):
    await make_creator(handle="amber", accent_color="#ffb020")
    css = (await client.get("/amber/theme.css")).text
    assert css == ":root { --page-accent: #ffb020; --page-accent-ink: #111111; }\n"
