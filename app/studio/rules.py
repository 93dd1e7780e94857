"""What a creator may write: handles, profile fields, link titles, URLs and prices.

Each `clean_*` function takes what the browser sent and returns the value to store, or
raises `InvalidField` with a message meant for the person typing. Jinja's autoescape
does not stop `javascript:` in an `href`, so link URLs are checked on the *parsed* URL
against an allow-list of schemes, and the re-serialised URL is what gets stored.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

from app.whop.money import currency_exponent

HANDLE_MIN, HANDLE_MAX = 2, 30
HANDLE_RE = re.compile(r"[a-z0-9_.]+")
# Every first path segment the app routes itself, and names people would mistake for ours.
RESERVED_HANDLES = frozenset(
    """
    _whop about account admin api app assets auth billing blog checkout contact dashboard
    docs favicon.ico health healthz help home legal linkmint login logout me metrics new
    payouts pricing privacy readyz robots.txt root security settings signin signout signup
    sitemap.xml static status support terms u unlocks user users webhooks whop www
    """.split()
)

DISPLAY_NAME_MAX = 60
BIO_MAX = 280
TITLE_MAX = 100
URL_MAX = 2048
AVATAR_URL_MAX = 500
MAX_LINKS = 200  # per creator: keeps the public page (the hot path) small

LINK_SCHEMES = frozenset({"https", "http", "mailto", "tel"})
THEMES = ("mint", "midnight", "sunrise", "paper", "ocean")
ACCENT_RE = re.compile(r"#[0-9a-f]{6}")
HOST_RE = re.compile(r"[\w.-]+")  # letters of any script (IDN), digits, '.', '-' and '_'
PRICE_RE = re.compile(r"(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?")
THOUSANDS_RE = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
DECIMAL_COMMA_RE = re.compile(r"[0-9]+,[0-9]{1,3}")
PRICE_DIGITS_MAX = 9  # whole units; far beyond any price bound, short of integer overflow


class InvalidField(ValueError):
    """A value the creator must change; `str(exc)` is shown beside the field."""


def clean_handle(raw: str) -> str:
    handle = raw.strip().lower().removeprefix("@")
    if not handle:
        raise InvalidField("Choose a handle.")
    if len(handle) < HANDLE_MIN:
        raise InvalidField(f"A handle needs at least {HANDLE_MIN} characters.")
    if len(handle) > HANDLE_MAX:
        raise InvalidField(f"A handle can have at most {HANDLE_MAX} characters.")
    if not HANDLE_RE.fullmatch(handle):
        raise InvalidField("Use only lower-case letters, digits, '_' and '.'.")
    if handle in RESERVED_HANDLES:
        raise InvalidField(f"“{handle}” is reserved. Try another.")
    return handle


def _single_line(raw: str, *, field: str, limit: int, required: bool = False) -> str:
    value = " ".join(raw.split())
    if required and not value:
        raise InvalidField(f"{field} cannot be empty.")
    if len(value) > limit:
        raise InvalidField(f"{field} can have at most {limit} characters.")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidField(f"{field} contains control characters.")
    return value


def clean_display_name(raw: str) -> str:
    return _single_line(raw, field="Display name", limit=DISPLAY_NAME_MAX)


def clean_title(raw: str) -> str:
    return _single_line(raw, field="Title", limit=TITLE_MAX, required=True)


def clean_bio(raw: str) -> str:
    value = raw.replace("\r\n", "\n").strip()
    if len(value) > BIO_MAX:
        raise InvalidField(f"Bio can have at most {BIO_MAX} characters.")
    if any(unicodedata.category(ch) == "Cc" and ch != "\n" for ch in value):
        raise InvalidField("Bio contains control characters.")
    return value


def clean_link_kind(raw: str) -> str:
    """What the studio may create: a link, a premium (pay to unlock) link or a section header."""
    if raw not in ("link", "premium", "header"):
        raise InvalidField("Choose a link, a premium link or a section header.")
    return raw


def parse_price(raw: str, currency: str) -> int:
    """A price as typed ("4.99", "$4.99", "1,250.00", "5") in integer minor units of
    `currency`, parsed digit by digit (never through a float). Bounds are `MoneyRules`'."""
    text = raw.strip().lstrip("$€£¥").strip()
    if not text:
        raise InvalidField("Enter a price, like 4.99.")
    if text.startswith("-"):
        raise InvalidField("A price must be more than zero.")
    exponent = currency_exponent(currency)
    if THOUSANDS_RE.fullmatch(text):
        text = text.replace(",", "")
    elif "," in text:
        if exponent and DECIMAL_COMMA_RE.fullmatch(text):
            raise InvalidField("Use a point for the decimals, like 4.99.")
        raise InvalidField("Enter the price as a number, like 4.99.")
    match = PRICE_RE.fullmatch(text)
    if not match:
        raise InvalidField("Enter the price as a number, like 4.99.")
    whole, fraction = match["whole"] or "", match["fraction"] or ""
    if not whole and not fraction:
        raise InvalidField("Enter the price as a number, like 4.99.")
    if len(whole.lstrip("0")) > PRICE_DIGITS_MAX:
        raise InvalidField("That price is far too large.")
    if len(fraction) > exponent:
        if exponent == 0:
            raise InvalidField(f"Prices in {currency.upper()} are whole numbers.")
        raise InvalidField(f"Use at most {exponent} decimals, like 4.99.")
    cents = int(whole or "0") * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
    if cents <= 0:
        raise InvalidField("A price must be more than zero.")
    return cents


