"""The buyer's return (/checkout/confirm) over HTTP: it converges, and believes nothing in
its query string (T4, T5, T6 through the endpoints)."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import pytest

from app.emulator import faults
from tests.support.unlock_support import (
    HX,
    add_premium,
    make_seller,
    pay,
    query_of,
    signed_event,
    start_checkout,
    unlock_row,
)
from tests.support.whop_testkit import emulator_control  # noqa: F401 (fixture)


@pytest.fixture(autouse=True)
async def quiet_whop(emulator_control):
    """The emulator's own webhooks to the app are lost: each test sends its own."""
    await faults.add_fault("drop", attempts=4, times=100)


@pytest.fixture
async def recipe(client, settings, make_creator):
    alice = await make_seller(client, settings, make_creator, "alice")
    return await add_premium(alice)


async def checkout_paid(client, link_id: int) -> tuple[str, str]:
    unlock_id, purchase_url = await start_checkout(client, link_id)
    r = await pay(client, purchase_url)
    return unlock_id, query_of(r.headers["location"])["payment_id"]


async def confirm(client, unlock_id: str, payment_id: str | None = None):
    query = f"unlock={unlock_id}" + (f"&payment_id={payment_id}" if payment_id else "")
    return await client.get(f"/checkout/confirm?{query}", follow_redirects=False)


async def test_the_return_alone_completes_the_unlock(client, recipe):
    unlock_id, payment_id = await checkout_paid(client, recipe["id"])
    r = await confirm(client, unlock_id, payment_id)
    assert r.status_code == 303 and r.headers["location"] == f"/alice#premium-{recipe['id']}"
    assert r.headers["cache-control"] == "private, no-store"
    row = await unlock_row(unlock_id)
    assert row["status"] == "COMPLETED" and row["completed_via"] == "redirect"


async def test_the_return_after_the_webhook_goes_to_the_page_and_changes_nothing(
    client, settings, recipe
):
    unlock_id, payment_id = await checkout_paid(client, recipe["id"])
    body, headers = signed_event(settings, "payment.succeeded", {"id": payment_id})
    await client.post("/webhooks/whop", content=body, headers=headers)
    await client.app.state.inbox.settled()  # the webhook's effect lands first
    r = await confirm(client, unlock_id, payment_id)
    assert r.status_code == 303
    row = await unlock_row(unlock_id)
    assert row["status"] == "COMPLETED" and row["completed_via"] == "webhook"


async def test_a_return_without_a_payment_id_asks_whop_for_the_checkouts_payments(client, recipe):
    unlock_id, _ = await checkout_paid(client, recipe["id"])
    assert (await confirm(client, unlock_id)).status_code == 303
    assert (await unlock_row(unlock_id))["completed_via"] == "redirect"


async def test_a_forged_return_unlocks_nothing(client, other_client, recipe):
    mine, _ = await start_checkout(client, recipe["id"])
    theirs, their_payment = await checkout_paid(other_client, recipe["id"])
    for forged in (their_payment, "pay_MadeUp0000001", "not-a-payment-id", None):
        r = await confirm(client, mine, forged)
        assert r.status_code == 303
        assert (await unlock_row(mine))["status"] == "PENDING"
    # Their payment, wherever it was presented, completed only their unlock...
    assert (await unlock_row(theirs))["status"] == "COMPLETED"
    # ...and its link goes to nobody but them.
    assert (await client.get(f"/unlocks/{theirs}/status", headers=HX)).status_code == 404
    mine_view = await client.get(f"/u/{recipe['id']}", headers=HX)
    assert "secret.example" not in mine_view.text


async def test_a_return_with_query_parameters_claiming_success_is_not_believed(client, recipe):
    unlock_id, _ = await start_checkout(client, recipe["id"])  # never paid
    r = await client.get(
        f"/checkout/confirm?unlock={unlock_id}&checkout_status=success&status=success",
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert (await unlock_row(unlock_id))["status"] == "PENDING"
