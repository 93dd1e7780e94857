"""One page of Whop's payments list: the filters sent on the wire, the cursor of the next
page, and a listed record without a field we need left out instead of failing the page."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx

from app.whop import WhopClient

PAID = {
    "id": "pay_Good0000000001",
    "status": "paid",
    "substatus": "succeeded",
    "currency": "usd",
    "total": 5.0,
    "subtotal": 5.0,
    "refunded_amount": 1.5,
    "tax_refunded_amount": 0.5,
    "created_at": "2026-12-01T10:00:00Z",
    "updated_at": "2026-12-02T10:00:00Z",
    "metadata": {"unlock_id": "u1"},
}


def client(answer: dict, seen: list[httpx.Request]) -> WhopClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="https://whop.test")
    return WhopClient(http, api_key="apik_x", parent_company_id="biz_x", page_size=25)


async def test_a_page_sends_the_windows_and_cursor_and_reads_the_next_cursor():
    seen: list[httpx.Request] = []
    answer = {"data": [PAID], "page_info": {"end_cursor": "c2", "has_next_page": True}}
    async with client(answer, seen) as whop:
        page = await whop.payments_page(
            "biz_A",
            updated_after=datetime(2026, 12, 1, tzinfo=UTC),
            updated_before=datetime(2026, 12, 2, tzinfo=UTC),
            after="c1",
        )
    params = dict(seen[0].url.params)
    assert params == {
        "company_id": "biz_A",
        "updated_after": "2026-12-01T00:00:00Z",
        "updated_before": "2026-12-02T00:00:00Z",
        "first": "25",
        "after": "c1",
    }
    assert page.next_cursor == "c2" and page.skipped == 0
    [payment] = page.payments
    assert payment.price_paid == 500 and payment.price_refunded == 100  # tax part left out
    assert payment.updated_at == datetime(2026, 12, 2, 10, tzinfo=UTC)


async def test_the_last_page_has_no_next_cursor():
    answer = {"data": [], "page_info": {"end_cursor": "c9", "has_next_page": False}}
    async with client(answer, []) as whop:
        page = await whop.payments_page("biz_A")
    assert page.payments == () and page.next_cursor is None


async def test_a_listed_payment_without_status_or_total_is_skipped_and_logged(caplog):
    odd = {key: value for key, value in PAID.items() if key not in ("status", "total")}
    odd["id"] = "pay_Odd00000000001"
    answer = {"data": [odd, PAID], "page_info": {"has_next_page": False}}
    with caplog.at_level(logging.WARNING, logger="app.whop"):
        async with client(answer, []) as whop:
            page = await whop.payments_page("biz_A")
    assert [p.id for p in page.payments] == ["pay_Good0000000001"] and page.skipped == 1
    assert "pay_Odd00000000001" in caplog.text
    assert json.dumps(odd) not in caplog.text  # the record itself is not logged
