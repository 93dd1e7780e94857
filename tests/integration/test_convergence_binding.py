"""A payment completes an unlock only if it came from *our* checkout for that unlock: its
checkout configuration, that checkout's plan, our platform fee on it. Anything else — and
anything Whop sends with those fields null, or in a currency the platform does not sell in —
is a mismatch: logged, counted by reason on /metrics, never completed, on every path.

Payments are real ones at the emulator; where Whop would have to send something odd, the
emulator's record is changed first, so the app reads it through its real client.
"""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.db.tables import Unlock, WebhookEvent
from app.emulator import store
from app.payments import metrics
from app.payments.audit import audit
from app.payments.convergence import converge_payment
from app.payments.inbox import process_event
from app.payments.reconcile import SweepOptions, reconcile
from app.payments.unlocks import return_from_checkout
from app.whop import RetryPolicy, WhopClient
from app.whop.money import UnsupportedCurrency
from tests.support.convergence_support import (  # noqa: F401 (fixtures)
    buy,
    open_unlock,
    quiet_whop,
    seller,
    status_of,
)
from tests.support.pages import samples
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    emulator_control,
    live_settings,
    sleeps,
    whop,
)

pytestmark = pytest.mark.usefixtures("quiet_whop")
NOW = SweepOptions(every=timedelta(0), calls=100)


async def mismatches(reason: str) -> float:
    """The /metrics count of payments refused for `reason`."""
    text = (await metrics.render_metrics()).decode()
    return samples(text).get(("linkmint_payment_mismatches_total", (("reason", reason),)), 0.0)


async def whop_changes(sql: str, *args: Any) -> None:
    """Whop's own record changed behind the app's back (the emulator's tables)."""
    async with store.connection() as conn:
        await conn.execute(sql, *args)


async def stored_event(payment_id: str, event_type: str = "payment.succeeded") -> str:
    event_id = f"msg_binding_{payment_id}"
    body = json.dumps({"type": event_type, "data": {"id": payment_id}})
    await WebhookEvent.raw(
        "INSERT INTO webhook_event (id, type, payload) VALUES ({}, {}, {}::jsonb)",
        event_id, event_type, body,
    )  # fmt: skip
    return event_id


async def event_row(event_id: str) -> dict[str, Any]:
    [row] = await WebhookEvent.select().where(WebhookEvent.id == event_id)
    return row


# --- the binding: our checkout, its plan, our fee ---------------------------------------------


async def test_a_payment_from_another_checkout_naming_our_unlock_completes_nothing(
    whop, seller, caplog
):
    unlock = await open_unlock(whop, seller)
    # Same company, price, fee and metadata: only the checkout is not the one we made.
    copy = await whop.create_checkout_configuration(
        company_id=seller["whop_company_id"], price=500, currency="usd", application_fee=50,
        metadata={"unlock_id": unlock["id"]}, redirect_url=None,
    )  # fmt: skip
    payment_id = await buy(whop, {"checkout": copy, "company_id": copy.company_id})
    before = await mismatches("checkout")
    with caplog.at_level(logging.WARNING, logger="app.payments.convergence"):
        outcome = await converge_payment(whop, payment_id, "redirect")
    assert outcome.result == "mismatch"
    assert (await status_of(unlock["id"]))["status"] == "PENDING"
    assert await mismatches("checkout") == before + 1
    assert f"came from {copy.id}, the unlock's checkout is {unlock['checkout'].id}" in caplog.text


async def test_a_payment_for_another_plan_completes_nothing(whop, seller):
    unlock = await open_unlock(whop, seller)
    other = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    await whop_changes(
        "UPDATE whop_emulator.payment SET plan_id = $1 WHERE id = $2",
        other["checkout"].plan_id, payment_id,
    )  # fmt: skip
    before = await mismatches("plan")
    assert (await converge_payment(whop, payment_id, "webhook")).result == "mismatch"
    assert (await status_of(unlock["id"]))["status"] == "PENDING"
    assert await mismatches("plan") == before + 1


