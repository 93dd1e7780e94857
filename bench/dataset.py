"""The benchmark's data set: creators, links, unlocks and their Whop side, made up
deterministically and written with COPY.

By default 1,000 creators × 12 links: about half start with a section header, some have a
second one, some links are hidden or out of their schedule, 60 % have an avatar; every
third creator has payouts enabled (a connected company at the emulated Whop) and two
premium links with prices. Unlocks: COMPLETED ones (their buyers' tokens feed the
"visitor holding an unlock cookie" scenario) and PENDING ones (the status poll).
"""

from __future__ import annotations

import base64
import hashlib
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

THEMES = ("mint", "midnight", "sunrise", "paper", "ocean")
FIRST = (
    "maya ava noah liam zoe omar lina ivan sara kenji amir nora leo mila theo jade ines "
    "yuki rosa finn aria eli luca ada hugo iris max nina otto ruby"
).split()
TOPIC = (
    "cooks draws codes lifts paints sings films writes bakes builds travels teaches "
    "designs knits plays"
).split()
LINKS = (
    ("My latest video", "https://www.youtube.com/watch?v={n}"),
    ("Newsletter", "https://buttondown.email/{h}"),
    ("Shop my setup", "https://www.amazon.com/shop/{h}"),
    ("Podcast", "https://open.spotify.com/show/{n}"),
    ("Instagram", "https://www.instagram.com/{h}/"),
    ("TikTok", "https://www.tiktok.com/@{h}"),
    ("Book a call", "https://cal.com/{h}/30min"),
    ("Portfolio", "https://{h}.example.com/work"),
    ("Blog post: how I started", "https://{h}.example.com/blog/how-i-started"),
    ("Support me", "https://ko-fi.com/{h}"),
    ("Email me", "mailto:hello@{h}.example.com"),
    ("Merch", "https://{h}.example.com/merch?ref=linkmint&utm_source=bio"),
    ("GitHub", "https://github.com/{h}"),
    ("Discord community", "https://discord.gg/{n}"),
)
PREMIUM = (
    "Full recipe collection (PDF)",
    "Preset pack",
    "Private tutorial video",
    "Template bundle",
    "Behind-the-scenes footage",
    "Source files",
)
HEADERS = ("Latest", "Socials", "Work with me", "Shop", "Free stuff", "Listen")
ALNUM = string.ascii_letters + string.digits


def make_id(rng: random.Random, prefix: str, length: int = 14) -> str:
    return prefix + "".join(rng.choice(ALNUM) for _ in range(length))


def make_token(rng: random.Random) -> str:
    """A buyer's or unlock's random token, shaped like `secrets.token_urlsafe(32)`."""
    return base64.urlsafe_b64encode(rng.randbytes(32)).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def to_major(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True)
class Creator:
    id: int
    whop_user_id: str
    handle: str
    display_name: str
    bio: str
    avatar_url: str
    theme: str
    accent_color: str
    whop_company_id: str | None
    payout_enabled: bool


@dataclass(frozen=True, slots=True)
class Link:
    id: int
    creator_id: int
    kind: str
    title: str
    url: str
    position: int
    enabled: bool
    starts_at: datetime | None
    ends_at: datetime | None
    price_cents: int | None
    plan_id: str | None  # premium links: the emulated Whop's one-time plan

    @property
    def visible(self) -> bool:
        now = datetime.now(UTC)
        return (
            self.enabled
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or self.ends_at > now)
        )


@dataclass(frozen=True, slots=True)
class Unlock:
    id: str
    link_id: int
    creator_id: int
    link_title: str
    buyer_token: str  # what the buyer's cookie carries; the table keeps its SHA-256
    status: str
    price_cents: int
    fee_cents: int
    currency: str
    checkout_id: str
    plan_id: str  # the checkout's plan, kept with it as the app keeps it
    purchase_url: str  # Whop's hosted checkout for this unlock's checkout configuration
    provider_payment_id: str | None
    completed_via: str | None


@dataclass(slots=True)
class Dataset:
    creators: list[Creator] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    unlocks: list[Unlock] = field(default_factory=list)

    def premium_links(self) -> list[Link]:
        return [link for link in self.links if link.kind == "premium"]

    def creator(self, creator_id: int) -> Creator:
        return self.creators[creator_id - 1]

    def handle_of(self, link: Link) -> str:
        return self.creator(link.creator_id).handle

    def unlocks_with(self, status: str) -> list[Unlock]:
        return [u for u in self.unlocks if u.status == status]

    def plain_page(self) -> Creator:
        """A page for the weight measurement: no premium links, no avatar, nothing hidden."""
        premium = {link.creator_id for link in self.links if link.kind == "premium"}
        hidden = {link.creator_id for link in self.links if not link.visible}
        for creator in self.creators:
            if creator.id not in premium | hidden and not creator.avatar_url:
                return creator
        raise LookupError("the data set has no plain page; seed more creators")


