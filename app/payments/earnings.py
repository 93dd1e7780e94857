"""What a creator has earned: their paid unlocks, newest first, with totals per currency.

Read-only. One query answers a page of sales and the totals together, so the two always
describe the same moment. Only unlocks that took money are sales: `COMPLETED` ones, and
`REFUNDED` ones (shown with a net of zero, since the buyer got the money back); pending,
failed and expired checkouts never paid and are not listed. A partly refunded sale stays
COMPLETED (the buyer keeps the link) and its refund comes off its net.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.db.records import Record
from app.db.tables import Unlock
from app.shared.money import format_money

PAGE_SIZE = 25
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# One row per sale on the page (NULL sale columns when there are none), each carrying the
# per-currency totals of every completed sale. Pages are keyset-paginated on (paid_at, id).
# Hand-written: one statement reads the page and the totals at one moment. Its columns are
# named as `Sale`'s and `CurrencyTotal`'s fields.
_EARNINGS_SQL = """
WITH page AS (
    SELECT id, COALESCE(completed_at, created_at) AS paid_at, link_title, status,
           price_cents AS gross_cents, fee_cents, currency,
           CASE WHEN status = 'COMPLETED' THEN refunded_cents ELSE 0 END AS refunded_cents
      FROM unlock
     WHERE creator = {} AND status IN ('COMPLETED', 'REFUNDED')
       AND ({}::timestamptz IS NULL OR (COALESCE(completed_at, created_at), id) < ({}, {}))
     ORDER BY paid_at DESC, id DESC
     LIMIT {}
), totals AS (
    SELECT currency, count(*) AS sales, sum(price_cents) AS gross_cents,
           sum(fee_cents) AS fee_cents, sum(refunded_cents) AS refunded_cents
      FROM unlock
     WHERE creator = {} AND status = 'COMPLETED'
     GROUP BY currency
)
SELECT page.*,
       (SELECT COALESCE(jsonb_agg(to_jsonb(totals) ORDER BY currency), '[]'::jsonb)
          FROM totals) AS totals
  FROM (SELECT 1) AS one
  LEFT JOIN page ON true
 ORDER BY page.paid_at DESC, page.id DESC
"""


@dataclass(frozen=True, slots=True)
class Sale(Record):
    id: str
    paid_at: datetime
    link_title: str
    status: str  # COMPLETED or REFUNDED
    gross_cents: int
    fee_cents: int
    currency: str
    refunded_cents: int = 0  # a partial refund, while the sale stays COMPLETED

    @property
    def refunded(self) -> bool:
        return self.status == "REFUNDED"

    @property
    def net_cents(self) -> int:
        """What the creator keeps: the price less the platform fee and any partial refund;
        nothing once refunded in full."""
        if self.refunded:
            return 0
        return max(0, self.gross_cents - self.fee_cents - self.refunded_cents)

    # For display: "$4.99".
    gross = property(lambda self: format_money(self.gross_cents, self.currency))
    fee = property(lambda self: format_money(self.fee_cents, self.currency))
    net = property(lambda self: format_money(self.net_cents, self.currency))
    partly_refunded = property(lambda self: format_money(self.refunded_cents, self.currency))


@dataclass(frozen=True, slots=True)
class CurrencyTotal(Record):
    currency: str
    sales: int
    gross_cents: int
    fee_cents: int
    refunded_cents: int = 0  # partial refunds of completed sales

    @property
    def net_cents(self) -> int:
        return max(0, self.gross_cents - self.fee_cents - self.refunded_cents)

    gross = property(lambda self: format_money(self.gross_cents, self.currency))
    fee = property(lambda self: format_money(self.fee_cents, self.currency))
    net = property(lambda self: format_money(self.net_cents, self.currency))
    partly_refunded = property(lambda self: format_money(self.refunded_cents, self.currency))


@dataclass(frozen=True, slots=True)
class Earnings:
    sales: tuple[Sale, ...]
    totals: tuple[CurrencyTotal, ...]  # completed sales only, one per currency
    older: str | None  # the cursor of the next (older) page, None on the last page


def cursor_of(sale: Sale) -> str:
    """`<microseconds since 1970>.<unlock id>`: exact, and safe in a query string."""
    return f"{(sale.paid_at - _EPOCH) // timedelta(microseconds=1)}.{sale.id}"


def parse_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError for anything `cursor_of` did not make."""
    micros, dot, unlock_id = cursor.partition(".")
    if not dot or not unlock_id or not micros.isdigit() or len(micros) > 18:
        raise ValueError("not an earnings cursor")
    return _EPOCH + timedelta(microseconds=int(micros)), unlock_id


async def earnings_for(
    creator_id: int, *, older_than: str | None = None, page_size: int = PAGE_SIZE
) -> Earnings:
    """A page of the creator's sales, newest first (after `older_than`, a cursor from a
    previous page), and their totals. Raises ValueError for a malformed cursor."""
    at, after_id = parse_cursor(older_than) if older_than else (None, None)
    rows = await Unlock.raw(_EARNINGS_SQL, creator_id, at, at, after_id, page_size + 1, creator_id)
    sales = [Sale.from_row(row) for row in rows if row["id"] is not None]
    totals = rows[0]["totals"] if rows else "[]"
    if isinstance(totals, str):  # asyncpg hands jsonb over as text
        totals = json.loads(totals)
    more = len(sales) > page_size
    sales = sales[:page_size]
    return Earnings(
        sales=tuple(sales),
        totals=tuple(map(CurrencyTotal.from_row, totals)),
        older=cursor_of(sales[-1]) if more else None,
    )
