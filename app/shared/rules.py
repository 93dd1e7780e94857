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

import idna

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
    ads.txt app-ads.txt humans.txt security.txt manifest.json manifest.webmanifest sw.js
    service-worker.js browserconfig.xml crossdomain.xml apple-app-site-association
    """.split()
)
# A handle is the first path segment of a public page, so one that looks like a file
# (`/sw.js`, `/index.html`, `/verify.txt`) could pass for a file of the site: browsers, site
# verifiers and scanners treat such paths specially. Any handle ending in one is refused.
FILE_SUFFIXES = frozenset(
    """
    asp aspx bak bmp cgi conf css csv env gif gz htm html ico ini jpeg jpg js json jsp log map
    md mjs php pdf pem png py rss sh sql svg tar tgz toml txt wasm webmanifest webp xml yaml
    yml zip
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


def canonical_handle(raw: str) -> str:
    """The handle a path or a form names, lower-cased and checked for its alphabet and
    length only: pages claimed before a naming rule tightened stay reachable."""
    handle = raw.strip().lower().removeprefix("@")
    if not handle:
        raise InvalidField("Choose a handle.")
    if len(handle) < HANDLE_MIN:
        raise InvalidField(f"A handle needs at least {HANDLE_MIN} characters.")
    if len(handle) > HANDLE_MAX:
        raise InvalidField(f"A handle can have at most {HANDLE_MAX} characters.")
    if not HANDLE_RE.fullmatch(handle):
        raise InvalidField("Use only lower-case letters, digits, '_' and '.'.")
    return handle


def clean_handle(raw: str) -> str:
    """A handle a creator may claim now."""
    handle = canonical_handle(raw)
    if handle.startswith(".") or handle.endswith("."):
        raise InvalidField("A handle cannot start or end with a dot.")
    if ".." in handle:
        raise InvalidField("A handle cannot have two dots in a row.")
    if handle in RESERVED_HANDLES:
        raise InvalidField(f"“{handle}” is reserved. Try another.")
    if "." in handle and handle.rsplit(".", 1)[1] in FILE_SUFFIXES:
        raise InvalidField(f"“{handle}” looks like a file name. Try another.")
    return handle


ZWNJ, ZWJ, EMOJI_VARIATION = "\u200c", "\u200d", "\ufe0f"


def _looks_like_emoji(ch: str) -> bool:
    return ch == EMOJI_VARIATION or unicodedata.category(ch) in ("So", "Sk")


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith(("L", "M"))


def _allowed_format_character(value: str, at: int) -> bool:
    """The invisible characters text really needs: a joiner inside an emoji sequence
    (woman, joiner, laptop: one emoji), a non-joiner between letters (Persian and Indic
    scripts), and the tag characters of subdivision flags (a black flag, then tags)."""
    ch = value[at]
    before = value[at - 1] if at > 0 else ""
    after = value[at + 1] if at + 1 < len(value) else ""
    if ch == ZWJ:
        return bool(before and after) and _looks_like_emoji(before) and _looks_like_emoji(after)
    if ch == ZWNJ:
        return bool(before and after) and _is_letter(before) and _is_letter(after)
    if "\U000e0020" <= ch <= "\U000e007f":
        return "\U0001f3f4" in value[max(0, at - 8) : at]
    return False


def _reject_hidden_text(value: str, field: str) -> None:
    """Bidi overrides (which reverse the text after them, so a name ending in "gpj.exe"
    after a right-to-left override reads as "exe.jpg") and zero-width characters (which
    make two different texts look the same) are refused; both are format characters
    (Unicode category Cf)."""
    for at, ch in enumerate(value):
        if unicodedata.category(ch) == "Cf" and not _allowed_format_character(value, at):
            raise InvalidField(
                f"{field} contains an invisible character (U+{ord(ch):04X}) that changes "
                "how text reads. Remove it and type the text again."
            )


def _single_line(raw: str, *, field: str, limit: int, required: bool = False) -> str:
    value = " ".join(raw.split())
    if required and not value:
        raise InvalidField(f"{field} cannot be empty.")
    if len(value) > limit:
        raise InvalidField(f"{field} can have at most {limit} characters.")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidField(f"{field} contains control characters.")
    _reject_hidden_text(value, field)
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
    _reject_hidden_text(value, "Bio")
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
    cents: int = int(whole or "0") * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
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
        if not host.isascii():
            try:
                idna.encode(host, uts46=True)
            except idna.IDNAError:
                raise InvalidField(
                    "That web address is not a valid international domain name."
                ) from None
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


def ascii_host(url: str | None) -> str | None:
    """The punycode form of a web link's host when it has non-ASCII letters, else None.

    `раураl.com` in Cyrillic looks like `paypal.com`; the ASCII form (`xn--…`) is what the
    creator sees beside it, so a link pasted from somewhere else cannot pass for another."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host or host.isascii():
        return None
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return "(not a valid international domain name)"


def is_safe_href(url: str | None) -> bool:
    """Render-time re-check of a stored URL (defence in depth against old or hand-edited rows)."""
    if not url:
        return False
    try:
        return clean_link_url(url) == url
    except InvalidField:
        return False
