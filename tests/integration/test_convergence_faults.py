"""The whole purchase over real HTTP against `linkmint serve`, while the emulated Whop
misbehaves on purpose: duplicated and reordered webhooks, a lost redirect, a lost webhook,
and its API failing in the middle of convergence."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from app.db.tables import Unlock, WebhookEvent
from app.emulator import delivery, faults
from app.payments.reconcile import SweepOptions, reconcile
from tests.support.unlock_support import (
    HX,
    add_premium,
    local,
    pay,
    press_unlock,
    query_of,
    unlock_row,
)
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    emulator_control,
    eventually,
    live_settings,
    sleeps,
    whop,
)

pytestmark = pytest.mark.usefixtures("emulator_control")
SECRET = "https://secret.example/faults"


@pytest.fixture
async def link(whop, make_creator) -> dict:
    company = await whop.create_connected_company(title="Faulty", email="f@example.com")
    creator = await make_creator(handle="faulty", whop_company_id=company.id, payout_enabled=True)
    return await add_premium(creator, url=SECRET)


@pytest.fixture
async def buyer(live_server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server, timeout=15) as http:
        yield http


async def settled(unlock_id: str, status: str = "COMPLETED") -> dict:
    async def check():
        row = await unlock_row(unlock_id)
        return row if row["status"] == status else None

    return await eventually(check, within=15)


async def deliveries_done(event_type: str, payment_id: str, count: int = 1) -> list[dict]:
    async def check():
        log = await delivery.delivery_log(event_type=event_type)
        mine = [d for d in log if _payment_of(d["body"]) == payment_id]
        finished = [d for d in mine if d["status"] in ("succeeded", "failed")]
        return finished if len(finished) >= count and len(finished) == len(mine) else None

    return await eventually(check, within=15)


def _payment_of(body: dict) -> str | None:
    data = body.get("data") or {}
    return (data.get("payment") or {}).get("id") or data.get("id")


async def payment_of(whop, unlock_id: str):
    """The (one) payment Whop holds for the unlock's checkout."""
    row = await Unlock.raw(
        "SELECT u.checkout_id, c.whop_company_id FROM unlock u JOIN creator c "
        "ON c.id = u.creator WHERE u.id = {}",
        unlock_id,
    )
    listed = whop.list_payments(
        row[0]["whop_company_id"], checkout_configuration_ids=[row[0]["checkout_id"]]
    )
    [payment] = [p async for p in listed]
    return payment


async def revealed(http: httpx.AsyncClient, link_id: int) -> bool:
    return SECRET in (await http.get(f"/u/{link_id}", headers=HX)).text


async def test_duplicated_webhooks_complete_the_unlock_once(buyer, link):
    await faults.add_fault("drop_redirect")
    await faults.add_fault("duplicate", event_type="payment.succeeded", copies=3)
    unlock_id, purchase_url = await press_unlock(buyer, link["id"])
    receipt = await pay(buyer, purchase_url)
    assert receipt.status_code == 200 and "Payment complete" in receipt.text

    row = await settled(unlock_id)
    assert row["completed_via"] == "webhook"
    [*sent] = await deliveries_done("payment.succeeded", row["provider_payment_id"], count=3)
    assert len(sent) == 3 and len({d["event_id"] for d in sent}) == 1
    assert [a["outcome"] for d in sent for a in d["attempts"]] == ["delivered"] * 3
    stored = await WebhookEvent.select().where(WebhookEvent.id == sent[0]["event_id"])
    assert len(stored) == 1 and stored[0]["attempts"] == 1
    assert await revealed(buyer, link["id"])


async def test_a_refund_arriving_before_the_success_ends_refunded(buyer, link, whop):
    await faults.add_fault("drop_redirect")
    await faults.add_fault("reorder", count=2)  # the success is held until the refund comes
    unlock_id, purchase_url = await press_unlock(buyer, link["id"])
    await pay(buyer, purchase_url)
    payment = await payment_of(whop, unlock_id)
    await whop.refund_payment(payment.id)

    await deliveries_done("payment.succeeded", payment.id)
    await deliveries_done("refund.created", payment.id)
    await deliveries_done("refund.updated", payment.id)
    row = await unlock_row(unlock_id)
    assert row["status"] == "REFUNDED" and row["provider_payment_id"] == payment.id
    assert not await revealed(buyer, link["id"])


async def test_reordered_successes_of_two_buyers_both_complete(buyer, link, live_server):
    await faults.add_fault("drop_redirect", times=2)
    await faults.add_fault("reorder", event_type="payment.succeeded", count=2)
    first, first_url = await press_unlock(buyer, link["id"])
    async with httpx.AsyncClient(base_url=live_server, timeout=15) as other:
        second, second_url = await press_unlock(other, link["id"])
        await pay(buyer, first_url)
        await pay(other, second_url)
        for unlock_id in (first, second):
            assert (await settled(unlock_id))["completed_via"] == "webhook"
        assert await revealed(other, link["id"])
    assert await revealed(buyer, link["id"])


async def test_a_dropped_redirect_still_unlocks_through_the_webhook(buyer, link):
    await faults.add_fault("drop_redirect")
    unlock_id, purchase_url = await press_unlock(buyer, link["id"])
    receipt = await pay(buyer, purchase_url)
    assert "Payment complete" in receipt.text  # the buyer never came back
    assert (await settled(unlock_id))["completed_via"] == "webhook"
    assert await revealed(buyer, link["id"])  # back on the page later, the link is there


async def test_a_dropped_webhook_and_a_dropped_redirect_are_finished_by_the_reconciler(
    buyer, link, whop
):
    await faults.add_fault("drop_redirect")
    await faults.add_fault("drop", event_type="payment.succeeded", attempts=4)
    unlock_id, purchase_url = await press_unlock(buyer, link["id"])
    await pay(buyer, purchase_url)
    payment_id = (await payment_of(whop, unlock_id)).id
    [lost] = await deliveries_done("payment.succeeded", payment_id)
    assert lost["status"] == "failed"  # Whop gave up on it
    assert (await unlock_row(unlock_id))["status"] == "PENDING"
    assert not await revealed(buyer, link["id"])

    report = await reconcile(whop, SweepOptions(every=timedelta(0), calls=100))
    assert report.results["completed"] == 1
    assert (await unlock_row(unlock_id))["completed_via"] == "reconcile"
    assert await revealed(buyer, link["id"])


async def test_whop_failing_during_the_return_leaves_the_buyer_waiting_then_completes(buyer, link):
    await faults.add_fault("drop", event_type="payment.succeeded", attempts=4)
    await faults.add_fault("api", method="GET", path="/payments/*", status=500, times=6)
    unlock_id, purchase_url = await press_unlock(buyer, link["id"])
    paid = await pay(buyer, purchase_url)
    confirm = local(paid.headers["location"])
    assert query_of(confirm)["unlock"] == unlock_id

    back = await buyer.get(confirm)  # every try to ask Whop fails: still back to the page
    assert back.status_code == 303 and back.headers["location"].startswith("/faulty#premium-")
    assert (await unlock_row(unlock_id))["status"] == "PENDING"
    waiting = await buyer.get(f"/unlocks/{unlock_id}/status", headers=HX)
    assert waiting.status_code == 200 and 'hx-trigger="every 1s"' in waiting.text

    await faults.clear_faults()
    again = await buyer.get(confirm)  # a reload, once Whop answers again
    assert again.status_code == 303
    assert (await unlock_row(unlock_id))["completed_via"] == "redirect"
    done = await buyer.get(f"/unlocks/{unlock_id}/status", headers=HX)
    assert done.status_code == 286 and SECRET in done.text
