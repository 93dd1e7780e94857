"""What a creator may write: handles and link URLs (including a Hypothesis fuzz of schemes)."""

from __future__ import annotations

import html

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.studio.rules import (
    InvalidField,
    clean_avatar_url,
    clean_handle,
    clean_link_url,
    is_safe_href,
)


@pytest.mark.parametrize("raw,expected", [("Alice", "alice"), ("@bob_1.x", "bob_1.x"), (" zz ", "zz")])
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
_filler = st.sampled_from(["", " ", "\t", "\n", "\r", "\x00", "\x0b", "\x1f", "\u200b", "\ufeff", "\u00a0"])


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
