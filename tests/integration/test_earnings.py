"""The studio's earnings: each sale with its gross, fee and net, totals per currency."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.payments.earnings import PAGE_SIZE, earnings_for
from tests.support.pages import sale_rows
from tests.support.sales import record_sale
from tests.support.studio_support import HX

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
async def seller(client, make_creator, sign_in) -> dict[str, Any]:
    creator = await make_creator(
        handle="seller", whop_company_id="biz_SellerEarn", payout_enabled=True
    )
    await sign_in(client, creator)
    return creator


async def sale(creator: dict[str, Any], *, at: datetime = NOW, **fields: Any) -> str:
    return await record_sale(creator, at=at, **fields)


async def test_each_sale_shows_date_link_status_gross_fee_and_net(client, seller):
    await sale(seller, title="Recipe", price=499, fee=50, at=NOW - timedelta(days=2))
    await sale(seller, title="Guide", price=2000, fee=200, at=NOW - timedelta(days=1))
    await sale(seller, title="Refunded one", status="REFUNDED", price=1000, fee=100, at=NOW)
    page = await client.get("/dashboard")
    assert sale_rows(page.text) == [
        ["20 Nov 2026", "Refunded one", "Refunded", "$10.00", "$1.00", "$0.00"],
        ["19 Nov 2026", "Guide", "Paid", "$20.00", "$2.00", "$18.00"],
        ["18 Nov 2026", "Recipe", "Paid", "$4.99", "$0.50", "$4.49"],
    ]


async def test_totals_count_completed_sales_per_currency(client, seller):
    await sale(seller, price=499, fee=50)
    await sale(seller, price=2000, fee=200)
    await sale(seller, status="REFUNDED", price=1000, fee=100)
    await sale(seller, price=1500, fee=150, currency="eur")
    page = (await client.get("/dashboard")).text
    usd = page.split('id="total-usd"')[1].split("</div>")[0]
    assert "Net earnings in USD" in usd
    assert "$22.49" in usd  # 4.49 + 18.00; the refund counts for nothing
    assert "2 sales" in usd and "$24.99 gross − $2.50 platform fees" in usd
    eur = page.split('id="total-eur"')[1].split("</div>")[0]
    assert "€13.50" in eur and "1 sale ·" in eur


async def test_a_partly_refunded_sale_stays_paid_and_its_refund_comes_off_the_net(client, seller):
    await sale(seller, title="Guide", price=2000, fee=200, refunded=500)
    await sale(seller, title="Recipe", price=499, fee=50, at=NOW - timedelta(days=1))
    page = (await client.get("/dashboard")).text
    assert sale_rows(page)[0] == [
        "20 Nov 2026",
        "Guide",
        "$5.00 refunded",
        "$20.00",
        "$2.00",
        "$13.00",
    ]
    usd = page.split('id="total-usd"')[1].split("</div>")[0]
    assert "$17.49" in usd  # 13.00 + 4.49
    assert "$24.99 gross − $2.50 platform fees − $5.00 refunded" in usd


async def test_unpaid_unlocks_and_other_creators_sales_are_not_listed(client, seller, make_creator):
    for status in ("PENDING", "FAILED", "EXPIRED"):
        await sale(seller, title=f"{status} one", status=status)
    other = await make_creator(handle="other")
    await sale(other, title="Not yours", price=9900, fee=990)
    page = (await client.get("/dashboard")).text
    assert sale_rows(page) == []
    assert "Not yours" not in page and "$99.00" not in page
    assert "No sales yet." in page
    assert 'id="total-usd"' not in page


async def test_a_single_currency_needs_no_currency_label(client, seller):
    await sale(seller)
    page = (await client.get("/dashboard")).text
    assert "Net earnings</dt>" in page


async def test_the_earnings_query_returns_the_numbers(seller):
    await sale(seller, price=499, fee=50, at=NOW - timedelta(hours=1))
    refunded = await sale(seller, status="REFUNDED", price=1000, fee=100, at=NOW)
    earnings = await earnings_for(seller["id"])
    assert [(s.status, s.gross_cents, s.fee_cents, s.net_cents) for s in earnings.sales] == [
        ("REFUNDED", 1000, 100, 0),
        ("COMPLETED", 499, 50, 449),
    ]
    assert earnings.sales[0].id == refunded and earnings.sales[0].refunded
    [usd] = earnings.totals
    assert (usd.currency, usd.sales, usd.gross_cents, usd.fee_cents, usd.net_cents) == (
        "usd",
        1,
        499,
        50,
        449,
    )
    assert earnings.older is None


async def test_no_sales_at_all(seller):
    earnings = await earnings_for(seller["id"])
    assert earnings.sales == () and earnings.totals == () and earnings.older is None


async def test_sales_are_paged_newest_first_and_the_totals_cover_them_all(client, seller):
    total = PAGE_SIZE + 5
    for n in range(total):
        # Three sales share each moment: the pages must still neither repeat nor skip one.
        at = NOW - timedelta(minutes=n // 3)
        await sale(seller, title=f"Sale {n:02d}", price=100 + n, fee=50, at=at)
    first = await client.get("/dashboard/earnings", headers=HX)
    assert first.status_code == 200
    first_titles = [row[1] for row in sale_rows(first.text)]
    assert len(first_titles) == PAGE_SIZE
    older = re.search(r'hx-get="(/dashboard/earnings\?older=[^"]+)"', first.text)[1]
    assert "Newest sales" not in first.text

    second = await client.get(older.replace("&amp;", "&"), headers=HX)
    second_titles = [row[1] for row in sale_rows(second.text)]
    assert len(second_titles) == 5
    assert "Older sales" not in second.text and "Newest sales" in second.text
    assert sorted(first_titles + second_titles) == [f"Sale {n:02d}" for n in range(total)]
    gross = sum(100 + n for n in range(total))
    for html in (first.text, second.text):
        assert f"{total} sales" in html  # totals are over every sale, on every page
        assert f"${gross / 100:,.2f}" in html


async def test_pages_are_in_time_order(seller):
    for n in range(PAGE_SIZE + 2):
        await sale(seller, title=f"S{n}", at=NOW - timedelta(hours=n))
    first = await earnings_for(seller["id"])
    second = await earnings_for(seller["id"], older_than=first.older)
    times = [s.paid_at for s in first.sales + second.sales]
    assert times == sorted(times, reverse=True) and len(set(times)) == PAGE_SIZE + 2


async def test_earnings_pages_work_without_javascript(client, seller):
    for n in range(PAGE_SIZE + 1):
        await sale(seller, at=NOW - timedelta(minutes=n))
    first = await client.get("/dashboard")
    href = re.search(r'href="(/dashboard/earnings\?older=[^"#]+)#earnings"', first.text)[1]
    page = await client.get(href)
    assert page.status_code == 200 and "Your studio" in page.text
    assert len(sale_rows(page.text)) == 1


@pytest.mark.parametrize("cursor", ["nonsense", "12", ".abc", "12.", "-5.x", "9" * 30 + ".x"])
async def test_a_malformed_page_cursor_is_a_bad_request(client, seller, cursor):
    r = await client.get("/dashboard/earnings", params={"older": cursor}, headers=HX)
    assert r.status_code == 400


async def test_the_earnings_card_lives_in_the_studio(client, seller):
    page = (await client.get("/dashboard")).text
    assert 'id="earnings"' in page and 'id="earnings-list"' in page
    assert "Earnings are on" in page
