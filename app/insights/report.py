"""What a creator's Insights page shows: views, clicks, click-through per link, where
visitors came from, their devices and browsers, and sales, over the last 7, 30 or 90 days.

Read from `insight_day` (the flushed counts), `link` and `unlock` (sales), in one statement.
Days are UTC days, as they are counted; the period ends today and includes it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.db.tables import InsightDay
from app.shared.money import format_money

PERIODS = (7, 30, 90)
TOP = 8  # referrers, browsers, countries shown by name; the rest are "Other"

# Hand-written: the whole page in one round trip. The creator's counts in the period are read
# once (the CTE) and summed twice, per day for the chart and per dimension for the rest; the
# page's links and the sales come along. Each part is an array of anonymous records, read by
# position: their columns are in the order of the fields of the records they become. Sales
# are counted as the earnings page counts them: completed ones, less the platform fee and any
# partial refund; a sale refunded in full is counted apart and earns nothing.
# Parameters: creator, first day, last day, creator, creator, first day, last day.
_REPORT_SQL = """
WITH counts AS MATERIALIZED (
    SELECT day, metric, dimension, hits
      FROM insight_day
     WHERE creator = {} AND day BETWEEN {} AND {}
)
SELECT
  ARRAY(SELECT ROW(day, COALESCE(sum(hits) FILTER (WHERE metric = 'view'), 0)::bigint,
                        COALESCE(sum(hits) FILTER (WHERE metric = 'click'), 0)::bigint)
          FROM counts WHERE metric IN ('view', 'click') GROUP BY day) AS series,
  ARRAY(SELECT ROW(metric, dimension, sum(hits)::bigint)
          FROM counts WHERE metric <> 'view' GROUP BY metric, dimension) AS dimensions,
  ARRAY(SELECT ROW(id, title, kind)
          FROM link WHERE creator = {} AND kind <> 'header'
         ORDER BY position, id) AS links,
  ARRAY(SELECT ROW(sold.*) FROM (
          SELECT (completed_at AT TIME ZONE 'UTC')::date AS day, currency,
                 count(*) FILTER (WHERE status = 'COMPLETED') AS sales,
                 count(*) FILTER (WHERE status = 'REFUNDED') AS refunds,
                 COALESCE(sum(price_cents) FILTER (WHERE status = 'COMPLETED'), 0)::bigint,
                 COALESCE(sum(fee_cents) FILTER (WHERE status = 'COMPLETED'), 0)::bigint,
                 COALESCE(sum(price_cents - fee_cents - refunded_cents)
                          FILTER (WHERE status = 'COMPLETED'), 0)::bigint
            FROM unlock
           WHERE creator = {} AND status IN ('COMPLETED', 'REFUNDED')
             AND completed_at >= {}::date AND completed_at < ({}::date + 1)
           GROUP BY 1, 2 ORDER BY 1, 2) AS sold) AS sales
