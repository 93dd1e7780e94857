"""What a creator may write: handles, profile fields, link titles, URLs and prices.

Each `clean_*` function takes what the browser sent and returns the value to store, or
raises `InvalidField` with a message meant for the person typing. Jinja's autoescape
does not stop `javascript:` in an `href`, so link URLs are checked on the *parsed* URL
against an allow-list of schemes, and the re-serialised URL is what gets stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, available_timezones

import idna

from app.shared.dates import format_datetime
from app.whop.money import currency_exponent

HANDLE_MIN, HANDLE_MAX = 2, 30
HANDLE_RE = re.compile(r"[a-z0-9_.]+")
# Every first path segment the app routes itself, and names people would mistake for ours.
RESERVED_HANDLES = frozenset(
    """
    _whop about account admin api app assets auth billing blog checkout contact dashboard
    docs favicon.ico health healthz help home legal linkmint login logout me metrics new
    media payouts pricing privacy readyz robots.txt root security settings signin signout signup
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
# Uploaded avatars' renditions: the page shows 96 CSS px; the larger serves denser screens
# and link previews (og:image), which want at least 200 px.
AVATAR_SIZES = (96, 256)
# What the larger rendition was before: its addresses redirect to the current size.
AVATAR_FORMER_SIZE = 192
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


def example_price(currency: str) -> str:
    """A price as a creator would type it in `currency`, for messages and placeholders:
    "4.99" (two decimals), "500" (none, as JPY), "4.990" (three, as KWD)."""
    exponent = currency_exponent(currency)
    return "4." + "99".ljust(exponent, "0") if exponent else "500"


def example_minor_units(currency: str) -> int:
    """`example_price` in minor units: 499, 500, 4990."""
    return int(example_price(currency).replace(".", ""))


def parse_price(raw: str, currency: str) -> int:
    """A price as typed ("4.99", "$4.99", "1,250.00", "5") in integer minor units of
    `currency`, parsed digit by digit (never through a float). Bounds are `MoneyRules`'.
    Each refusal shows an example typed in `currency` (`example_price`)."""
    like = example_price(currency)
    text = raw.strip().lstrip("$€£¥").strip()
    if not text:
        raise InvalidField(f"Enter a price, like {like}.")
    if text.startswith("-"):
        raise InvalidField("A price must be more than zero.")
    exponent = currency_exponent(currency)
    if THOUSANDS_RE.fullmatch(text):
        text = text.replace(",", "")
    elif "," in text:
        if exponent and DECIMAL_COMMA_RE.fullmatch(text):
            raise InvalidField(f"Use a point for the decimals, like {like}.")
        raise InvalidField(f"Enter the price as a number, like {like}.")
    match = PRICE_RE.fullmatch(text)
    if not match:
        raise InvalidField(f"Enter the price as a number, like {like}.")
    whole, fraction = match["whole"] or "", match["fraction"] or ""
    if not whole and not fraction:
        raise InvalidField(f"Enter the price as a number, like {like}.")
    if len(whole.lstrip("0")) > PRICE_DIGITS_MAX:
        raise InvalidField("That price is far too large.")
    if len(fraction) > exponent:
        if exponent == 0:
            raise InvalidField(f"Prices in {currency.upper()} are whole numbers, like {like}.")
        raise InvalidField(f"Use at most {exponent} decimals, like {like}.")
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
    if problem := accent_problem(value):
        raise InvalidField(problem)
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


# --- link schedules -----------------------------------------------------------------------

