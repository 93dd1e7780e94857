"""Loading a public page: the hot path. One statement, no session lookup, no ORM objects.

The same `PublicPage` feeds the public page and the studio's live preview, so what a creator
previews is exactly what a visitor gets. Every stored URL is re-checked here, at render time,
with `is_safe_href` (`safe_href`): a row written before a rule tightened (or edited by hand)
can never become a `javascript:` link.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg

from app.auth.service import CreatorRecord
from app.db.engine import BoundedPostgresEngine, app_engine
from app.db.tables import Creator, Link, is_serial_id
from app.shared.money import format_money
from app.shared.rules import ACCENT_RE, THEMES, URL_MAX, accent_ink, accent_on, is_safe_href
from app.shared.socials import NETWORKS, Icon, accessible_name

DEFAULT_ACCENT = "#0f9d76"

# What a visitor may see of a link now.
_VISIBLE = (
    "enabled AND kind IN ('link', 'header', 'premium') "
    "AND (starts_at IS NULL OR starts_at <= now()) AND (ends_at IS NULL OR ends_at > now())"
)
# A visible link's columns, in the order `_public_link` reads them. A premium link's URL is
# never selected: the page is the same for every visitor, and only its buyer may see it
# (through app.payments, in a private fragment).
_LINK = "id, kind, title, CASE WHEN kind = 'premium' THEN '' ELSE url END, price_cents, sensitive"
_SOCIAL = "id, network, url, label"  # in the order `_public_socials` reads them
# Hand-written, in asyncpg's own SQL ($1): this is the measured hot path (`_fetch`).
# (S608: built from the constants above; every value is a parameter.)
_VISIBLE_LINKS_SQL = (
    f"SELECT {_LINK} FROM link WHERE creator = $1 AND {_VISIBLE} ORDER BY position, id"  # noqa: S608
)
_SOCIALS_SQL = f"SELECT {_SOCIAL} FROM creator_social WHERE creator = $1 ORDER BY position, id"  # noqa: S608
# The public page in one round trip: the creator; `changes_in`, seconds until the next
# scheduled link starts or ends (NULL: none ahead), on the database's clock, so the page
# cache can expire an entry exactly when the page changes; and its social icons and visible
# links, each an array of records (NULL: none), which asyncpg decodes into tuples (cheaper,
# on both sides, than JSON built by the server and parsed again here).
_PAGE_SQL = (
    "SELECT id, handle, display_name, bio, avatar_url, avatar_image, theme, accent_color, "  # noqa: S608
    "currency, payout_enabled, whop_company_id, sensitive, "
    "(SELECT EXTRACT(EPOCH FROM least(min(starts_at) FILTER (WHERE starts_at > now()), "
    "min(ends_at) FILTER (WHERE ends_at > now())) - now())::float8 "
    "FROM link WHERE link.creator = creator.id AND enabled) AS changes_in, "
    f"(SELECT array_agg(({_SOCIAL}) ORDER BY position, id) FROM creator_social "
    "WHERE creator_social.creator = creator.id) AS socials, "
    f"(SELECT array_agg(({_LINK}) ORDER BY position, id) FROM link "
    f"WHERE link.creator = creator.id AND {_VISIBLE}) AS links "
    "FROM creator WHERE handle = $1"
)


@dataclass(frozen=True, slots=True)
class PublicLink:
    kind: str  # "link", "header" or "premium"
    title: str
    href: str | None  # None: the stored URL failed the render-time check (or is premium)
    id: int = 0
    price: str = ""  # premium: the formatted price when it is for sale, else ""
    sensitive: bool = False  # 18+: the page links to a warning (profiles:sensitive_link)


@dataclass(frozen=True, slots=True)
class PublicSocial:
    """A profile elsewhere, as an icon: `name` is its accessible name ("Instagram: @name")."""

    network: str
    href: str
    label: str
    name: str
    icon: Icon
    id: int = 0

    @property
    def network_name(self) -> str:
        return NETWORKS[self.network].name


# The shape nearly every stored web address has: lower-case http(s), a host name of ASCII
# letters, digits and hyphens, no port, no user, nothing a parser would drop or re-encode,
# and a query or fragment only when it is not empty. Such a URL comes back from
# `clean_link_url` unchanged, so it passes `is_safe_href` as it stands; a page checks a
# dozen at each render, and parsing each again costs more than the rest of the page's
# Python. Anything else (mailto:, tel:, IDN, ports, upper case, …) takes the full check.
_PLAIN_WEB_URL = re.compile(
    r"https?://[a-z0-9-]+(?:\.[a-z0-9-]+)+"
    r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?"
    r"(?:\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]+)?"
    r"(?:#[A-Za-z0-9._~!$&'()*+,;=:@%/?-]+)?"
)


def safe_href(url: str | None) -> bool:
    """`is_safe_href`, with a quick yes for a plain web address (`_PLAIN_WEB_URL`)."""
    if url and len(url) <= URL_MAX and _PLAIN_WEB_URL.fullmatch(url):
        return True
    return is_safe_href(url)


def _public_socials(rows: Iterable[Sequence[Any]]) -> tuple[PublicSocial, ...]:
    """The social icons (`_SOCIAL` rows); a row whose address fails the render-time check,
    or whose network is unknown, is left out (an email address only ever as mailto:)."""
    socials = []
    for social_id, network, url, label in rows:
        if (
            network in NETWORKS
            and safe_href(url)
            and (network == "email") == url.startswith("mailto:")
        ):
            name = accessible_name(network, label)
            icon = NETWORKS[network].icon
            socials.append(PublicSocial(network, url, label, name, icon, social_id))
    return tuple(socials)


async def socials_of(creator_id: int) -> tuple[PublicSocial, ...]:
    """A creator's social icons in their order (the preview's, and the studio's card)."""
    return _public_socials(await _fetch(_app_engine(), _SOCIALS_SQL, creator_id))