def build_dataset(
    rng: random.Random,
    *,
    creators: int,
    links_per_creator: int,
    completed_unlocks: int,
    pending_unlocks: int,
    fee_for: Callable[[int], int],
    currency: str = "usd",
) -> Dataset:
    if links_per_creator < 6:
        raise ValueError("links_per_creator must be at least 6 (headers, premium, hidden)")
    data = Dataset()
    now = datetime.now(UTC)
    link_id = 0
    for n in range(1, creators + 1):
        first = FIRST[n % len(FIRST)]
        handle = f"{first}.{TOPIC[(n // len(FIRST)) % len(TOPIC)]}{n}"
        payout = n % 3 == 0
        creator = Creator(
            id=n,
            whop_user_id=f"user_bench{n:09d}",
            handle=handle,
            display_name=f"{first.title()} {string.ascii_uppercase[n % 26]}.",
            bio=(
                f"{first.title()} {TOPIC[n % len(TOPIC)]} and shares it here. "
                "New things every week; premium extras for supporters."
            )[: 40 + (n * 7) % 120],
            avatar_url=f"https://images.example.net/avatars/{n}.webp" if n % 5 < 3 else "",
            theme=THEMES[n % len(THEMES)],
            accent_color=f"#{rng.randrange(0x1000000):06x}",
            whop_company_id=make_id(rng, "biz_") if payout else None,
            payout_enabled=payout,
        )
        data.creators.append(creator)
        premium_slots = {2, links_per_creator - 4} if payout else set()
        header_slots = {0} if n % 2 == 0 else set()
        if n % 4 == 0:
            header_slots.add(links_per_creator // 2)
        hidden_slot = (n % links_per_creator) if n % 5 in (1, 3) else None
        expired_slot = links_per_creator - 1 if n % 10 == 7 else None
        future_slot = links_per_creator - 2 if n % 20 == 9 else None
        for position in range(links_per_creator):
            link_id += 1
            starts_at = ends_at = None
            price = plan_id = None
            if position in premium_slots:
                kind, url = "premium", f"https://files.example.org/{handle}/{position}.zip"
                title = PREMIUM[(n + position) % len(PREMIUM)]
                price = rng.choice((199, 300, 499, 500, 999, 1500, 2500))
                plan_id = make_id(rng, "plan_", 13)
            elif position in header_slots:
                kind, url, title = "header", "", HEADERS[(n + position) % len(HEADERS)]
            else:
                kind = "link"
                title, pattern = LINKS[(n + position) % len(LINKS)]
                url = pattern.format(h=handle.replace(".", ""), n=n * 100 + position)
            if position == expired_slot:
                ends_at = now - timedelta(days=3)
            if position == future_slot:
                starts_at = now + timedelta(days=7)
            data.links.append(
                Link(
                    id=link_id,
                    creator_id=n,
                    kind=kind,
                    title=title,
                    url=url,
                    position=position,
                    enabled=position != hidden_slot,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    price_cents=price,
                    plan_id=plan_id,
                )
            )
    premium = [link for link in data.premium_links() if link.enabled]
    for status, count in (("COMPLETED", completed_unlocks), ("PENDING", pending_unlocks)):
        for _ in range(count):
            link = rng.choice(premium)
            data.unlocks.append(
                new_unlock(rng, link, status=status, fee_for=fee_for, currency=currency)
            )
    return data


def new_unlock(
    rng: random.Random,
    link: Link,
    *,
    status: str,
    fee_for: Callable[[int], int],
    currency: str,
) -> Unlock:
    assert link.price_cents is not None
    completed = status == "COMPLETED"
    checkout_id = make_id(rng, "ch_", 15)
    return Unlock(
        id=make_token(rng)[:22],
        link_id=link.id,
        creator_id=link.creator_id,
        link_title=link.title,
        buyer_token=make_token(rng),
        status=status,
        price_cents=link.price_cents,
        fee_cents=fee_for(link.price_cents),
        currency=currency,
        checkout_id=checkout_id,
        plan_id=link.plan_id,
        purchase_url=f"https://whop.com/checkout/{link.plan_id}?session={checkout_id}",
        provider_payment_id=make_id(rng, "pay_") if completed else None,
        completed_via=rng.choice(("redirect", "webhook")) if completed else None,
    )


# --- writing ---------------------------------------------------------------------------------


async def copy_rows(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    schema: str = "public",
) -> None:
    if rows:
        await conn.copy_records_to_table(
            table, records=rows, columns=list(columns), schema_name=schema
        )


def unlock_record(u: Unlock, *, created_at: datetime) -> tuple:
    completed = u.status == "COMPLETED"
    return (
        u.id,
        u.link_id,
        u.creator_id,
        u.link_title,
        token_hash(u.buyer_token),
        u.status,
        u.price_cents,
        u.fee_cents,
        u.currency,
        u.checkout_id,
        u.plan_id,
        u.purchase_url,
        u.provider_payment_id,
        u.completed_via,
        created_at,
        created_at if completed else None,
    )


UNLOCK_COLUMNS = (
    "id",
    "link",
    "creator",
    "link_title",
    "buyer_token_hash",
    "status",
    "price_cents",
    "fee_cents",
    "currency",
    "checkout_id",
    "plan_id",
    "purchase_url",
    "provider_payment_id",
    "completed_via",
    "created_at",
    "completed_at",
)


async def write_dataset(
    conn: asyncpg.Connection,
    data: Dataset,
    *,
    parent_company_id: str,
    fee_for: Callable[[int], int],
    currency: str = "usd",
) -> None:
    """COPY the data set into a freshly migrated database, app tables and emulated Whop."""
    now = datetime.now(UTC)
    await copy_rows(
        conn,
        "creator",
        (
            "id",
            "whop_user_id",
            "handle",
            "email",
            "display_name",
            "bio",
            "avatar_url",
            "theme",
            "accent_color",
            "whop_company_id",
            "payout_enabled",
            "currency",
        ),
        [
            (
                c.id,
                c.whop_user_id,
                c.handle,
                f"{c.handle}@example.com",
                c.display_name,
                c.bio,
                c.avatar_url,
                c.theme,
                c.accent_color,
                c.whop_company_id,
                c.payout_enabled,
                currency,
            )
            for c in data.creators
        ],
    )
    await copy_rows(
        conn,
        "link",
        (
            "id",
            "creator",
            "kind",
            "title",
            "url",
            "position",
            "enabled",
            "starts_at",
            "ends_at",
            "price_cents",
        ),
        [
            (
                k.id,
                k.creator_id,
                k.kind,
                k.title,
                k.url,
                k.position,
                k.enabled,
                k.starts_at,
                k.ends_at,
                k.price_cents,
            )
            for k in data.links
        ],
    )
    # Bulk-loaded ids leave the sequences behind; the app's own inserts must not collide.
    for table in ("creator", "link"):
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"  # noqa: S608
        )
    # A completed unlock was bought some time ago; a pending one just now (the reconciler
    # only looks at pending unlocks older than a few minutes).
    records = [
        unlock_record(
            u, created_at=now - timedelta(days=1 + i % 60) if u.status == "COMPLETED" else now
        )
        for i, u in enumerate(data.unlocks)
    ]
    await copy_rows(conn, "unlock", UNLOCK_COLUMNS, records)

    # The emulated Whop: the platform, one connected company per payout-enabled creator,
    # and a one-time plan per premium link.
    await conn.execute(
        "INSERT INTO whop_emulator.company (id, title, kyc_status, payout_account_id)"
        " VALUES ($1, 'Linkmint platform', 'connected', $2) ON CONFLICT (id) DO NOTHING",
        parent_company_id,
        "poact_benchplatform0",
    )
    companies = [c for c in data.creators if c.whop_company_id]
    await copy_rows(
        conn,
        "company",
        ("id", "parent_id", "title", "email", "kyc_status", "payout_account_id"),
        [
            (
                c.whop_company_id,
                parent_company_id,
                c.display_name,
                f"{c.handle}@example.com",
                "connected",
                f"poact_bench{c.id:09d}",
            )
            for c in companies
        ],
        schema="whop_emulator",
    )
    await copy_rows(
        conn,
        "plan",
        (
            "id",
            "company_id",
            "currency",
            "plan_type",
            "title",
            "initial_price",
            "application_fee_amount",
        ),
        [
            (
                k.plan_id,
                data.creator(k.creator_id).whop_company_id,
                currency,
                "one_time",
                k.title,
                to_major(k.price_cents),
                to_major(fee_for(k.price_cents)),
            )
            for k in data.premium_links()
            if k.price_cents is not None
        ],
        schema="whop_emulator",
    )
