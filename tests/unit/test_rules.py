"""What a creator may write: handles, link URLs (including a Hypothesis fuzz of schemes) and
the studio's forms built on them."""

from __future__ import annotations

import html

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.profiles.service import theme_stylesheet
from app.shared.rules import (
    InvalidField,
    ascii_host,
    canonical_handle,
    clean_avatar_url,
    clean_bio,
    clean_display_name,
    clean_handle,
    clean_link_kind,
    clean_link_url,
    clean_title,
    is_safe_href,
)
from app.studio.forms import link_form, new_link_form, profile_form


@pytest.mark.parametrize(
    "raw,expected", [("Alice", "alice"), ("@bob_1.x", "bob_1.x"), (" zz ", "zz")]
)
def test_handles_are_lower_cased_and_trimmed(raw, expected):
    assert clean_handle(raw) == expected


@pytest.mark.parametrize(
    "raw,message",
    [
        ("a", "at least 2"),
        ("a" * 31, "at most 30"),
        ("al ice", "lower-case letters"),
        ("al-ice", "lower-case letters"),
        ("ålice", "lower-case letters"),
        ("dashboard", "reserved"),
        ("_whop", "reserved"),
        ("healthz", "reserved"),
        ("static", "reserved"),
        ("", "Choose a handle"),
    ],
)
def test_bad_handles_are_refused_with_a_reason(raw, message):
    with pytest.raises(InvalidField, match=message):
        clean_handle(raw)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("https://example.com/a?b=c#d", "https://example.com/a?b=c#d"),
        ("HTTP://Example.com", "http://Example.com"),
        ("example.com/shop", "https://example.com/shop"),
        ("mailto:me@example.com", "mailto:me@example.com"),
        ("tel:+15551234567", "tel:+15551234567"),
    ],
)
def test_allowed_urls_are_stored_re_serialised(raw, expected):
    assert clean_link_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://example.com",
        "https://user:pw@example.com",
        "https://",
        "https://localhost:99999",
        "mailto:",
        "\x00javascript:alert(1)",
        "javascript&#58;alert(1)",
        "https://exa mple.com",
        "https://javascript&x.com",
    ],
)
def test_unsafe_or_malformed_urls_are_refused(raw):
    with pytest.raises(InvalidField):
        clean_link_url(raw)


def test_avatars_must_be_https():
    assert clean_avatar_url("") == ""
    assert clean_avatar_url("https://cdn.example.com/me.png") == "https://cdn.example.com/me.png"
    with pytest.raises(InvalidField):
        clean_avatar_url("http://cdn.example.com/me.png")


DANGEROUS = ("javascript", "data", "vbscript")
_filler = st.sampled_from(
    ["", " ", "\t", "\n", "\r", "\x00", "\x0b", "\x1f", "\u200b", "\ufeff", "\u00a0"]
)


@st.composite
def scheme_variants(draw):
    """A dangerous scheme, mangled the ways browsers and filters disagree about."""
    name = draw(st.sampled_from(DANGEROUS))
    chars = []
    for ch in name:
        ch = ch.upper() if draw(st.booleans()) else ch
        if draw(st.integers(0, 4)) == 0:
            ch = draw(st.sampled_from([f"&#{ord(ch)};", f"&#x{ord(ch):x};", ch]))
        chars.append(ch + draw(_filler))
    colon = draw(st.sampled_from([":", "&#58;", "&colon;", "%3a", ":"]))
    prefix = draw(st.text(alphabet=" \t\n\r\x00\x01\x1f\ufeff", max_size=3))
    payload = draw(st.text(max_size=30))
    return prefix + "".join(chars) + colon + payload


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(scheme_variants())
def test_no_javascript_data_or_vbscript_variant_is_ever_accepted(raw):
    try:
        stored = clean_link_url(raw)
    except InvalidField:
        return
    # Whatever was accepted must be a plain allowed scheme as the browser will read it,
    # even after the HTML entity decoding an attribute value goes through.
    seen = html.unescape(stored).strip().lower()
    for ch in "\t\n\r":
        seen = seen.replace(ch, "")
    assert seen.split(":", 1)[0] in {"https", "http", "mailto", "tel"}
    assert not any(seen.startswith(bad) for bad in DANGEROUS)
    assert is_safe_href(stored)


# --- the studio's forms, built on the rules above -------------------------------------------


def test_only_links_premium_links_and_section_headers_can_be_created_in_the_studio():
    assert clean_link_kind("link") == "link"
    assert clean_link_kind("premium") == "premium"
    assert clean_link_kind("header") == "header"
    for kind in ("video", "", "LINK"):
        with pytest.raises(InvalidField):
            clean_link_kind(kind)


PROFILE = {
    "display_name": "A",
    "bio": "",
    "avatar_url": "",
    "theme": "mint",
    "accent_color": "#0f9d76",
}


