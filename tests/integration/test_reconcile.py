"""Reconciliation from Whop's records: whatever the redirect and the webhook both missed,
reading each selling company's payments at Whop settles — a paid unlock, a second charge,
a refund made at Whop, a payment on an expired unlock — in a bounded number of calls."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace

import pytest

from app.db.tables import Unlock, WebhookEvent, WhopSweep
from app.emulator import faults
from app.payments import metrics
from app.payments.convergence import converge_payment
from app.payments.earnings import earnings_for
from app.payments.reconcile import (
    MAINTENANCE_LOCK,
    SweepOptions,
    maintenance_lifespan,
    reconcile,
    run_maintenance,
)
from app.payments.sweep import sweep
from tests.support.convergence_support import (  # noqa: F401 (fixtures)
    buy,
    open_unlock,
    quiet_whop,
    seller,
    status_of,
)
from tests.support.servers import linkmint
from tests.support.unlock_support import DECLINES, add_premium, signed_event
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    emulator_control,
    eventually,
    live_settings,
    recorded_calls,
    sleeps,
    whop,
)

pytestmark = pytest.mark.usefixtures("quiet_whop")
NOW = SweepOptions(every=timedelta(0), calls=100)  # every selling company is due, however recent
MONTH = timedelta(days=30)


@pytest.fixture
def calls(whop):
    """The HTTP requests the Whop client makes from now on, as (method, path)."""
    return recorded_calls(whop)


async def age(unlock_id: str, by: timedelta) -> None:
    await Unlock.raw(
        "UPDATE unlock SET created_at = created_at - {}::interval WHERE id = {}", by, unlock_id
    )


async def test_an_unlock_whose_redirect_and_webhook_were_both_lost_is_completed(whop, seller):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    report = await reconcile(whop, NOW)
    assert report.results == {"completed": 1}
    row = await status_of(unlock["id"])
    assert row["status"] == "COMPLETED" and row["completed_via"] == "reconcile"
    assert row["provider_payment_id"] == payment_id
    again = await reconcile(whop, NOW)
    assert again.results == {} and again.sweep.payments == 1  # read again, already in step


async def test_a_second_charge_on_a_completed_unlock_is_refunded_and_recorded(whop, seller):
    unlock = await open_unlock(whop, seller)
    first = await buy(whop, unlock)
    await converge_payment(whop, first, "redirect")
    second = await buy(whop, unlock)  # a second tab; its redirect and webhook are lost
    report = await reconcile(whop, NOW)
    assert report.results == {"duplicate_refunded": 1}
    refunded = await whop.retrieve_payment(second)
    assert refunded.substatus == "refunded" and refunded.refunded_amount == refunded.total
    [dup] = await Unlock.raw("SELECT * FROM duplicate_payment")
    assert dup["payment_id"] == second and dup["refunded_at"] is not None
    assert dup["detected_via"] == "reconcile"
    row = await status_of(unlock["id"])
    assert row["status"] == "COMPLETED" and row["provider_payment_id"] == first
    assert (await reconcile(whop, NOW)).results == {}  # in step from now on


async def test_a_refund_made_at_whop_revokes_the_link_and_leaves_the_earnings(whop, seller):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    await converge_payment(whop, payment_id, "webhook")
    await whop.refund_payment(payment_id)  # the creator, in Whop's dashboard; webhooks lost
    report = await reconcile(whop, NOW)
    assert report.results == {"refunded": 1}
    row = await status_of(unlock["id"])
    assert row["status"] == "REFUNDED" and row["refunded_cents"] == 500
    earnings = await earnings_for(seller["id"])
    assert earnings.totals == ()  # nothing completed any more
    assert [s.net_cents for s in earnings.sales] == [0]


async def test_a_partial_refund_keeps_the_link_and_lowers_the_net(whop, seller):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    await converge_payment(whop, payment_id, "redirect")
    await whop.refund_payment(payment_id, amount=200, currency="usd")
    report = await reconcile(whop, NOW)
    assert report.results == {"partially_refunded": 1}
    row = await status_of(unlock["id"])
    assert row["status"] == "COMPLETED" and row["refunded_cents"] == 200
    [sale] = (await earnings_for(seller["id"])).sales
    assert (sale.gross_cents, sale.refunded_cents, sale.net_cents) == (500, 200, 250)
    [total] = (await earnings_for(seller["id"])).totals
    assert (total.gross_cents, total.refunded_cents, total.net_cents) == (500, 200, 250)
    await whop.refund_payment(payment_id)  # then the rest
    assert (await reconcile(whop, NOW)).results == {"refunded": 1}
    assert (await status_of(unlock["id"]))["status"] == "REFUNDED"


async def test_a_payment_on_an_unlock_that_expired_long_ago_completes_it(whop, seller):
    unlock = await open_unlock(whop, seller)
    await Unlock.raw("UPDATE unlock SET status = 'EXPIRED' WHERE id = {}", unlock["id"])
    await age(unlock["id"], timedelta(days=20))
    await buy(whop, unlock)  # an old checkout tab, paid today
    assert (await reconcile(whop, NOW)).results == {"completed": 1}
    assert (await status_of(unlock["id"]))["status"] == "COMPLETED"


async def test_a_paid_checkout_after_a_declined_one_completes_a_failed_unlock_of_any_age(
    whop, seller
):
    unlock = await open_unlock(whop, seller)
    declined = await buy(whop, unlock, card=DECLINES)
    await converge_payment(whop, declined, "webhook")
    assert (await status_of(unlock["id"]))["status"] == "FAILED"
    await age(unlock["id"], timedelta(days=3))
    await buy(whop, unlock)
    assert (await reconcile(whop, NOW)).results == {"completed": 1}
    assert (await status_of(unlock["id"]))["status"] == "COMPLETED"


async def test_a_sweep_costs_a_call_per_company_not_per_unlock(whop, seller, make_creator, calls):
    for _ in range(6):
        await buy(whop, await open_unlock(whop, seller))
    other = await whop.create_connected_company(title="Other", email="o@example.com")
    second_seller = await make_creator(handle="other", whop_company_id=other.id)
    second_seller["link"] = await add_premium(second_seller)
    for _ in range(3):
        await buy(whop, await open_unlock(whop, second_seller))
    calls.clear()
    report = await reconcile(whop, NOW)
    assert report.results == {"completed": 9}
    assert report.sweep.calls == 2 and report.sweep.companies == 2
    assert sorted(calls) == [("GET", "/payments"), ("GET", "/payments")]


async def test_the_budget_bounds_a_pass_and_the_next_pass_goes_on_from_whops_cursor(
    whop, seller, calls
):
    unlocks = [await open_unlock(whop, seller) for _ in range(5)]
    for unlock in unlocks:
        await buy(whop, unlock)
    whop.page_size = 2  # three pages
    calls.clear()
    first = await reconcile(whop, SweepOptions(calls=2, every=timedelta(0)))
    assert first.sweep.calls == 2 and first.sweep.out_of_budget and first.sweep.finished == 0
    assert first.results == {"completed": 4}
    [state] = await WhopSweep.select()
    assert state["cursor"] is not None and state["swept_to"] is None
    second = await reconcile(whop, SweepOptions(calls=2, every=timedelta(0)))
    assert second.sweep.calls == 1 and second.sweep.finished == 1
    assert second.results == {"completed": 1}
    [state] = await WhopSweep.select()
    assert state["cursor"] is None and state["swept_to"] is not None
    assert len(calls) == 3
    assert [(await status_of(u["id"]))["status"] for u in unlocks] == ["COMPLETED"] * 5


async def set_clock(seconds_ago: float | None) -> None:
    await Unlock.raw(
        "UPDATE reconcile_clock SET swept_at = now() - {}::interval",
        None if seconds_ago is None else timedelta(seconds=seconds_ago),
    )


async def test_a_pass_may_spend_what_the_time_since_the_last_sweep_allows():
    rate = SweepOptions(calls_per_minute=120)
    await set_clock(30)  # whichever process swept last, half a minute ago
    assert await rate.budget() == 60
    assert await rate.budget() == 0  # at once again: nothing earned yet
    await set_clock(3600)
    assert await rate.budget() == 240  # no more than two minutes' worth, however long ago
    await set_clock(None)
    assert await rate.budget() == 240  # never swept


async def test_a_fraction_of_a_call_is_kept_for_the_next_pass():
    slow = SweepOptions(calls_per_minute=1)
    await set_clock(40)
    assert await slow.budget() == 0
    await Unlock.raw("UPDATE reconcile_clock SET swept_at = swept_at - interval '20 seconds'")
    assert await slow.budget() == 1  # 40 s then 20 s: one call's worth


async def test_a_company_read_lately_waits_for_its_turn_and_then_reads_only_what_changed(
    whop, seller, calls
):
    unlock = await open_unlock(whop, seller)
    await converge_payment(whop, await buy(whop, unlock), "redirect")
    every = SweepOptions(every=timedelta(minutes=5), calls=100)
    assert (await reconcile(whop, every)).sweep.calls == 1
    assert (await reconcile(whop, every)).sweep.calls == 0  # read a moment ago
    # Next time, from just before where the last window ended, not the whole refund window.
    await WhopSweep.raw("UPDATE whop_sweep SET swept_to = swept_to - interval '1 hour'")
    calls.clear()
    await reconcile(whop, every)
    [state] = await WhopSweep.select()
    assert state["window_from"] is None  # the window was read to its end
    assert len(calls) == 1


async def test_whop_being_down_keeps_the_window_for_the_next_pass(whop, seller):
    unlock = await open_unlock(whop, seller)
    await buy(whop, unlock)
    await faults.add_fault("api", method="GET", path="/payments", status=503, times=3)
    report = await reconcile(whop, NOW)
    assert report.sweep.errors == 1 and report.results == {}
    [state] = await WhopSweep.select()
    assert state["swept_to"] is None
    assert (await reconcile(whop, NOW)).results == {"completed": 1}


async def test_an_unpaid_unlock_expires_after_an_hour_without_asking_whop(whop, seller, calls):
    unpaid = await open_unlock(whop, seller)
    never_started = await open_unlock(whop, seller)
    await Unlock.update({Unlock.checkout_id: None, Unlock.purchase_url: None}).where(
        Unlock.id == never_started["id"]
    )
    expired_before = metrics.REGISTRY.get_sample_value("linkmint_unlocks_expired_total") or 0
    assert (await reconcile(whop, NOW)).expired == 0  # an hour is not up yet
    calls.clear()
    report = await reconcile(whop, SweepOptions(calls=0), expire_after=timedelta(0))
    assert report.expired == 2 and calls == []
    assert (await status_of(unpaid["id"]))["status"] == "EXPIRED"
    assert (await status_of(never_started["id"]))["status"] == "EXPIRED"
    assert metrics.REGISTRY.get_sample_value("linkmint_unlocks_expired_total") == (
        expired_before + 2
    )
    await buy(whop, unpaid)  # paid just as it expired: the sweep completes it
    assert (await reconcile(whop, NOW)).results == {"completed": 1}


async def test_companies_that_never_sold_are_not_read(whop, seller, make_creator, calls):
    idle = await whop.create_connected_company(title="Idle", email="i@example.com")
    await make_creator(handle="idle", whop_company_id=idle.id, payout_enabled=True)
    await open_unlock(whop, seller)
    calls.clear()
    report = await sweep(whop, calls=100, every=timedelta(0), refund_window=MONTH)
    assert report.companies == 1 and calls == [("GET", "/payments")]


async def test_one_process_at_a_time_runs_the_maintenance_pass(whop, seller):
    from piccolo.engine import engine_finder

    holder = await engine_finder().get_new_connection()
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", MAINTENANCE_LOCK)
        assert await run_maintenance(whop) is None  # another process holds it
    finally:
        await holder.execute("SELECT pg_advisory_unlock($1)", MAINTENANCE_LOCK)
        await holder.close()
    unlock = await open_unlock(whop, seller)
    await buy(whop, unlock)
    done = await eventually(lambda: run_maintenance(whop, NOW))  # (the live
    drained, reconciled = done  # server's own pass may hold the lock for a moment)
    assert (await status_of(unlock["id"]))["status"] == "COMPLETED"


async def test_the_background_task_reconciles_without_being_asked(whop, seller):
    unlock = await open_unlock(whop, seller)
    await buy(whop, unlock)
    app = SimpleNamespace(state=SimpleNamespace(whop=whop))
    async with maintenance_lifespan(period=0.2, sweep_options=NOW)(app):

        async def done():
            return (await status_of(unlock["id"]))["status"] == "COMPLETED"

        await eventually(done, within=10)


async def test_the_drainer_processes_an_old_unprocessed_event(whop, seller, settings):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    body, headers = signed_event(settings, "payment.succeeded", {"id": payment_id})
    await WebhookEvent.raw(
        "INSERT INTO webhook_event (id, type, payload) VALUES ({}, 'payment.succeeded', {}::jsonb)",
        headers["webhook-id"],
        body.decode(),
    )
    drained, _ = await eventually(
        lambda: run_maintenance(whop, SweepOptions(calls=0), min_age=timedelta(0))
    )
    assert headers["webhook-id"] in drained.tried
    row = await status_of(unlock["id"])
    assert row["status"] == "COMPLETED" and row["completed_via"] == "webhook"


# --- the operator's commands ----------------------------------------------------------------


async def test_linkmint_reconcile_completes_and_reports(whop, seller, live_server):
    unlock = await open_unlock(whop, seller)
    await buy(whop, unlock)
    done = await asyncio.to_thread(linkmint, live_server, "reconcile")
    assert done.returncode == 0, done.stderr
    assert "swept 1 company(ies) in 1 Whop call(s): 1 payment(s) read, 1 completed" in done.stdout
    assert (await status_of(unlock["id"]))["completed_via"] == "reconcile"


async def test_linkmint_replay_webhooks_processes_the_stored_events(
    whop, seller, live_server, settings
):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    body, headers = signed_event(settings, "payment.succeeded", {"id": payment_id})
    await WebhookEvent.raw(
        "INSERT INTO webhook_event (id, type, payload, attempts, last_error) "
        "VALUES ({}, 'payment.succeeded', {}::jsonb, 99, 'Whop was down')",
        headers["webhook-id"],
        body.decode(),
    )
    done = await asyncio.to_thread(linkmint, live_server, "replay-webhooks")
    assert done.returncode == 0, done.stderr
    assert "1 processed" in done.stdout
    assert (await status_of(unlock["id"]))["status"] == "COMPLETED"
