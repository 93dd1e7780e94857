"""The Insights page (/dashboard/insights), its CSV, and the click endpoint.

`POST /_c/<creator id>/<link id>` is where a link's `ping` attribute (and, where a browser
sends no pings, the page's small beacon script) reports a click. It answers 204 with no
body and no cookie, reads neither the request's body nor the database, and counts nothing
itself: the click goes into the process's tally, and the flush keeps it only if that link
is on that creator's page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, FromQuery
from litestar.response import Stream, Template

from app.db.tables import is_serial_id
from app.insights.counting import Counting
from app.insights.report import PERIODS, Report, period_of, report_for
from app.payments.sales_csv import csv_line, decimal_amount
from app.web.deps import CreatorDep

CSV_HEADER = ("date", "metric", "dimension", "value", "currency")


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


class InsightsController(Controller):
    path = "/dashboard"
    include_in_schema = False
    cache_control = CacheControlHeader(no_store=True)

    @get("/insights", name="insights:page")
    async def page(self, creator: CreatorDep, days: FromQuery[str] = "30") -> Template:
        report = await report_for(creator.id, period_of(days))
        return Template(
            template_name="insights/page.html",
            context={"creator": creator, "report": report, "periods": PERIODS},
            headers={"Vary": "Cookie"},
        )

    @get("/insights.csv", name="insights:csv")
    async def csv(self, creator: CreatorDep, days: FromQuery[str] = "30") -> Stream:
        report = await report_for(creator.id, period_of(days))
        name = f"linkmint-{creator.handle or creator.id}-insights-{report.last.isoformat()}"

        async def lines() -> AsyncIterator[str]:
            yield "\ufeff" + csv_line(list(CSV_HEADER))
            for row in _csv_rows(report):
                yield csv_line(list(row))

        return Stream(
            lines(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}-{report.days}d.csv"'},
        )


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
