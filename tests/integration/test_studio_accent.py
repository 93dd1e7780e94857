"""The accent colour in the studio: one that would leave the text on its buttons unreadable
(below 4.5:1 with white and with dark ink) is refused beside the field, with colours that
work, and nothing is saved; with htmx and as a plain form post alike."""

from __future__ import annotations

import re

import pytest

from app.shared.rules import INK_DARK, INK_LIGHT, contrast_ratio
from tests.support.studio_support import HX, creator_row, snapshot

MIDDLE_TONE = "#7c5cff"  # 4.3:1 with white, 4.3:1 with #111111
MESSAGE = (
    "#7c5cff is a middle tone: neither white nor dark text on your buttons would be "
    "readable enough (contrast 4.3:1, needs 4.5:1). "
    "Try #7859f7 or darker for white text, or #8061ff or lighter for dark text."
)
PROFILE = {
    "display_name": "Alice",
    "bio": "",
    "avatar_url": "",
    "theme": "midnight",
    "accent_color": "#0f9d76",
    "accent_picker": "#0f9d76",
}


@pytest.fixture
async def alice(client, make_creator, sign_in):
    creator = await make_creator(handle="alice", accent_color="#0f9d76")
    await sign_in(client, creator)
    return creator


def accent_input(html: str) -> str:
    found = re.search(r'<input type="text" id="accent_color"[^>]*>', html)
    assert found, "the accent's text field is missing"
    return found.group(0)


def error_beside_accent(html: str) -> str:
    found = re.search(r'<p class="field-error" id="accent_color-error">([^<]*)</p>', html)
    assert found, "no message beside the accent field"
    return found.group(1)


async def test_a_middle_tone_is_refused_beside_the_field_and_nothing_is_saved(client, alice):
    before = await snapshot()
    data = {**PROFILE, "display_name": "Alice Renamed", "accent_color": MIDDLE_TONE.upper()}
    r = await client.post("/dashboard/profile", data=data, headers=HX)
    assert r.status_code == 422
    assert "hx-trigger" not in r.headers  # the preview is not refreshed: nothing changed
    assert error_beside_accent(r.text) == MESSAGE
    field = accent_input(r.text)
    assert 'aria-invalid="true"' in field
    assert re.search(r'aria-describedby="accent_color-hint accent_color-error"', field)
    assert f'value="{MIDDLE_TONE.upper()}"' in field  # what was typed stays, to be fixed
    assert await snapshot() == before  # neither the accent nor the valid name was saved
    assert (await creator_row(alice))["accent_color"] == "#0f9d76"


async def test_without_javascript_the_refusal_is_the_whole_studio_with_the_message(client, alice):
    before = await snapshot()
    r = await client.post(
        "/dashboard/profile", data={**PROFILE, "accent_color": MIDDLE_TONE}, follow_redirects=False
    )
    assert r.status_code == 422
    assert r.text.lstrip().lower().startswith("<!doctype html>")
    assert error_beside_accent(r.text) == MESSAGE
    assert await snapshot() == before


async def test_a_middle_tone_from_the_colour_picker_is_refused_too(client, alice):
    before = await snapshot()
    data = {**PROFILE, "accent_picker": MIDDLE_TONE}  # the text twin left as stored
    r = await client.post("/dashboard/profile", data=data, headers=HX)
    assert r.status_code == 422
    assert error_beside_accent(r.text) == MESSAGE
    assert await snapshot() == before


@pytest.mark.parametrize(("colour", "ink"), [("#7859f7", INK_LIGHT), ("#8061ff", INK_DARK)])
async def test_the_colours_the_message_suggests_are_accepted(client, alice, colour, ink):
    assert contrast_ratio(colour, ink) >= 4.5
    r = await client.post(
        "/dashboard/profile", data={**PROFILE, "accent_color": colour}, headers=HX
    )
    assert r.status_code == 200
    assert "accent_color-error" not in r.text
    assert (await creator_row(alice))["accent_color"] == colour


async def test_the_hint_says_what_the_accent_colours_and_how_its_text_stays_readable(client, alice):
    r = await client.get("/dashboard")
    hint = re.search(r'<p class="hint" id="accent_color-hint">(.*?)</p>', r.text, re.S)
    assert hint
    text = " ".join(hint.group(1).split())
    assert text.startswith("Buttons and highlights on your page")
    assert "white or dark to stay readable" in text
    assert "on dark pages a very dark colour shows lighter" in text
