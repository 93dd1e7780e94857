"""A creator's sales as CSV, for a spreadsheet or their accountant.

The same sales as the studio's earnings (`app.payments.earnings`: completed and refunded
unlocks), newest first, read in keyset pages on (paid_at, id) and written out as each page
arrives, so a long history never sits in memory at once. Amounts are decimal strings in
the currency's own minor units ("4.99" USD, "500" JPY, "1.250" KWD), never floats.

A cell a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a
carriage return) is written with a leading `'`: a link title is typed by the creator, and a
title like `=HYPERLINK(…)` must stay text when the file is opened.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from app.db.records import Record
from app.db.tables import Unlock
from app.whop.money import currency_exponent

PAGE_SIZE = 500
HEADER = (
    "date_utc",
    "link_title",
    "status",
    "price",
    "fee",
    "net",
    "refunded",
    "currency",
    "payment_id",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Hand-written: the keyset condition on a row value `(paid_at, id) < (…, …)` keeps each page
# one index-ordered read, however far back the history goes.
_SALES_SQL = """
SELECT id, COALESCE(completed_at, created_at) AS paid_at, link_title, status,
       price_cents, fee_cents, currency,
       CASE WHEN status = 'REFUNDED' THEN price_cents ELSE refunded_cents END AS refunded_cents,
       COALESCE(provider_payment_id, '') AS payment_id
  FROM unlock
 WHERE creator = {} AND status IN ('COMPLETED', 'REFUNDED')
   AND ({}::timestamptz IS NULL OR (COALESCE(completed_at, created_at), id) < ({}, {}))
 ORDER BY paid_at DESC, id DESC
 LIMIT {}
"""


@dataclass(frozen=True, slots=True)
class SaleLine(Record):
    id: str
    paid_at: datetime
    link_title: str
    status: str  # COMPLETED or REFUNDED
    price_cents: int
    fee_cents: int
    currency: str
    refunded_cents: int  # the whole price once REFUNDED; a part of it while COMPLETED
    payment_id: str

    @property
    def net_cents(self) -> int:
        """As the earnings show it: nothing once refunded in full."""
        if self.status == "REFUNDED":
            return 0
        return max(0, self.price_cents - self.fee_cents - self.refunded_cents)


def decimal_amount(minor: int, currency: str) -> str:
    """Minor units as a decimal string with the currency's own number of decimals."""
    exponent = currency_exponent(currency)
    sign = "-" if minor < 0 else ""
    if exponent == 0:
        return f"{sign}{abs(minor)}"
    whole, fraction = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}"


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_line(cells: tuple[str, ...] | list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([safe_cell(cell) for cell in cells])
    return out.getvalue()


def sale_cells(sale: SaleLine) -> list[str]:
    money = sale.currency
    return [
        sale.paid_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        sale.link_title,
        "refunded" if sale.status == "REFUNDED" else "paid",
        decimal_amount(sale.price_cents, money),
        decimal_amount(sale.fee_cents, money),
        decimal_amount(sale.net_cents, money),
        decimal_amount(sale.refunded_cents, money),
        money.upper(),
        sale.payment_id,
    ]


async def sales_page(
    creator_id: int, *, after: SaleLine | None = None, page_size: int = PAGE_SIZE
) -> list[SaleLine]:
    """Up to `page_size` sales older than `after` (from the start when None)."""
    at, after_id = (after.paid_at, after.id) if after else (None, None)
    rows = await Unlock.raw(_SALES_SQL, creator_id, at, at, after_id, page_size)
    return [SaleLine.from_row(row) for row in rows]


async def sales_csv(creator_id: int, *, page_size: int | None = None) -> AsyncIterator[str]:
    """The header, then every sale, one page of the database at a time (PAGE_SIZE sales by
    default). Starts with a byte order mark so that spreadsheets read the titles as UTF-8."""
    page_size = page_size or PAGE_SIZE
    yield "\ufeff" + csv_line(HEADER)
    last: SaleLine | None = None
    while True:
        page = await sales_page(creator_id, after=last, page_size=page_size)
        if page:
            yield "".join(csv_line(sale_cells(sale)) for sale in page)
        if len(page) < page_size:
            return
        last = page[-1]