@pytest.mark.parametrize("fee", [None, Decimal("0.49")])
async def test_a_payment_without_our_platform_fee_completes_nothing(whop, seller, fee):
    unlock = await open_unlock(whop, seller)  # our fee: 0.50
    payment_id = await buy(whop, unlock)
    await whop_changes(
        "UPDATE whop_emulator.payment SET application_fee = $1 WHERE id = $2", fee, payment_id
    )
    assert (await whop.retrieve_payment(payment_id)).application_fee == (
        None if fee is None else 49
    )
    before = await mismatches("fee")
    assert (await converge_payment(whop, payment_id, "redirect")).result == "mismatch"
    assert (await status_of(unlock["id"]))["status"] == "PENDING"
    assert await mismatches("fee") == before + 1


async def test_every_mismatch_reason_shows_on_metrics_before_it_happens():
    text = (await metrics.render_metrics()).decode()
    for reason in ("company", "checkout", "plan", "currency", "fee", "amount"):
        assert f'linkmint_payment_mismatches_total{{reason="{reason}"}}' in text


# --- unlocks made before plans were kept --------------------------------------------------------


async def forget_plan(unlock: dict[str, Any]) -> None:
    await Unlock.update({Unlock.plan_id: None}).where(Unlock.id == unlock["id"])


async def test_an_unlock_from_before_plans_were_kept_learns_its_plan_from_whop(whop, seller):
    unlock = await open_unlock(whop, seller)
    await forget_plan(unlock)
    payment_id = await buy(whop, unlock)
    assert (await converge_payment(whop, payment_id, "redirect")).result == "completed"
    row = await status_of(unlock["id"])
    assert row["plan_id"] == unlock["checkout"].plan_id and row["status"] == "COMPLETED"


async def test_a_webhook_learns_the_plan_before_its_transaction(whop, seller):
    unlock = await open_unlock(whop, seller)
    await forget_plan(unlock)
    payment_id = await buy(whop, unlock)
    event_id = await stored_event(payment_id)
    assert await process_event(whop, event_id) == "processed"
    row = await status_of(unlock["id"])
    assert row["status"] == "COMPLETED" and row["plan_id"] == unlock["checkout"].plan_id


async def test_an_old_unlock_still_refuses_a_payment_for_another_plan(whop, seller):
    unlock = await open_unlock(whop, seller)
    other = await open_unlock(whop, seller)
    await forget_plan(unlock)
    payment_id = await buy(whop, unlock)
    await whop_changes(
        "UPDATE whop_emulator.payment SET plan_id = $1 WHERE id = $2",
        other["checkout"].plan_id, payment_id,
    )  # fmt: skip
    assert (await converge_payment(whop, payment_id, "redirect")).result == "mismatch"
    row = await status_of(unlock["id"])
    assert row["status"] == "PENDING" and row["plan_id"] == unlock["checkout"].plan_id


# --- the sweep and the audit agree with convergence ----------------------------------------------


async def test_the_sweep_refuses_and_counts_a_mismatch_it_finds(whop, seller):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    await whop_changes(
        "UPDATE whop_emulator.payment SET checkout_configuration_id = NULL WHERE id = $1",
        payment_id,
    )
    before = await mismatches("checkout")
    report = await reconcile(whop, NOW)
    assert report.results == {"mismatch": 1}
    assert (await status_of(unlock["id"]))["status"] == "PENDING"
    assert await mismatches("checkout") == before + 1


async def test_the_audit_names_why_a_payment_for_our_unlock_was_refused(whop, seller):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    await whop_changes(
        "UPDATE whop_emulator.payment SET application_fee = NULL WHERE id = $1", payment_id
    )
    await converge_payment(whop, payment_id, "webhook")
    now = datetime.now(UTC)
    report = await audit(whop, now - timedelta(hours=1), now + timedelta(minutes=1))
    [difference] = report.differences
    assert difference.payment_id == payment_id and difference.whop == "paid $5.00"
    assert difference.ours == (
        "no unlock paid by it (unlock is PENDING); it does not match the unlock: "
        "the payment carries no platform fee, ours is 50"
    )


# --- fields Whop may send as null ----------------------------------------------------------------