@dataclass(frozen=True, slots=True)
class PublicPage:
    handle: str
    name: str  # the display name, or @handle when there is none
    bio: str
    avatar_url: str | None
    theme: str
    accent: str
    links: tuple[PublicLink, ...]
    creator_id: int = 0
    changes_in: float | None = None  # seconds to the next schedule boundary (public_page only)
    socials: tuple[PublicSocial, ...] = ()  # the row of icons under the header
    sensitive: bool = False  # 18+: visitors get an interstitial first, previews learn nothing
    avatar_image: str | None = None  # an upload (served by app/profiles/media.py), else avatar_url

    @property
    def has_premium(self) -> bool:
        return any(link.kind == "premium" for link in self.links)

    @property
    def monogram(self) -> str:
        return (self.name.lstrip("@")[:1] or "?").upper()

    @property
    def description(self) -> str:
        return self.bio or f"{self.name} on Linkmint"

    @property
    def theme_version(self) -> str:
        return theme_version(self.accent)


@lru_cache(maxsize=1024)
def theme_version(accent: str) -> str:
    """Changes whenever the stylesheet's content does, so the URL can be cached for a year."""
    return hashlib.sha256(theme_stylesheet(accent).encode()).hexdigest()[:10]


def _safe_accent(value: str | None) -> str:
    return value if value and ACCENT_RE.fullmatch(value) else DEFAULT_ACCENT


@dataclass(frozen=True, slots=True)
class PageOwner:
    """What a page shows of its creator: the columns `_PAGE_SQL` selects."""

    id: int
    handle: str | None
    display_name: str
    bio: str
    avatar_url: str
    avatar_image: str | None
    theme: str
    accent_color: str
    currency: str
    for_sale: bool  # payouts are on and a company is connected: premium links show a price
    sensitive: bool  # 18+: the whole page

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PageOwner:
        return cls(
            id=row["id"],
            handle=row["handle"],
            display_name=row["display_name"],
            bio=row["bio"],
            avatar_url=row["avatar_url"],
            avatar_image=row["avatar_image"],
            theme=row["theme"],
            accent_color=row["accent_color"],
            currency=row["currency"],
            for_sale=bool(row["payout_enabled"] and row["whop_company_id"]),
            sensitive=row["sensitive"],
        )

    @classmethod
    def of(cls, creator: CreatorRecord) -> PageOwner:
        return cls(
            id=creator.id,
            handle=creator.handle,
            display_name=creator.display_name,
            bio=creator.bio,
            avatar_url=creator.avatar_url,
            avatar_image=creator.avatar_image,
            theme=creator.theme,
            accent_color=creator.accent_color,
            currency=creator.currency,
            for_sale=bool(creator.payout_enabled and creator.whop_company_id),
            sensitive=creator.sensitive,
        )


def _public_link(row: Sequence[Any], owner: PageOwner) -> PublicLink:
    """A visible link (a `_LINK` row) as the page shows it."""
    link_id, kind, title, url, price_cents, sensitive = row
    for_sale = kind == "premium" and owner.for_sale and (price_cents or 0) > 0
    return PublicLink(
        kind=kind,
        title=title,
        href=url if kind == "link" and safe_href(url) else None,
        id=link_id,
        price=format_money(price_cents, owner.currency) if for_sale else "",
        sensitive=kind == "link" and bool(sensitive),
    )


def _build(
    owner: PageOwner,
    link_rows: Iterable[Sequence[Any]],
    socials: tuple[PublicSocial, ...],
    changes_in: float | None = None,
) -> PublicPage:
    handle = owner.handle or ""
    avatar = owner.avatar_url
    return PublicPage(
        handle=handle,
        name=owner.display_name or f"@{handle}",
        bio=owner.bio,
        avatar_url=avatar if avatar.startswith("https://") and safe_href(avatar) else None,
        theme=owner.theme if owner.theme in THEMES else THEMES[0],
        accent=_safe_accent(owner.accent_color),
        links=tuple(_public_link(row, owner) for row in link_rows),
        creator_id=owner.id,
        changes_in=changes_in,
        socials=socials,
        sensitive=owner.sensitive,
        avatar_image=owner.avatar_image,
    )


