"""The Insights page and its CSV, read from the daily counts and the sales; the click
endpoint that feeds them."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from app.db.tables import InsightDay, Link
from tests.support.sales import record_sale

TODAY = datetime.now(UTC).date()
PERSON = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


async def counted(creator_id: int, day: date, metric: str, dimension: str, hits: int) -> None:
    await InsightDay.insert(
        InsightDay(creator=creator_id, day=day, metric=metric, dimension=dimension, hits=hits)
    )


async def link(creator_id: int, title: str, *, kind: str = "link", position: int = 0) -> int:
    price = 500 if kind == "premium" else None
    rows = await Link.insert(
        Link(
            creator=creator_id,
            kind=kind,
            title=title,
            url="https://example.com/" + title.lower().replace(" ", "-"),
            position=position,
            price_cents=price,
        )
    ).returning(Link.id)
    return rows[0]["id"]


async def sale(creator_id: int, *, price: int, fee: int, at: datetime, status="COMPLETED"):
    await record_sale(
        {"id": creator_id}, at=at, title="Recipe", price=price, fee=fee, status=status
    )


@pytest.fixture
async def creator(client, make_creator, sign_in) -> dict[str, Any]:
    row = await make_creator(handle="maya")
    await sign_in(client, row)
    return row


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found, f"no #{element_id}"
    return re.sub(r"\s+", " ", found.group(1)).strip()


async def test_the_page_shows_views_clicks_rates_sources_and_sales(client, creator):
    me = creator["id"]
    shop = await link(me, "Shop", position=0)
    guide = await link(me, "Guide", kind="premium", position=1)
    yesterday = TODAY - timedelta(days=1)
    for day, views, shop_clicks in ((TODAY, 120, 30), (yesterday, 80, 10)):
        await counted(me, day, "view", "", views)
        await counted(me, day, "click", str(shop), shop_clicks)
    await counted(me, TODAY, "click", str(guide), 5)
    await counted(me, TODAY, "click", "999999", 2)  # a link deleted since
    await counted(me, TODAY, "referrer", "instagram.com", 150)
    await counted(me, TODAY, "referrer", "direct", 50)
    await counted(me, TODAY, "device", "phone", 160)
    await counted(me, TODAY, "device", "desktop", 40)
    await counted(me, TODAY - timedelta(days=40), "view", "", 1000)  # outside 30 days
    noon = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=12)
    await sale(me, price=500, fee=50, at=noon)
    await sale(me, price=500, fee=50, at=noon, status="REFUNDED")

    answer = await client.get("/dashboard/insights")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    html = answer.text
    assert text_of(html, "total-views") == "200"
    assert text_of(html, "total-clicks") == "47"
    assert text_of(html, "total-rate") == "23.5%"
    assert text_of(html, "net-usd") == "$4.50"
    shop_row = re.search(rf'<tr id="link-{shop}">(.*?)</tr>', html, re.S).group(1)
    assert ">40<" in shop_row and "20.0%" in shop_row
    guide_row = re.search(rf'<tr id="link-{guide}">(.*?)</tr>', html, re.S).group(1)
    assert ">5<" in guide_row and "2.5%" in guide_row and "Premium" in guide_row
    assert "Links deleted since" in html
    referrers = re.search(r'<ul class="shares" id="referrers".*?</ul>', html, re.S).group(0)
    assert referrers.index("instagram.com") < referrers.index("direct")
    assert "150 · 75%" in referrers
    assert "1 (1 refunded)" in html

    ninety = (await client.get("/dashboard/insights?days=90")).text
    assert text_of(ninety, "total-views") == "1,200"
    assert 'aria-current="page" class="is-current">90 days' in ninety


@pytest.mark.parametrize("days", ["", "0", "31", "-7", "abc", "9" * 40, "7.0"])
async def test_an_unknown_period_shows_thirty_days(client, creator, days):
    answer = await client.get(f"/dashboard/insights?days={days}")
    assert answer.status_code == 200
    assert 'aria-current="page" class="is-current">30 days' in answer.text


async def test_the_chart_works_without_script_and_has_a_table(client, creator):
    await counted(creator["id"], TODAY, "view", "", 7)
    html = (await client.get("/dashboard/insights?days=7")).text
    chart = re.search(r'<svg class="chart".*?</svg>', html, re.S).group(0)
    assert chart.count("<g>") == 7  # a group per day, the empty ones too
    assert chart.count('class="bar-views"') == 1
    assert "<script" not in html.split("</head>")[1]
    table = re.search(r'<table id="daily-table">.*?</table>', html, re.S).group(0)
    assert table.count("<tr>") == 8  # the head and one per day


async def test_another_creators_counts_never_show(client, creator, make_creator):
    other = await make_creator(handle="zed")
    await counted(other["id"], TODAY, "view", "", 999)
    html = (await client.get("/dashboard/insights")).text
    assert text_of(html, "total-views") == "0"


async def test_signed_out_visitors_are_sent_to_sign_in(client):
    answer = await client.get("/dashboard/insights", follow_redirects=False)
    assert answer.status_code in (302, 303)
    assert answer.headers["location"].startswith("/auth/login")
    answer = await client.get("/dashboard/insights.csv", follow_redirects=False)
    assert answer.status_code in (302, 303)


async def test_the_csv_holds_the_same_figures(client, creator):
    me = creator["id"]
    shop = await link(me, "=cmd|' /C calc'!A0")
    await counted(me, TODAY, "view", "", 12)
    await counted(me, TODAY, "click", str(shop), 3)
    await counted(me, TODAY, "browser", "Chrome", 12)
    noon = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=12)
    await sale(me, price=1999, fee=200, at=noon)
    answer = await client.get("/dashboard/insights.csv?days=7")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    disposition = answer.headers["content-disposition"]
    assert disposition == f'attachment; filename="linkmint-maya-insights-{TODAY}-7d.csv"'
    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))
    assert rows[0] == ["date", "metric", "dimension", "value", "currency"]
    assert [TODAY.isoformat(), "views", "", "12", ""] in rows
    assert sum(1 for row in rows if row[1] == "views") == 7
    period = f"{TODAY - timedelta(days=6)}/{TODAY}"
    assert [period, "link clicks", "'=cmd|' /C calc'!A0", "3", ""] in rows  # not a formula
    assert [period, "browser", "Chrome", "12", ""] in rows
    assert [TODAY.isoformat(), "net", "", "17.99", "USD"] in rows
    assert [TODAY.isoformat(), "gross", "", "19.99", "USD"] in rows


async def test_a_click_is_a_204_without_cookie_and_counts_after_the_flush(
    app, client, make_creator
):
    owner = await make_creator(handle="nico")
    shop = await link(owner["id"], "Shop")
    headers = {"User-Agent": PERSON, "Content-Type": "text/ping", "Ping-To": "https://x.example"}
    before = app.state.counting.tally.take()  # whatever other tests left behind
    for _ in range(3):
        answer = await client.post(f"/_c/{owner['id']}/{shop}", content=b"PING", headers=headers)
        assert answer.status_code == 204
        assert answer.content == b""
        assert "set-cookie" not in answer.headers
    prefetch = {**headers, "Sec-Purpose": "prefetch"}
    await client.post(f"/_c/{owner['id']}/{shop}", content=b"PING", headers=prefetch)
    bot = {**headers, "User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}
    await client.post(f"/_c/{owner['id']}/{shop}", content=b"PING", headers=bot)
    await app.state.counting.flush()
    rows = await InsightDay.select(InsightDay.metric, InsightDay.dimension, InsightDay.hits)
    assert rows == [{"metric": "click", "dimension": str(shop), "hits": 3}]
    app.state.counting.tally.give_back(before)


@pytest.mark.parametrize(
    "path", ["/_c/1/99999999999", "/_c/0/1", "/_c/abc/1", "/_c/1", "/_c/-1/-1"]
)
async def test_clicks_on_impossible_ids_change_nothing(app, client, path):
    answer = await client.post(path, content=b"PING", headers={"User-Agent": PERSON})
    assert answer.status_code in (204, 404)
    assert all(s.creator_id > 0 for s in app.state.counting.tally.take())


async def test_a_report_is_kept_until_the_next_flush_and_only_for_its_creator(
    app, client, other_client, creator, make_creator, sign_in
):
    me = creator["id"]
    await counted(me, TODAY, "view", "", 10)
    assert text_of((await client.get("/dashboard/insights")).text, "total-views") == "10"
    await counted(me, TODAY - timedelta(days=1), "view", "", 5)  # as another process's flush
    again = (await client.get("/dashboard/insights")).text
    assert text_of(again, "total-views") == "10"  # the report as rendered, until a flush
    seven = (await client.get("/dashboard/insights?days=7")).text
    assert text_of(seven, "total-views") == "15"  # another period: another report

    other = await make_creator(handle="zed")
    await sign_in(other_client, other)
    theirs = (await other_client.get("/dashboard/insights")).text
    assert text_of(theirs, "total-views") == "0"

    await app.state.counting.flush()  # nothing to store; what the page shows is read again
    assert text_of((await client.get("/dashboard/insights")).text, "total-views") == "15"