def price_input(cents: int, currency: str) -> str:
    """Minor units back as the creator would type them (499 usd → "4.99")."""
    exponent = currency_exponent(currency)
    if exponent == 0:
        return str(cents)
    whole, fraction = divmod(cents, 10**exponent)
    return f"{whole}.{fraction:0{exponent}d}"


def clean_theme(raw: str) -> str:
    if raw not in THEMES:
        raise InvalidField("Choose one of the themes shown.")
    return raw


def clean_accent(raw: str) -> str:
    value = raw.strip().lower()
    if not ACCENT_RE.fullmatch(value):
        raise InvalidField("Use a colour like #0f9d76.")
    return value


def _reject_unsafe_text(url: str) -> None:
    # Control characters and whitespace inside a URL are how scheme filters get fooled
    # ("java\tscript:"); a real link never needs them.
    for ch in url:
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            raise InvalidField("A link cannot contain spaces or invisible characters.")


def clean_link_url(
    raw: str, *, limit: int = URL_MAX, schemes: frozenset[str] = LINK_SCHEMES
) -> str:
    """An `https`, `http`, `mailto` or `tel` URL, re-serialised; anything else is refused."""
    url = raw.strip()
    if not url:
        raise InvalidField("Enter a URL.")
    if len(url) > limit:
        raise InvalidField(f"A URL can have at most {limit} characters.")
    _reject_unsafe_text(url)
    if "://" not in url and ":" not in url.split("/", 1)[0]:
        url = "https://" + url  # "example.com/shop" means https://example.com/shop
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidField("That does not look like a URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        if len(schemes) == 1:
            raise InvalidField(f"Use an address starting with {next(iter(schemes))}://.")
        allowed = ", ".join(sorted(schemes))
        raise InvalidField(f"Links must start with one of: {allowed}.")
    if scheme in ("http", "https"):
        try:
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise InvalidField("That web address has a malformed host or port.") from None
        if not host or "." not in host.strip(".") and host != "localhost":
            raise InvalidField("That web address needs a domain, like example.com.")
        if not HOST_RE.fullmatch(host) and not parts.netloc.split("@")[-1].startswith("["):
            raise InvalidField("That web address has characters a domain cannot have.")
        if parts.username or parts.password:
            raise InvalidField("Links cannot carry a user name or password.")
    elif not parts.path:
        raise InvalidField(f"A {scheme}: link needs an address after the colon.")
    cleaned = urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))
    if len(cleaned) > limit:
        raise InvalidField(f"A URL can have at most {limit} characters.")
    return cleaned


def clean_avatar_url(raw: str) -> str:
    """Avatars are images on the web: https only (an http image would be mixed content)."""
    if not raw.strip():
        return ""
    return clean_link_url(raw, limit=AVATAR_URL_MAX, schemes=frozenset({"https"}))


def is_safe_href(url: str | None) -> bool:
    """Render-time re-check of a stored URL (defence in depth against old or hand-edited rows)."""
    if not url:
        return False
    try:
        return clean_link_url(url) == url
    except InvalidField:
        return False
