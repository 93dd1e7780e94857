"""Loading a public page: the hot path. Two lean queries, no session lookup, no ORM objects.

The same `PublicPage` feeds the public page and the studio's live preview, so what a creator
previews is exactly what a visitor gets. Every stored URL is re-checked here, at render time,
with `is_safe_href`: a row written before a rule tightened (or edited by hand) can never
become a `javascript:` link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.auth.service import CreatorRecord
from app.db.tables import Creator
from app.shared.money import format_money
from app.shared.rules import ACCENT_RE, THEMES, is_safe_href

DEFAULT_ACCENT = "#0f9d76"

# What a visitor may see of a link now. A premium link's URL is never selected: the page is
# the same for every visitor, and only its buyer may see it (through app.payments, in a
# private fragment).
_VISIBLE = (
    "enabled AND kind IN ('link', 'header', 'premium') "
    "AND (starts_at IS NULL OR starts_at <= now()) AND (ends_at IS NULL OR ends_at > now())"
)
_URL = "CASE WHEN kind = 'premium' THEN '' ELSE url END"
# Both are hand-written: this is the measured hot path, and the page must be one round trip.
# (S608: both queries are built from the constants above; every value is a parameter.)
_VISIBLE_LINKS_SQL = (
    f"SELECT id, kind, title, {_URL} AS url, price_cents FROM link "  # noqa: S608
    f"WHERE creator = {{}} AND {_VISIBLE} ORDER BY position, id"
)
# The public page in one round trip: the creator, its visible links as JSON, and
# `changes_in`: seconds until the next scheduled link starts or ends (NULL: none ahead), on
# the database's clock, so the page cache can expire an entry exactly when the page changes.
_PAGE_SQL = (
    "SELECT id, handle, display_name, bio, avatar_url, theme, accent_color, currency, "  # noqa: S608
    "payout_enabled, whop_company_id, "
    "(SELECT EXTRACT(EPOCH FROM least(min(starts_at) FILTER (WHERE starts_at > now()), "
    "min(ends_at) FILTER (WHERE ends_at > now())) - now())::float8 "
    "FROM link WHERE link.creator = creator.id AND enabled) AS changes_in, "
    "(SELECT coalesce(json_agg(json_build_object('id', id, 'kind', kind, 'title', title, "
    f"'url', {_URL}, 'price_cents', price_cents) ORDER BY position, id), '[]') "
    f"FROM link WHERE link.creator = creator.id AND {_VISIBLE}) AS links "
    "FROM creator WHERE handle = {}"
)


@dataclass(frozen=True, slots=True)
class PublicLink:
    kind: str  # "link", "header" or "premium"
    title: str
    href: str | None  # None: the stored URL failed the render-time check (or is premium)
    id: int = 0
    price: str = ""  # premium: the formatted price when it is for sale, else ""


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


def theme_version(accent: str) -> str:
    """Changes whenever the stylesheet's content would, so the URL can be cached for a year."""
    return hashlib.sha256(accent.encode()).hexdigest()[:10]


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
    theme: str
    accent_color: str
    currency: str
    for_sale: bool  # payouts are on and a company is connected: premium links show a price

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PageOwner:
        return cls(
            id=row["id"],
            handle=row["handle"],
            display_name=row["display_name"],
            bio=row["bio"],
            avatar_url=row["avatar_url"],
            theme=row["theme"],
            accent_color=row["accent_color"],
            currency=row["currency"],
            for_sale=bool(row["payout_enabled"] and row["whop_company_id"]),
        )

    @classmethod
    def of(cls, creator: CreatorRecord) -> PageOwner:
        return cls(
            id=creator.id,
            handle=creator.handle,
            display_name=creator.display_name,
            bio=creator.bio,
            avatar_url=creator.avatar_url,
            theme=creator.theme,
            accent_color=creator.accent_color,
            currency=creator.currency,
            for_sale=bool(creator.payout_enabled and creator.whop_company_id),
        )


def _public_link(row: Mapping[str, Any], owner: PageOwner) -> PublicLink:
    """A visible link row (selected or from the page query's JSON) as the page shows it."""
    kind, url, price_cents = row["kind"], row["url"], row["price_cents"]
    for_sale = kind == "premium" and owner.for_sale and (price_cents or 0) > 0
    return PublicLink(
        kind=kind,
        title=row["title"],
        href=url if kind == "link" and is_safe_href(url) else None,
        id=row["id"],
        price=format_money(price_cents, owner.currency) if for_sale else "",
    )


def _build(
    owner: PageOwner, link_rows: Iterable[Mapping[str, Any]], changes_in: float | None = None
) -> PublicPage:
    handle = owner.handle or ""
    avatar = owner.avatar_url
    return PublicPage(
        handle=handle,
        name=owner.display_name or f"@{handle}",
        bio=owner.bio,
        avatar_url=avatar if avatar.startswith("https://") and is_safe_href(avatar) else None,
        theme=owner.theme if owner.theme in THEMES else THEMES[0],
        accent=_safe_accent(owner.accent_color),
        links=tuple(_public_link(row, owner) for row in link_rows),
        creator_id=owner.id,
        changes_in=changes_in,
    )


async def public_page(handle: str) -> PublicPage | None:
    """The page at /{handle} as a visitor sees it now, or None when nobody owns the handle."""
    rows = await Creator.raw(_PAGE_SQL, handle)
    if not rows:
        return None
    row = rows[0]
    return _build(PageOwner.from_row(row), json.loads(row["links"]), row["changes_in"])


async def page_for_creator(creator: CreatorRecord) -> PublicPage:
    """The same page for a creator row already in hand (the studio's preview)."""
    link_rows = await Creator.raw(_VISIBLE_LINKS_SQL, creator.id)
    return _build(PageOwner.of(creator), link_rows)


async def accent_of(handle: str) -> str | None:
    row = await Creator.select(Creator.accent_color).where(Creator.handle == handle).first()
    return _safe_accent(row["accent_color"]) if row else None


def _ink_for(accent: str) -> str:
    """Black or white text on the accent, whichever contrasts more (WCAG relative luminance)."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(accent[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#111111" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


def theme_stylesheet(accent: str) -> str:
    """The per-creator stylesheet: the accent colour as custom properties (CSP forbids inline
    styles, so the colour travels in a stylesheet from our own origin)."""
    accent = _safe_accent(accent)
    return (
        f":root {{ --page-accent: {accent}; --page-accent-ink: {_ink_for(accent)}; "
        f"--page-accent-soft: {accent}1f; }}\n"
    )
