"""The Insights page (/dashboard/insights), its CSV, the monthly history's CSV, and the
click endpoint.

`POST /_c/<creator id>/<link id>` is where a link's `ping` attribute (and, where a browser
sends no pings, the page's small beacon script) reports a click. It answers 204 with no
body and no cookie, reads neither the request's body nor the database, and counts nothing
itself: the click goes into the process's tally, and the flush keeps it only if that link
is on that creator's page. After the first, plain reports are answered before routing, the
same way (app/insights/fastlane.py).

The page keeps its rendered report until the next flush (`RenderedReports`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, FromQuery
from litestar.response import Stream, Template

from app.db.tables import is_serial_id
from app.insights.counting import Counting
from app.insights.report import PERIODS, RenderedReports, Report, period_of, report_for
from app.insights.retention import MonthCount, monthly_counts
from app.payments.sales_csv import csv_line, decimal_amount
from app.web.deps import CreatorDep

CSV_HEADER = ("date", "metric", "dimension", "value", "currency")
MONTHLY_CSV_HEADER = ("month", "metric", "dimension", "value")
SHARES = ("referrer", "browser", "device", "country")


def _csv_rows(report: Report) -> list[tuple[str, ...]]:
    """The page's figures, one per line: easy to filter and pivot in a spreadsheet."""
    rows: list[tuple[str, ...]] = []

    def day(d: date) -> str:
        return d.isoformat()

    for point in report.series:
        rows.append((day(point.day), "views", "", str(point.views), ""))
        rows.append((day(point.day), "clicks", "", str(point.clicks), ""))
    period = f"{day(report.first)}/{day(report.last)}"
    for link in report.links:
        rows.append((period, "link clicks", link.title, str(link.clicks), ""))
    if report.other_clicks:
        rows.append((period, "link clicks", "(deleted links)", str(report.other_clicks), ""))
    for metric, shares in (
        ("referrer", report.referrers),
        ("browser", report.browsers),
        ("device", report.devices),
        ("country", report.countries),
    ):
        for share in shares:
            rows.append((period, metric, share.name, str(share.hits), ""))
    for sales in report.sales:
        when, cur = day(sales.day), sales.currency
        rows.append((when, "sales", "", str(sales.sales), cur.upper()))
        rows.append((when, "refunds", "", str(sales.refunds), cur.upper()))
        rows.append((when, "gross", "", decimal_amount(sales.gross_cents, cur), cur.upper()))
        rows.append((when, "fees", "", decimal_amount(sales.fee_cents, cur), cur.upper()))
        rows.append((when, "net", "", decimal_amount(sales.net_cents, cur), cur.upper()))
    return rows


def _monthly_csv_rows(counts: Iterable[MonthCount]) -> list[tuple[str, ...]]:
    """Each month's totals, oldest first: views, clicks, clicks per link, then every
    referrer, browser, device and country (the page's "Other" is not applied)."""
    by_month: dict[date, list[MonthCount]] = {}
    for count in counts:
        by_month.setdefault(count.month, []).append(count)
    rows: list[tuple[str, ...]] = []
    for month, its in by_month.items():
        when = month.strftime("%Y-%m")
        clicks = [c for c in its if c.metric == "click"]
        rows.append((when, "views", "", str(sum(c.hits for c in its if c.metric == "view"))))
        rows.append((when, "clicks", "", str(sum(c.hits for c in clicks))))
        rows += [(when, "link clicks", c.link_title, str(c.hits)) for c in clicks if c.link_title]
        deleted = sum(c.hits for c in clicks if c.link_title is None)
        if deleted:
            rows.append((when, "link clicks", "(deleted links)", str(deleted)))
        for metric in SHARES:
            rows += [(when, metric, c.dimension, str(c.hits)) for c in its if c.metric == metric]
    return rows


def _csv(name: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> Stream:
    async def lines() -> AsyncIterator[str]:
        yield "\ufeff" + csv_line(list(header))
        for row in rows:
            yield csv_line(list(row))

    return Stream(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


class InsightsController(Controller):
    path = "/dashboard"
    include_in_schema = False
    cache_control = CacheControlHeader(no_store=True)

    @get("/insights", name="insights:page")
    async def page(
        self, request: Request[Any, Any, Any], creator: CreatorDep, days: FromQuery[str] = "30"
    ) -> Template:
        period, today = period_of(days), datetime.now(UTC).date()
        counting: Counting | None = request.app.state.get("counting")
        kept = counting.reports if counting is not None else RenderedReports()
        html = kept.get(creator.id, period, today)
        if html is None:
            report = await report_for(creator.id, period, today=today)
            templates = request.app.template_engine
            assert templates is not None  # app/main.py always configures them
            # `request` only lets the fragment build links with url_for(): it is kept for
            # every later view of this report, whichever request asks.
            fragment = templates.get_template("insights/_report.html")
            html = fragment.render(request=request, report=report, periods=PERIODS)
            kept.keep(creator.id, period, today, html)
        return Template(
            template_name="insights/page.html",
            context={"creator": creator, "report_html": html},
            headers={"Vary": "Cookie"},
        )

    @get("/insights.csv", name="insights:csv")
    async def csv(self, creator: CreatorDep, days: FromQuery[str] = "30") -> Stream:
        report = await report_for(creator.id, period_of(days))
        name = f"linkmint-{creator.handle or creator.id}-insights-{report.last.isoformat()}"
        return _csv(f"{name}-{report.days}d", CSV_HEADER, _csv_rows(report))

    @get("/insights-monthly.csv", name="insights:monthly-csv")
    async def monthly_csv(self, creator: CreatorDep) -> Stream:
        """Every month's totals since counting began: the days the page no longer shows are
        kept as months (app/insights/retention.py)."""
        counts = await monthly_counts(creator.id)
        today = datetime.now(UTC).date().isoformat()
        name = f"linkmint-{creator.handle or creator.id}-insights-monthly-{today}"
        return _csv(name, MONTHLY_CSV_HEADER, _monthly_csv_rows(counts))


@post(
    "/_c/{creator_id:int}/{link_id:int}",
    name="insights:click",
    status_code=204,
    include_in_schema=False,
    cache_control=CacheControlHeader(no_store=True),
)
async def click(
    request: Request[Any, Any, Any], creator_id: FromPath[int], link_id: FromPath[int]
) -> Response[None]:
    if is_serial_id(creator_id) and is_serial_id(link_id):
        counting: Counting | None = request.app.state.get("counting")
        if counting is not None:
            counting.note_click(request.scope, creator_id, link_id)
    return Response(None, status_code=204)