"""


def period_of(raw: str | int | None) -> int:
    """7, 30 or 90 days (anything else: 30)."""
    try:
        days = int(raw) if raw is not None else 30
    except (TypeError, ValueError):
        return 30
    return days if days in PERIODS else 30


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    views: int
    clicks: int


@dataclass(frozen=True, slots=True)
class LinkClicks:
    id: int
    title: str
    kind: str
    clicks: int
    views: int  # the page's views in the period, for the rate

    @property
    def rate(self) -> float:
        return self.clicks / self.views if self.views else 0.0


@dataclass(frozen=True, slots=True)
class Share:
    name: str
    hits: int
    total: int

    @property
    def percent(self) -> float:
        return 100 * self.hits / self.total if self.total else 0.0


class _Amounts:
    """Gross, fees and net of some sales, as the page shows them ("$4.99")."""

    __slots__ = ()
    currency: str
    gross_cents: int
    fee_cents: int
    net_cents: int

    gross = property(lambda self: format_money(self.gross_cents, self.currency))
    fee = property(lambda self: format_money(self.fee_cents, self.currency))
    net = property(lambda self: format_money(self.net_cents, self.currency))


@dataclass(frozen=True, slots=True)
class SalesDay(_Amounts):
    day: date
    currency: str
    sales: int
    refunds: int
    gross_cents: int
    fee_cents: int
    net_cents: int


@dataclass(frozen=True, slots=True)
class SalesTotal(_Amounts):
    currency: str
    sales: int
    refunds: int
    gross_cents: int
    fee_cents: int
    net_cents: int


@dataclass(frozen=True, slots=True)
class Report:
    days: int
    first: date
    last: date
    series: tuple[Day, ...]  # every day of the period, oldest first, zeros included
    links: tuple[LinkClicks, ...]  # the page's links in page order (clicked or not)
    other_clicks: int  # clicks on links deleted since
    referrers: tuple[Share, ...]
    browsers: tuple[Share, ...]
    devices: tuple[Share, ...]
    countries: tuple[Share, ...]
    sales: tuple[SalesDay, ...]
    sales_totals: tuple[SalesTotal, ...]

    @property
    def views(self) -> int:
        return sum(day.views for day in self.series)

    @property
    def clicks(self) -> int:
        return sum(day.clicks for day in self.series)

    @property
    def rate(self) -> float:
        return self.clicks / self.views if self.views else 0.0

    @property
    def busiest(self) -> int:
        """The highest daily count of views or clicks (the chart's scale)."""
        return max((max(day.views, day.clicks) for day in self.series), default=0)


def _shares(counts: dict[str, int], *, top: int = TOP) -> tuple[Share, ...]:
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = [Share(name, hits, total) for name, hits in ranked[:top]]
    rest = sum(hits for _, hits in ranked[top:])
    if rest:
        shown.append(Share("Other", rest, total))
    return tuple(shown)


def _totals(sales: tuple[SalesDay, ...]) -> tuple[SalesTotal, ...]:
    sums: dict[str, list[int]] = defaultdict(lambda: [0] * 5)
    for row in sales:
        acc = sums[row.currency]
        for n, value in enumerate(
            (row.sales, row.refunds, row.gross_cents, row.fee_cents, row.net_cents)
        ):
            acc[n] += value
    return tuple(SalesTotal(currency, *acc) for currency, acc in sorted(sums.items()))


async def report_for(creator_id: int, days: int, *, today: date | None = None) -> Report:
    last = today or datetime.now(UTC).date()
    first = last - timedelta(days=days - 1)
    parts = (creator_id, first, last, creator_id, creator_id, first, last)
    row = (await InsightDay.raw(_REPORT_SQL, *parts))[0]

    by_day = {day: (views, clicks) for day, views, clicks in row["series"]}
    nothing = (0, 0)
    series = tuple(
        Day(day, *by_day.get(day, nothing))
        for day in (first + timedelta(days=n) for n in range(days))
    )
    views = sum(day.views for day in series)
    grouped: dict[str, dict[str, int]] = defaultdict(dict)
    for metric, dimension, hits in row["dimensions"]:
        grouped[metric][dimension] = hits
    clicks = grouped.get("click", {})
    links = tuple(
        LinkClicks(link_id, title, kind, clicks.pop(str(link_id), 0), views)
        for link_id, title, kind in row["links"]
    )
    sales = tuple(SalesDay(*sold) for sold in row["sales"])
    return Report(
        days=days,
        first=first,
        last=last,
        series=series,
        links=links,
        other_clicks=sum(clicks.values()),
        referrers=_shares(grouped.get("referrer", {})),
        browsers=_shares(grouped.get("browser", {})),
        devices=_shares(grouped.get("device", {}), top=4),
        countries=_shares(grouped.get("country", {})),
        sales=sales,
        sales_totals=_totals(sales),
    )


class RenderedReports:
    """Reports as the Insights page rendered them, per creator, period and day, until this
    process next flushes its counts (`Counting.flush` clears them, whether or not it stored
    anything). Every count, link title and sale on the page is then at most one flush interval
    older than a fresh read: the counts themselves reach the database only that often. A
    creator switching periods or reloading is answered without a query or a render."""

    MAX = 1_000  # reports kept at once; past it, all are dropped and rendered again

    def __init__(self) -> None:
        self._kept: dict[tuple[int, int, date], str] = {}

    def get(self, creator_id: int, days: int, last: date) -> str | None:
        return self._kept.get((creator_id, days, last))

    def keep(self, creator_id: int, days: int, last: date, html: str) -> None:
        if len(self._kept) >= self.MAX:
            self._kept.clear()
        self._kept[(creator_id, days, last)] = html

    def clear(self) -> None:
        self._kept.clear()