# A `datetime-local` input sends "2026-12-04T09:00" (seconds only when a step asks for them).
LOCAL_TIME_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?")
SCHEDULE_YEARS = (2000, 2099)  # beyond these a date is a typo, not a plan
DEFAULT_TIME_ZONE = "UTC"


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every IANA zone this system knows, sorted (the studio's select); not `localtime`,
    which is whatever the server's own zone is, nor the tz database's placeholders."""
    return tuple(sorted(available_timezones() - {"localtime", "Factory", "posixrules"}))


def clean_time_zone(raw: str) -> str:
    name = raw.strip()
    if name not in time_zone_names():
        raise InvalidField("Choose a time zone from the list, like Europe/Berlin.")
    return name


def zone_named(name: str) -> ZoneInfo:
    """The zone a creator chose; UTC if the stored name is unknown here (say, a zone that a
    newer tz database added and this system lacks)."""
    return ZoneInfo(name if name in time_zone_names() else DEFAULT_TIME_ZONE)


def describe_local_time(local: datetime) -> str:
    """4 Dec 2026, 09:00"""
    return format_datetime(local)


def parse_local_time(raw: str, zone_name: str) -> datetime | None:
    """A wall-clock time as a `datetime-local` input sends it, read in the creator's zone,
    as an aware UTC datetime; None when left empty. A time the clocks skip (the spring
    forward gap) or pass twice (the autumn hour) is refused: either would be a guess."""
    text = raw.strip()
    if not text:
        return None
    match = LOCAL_TIME_RE.fullmatch(text)
    if not match:
        raise InvalidField("Enter a date and a time, like 2026-12-04 09:00.")
    year, month, day, hour, minute = (int(part) for part in match.groups()[:5])
    if not SCHEDULE_YEARS[0] <= year <= SCHEDULE_YEARS[1]:
        raise InvalidField(f"Choose a date between {SCHEDULE_YEARS[0]} and {SCHEDULE_YEARS[1]}.")
    try:
        wall = datetime(year, month, day, hour, minute)  # noqa: DTZ001 (a zone is added below)
    except ValueError:
        raise InvalidField("That date does not exist. Check the day and the month.") from None
    zone = zone_named(zone_name)
    earlier = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    later = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if earlier != later:
        when = describe_local_time(wall)
        if earlier.astimezone(zone).replace(tzinfo=None) != wall:
            raise InvalidField(
                f"{when} does not exist in {zone.key}: the clocks skip that hour. "
                "Choose a time outside it."
            )
        raise InvalidField(
            f"{when} happens twice in {zone.key}: the clocks go back that hour. "
            "Choose a time outside it."
        )
    return earlier


def local_time_input(moment: datetime | None, zone_name: str) -> str:
    """A stored UTC time back as the creator's `datetime-local` value ("2026-12-04T09:00")."""
    if moment is None:
        return ""
    return moment.astimezone(zone_named(zone_name)).strftime("%Y-%m-%dT%H:%M")


# --- accent colour contrast (WCAG 2.x) ------------------------------------------------------

# Text on the accent (the Unlock button, a link card under the pointer, the monogram) is
# white or this near-black, whichever reads better. Between them lies a band of middle
# tones where neither reaches AA; such an accent is refused when saved, and one already
# stored gets pure black at render time, which always reaches it.
INK_LIGHT, INK_DARK, INK_LAST_RESORT = "#ffffff", "#111111", "#000000"
AA_TEXT = 4.5  # WCAG 2.x 1.4.3, normal text
AA_NON_TEXT = 3.0  # WCAG 2.1 1.4.11, a button's shape against the page


def _linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


# Each channel's linear value, by its byte: a page's stylesheet searches hundreds of mixes
# of its accent (`accent_on`), and the power each needs dominated that search.
_LINEAR = tuple(_linear(byte / 255) for byte in range(256))


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of "#rrggbb": 0 for black, 1 for white."""
    r, g, b = (_LINEAR[int(colour[i : i + 2], 16)] for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2.x contrast ratio of two "#rrggbb" colours, from 1 (same) to 21."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def mix(colour: str, other: str, amount: float) -> str:
    """`colour` moved `amount` (0 to 1) of the way towards `other`, in sRGB."""
    channels = (
        round(int(colour[i : i + 2], 16) * (1 - amount) + int(other[i : i + 2], 16) * amount)
        for i in (1, 3, 5)
    )
    return "#" + "".join(f"{c:02x}" for c in channels)


def _best_ink(accent: str) -> tuple[str, float]:
    return _best_ink_for(relative_luminance(accent))


_INK_LUMINANCE = {ink: relative_luminance(ink) for ink in (INK_LIGHT, INK_DARK)}


def _ratio(la: float, lb: float) -> float:
    """`contrast_ratio` of two relative luminances."""
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def _best_ink_for(luminance: float) -> tuple[str, float]:
    return max(
        ((ink, _ratio(luminance, lum)) for ink, lum in _INK_LUMINANCE.items()),
        key=lambda pair: pair[1],
    )


def accent_ink(accent: str) -> str:
    """The text colour on the accent: white or near-black, whichever contrasts more, and
    pure black for a middle tone where neither reaches AA (an accent stored before the
    rule)."""
    ink, ratio = _best_ink(accent)
    return ink if ratio >= AA_TEXT else INK_LAST_RESORT


def _towards(colour: str, target: str, good: Callable[[float], bool]) -> str:
    """The least mix of `colour` towards `target` (in 1 % steps, as `mix` makes them) whose
    relative luminance is `good`. Every test the search makes is of a contrast, and so of
    the candidate's luminance alone: each step is worked out on channel bytes, and only the
    answer is written as a colour (a page's stylesheet searches up to 101 steps for each of
    five themes, on every render of a page whose accent is new to the process)."""
    r0, g0, b0 = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    r1, g1, b1 = (int(target[i : i + 2], 16) for i in (1, 3, 5))
    linear = _LINEAR
    for step in range(101):
        amount = step / 100
        keep = 1 - amount
        r = round(r0 * keep + r1 * amount)
        g = round(g0 * keep + g1 * amount)
        b = round(b0 * keep + b1 * amount)
        if good(0.2126 * linear[r] + 0.7152 * linear[g] + 0.0722 * linear[b]):
            return f"#{r:02x}{g:02x}{b:02x}"
    return target


def accent_problem(accent: str) -> str | None:
    """Why a well-formed accent cannot be used for buttons, with the nearest colours that
    can (a darker one for white text, a lighter one for dark text); None when it can."""
    _, ratio = _best_ink(accent)
    if ratio >= AA_TEXT:
        return None
    light, dark = _INK_LUMINANCE[INK_LIGHT], _INK_LUMINANCE[INK_DARK]
    darker = _towards(accent, "#000000", lambda lum: _ratio(lum, light) >= AA_TEXT)
    lighter = _towards(accent, "#ffffff", lambda lum: _ratio(lum, dark) >= AA_TEXT)
    shown = f"{int(ratio * 10) / 10:.1f}"  # rounded down: 4.48 must not read as 4.5
    return (
        f"{accent} is a middle tone: neither white nor dark text on your buttons would be "
        f"readable enough (contrast {shown}:1, needs {AA_TEXT}:1). "
        f"Try {darker} or darker for white text, or {lighter} or lighter for dark text."
    )


def accent_on(background: str, accent: str) -> str:
    """The accent as a page with this background shows it: unchanged when it stands out
    (3:1, like any button's shape), else lightened (or darkened) just enough, so that a
    near-black accent still shows on a dark page. Its text stays readable too."""
    page = relative_luminance(background)

    light, dark = _INK_LUMINANCE[INK_LIGHT], _INK_LUMINANCE[INK_DARK]

    def stands_out(luminance: float) -> bool:
        # (`_best_ink_for(luminance)[1] >= AA_TEXT`, written out: it runs at every step.)
        return _ratio(luminance, page) >= AA_NON_TEXT and (
            _ratio(luminance, light) >= AA_TEXT or _ratio(luminance, dark) >= AA_TEXT
        )

    if stands_out(relative_luminance(accent)):
        return accent
    dark_page = contrast_ratio(background, "#ffffff") > contrast_ratio(background, "#000000")
    return _towards(accent, "#ffffff" if dark_page else "#000000", stands_out)