def test_a_profile_form_reports_every_bad_field_and_keeps_what_was_typed():
    form = profile_form(
        {**PROFILE, "theme": "neon", "accent_color": "blue"}, current_accent="#0f9d76"
    )
    assert not form.ok
    assert set(form.errors) == {"theme", "accent_color"}
    assert form.values["accent_color"] == "blue"


@pytest.mark.parametrize(
    "typed,picked,stored",
    [
        ("#0f9d76", "#aa00bb", "#aa00bb"),  # text untouched: the picker was used
        ("#123456", "#0f9d76", "#123456"),  # text changed: it wins
        ("#123456", "#aa00bb", "#123456"),  # both changed (JS kept them in step): the text
        ("#0F9D76", "", "#0f9d76"),  # no picker sent
    ],
)
def test_the_accent_comes_from_whichever_control_was_changed(typed, picked, stored):
    form = profile_form(
        {**PROFILE, "accent_color": typed, "accent_picker": picked}, current_accent="#0f9d76"
    )
    assert form.ok and form.values["accent_color"] == stored


def test_a_header_needs_no_url_and_a_link_does():
    header = link_form({"title": "Music", "url": "javascript:x"}, kind="header", currency="usd")
    assert header.values == {
        "title": "Music",
        "url": "",
        "sensitive": "",
        "price": "",
        "starts_at": "",
        "ends_at": "",
    }
    form = link_form({"title": "Shop", "url": ""}, kind="link", currency="usd")
    assert form.errors == {"url": "Enter a URL."}


def test_an_unknown_kind_is_refused_but_the_rest_is_still_checked():
    form = new_link_form({"kind": "video", "title": "", "url": "https://e.com"}, currency="usd")
    assert set(form.errors) == {"kind", "title"}


def test_the_accent_ink_is_the_more_readable_of_black_and_white():
    assert "--page-accent-ink: #111111" in theme_stylesheet("#ffffff")
    assert "--page-accent-ink: #ffffff" in theme_stylesheet("#000000")
    assert "--page-accent: #0f9d76" in theme_stylesheet("not a colour;}body{x:y")


# --- names that could pass for files, and text that hides what it says --------------------


@pytest.mark.parametrize(
    "raw",
    [
        "index.html",
        "verify.txt",
        "sw.js",
        "manifest.json",
        "security.txt",
        "ads.txt",
        "feed.xml",
        "logo.png",
        "icon.ico",
        "app.webmanifest",
    ],
)
def test_handles_that_look_like_files_or_well_known_paths_are_refused(raw):
    with pytest.raises(InvalidField, match="reserved|looks like a file"):
        clean_handle(raw)


@pytest.mark.parametrize("raw", [".alice", "alice.", "al..ice", "..", "a.b.."])
def test_handles_have_no_leading_trailing_or_repeated_dots(raw):
    with pytest.raises(InvalidField, match="dot"):
        clean_handle(raw)


@pytest.mark.parametrize("raw", ["alice.smith", "j.doe", "html.fan", "the.json.guy"])
def test_dotted_handles_that_are_not_file_names_are_fine(raw):
    assert clean_handle(raw) == raw


def test_a_page_claimed_before_the_rules_tightened_is_still_found():
    assert canonical_handle("Index.HTML") == "index.html"
    with pytest.raises(InvalidField):
        canonical_handle("no spaces")


@pytest.mark.parametrize(
    "text",
    [
        "Sam\u202egpj.exe",  # right-to-left override
        "Sam\u2066x\u2069",  # isolates
        "\u200epay",  # left-to-right mark
        "pay\u200bpal",  # zero-width space
        "pay\u2060pal",  # word joiner
        "\ufeffpay",  # byte order mark
        "a\u200db",  # a joiner between letters joins nothing visible
        "a\u200c",  # a trailing non-joiner
        "flag\U000e0067",  # a tag character with no flag before it
    ],
)
def test_bidi_overrides_and_zero_width_characters_are_refused(text):
    for clean in (clean_display_name, clean_title, clean_bio):
        with pytest.raises(InvalidField, match=r"invisible character \(U\+"):
            clean(text)


@pytest.mark.parametrize(
    "text",
    [
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 family",  # one emoji made of three
        "\U0001f469\U0001f3fd\u200d\U0001f4bb dev",  # with a skin tone
        "\u2764\ufe0f\u200d\U0001f525",  # heart on fire
        "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # England
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: a non-joiner in a word
    ],
)
def test_the_invisible_characters_real_text_needs_are_kept(text):
    assert clean_display_name(text) == text
    assert clean_bio(text) == text


def test_non_ascii_link_hosts_are_also_shown_in_their_ascii_form():
    assert ascii_host("https://\u0440\u0430\u0443\u0440\u0430l.com/x") == "xn--l-7sba6dbr.com"
    assert ascii_host("https://b\u00fccher.example") == "xn--bcher-kva.example"
    assert ascii_host("https://example.com") is None
    assert ascii_host("mailto:me@example.com") is None
    assert ascii_host("") is None
    with pytest.raises(InvalidField, match="international domain"):
        clean_link_url("https://ab\u0660\u06f0.com")