class Nulling(httpx.AsyncBaseTransport):
    """Real HTTP to the emulator, except that a retrieved payment comes back with `fields`
    null — as Whop's legacy model allows."""

    def __init__(self, *fields: str) -> None:
        self.fields = fields
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "GET" or not re.search(r"/payments/pay_\w+$", request.url.path):
            return response
        await response.aread()
        data = json.loads(response.content)
        data.update(dict.fromkeys(self.fields))
        return httpx.Response(response.status_code, json=data)

    async def aclose(self) -> None:
        await self.inner.aclose()


def nulling_whop(live_settings, *fields: str) -> WhopClient:
    retry = RetryPolicy(attempts=1)
    return WhopClient.connect(live_settings, transport=Nulling(*fields), retry=retry)


@pytest.mark.parametrize(
    "fields,reason",
    [(("checkout_configuration_id",), "checkout"), (("application_fee",), "fee")],
)
async def test_a_null_checkout_or_fee_from_whop_is_a_mismatch_not_an_exception(
    whop, seller, live_settings, fields, reason
):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    event_id = await stored_event(payment_id)
    before = await mismatches(reason)
    async with nulling_whop(live_settings, *fields) as odd:
        assert await process_event(odd, event_id) == "processed"
        assert (await converge_payment(odd, payment_id, "redirect")).result == "mismatch"
    assert (await event_row(event_id))["last_error"] is None
    assert (await status_of(unlock["id"]))["status"] == "PENDING"
    assert await mismatches(reason) == before + 2


async def test_a_payment_whop_sends_without_a_status_is_retried_not_crashed_on(
    whop, seller, live_settings
):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    event_id = await stored_event(payment_id)
    async with nulling_whop(live_settings, "status", "total") as odd:
        # The webhook: left unprocessed, saying why, for the drainer to try again.
        assert await process_event(odd, event_id) == "failed"
        event = await event_row(event_id)
        assert event["processed_at"] is None and event["attempts"] == 1
        assert "Whop retrieve payment failed: unexpected response: field" in event["last_error"]
        assert "is missing" in event["last_error"]
        # The buyer's return: back to the page, which polls while the others finish.
        assert await return_from_checkout(odd, unlock["id"], payment_id) == (
            f"/seller#premium-{seller['link']['id']}"
        )
    assert (await status_of(unlock["id"]))["status"] == "PENDING"
    # Once Whop's record is whole, the same event completes the unlock.
    assert await process_event(whop, event_id) == "processed"
    assert (await status_of(unlock["id"]))["status"] == "COMPLETED"


# --- currencies the platform does not sell in ----------------------------------------------------


@pytest.mark.parametrize("currency", ["whop_usd", "usdt"])
async def test_a_payment_in_a_currency_we_do_not_sell_in_is_a_mismatch(whop, seller, currency):
    unlock = await open_unlock(whop, seller)
    await whop_changes(
        "UPDATE whop_emulator.plan SET currency = $1 WHERE id = $2",
        currency, unlock["checkout"].plan_id,
    )  # fmt: skip
    payment_id = await buy(whop, unlock)
    payment = await whop.retrieve_payment(payment_id)  # read, not refused as unreadable
    assert payment.currency == currency and payment.total == 500
    event_id = await stored_event(payment_id)
    before = await mismatches("currency")
    assert await process_event(whop, event_id) == "processed"
    assert (await converge_payment(whop, payment_id, "redirect")).result == "mismatch"
    assert (await reconcile(whop, NOW)).results == {"mismatch": 1}
    assert (await status_of(unlock["id"]))["status"] == "PENDING"
    assert await mismatches("currency") == before + 3


async def test_a_checkout_is_never_asked_for_in_a_currency_we_do_not_sell_in(whop, seller):
    with pytest.raises(UnsupportedCurrency, match="whop_usd"):
        await whop.create_checkout_configuration(
            company_id=seller["whop_company_id"], price=500, currency="whop_usd",
            application_fee=50, metadata={"unlock_id": "u1"}, redirect_url=None,
        )  # fmt: skip
