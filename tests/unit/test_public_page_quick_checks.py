"""The public page's shortcuts give exactly the answers of the checks they stand for: a
plain web address is safe without re-parsing it, and the accent search reads luminances
from a table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.profiles.service import _PLAIN_WEB_URL, safe_href
from app.shared.rules import is_safe_href, relative_luminance

# What a stored address may hold, weighted towards the characters that make parsing differ:
# separators, upper case, spaces, controls, brackets, non-ASCII letters.
URLISH = st.lists(
    st.sampled_from(
        [*"abcxyzABCXYZ0129.-_~/?#:@!$&'()*+,;=%[] \t\n\x00\u200b\u00e4\u00df"]
        + ["https://", "http://", "mailto:", "javascript:", "www.", ".com", "//"]
    ),
    max_size=24,
).map("".join)


@settings(max_examples=250, deadline=None)  # addresses from a regex are slow to make
@given(st.from_regex(_PLAIN_WEB_URL, fullmatch=True).filter(lambda url: len(url) <= 2048))
def test_every_address_the_shortcut_accepts_passes_the_full_check(url):
    assert is_safe_href(url)


# Plain web addresses, and the same with one character slipped in somewhere.
PLAIN = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["https://", "http://"]),
        st.sampled_from(["example.com", "a.b", "shop.example.co.uk", "x-y.io", "ex_am.com"]),
        st.sampled_from(["", "/", "/p/q", "/a?b=1", "/a?b=1#c", "?q", "#f", "/x?", "/x#", "/x?#"]),
    ),
)
ODD = [*' \t\n\x00\u200b\u00e4[]\\|<>"`^{}?#:@/.%A-_']
SLIPPED = st.builds(
    lambda url, at, odd: url[:at] + odd + url[at:],
    PLAIN,
    st.integers(min_value=0, max_value=30),
    st.sampled_from(ODD),
)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(PLAIN, SLIPPED, URLISH))
def test_the_shortcut_answers_as_the_full_check(url):
    assert safe_href(url) == is_safe_href(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a?b=c#d",
        "http://shop.example.co.uk",
        "https://Example.com/",  # upper case: the full check (which keeps it as typed)
        "mailto:me@example.com",
        "tel:+441234",
        "https://bücher.example/",
    ],
)
def test_safe_addresses_stay_safe(url):
    assert safe_href(url)


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "https://example.com/a b",
        "https://example.com/?",  # would be re-serialised without its "?"
        "https://example.com/#",
        "https://user:pw@example.com/",
        "https://example.com:99999/",
        "https://exa\u200bmple.com/",
        "https://localhost\t/",
        "https://" + "a" * 2050 + ".com",
    ],
)
def test_unsafe_addresses_stay_unsafe(url):
    assert not safe_href(url)


def test_the_luminance_table_gives_the_wcag_formula_for_every_channel_value():
    def linear(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    for value in range(256):
        for r, g, b in ((value, 0, 0), (0, value, 0), (0, 0, value), (value, 255 - value, 7)):
            expected = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
            assert relative_luminance(f"#{r:02x}{g:02x}{b:02x}") == expected
