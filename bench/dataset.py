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
import time
from collections.abc import Callable, Iterator, Sequence
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
    data = Dataset()
    for creator, links in iter_creators(
        rng, creators=creators, links_per_creator=links_per_creator
    ):
        data.creators.append(creator)
        data.links.extend(links)
    premium = [link for link in data.premium_links() if link.enabled]
    for status, count in (("COMPLETED", completed_unlocks), ("PENDING", pending_unlocks)):
        for _ in range(count):
            link = rng.choice(premium)
            data.unlocks.append(
                new_unlock(rng, link, status=status, fee_for=fee_for, currency=currency)
            )
    return data


def handle_of(n: int) -> str:
    """Creator n's handle: derivable from n alone, so a load generator can draw a number and
    ask for its page without a list of every handle (lua/longtail.lua does the same)."""
    return f"{FIRST[n % len(FIRST)]}.{TOPIC[(n // len(FIRST)) % len(TOPIC)]}{n}"


def iter_creators(
    rng: random.Random, *, creators: int, links_per_creator: int
) -> Iterator[tuple[Creator, list[Link]]]:
    """Creators 1..`creators`, each with its links, one at a time (a million of them never
    sit in memory together). The first k of a longer run are the k of a shorter one."""
    if links_per_creator < 6:
        raise ValueError("links_per_creator must be at least 6 (headers, premium, hidden)")
    now = datetime.now(UTC)
    link_id = 0
    for n in range(1, creators + 1):
        first = FIRST[n % len(FIRST)]
        handle = handle_of(n)
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
        premium_slots = {2, links_per_creator - 4} if payout else set()
        header_slots = {0} if n % 2 == 0 else set()
        if n % 4 == 0:
            header_slots.add(links_per_creator // 2)
        hidden_slot = (n % links_per_creator) if n % 5 in (1, 3) else None
        expired_slot = links_per_creator - 1 if n % 10 == 7 else None
        future_slot = links_per_creator - 2 if n % 20 == 9 else None
        links = []
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
            links.append(
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
        yield creator, links


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


CREATOR_COLUMNS = (
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
)
LINK_COLUMNS = (
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
)
COMPANY_COLUMNS = ("id", "parent_id", "title", "email", "kyc_status", "payout_account_id")
PLAN_COLUMNS = (
    "id",
    "company_id",
    "currency",
    "plan_type",
    "title",
    "initial_price",
    "application_fee_amount",
)


def creator_record(c: Creator, currency: str) -> tuple:
    return (
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


def link_record(k: Link) -> tuple:
    return (
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


def company_record(c: Creator, parent_company_id: str) -> tuple:
    return (
        c.whop_company_id,
        parent_company_id,
        c.display_name,
        f"{c.handle}@example.com",
        "connected",
        f"poact_bench{c.id:09d}",
    )


def plan_record(k: Link, company_id: str | None, fee_for: Callable[[int], int], currency: str):
    assert k.price_cents is not None
    return (
        k.plan_id,
        company_id,
        currency,
        "one_time",
        k.title,
        to_major(k.price_cents),
        to_major(fee_for(k.price_cents)),
    )


async def _platform_company(conn: asyncpg.Connection, parent_company_id: str) -> None:
    await conn.execute(
        "INSERT INTO whop_emulator.company (id, title, kyc_status, payout_account_id)"
        " VALUES ($1, 'Linkmint platform', 'connected', $2) ON CONFLICT (id) DO NOTHING",
        parent_company_id,
        "poact_benchplatform0",
    )


async def _catch_up_sequences(conn: asyncpg.Connection) -> None:
    # Bulk-loaded ids leave the sequences behind; the app's own inserts must not collide.
    for table in ("creator", "link"):
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"  # noqa: S608
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
        conn, "creator", CREATOR_COLUMNS, [creator_record(c, currency) for c in data.creators]
    )
    await copy_rows(conn, "link", LINK_COLUMNS, [link_record(k) for k in data.links])
    await _catch_up_sequences(conn)
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
    await _platform_company(conn, parent_company_id)
    companies = [c for c in data.creators if c.whop_company_id]
    await copy_rows(
        conn,
        "company",
        COMPANY_COLUMNS,
        [company_record(c, parent_company_id) for c in companies],
        schema="whop_emulator",
    )
    await copy_rows(
        conn,
        "plan",
        PLAN_COLUMNS,
        [
            plan_record(k, data.creator(k.creator_id).whop_company_id, fee_for, currency)
            for k in data.premium_links()
            if k.price_cents is not None
        ],
        schema="whop_emulator",
    )


# Secondary indexes of the bulk-loaded tables, built once after the load rather than kept up
# to date row by row; those backing a constraint (primary keys, unique handles) stay.
_BULK_TABLES = ("public.creator", "public.link", "whop_emulator.company", "whop_emulator.plan")
_SECONDARY_INDEXES_SQL = """
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
  FROM pg_index i
 WHERE i.indrelid = ANY($1::regclass[])
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
 ORDER BY 1
"""


@dataclass(frozen=True, slots=True)
class StreamTimings:
    """Where a streamed seed spent its time, in seconds."""

    copy_s: float
    index_s: float
    analyze_s: float
    indexes_rebuilt: tuple[str, ...]

    def as_dict(self) -> dict:
        return {
            "copy_s": round(self.copy_s, 1),
            "index_s": round(self.index_s, 1),
            "analyze_s": round(self.analyze_s, 1),
            "indexes_rebuilt": list(self.indexes_rebuilt),
        }


async def stream_dataset(
    conn: asyncpg.Connection,
    rng: random.Random,
    *,
    creators: int,
    links_per_creator: int,
    parent_company_id: str,
    fee_for: Callable[[int], int],
    currency: str = "usd",
    chunk: int = 20_000,
    indexes_after: bool = True,
) -> StreamTimings:
    """The creators, links, companies and plans of `build_dataset` (same seed, same rows;
    no unlocks), generated `chunk` creators at a time and COPYed as they come, into a
    freshly migrated database; then the secondary indexes (`indexes_after`) and statistics.

    Row triggers are off for the load (`session_replication_role = replica`): the rows are
    consistent by construction, so the foreign-key checks and the page-change NOTIFY per
    row would only cost time (no server is listening yet)."""
    clock = time.monotonic
    started = clock()
    await conn.execute("SET session_replication_role = replica")
    await conn.execute("SET synchronous_commit = off")
    dropped: list[tuple[str, str]] = []
    if indexes_after:
        dropped = [tuple(r) for r in await conn.fetch(_SECONDARY_INDEXES_SQL, list(_BULK_TABLES))]
        for name, _ in dropped:
            await conn.execute(f"DROP INDEX {name}")
    await _platform_company(conn, parent_company_id)
    rows: dict[str, list[tuple]] = {"creator": [], "link": [], "company": [], "plan": []}

    async def flush() -> None:
        for table, columns, schema in (
            ("creator", CREATOR_COLUMNS, "public"),
            ("link", LINK_COLUMNS, "public"),
            ("company", COMPANY_COLUMNS, "whop_emulator"),
            ("plan", PLAN_COLUMNS, "whop_emulator"),
        ):
            await copy_rows(conn, table, columns, rows[table], schema=schema)
            rows[table].clear()

    for creator, links in iter_creators(
        rng, creators=creators, links_per_creator=links_per_creator
    ):
        rows["creator"].append(creator_record(creator, currency))
        rows["link"].extend(link_record(k) for k in links)
        if creator.whop_company_id:
            rows["company"].append(company_record(creator, parent_company_id))
            rows["plan"].extend(
                plan_record(k, creator.whop_company_id, fee_for, currency)
                for k in links
                if k.kind == "premium"
            )
        if len(rows["creator"]) >= chunk:
            await flush()
    await flush()
    await _catch_up_sequences(conn)
    copied = clock()
    if dropped:
        await conn.execute("SET maintenance_work_mem = '256MB'")
    for _, definition in dropped:
        await conn.execute(definition)
    indexed = clock()
    await conn.execute("RESET session_replication_role")
    # VACUUM as well as ANALYZE: it sets the hint bits and the visibility map now, so the
    # first reads of the load do not each write the pages they read.
    await conn.execute("VACUUM (ANALYZE)")
    return StreamTimings(
        copy_s=copied - started,
        index_s=indexed - copied,
        analyze_s=clock() - indexed,
        indexes_rebuilt=tuple(name for name, _ in dropped),
    )