async def public_page(
    handle: str, *, engine: BoundedPostgresEngine | None = None
) -> PublicPage | None:
    """The page at /{handle} as a visitor sees it now, or None when nobody owns the handle.
    `engine`: where to read it (a replica's, say); by default the app's own."""
    rows = await _fetch(engine or _app_engine(), _PAGE_SQL, handle)
    if not rows:
        return None
    row = rows[0]
    socials = _public_socials(row["socials"] or ())
    return _build(PageOwner.from_row(row), row["links"] or (), socials, row["changes_in"])


async def page_for_creator(creator: CreatorRecord) -> PublicPage:
    """The same page for a creator row already in hand (the studio's preview)."""
    link_rows = await _fetch(_app_engine(), _VISIBLE_LINKS_SQL, creator.id)
    return _build(PageOwner.of(creator), link_rows, await socials_of(creator.id))


def _app_engine() -> BoundedPostgresEngine:
    """`app_engine()`, as the tables hold it: that one searches for piccolo_conf each time,
    which cost a page as much as building its links."""
    engine = Creator._meta.db
    return engine if isinstance(engine, BoundedPostgresEngine) else app_engine()


async def _fetch(engine: BoundedPostgresEngine, sql: str, *args: Any) -> list[asyncpg.Record]:
    """The rows of `sql` (asyncpg's own SQL), in one round trip: on the current transaction's
    connection when there is one, else on one of `engine`'s. Straight on the connection
    rather than through Piccolo's `raw()`, which parses the query again on every call; asyncpg
    keeps each statement prepared on each pooled connection (its statement cache), so a page
    costs a Bind and an Execute. Where the engine keeps no prepared statements (behind a
    transaction pooler, statement_cache_size=0) asyncpg prepares it unnamed each time."""
    rows: list[asyncpg.Record]
    transaction = engine.current_transaction.get()
    if transaction is not None:
        rows = await transaction.connection.fetch(sql, *args)
    else:
        async with engine.connection() as conn:
            rows = await conn.fetch(sql, *args)
    return rows


# A link marked 18+, if it is on the handle's page now (the warning page before it).
_SENSITIVE_LINK_SQL = (
    "SELECT link.id, title, url FROM link JOIN creator ON creator.id = link.creator "  # noqa: S608
    f"WHERE creator.handle = {{}} AND link.id = {{}} AND link.sensitive AND kind = 'link' "
    f"AND {_VISIBLE}"
)


async def sensitive_link(handle: str, link_id: int) -> PublicLink | None:
    """The 18+ link with this id on the page at /{handle}, as its warning page shows it;
    None for any other id (another creator's, hidden, not marked 18+ or unsafe)."""
    if not is_serial_id(link_id):
        return None
    rows = await Link.raw(_SENSITIVE_LINK_SQL, handle, link_id)
    if not rows or not is_safe_href(rows[0]["url"]):
        return None
    row = rows[0]
    return PublicLink("link", row["title"], row["url"], id=row["id"], sensitive=True)


async def accent_of(handle: str) -> str | None:
    row = await Creator.select(Creator.accent_color).where(Creator.handle == handle).first()
    return _safe_accent(row["accent_color"]) if row else None


# The backgrounds (page.css's --page-bg-flat) of the pages that are dark: the dark presets
# always, the light ones' night versions under `prefers-color-scheme: dark`.
DARK_PAGES = {"midnight": "#0c1020", "ocean": "#0f4d6c"}
NIGHT_PAGES = {"mint": "#0c1915", "sunrise": "#2c1426", "paper": "#1d1a16"}


def _accent_rules(accent: str) -> str:
    return f"--page-accent: {accent}; --page-accent-ink: {accent_ink(accent)};"


def _lifted(pages: Mapping[str, str], accent: str) -> str:
    """Rules for the themes whose dark page would swallow the accent: a lighter accent."""
    rules = []
    for theme, background in pages.items():
        shown = accent_on(background, accent)
        if shown != accent:
            rules.append(f".theme-{theme} {{ {_accent_rules(shown)} }}")
    return " ".join(rules)


@lru_cache(maxsize=1024)  # every page render names its version; the search takes a while
def theme_stylesheet(accent: str) -> str:
    """The per-creator stylesheet: the accent colour as custom properties (CSP forbids inline
    styles, so the colour travels in a stylesheet from our own origin). Text on the accent
    is white or dark, whichever reads; a dark accent is lightened on dark pages."""
    accent = _safe_accent(accent)
    css = f":root {{ {_accent_rules(accent)} }}\n"
    if always := _lifted(DARK_PAGES, accent):
        css += always + "\n"
    if at_night := _lifted(NIGHT_PAGES, accent):
        css += f"@media (prefers-color-scheme: dark) {{ {at_night} }}\n"
    return css
