"""The studio's writes: claiming a handle, saving the profile, and editing links.

Every function takes the signed-in creator's id and plain, already-cleaned values. Ownership
is part of each statement's WHERE clause, so a link id that is not the creator's matches no
row and changes nothing; the invariants (one owner per handle, a complete reorder) are held
by single SQL statements, never by read-then-write Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from asyncpg.exceptions import UniqueViolationError

from app.auth.service import CreatorRecord
from app.db.tables import Creator, Link, is_serial_id
from app.shared.dates import format_date
from app.shared.money import format_money
from app.shared.rules import (
    MAX_LINKS,
    InvalidField,
    ascii_host,
    clean_handle,
    describe_local_time,
    zone_named,
)
from app.studio.pricing import LOCKED


class HandleTaken(InvalidField):
    """Someone else owns the handle (possibly since a moment ago)."""


class TooManyLinks(InvalidField):
    pass


class PricingLocked(InvalidField):
    """A premium price while the creator's payouts are not enabled."""


# --- handles ------------------------------------------------------------------------------


async def handle_is_free(handle: str) -> bool:
    taken: bool = await Creator.exists().where(Creator.handle == handle)
    return not taken


async def claim_handle(creator_id: int, raw: str) -> str:
    """Give the creator the handle if it is valid and free, and if they have none yet.

    The unique constraint decides races: of two creators claiming the same handle at once,
    PostgreSQL lets exactly one UPDATE through and the other gets a unique violation.
    Returns the creator's handle afterwards (their existing one if they already had one).
    """
    handle = clean_handle(raw)
    try:
        # Hand-written: the claim is one conditional UPDATE, and the unique constraint's
        # name is how a lost race is told from any other failure.
        rows = await Creator.raw(
            "UPDATE creator SET handle = {}, updated_at = now() "
            "WHERE id = {} AND handle IS NULL RETURNING handle",
            handle,
            creator_id,
        )
    except UniqueViolationError as exc:
        if exc.constraint_name != "creator_handle_unique":
            raise
        raise HandleTaken(f"“{handle}” is taken. Try another.") from None
    if rows:
        claimed: str = rows[0]["handle"]
        return claimed
    current = await Creator.select(Creator.handle).where(Creator.id == creator_id).first()
    return current["handle"] if current and current["handle"] else handle


# --- profile ------------------------------------------------------------------------------


async def save_profile(creator_id: int, values: Mapping[str, str]) -> CreatorRecord:
    """Store cleaned profile values; returns the creator's row as it now is."""
    rows = await (
        Creator.update(
            {
                Creator.display_name: values["display_name"],
                Creator.bio: values["bio"],
                Creator.avatar_url: values["avatar_url"],
                Creator.theme: values["theme"],
                Creator.accent_color: values["accent_color"],
                Creator.sensitive: values.get("sensitive") == "on",
                Creator.updated_at: datetime.now(UTC),
            }
        )
        .where(Creator.id == creator_id)
        .returning(*Creator.all_columns())
    )
    return CreatorRecord.from_row(rows[0])


async def set_time_zone(creator_id: int, time_zone: str) -> CreatorRecord:
    """Store the creator's (already checked) IANA zone; stored link times do not move."""
    rows = await (
        Creator.update({Creator.time_zone: time_zone, Creator.updated_at: datetime.now(UTC)})
        .where(Creator.id == creator_id)
        .returning(*Creator.all_columns())
    )
    return CreatorRecord.from_row(rows[0])


# --- links --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkCounts:
    total: int
    shown: int

    @property
    def hidden(self) -> int:
        return self.total - self.shown


