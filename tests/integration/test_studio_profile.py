"""Editing the profile: saved by htmx, errors inline beside the field, nothing saved on error."""

from __future__ import annotations

import re

import pytest

from tests.support.studio_support import HX, creator_row, snapshot

GOOD = {
    "display_name": "  Alice   Example ",
    "bio": "I make things.\r\nSecond line.",
    "avatar_url": "https://cdn.example.com/alice.png",
    "theme": "sunrise",
    "accent_color": "#FF5500",
    "accent_picker": "#0f9d76",
}


@pytest.fixture
async def alice(client, make_creator, sign_in):
    creator = await make_creator(handle="alice")
    await sign_in(client, creator)
    return creator


async def test_saving_the_profile_stores_clean_values_and_refreshes_the_preview(client, alice):
    r = await client.post("/dashboard/profile", data=GOOD, headers=HX)
    assert r.status_code == 200
    assert r.headers["hx-trigger"] == "page-changed"
    assert r.text.lstrip().startswith('<section id="profile"')
    assert 'hx-swap-oob="innerHTML"' in r.text and "Profile saved." in r.text
    row = await creator_row(alice)
    assert row["display_name"] == "Alice Example"
    assert row["bio"] == "I make things.\nSecond line."
    assert row["avatar_url"] == "https://cdn.example.com/alice.png"
    assert row["theme"] == "sunrise"
    assert row["accent_color"] == "#ff5500"
    assert row["updated_at"] > alice["updated_at"]


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("display_name", "x" * 61, "at most 60"),
        ("display_name", "bad\x07name", "control characters"),
        ("display_name", "Sam\u202egpj.exe", "invisible character (U+202E)"),
        ("display_name", "pay\u200bpal", "invisible character (U+200B)"),
        ("bio", "hello \u2066world\u2069", "invisible character (U+2066)"),
        ("bio", "b" * 281, "at most 280"),
        ("avatar_url", "http://cdn.example.com/a.png", "https"),
        ("avatar_url", "javascript:alert(1)", "https"),
        ("avatar_url", "https://" + "a" * 500 + ".com", "at most 500"),
        ("theme", "neon", "Choose one of the themes"),
        ("accent_color", "red", "#0f9d76"),
        ("accent_color", "#12345", "#0f9d76"),
    ],
)
async def test_a_bad_field_is_refused_beside_that_field_and_nothing_is_saved(
    client, alice, field, value, message
):
    before = await snapshot()
    # accent_picker equal to the stored colour: only the typed text counts.
    data = {**GOOD, "accent_picker": alice["accent_color"], field: value}
    r = await client.post("/dashboard/profile", data=data, headers=HX)
    assert r.status_code == 422
    assert "hx-trigger" not in r.headers
    error_id = f'id="{field}-error"'
    assert error_id in r.text and message in r.text
    if field != "theme":  # a radio group: the message sits under its fieldset
        control = re.search(rf'<(?:input|textarea)[^>]* id="{field}"[^>]*>', r.text)
        assert control and 'aria-invalid="true"' in control.group(0)
        assert re.search(rf'aria-describedby="[^"]*{field}-error"', control.group(0))
    assert await snapshot() == before  # the valid fields were not saved either


async def test_every_bad_field_is_reported_at_once(client, alice):
    data = {**GOOD, "display_name": "x" * 99, "theme": "neon", "accent_color": "nope"}
    r = await client.post("/dashboard/profile", data=data, headers=HX)
    assert r.status_code == 422
    for field in ("display_name", "theme", "accent_color"):
        assert f'id="{field}-error"' in r.text
    assert "Alice Example" not in (await creator_row(alice))["display_name"]


async def test_a_refused_form_keeps_what_was_typed(client, alice):
    data = {**GOOD, "accent_color": "not-a-colour", "accent_picker": alice["accent_color"]}
    r = await client.post("/dashboard/profile", data=data, headers=HX)
    assert 'value="not-a-colour"' in r.text
    assert "I make things." in r.text


async def test_the_colour_picker_counts_when_the_text_was_left_alone(client, alice):
    """Without JavaScript the picker and its text twin are not kept in step."""
    data = {**GOOD, "accent_color": alice["accent_color"], "accent_picker": "#AA00BB"}
    r = await client.post("/dashboard/profile", data=data, headers=HX)
    assert r.status_code == 200
    assert (await creator_row(alice))["accent_color"] == "#aa00bb"


async def test_saving_without_javascript_redirects_back_to_the_studio(client, alice):
    r = await client.post("/dashboard/profile", data=GOOD, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard#profile"


async def test_an_error_without_javascript_shows_the_whole_page_with_the_message(client, alice):
    before = await snapshot()
    r = await client.post("/dashboard/profile", data={**GOOD, "theme": "neon"})
    assert r.status_code == 422
    assert await snapshot() == before
    assert "<!doctype html>" in r.text and 'id="theme-error"' in r.text


async def test_the_profile_form_shows_the_stored_values_and_every_theme(client, alice):
    await client.post("/dashboard/profile", data=GOOD, headers=HX)
    r = await client.get("/dashboard")
    assert 'value="Alice Example"' in r.text
    assert 'value="sunrise" id="theme-sunrise" checked' in r.text
    for theme in ("mint", "midnight", "sunrise", "paper", "ocean"):
        assert f'id="theme-{theme}"' in r.text
    assert 'type="color" id="accent_picker"' in r.text and 'value="#ff5500"' in r.text