@dataclass(frozen=True, slots=True)
class StudioLink:
    """One of the creator's rows as the studio lists it."""

    id: int
    kind: str  # "link", "header" or "premium"
    title: str
    url: str
    position: int
    enabled: bool
    starts_at: datetime | None
    ends_at: datetime | None
    price_cents: int | None
    currency: str
    status: str  # "live", "hidden", "scheduled" or "ended": what a visitor sees right now
    is_first: bool
    is_last: bool
    price: str | None  # premium: the formatted price
    ascii_host: str | None  # the URL's host as ASCII, when it differs (IDN)
    sensitive: bool  # 18+: visitors get a warning before the link
    time_zone: str  # the creator's: the schedule is entered and shown in it
    timing: str  # "scheduled", "ended" or "live": by the schedule alone, shown or not

    @property
    def schedule_note(self) -> str:
        """The schedule in the creator's time zone: "Scheduled: starts 4 Dec 2026, 09:00",
        "Live until 5 Dec 2026, 18:00", "Ended 1 Dec 2026"; "" when there is none to tell."""
        zone = zone_named(self.time_zone)
        if self.timing == "scheduled" and self.starts_at:
            note = f"Scheduled: starts {describe_local_time(self.starts_at.astimezone(zone))}"
            if self.ends_at:
                note += f", until {describe_local_time(self.ends_at.astimezone(zone))}"
            return note
        if self.timing == "ended" and self.ends_at:
            ended = self.ends_at.astimezone(zone)
            return f"Ended {format_date(ended)}"
        if self.ends_at:
            return f"Live until {describe_local_time(self.ends_at.astimezone(zone))}"
        return ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, is_first: bool, is_last: bool) -> StudioLink:
        price_cents = row["price_cents"]
        return cls(
            id=row["id"],
            kind=row["kind"],
            title=row["title"],
            url=row["url"],
            position=row["position"],
            enabled=row["enabled"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            price_cents=price_cents,
            currency=row["currency"],
            status=row["status"],
            is_first=is_first,
            is_last=is_last,
            price=format_money(price_cents, row["currency"]) if price_cents else None,
            ascii_host=ascii_host(row["url"]),
            sensitive=row["sensitive"],
            time_zone=row["time_zone"],
            timing=row["timing"],
        )


async def studio_links(creator_id: int) -> list[StudioLink]:
    """All the creator's rows in page order, each marked with where it sits and whether a
    visitor would see it right now; premium rows carry their price for display."""
    # Hand-written: the status is decided on the database's clock, as the public page's is.
    rows = await Link.raw(
        "SELECT link.id, kind, title, url, position, enabled, starts_at, ends_at, price_cents, "
        "creator.currency, creator.time_zone, link.sensitive, "
        "CASE WHEN starts_at IS NOT NULL AND starts_at > now() THEN 'scheduled' "
        "     WHEN ends_at IS NOT NULL AND ends_at <= now() THEN 'ended' "
        "     ELSE 'live' END AS timing, "
        "CASE WHEN NOT enabled THEN 'hidden' "
        "     WHEN starts_at IS NOT NULL AND starts_at > now() THEN 'scheduled' "
        "     WHEN ends_at IS NOT NULL AND ends_at <= now() THEN 'ended' "
        "     ELSE 'live' END AS status "
        "FROM link JOIN creator ON creator.id = link.creator "
        "WHERE link.creator = {} ORDER BY position, link.id",
        creator_id,
    )
    last = len(rows) - 1
    return [
        StudioLink.from_row(row, is_first=index == 0, is_last=index == last)
        for index, row in enumerate(rows)
    ]


def count_links(links: list[StudioLink]) -> LinkCounts:
    return LinkCounts(total=len(links), shown=sum(link.status == "live" for link in links))


async def add_link(
    creator_id: int,
    *,
    kind: str,
    title: str,
    url: str,
    price_cents: int | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    sensitive: bool = False,
) -> int:
    """Append a row at the end of the page; refused past MAX_LINKS, and a premium row is
    refused unless the creator's payouts are enabled (checked in the same statement)."""
    # Hand-written: both limits hold inside the INSERT itself, so two tabs cannot pass them.
    rows = await Link.raw(
        "INSERT INTO link (creator, kind, title, url, position, price_cents, starts_at, ends_at, "
        "sensitive) "
        "SELECT {}, {}, {}, {}, COALESCE(MAX(position) + 1, 0), {}::int, "
        "{}::timestamptz, {}::timestamptz, {}::boolean FROM link "
        "WHERE creator = {} "
        "HAVING COUNT(*) < {} "
        "AND ({}::text <> 'premium' OR (SELECT payout_enabled FROM creator WHERE id = {})) "
        "RETURNING id",
        creator_id,
        kind,
        title,
        url,
        price_cents if kind == "premium" else None,
        starts_at,
        ends_at,
        sensitive,
        creator_id,
        MAX_LINKS,
        kind,
        creator_id,
    )
    if rows:
        link_id: int = rows[0]["id"]
        return link_id
    if kind == "premium" and not await payouts_enabled(creator_id):
        raise PricingLocked(LOCKED)
    raise TooManyLinks(f"A page can hold at most {MAX_LINKS} rows. Remove one first.")


async def update_link(
    creator_id: int,
    link_id: int,
    *,
    title: str,
    url: str,
    kind: str = "link",
    price_cents: int | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    sensitive: bool = False,
) -> bool:
    """Headers keep their kind and empty URL whatever was sent; a link and a premium link
    may turn into each other; the schedule is replaced (None: no start, no end). A row ends
    up premium only when payouts are enabled or when its price is unchanged (all in the
    statement's WHERE clause). False when the creator
    has no such row; PricingLocked when the price was refused."""
    price = price_cents if kind == "premium" else None
    # Hand-written: who may set which price is decided in the UPDATE's own WHERE clause.
    rows = await Link.raw(
        "UPDATE link SET title = {}, "
        "url = CASE WHEN kind = 'header' THEN '' ELSE {} END, "
        "kind = CASE WHEN kind = 'header' THEN 'header' ELSE {} END, "
        "price_cents = CASE WHEN kind = 'header' THEN NULL ELSE {}::int END, "
        "starts_at = {}::timestamptz, ends_at = {}::timestamptz, "
        "sensitive = {}::boolean AND kind <> 'header', "
        "updated_at = now() "
        "WHERE id = {} AND creator = {} "
        "AND ({}::text <> 'premium' OR kind = 'header' "
        "     OR (kind = 'premium' AND price_cents = {}::int) "
        "     OR (SELECT payout_enabled FROM creator WHERE id = {})) "
        "RETURNING id",
        title,
        url,
        kind,
        price,
        starts_at,
        ends_at,
        sensitive,
        link_id,
        creator_id,
        kind,
        price,
        creator_id,
    )
    if rows:
        return True
    if await link_kind(creator_id, link_id) is None:
        return False
    raise PricingLocked(LOCKED)


async def payouts_enabled(creator_id: int) -> bool:
    row = await Creator.select(Creator.payout_enabled).where(Creator.id == creator_id).first()
    return bool(row and row["payout_enabled"])


async def link_kind(creator_id: int, link_id: int) -> str | None:
    row = await (
        Link.select(Link.kind).where((Link.id == link_id) & (Link.creator == creator_id)).first()
    )
    return row["kind"] if row else None


async def set_link_enabled(creator_id: int, link_id: int, enabled: bool) -> bool:
    rows = await (
        Link.update({Link.enabled: enabled, Link.updated_at: datetime.now(UTC)})
        .where((Link.id == link_id) & (Link.creator == creator_id))
        .returning(Link.id)
    )
    return bool(rows)


async def delete_link(creator_id: int, link_id: int) -> str | None:
    """Returns the deleted row's title, or None when the creator has no such row."""
    rows = await (
        Link.delete()
        .where((Link.id == link_id) & (Link.creator == creator_id))
        .returning(Link.title)
    )
    return rows[0]["title"] if rows else None


Verdict = Literal["ok", "foreign", "mismatch"]

# One statement: check the submitted ids against the creator's rows (locked, so a concurrent
# add or delete waits) and rewrite every position only if they are exactly the same set.
_REORDER_SQL = """
WITH wanted AS (
    SELECT id, ord FROM unnest({}::int[]) WITH ORDINALITY AS t(id, ord)
), owned AS (
    SELECT id FROM link WHERE creator = {} FOR UPDATE
), verdict AS (
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM wanted WHERE id NOT IN (SELECT id FROM owned)) THEN 'foreign'
        WHEN (SELECT count(DISTINCT id) FROM wanted) <> (SELECT count(*) FROM wanted)
          OR (SELECT count(*) FROM wanted) <> (SELECT count(*) FROM owned) THEN 'mismatch'
        ELSE 'ok' END AS verdict
), moved AS (
    UPDATE link SET position = wanted.ord - 1, updated_at = now()
    FROM wanted, verdict
    WHERE link.id = wanted.id AND link.creator = {} AND verdict.verdict = 'ok'
    RETURNING link.id
)
SELECT verdict, (SELECT count(*) FROM moved) AS moved FROM verdict
"""


async def reorder_links(creator_id: int, ids: list[int]) -> Verdict:
    """Put the creator's rows in the order of `ids`, which must name each of them once.

    'foreign': an id that is not theirs (or no longer exists); 'mismatch': ids missing or
    repeated. Either way nothing changed.
    """
    if len(ids) > MAX_LINKS:
        return "mismatch"
    if not all(map(is_serial_id, ids)):
        return "foreign"
    rows = await Link.raw(_REORDER_SQL, ids, creator_id, creator_id)
    verdict: Verdict = rows[0]["verdict"]
    return verdict


async def move_link(creator_id: int, link_id: int, direction: Literal["up", "down"]) -> Verdict:
    """Swap a row with its neighbour (the keyboard path to the same reorder)."""
    order = [link.id for link in await studio_links(creator_id)]
    if link_id not in order:
        return "foreign"
    i = order.index(link_id)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(order):
        order[i], order[j] = order[j], order[i]
    return await reorder_links(creator_id, order)
