"""One convergence function for the redirect, the webhook and the reconciler (T1, T4–T9).

Payments are real ones at the emulator; the emulator's own webhooks are dropped, so each
test decides which path converges when.
"""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import json
import time

import pytest
from piccolo.engine import engine_finder

from app.db.tables import DuplicatePayment, Unlock, WebhookEvent
from app.emulator import faults
from app.payments import convergence, metrics
from app.payments.convergence import converge_payment, converge_unlock
from app.payments.inbox import process_event, process_events
from app.whop import WhopUnavailable
from tests.support.convergence_support import (  # noqa: F401 (fixtures)
    buy,
    open_unlock,
    quiet_whop,
    seller,
    status_of,
)
from tests.support.unlock_support import DECLINES
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    emulator_control,
    live_settings,
    sleeps,
    whop,
)

pytestmark = [pytest.mark.usefixtures("quiet_whop"), pytest.mark.costly]


def completions() -> float:
    return sum(
        metrics.REGISTRY.get_sample_value(
            "linkmint_convergence_outcomes_total", {"path": path, "result": "completed"}
        )
        or 0.0
        for path in ("redirect", "webhook", "reconcile")
    )


@pytest.fixture
async def pooled():
    """Separate pooled connections for concurrent callers (the suite runs without a pool)."""
    engine = engine_finder()
    await engine.start_connection_pool(min_size=4, max_size=24)
    yield
    await engine.close_connection_pool()


# --- T1: many confirmations at once, exactly one transition ----------------------------------


async def test_twenty_concurrent_confirmations_make_exactly_one_transition_every_time(
    whop, seller, pooled
):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    trials, callers = 100, 20
    started = time.monotonic()
    for trial in range(trials):
        await Unlock.raw(
            "UPDATE unlock SET status = 'PENDING', provider_payment_id = NULL, "
            "completed_via = NULL, completed_at = NULL WHERE id = {}",
            unlock["id"],
        )
        # Half are the buyer's returns, half are webhooks (each its own event in the inbox).
        event_ids = [f"msg_t1_{trial}_{n}" for n in range(callers // 2)]
        body = json.dumps({"type": "payment.succeeded", "data": {"id": payment_id}})
        await WebhookEvent.raw(
            "INSERT INTO webhook_event (id, type, payload) "
            "SELECT unnest({}::text[]), 'payment.succeeded', {}::jsonb",
            event_ids,
            body,
        )
        before = completions()
        redirects = [converge_payment(whop, payment_id, "redirect") for _ in event_ids]
        webhooks = [process_event(whop, event_id) for event_id in event_ids]
        mixed = [c for pair in zip(redirects, webhooks, strict=True) for c in pair]
        results = await asyncio.gather(*mixed)

        assert completions() - before == 1, f"trial {trial}"
        redirect_results = results[0::2]
        assert {o.result for o in redirect_results} <= {"completed", "already_completed"}
        assert set(results[1::2]) == {"processed"}  # every webhook event was processed
        row = await status_of(unlock["id"])
        assert row["status"] == "COMPLETED" and row["provider_payment_id"] == payment_id
    assert await DuplicatePayment.count() == 0  # the same payment is never a "second charge"
    assert time.monotonic() - started < 60


async def test_overlapping_batches_and_returns_at_once_make_exactly_one_transition(
    whop, seller, pooled
):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    for trial in range(20):
        await Unlock.raw(
            "UPDATE unlock SET status = 'PENDING', provider_payment_id = NULL, "
            "completed_via = NULL, completed_at = NULL WHERE id = {}",
            unlock["id"],
        )
        event_ids = [f"msg_batch_t1_{trial}_{n}" for n in range(10)]
        body = json.dumps({"type": "payment.succeeded", "data": {"id": payment_id}})
        await WebhookEvent.raw(
            "INSERT INTO webhook_event (id, type, payload) "
            "SELECT unnest({}::text[]), 'payment.succeeded', {}::jsonb",
            event_ids,
            body,
        )
        before = completions()
        # Two processes' batches sharing some events (redeliveries), and buyers returning.
        batches = [process_events(whop, event_ids[:7]), process_events(whop, event_ids[3:])]
        returns = [converge_payment(whop, payment_id, "redirect") for _ in range(4)]
        first, second, *returned = await asyncio.gather(*batches, *returns)

        assert completions() - before == 1, f"trial {trial}"
        assert {o.result for o in returned} <= {"completed", "already_completed"}
        assert set(first.values()) | set(second.values()) <= {"processed", "skipped"}
        assert sorted(k for r in (first, second) for k, v in r.items() if v == "processed") == (
            sorted(event_ids)
        )  # every event processed by exactly one of the batches
        row = await status_of(unlock["id"])
        assert row["status"] == "COMPLETED" and row["provider_payment_id"] == payment_id
    assert await DuplicatePayment.count() == 0


async def test_whop_asking_for_a_pause_holds_the_batch_and_fails_no_event(whop, seller, sleeps):
    unlocks = [await open_unlock(whop, seller) for _ in range(3)]
    payments = [await buy(whop, unlock) for unlock in unlocks]
    event_ids = [f"msg_pause_{n}" for n in range(3)]
    for event_id, payment_id in zip(event_ids, payments, strict=True):
        body = json.dumps({"type": "payment.succeeded", "data": {"id": payment_id}})
        await WebhookEvent.raw(
            "INSERT INTO webhook_event (id, type, payload) VALUES ({}, 'payment.succeeded', {})",
            event_id,
            body,
        )
    await faults.add_fault("api", method="GET", path="/payments/*", status=429, retry_after=45)

    results = await process_events(whop, event_ids, whop_reads=asyncio.Semaphore(1))

    assert results == dict.fromkeys(event_ids, "processed")
    rows = await WebhookEvent.select().where(WebhookEvent.id.is_in(event_ids))
    assert {(r["attempts"], r["last_error"]) for r in rows} == {(1, None)}
    # The first read sat out Whop's 45 seconds; the next ones waited what was left of them
    # before asking (the test's sleeps pass no time) instead of each being refused in turn.
    assert sleeps[0] == 45 and len(sleeps) == 3 and all(40 < s <= 45 for s in sleeps)
    assert {(await status_of(u["id"]))["status"] for u in unlocks} == {"COMPLETED"}


async def test_unlock_terms_asked_at_once_are_read_in_one_query(whop, seller, monkeypatch):
    first, second = [await open_unlock(whop, seller) for _ in range(2)]
    queries: list[str] = []
    read = Unlock.raw

    def counted(sql: str, *args):
        queries.append(sql)
        return read(sql, *args)

    monkeypatch.setattr(Unlock, "raw", counted)
    asked = [first["id"], second["id"], first["id"], "no-such-unlock"]
    terms = await asyncio.gather(*(convergence.unlock_terms(i) for i in asked))
    assert [t.id if t else None for t in terms] == [*asked[:3], None]
    assert terms[0].checkout_id == first["checkout"].id and terms[0].company_id
    assert len(queries) == 1 and "ANY" in queries[0]


# --- T4, T5, T7: the two paths in either order -------------------------------------------------


async def test_the_redirect_after_the_webhook_finds_it_done(whop, seller):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    first = await converge_payment(whop, payment_id, "webhook")
    second = await converge_payment(whop, payment_id, "redirect")
    assert (first.result, second.result) == ("completed", "already_completed")
    assert second.status == "COMPLETED"
    assert (await status_of(unlock["id"]))["completed_via"] == "webhook"


async def test_the_redirect_alone_completes_when_the_webhook_is_lost(whop, seller):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock, email="lost.hook@example.com")
    outcome = await converge_payment(whop, payment_id, "redirect")
    assert outcome.result == "completed"
    row = await status_of(unlock["id"])
    assert row["completed_via"] == "redirect" and row["buyer_email"] == "lost.hook@example.com"
    assert row["buyer_whop_user_id"].startswith("user_") and row["completed_at"] is not None


async def test_a_webhook_landing_just_before_the_redirects_update_is_no_error(
    whop, seller, monkeypatch
):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    original = convergence._complete
    seen = []

    async def webhook_first(whop_, unlock_, payment, path, **options):
        if path == "redirect" and not seen:
            seen.append(await converge_payment(whop, payment_id, "webhook"))
        return await original(whop_, unlock_, payment, path, **options)

    monkeypatch.setattr(convergence, "_complete", webhook_first)
    outcome = await converge_payment(whop, payment_id, "redirect")
    assert seen[0].result == "completed" and outcome.result == "already_completed"
    assert (await status_of(unlock["id"]))["completed_via"] == "webhook"


async def test_without_a_payment_id_whop_is_asked_for_the_checkouts_payments(whop, seller):
    unlock = await open_unlock(whop, seller)
    assert (await converge_unlock(whop, unlock["id"], "redirect")).result == "not_paid"
    payment_id = await buy(whop, unlock)
    outcome = await converge_unlock(whop, unlock["id"], "redirect")
    assert outcome.result == "completed" and outcome.status == "COMPLETED"
    assert (await status_of(unlock["id"]))["provider_payment_id"] == payment_id


# --- T6: nothing but Whop's word counts -------------------------------------------------------


async def test_a_forged_or_borrowed_payment_id_completes_nothing_it_should_not(whop, seller):
    mine = await open_unlock(whop, seller)
    theirs = await open_unlock(whop, seller)
    their_payment = await buy(whop, theirs)
    # Someone else's payment completes *their* unlock (it is paid), never mine.
    await converge_payment(whop, their_payment, "redirect")
    assert (await status_of(mine["id"]))["status"] == "PENDING"
    assert (await converge_payment(whop, "pay_MadeUp00000001", "redirect")).result == (
        "unknown_payment"
    )
    assert (await status_of(mine["id"]))["status"] == "PENDING"


@pytest.mark.parametrize(
    "lie",
    [
        {"charge": 100},  # paid less than the price
        {"charge_currency": "eur"},  # paid in another currency
        {"other_company": True},  # paid to someone else
    ],
)
async def test_a_payment_that_does_not_match_the_unlock_completes_nothing(whop, seller, lie):
    company_id = None
    if lie.pop("other_company", False):
        company_id = (await whop.create_connected_company(title="Other", email="o@e.com")).id
    unlock = await open_unlock(whop, seller, company_id=company_id, **lie)
    payment_id = await buy(whop, unlock)
    outcome = await converge_payment(whop, payment_id, "webhook")
    assert outcome.result == "mismatch"
    assert (await status_of(unlock["id"]))["status"] == "PENDING"


async def test_a_payment_without_our_metadata_is_not_ours(whop, seller):
    checkout = await whop.create_checkout_configuration(
        company_id=seller["whop_company_id"],
        price=500,
        currency="usd",
        application_fee=50,
        metadata={"something": "else"},
        redirect_url=None,
    )
    payment_id = await buy(whop, {"checkout": checkout, "company_id": checkout.company_id})
    assert (await converge_payment(whop, payment_id, "webhook")).result == "not_ours"


# --- T8, T9: failures and refunds, states only forward ----------------------------------------


async def test_a_declined_card_fails_the_unlock_and_a_good_card_then_completes_it(whop, seller):
    unlock = await open_unlock(whop, seller)
    declined = await buy(whop, unlock, card=DECLINES)
    assert (await converge_payment(whop, declined, "webhook")).result == "failed"
    assert (await status_of(unlock["id"]))["status"] == "FAILED"
    paid = await buy(whop, unlock)  # the buyer tries another card on the same checkout
    assert (await converge_payment(whop, paid, "webhook")).result == "completed"
    # The late replay of the failure never demotes it.
    assert (await converge_payment(whop, declined, "webhook")).result == "failure_ignored"
    row = await status_of(unlock["id"])
    assert row["status"] == "COMPLETED" and row["provider_payment_id"] == paid


async def test_a_refund_revokes_once_and_a_late_success_never_revives(whop, seller):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    assert (await converge_payment(whop, payment_id, "redirect")).result == "completed"
    await whop.refund_payment(payment_id)
    assert (await converge_payment(whop, payment_id, "webhook")).result == "refunded"
    again = await converge_payment(whop, payment_id, "webhook")
    assert again.result == "already_refunded" and again.status == "REFUNDED"
    row = await status_of(unlock["id"])
    assert row["status"] == "REFUNDED" and row["refunded_at"] is not None


async def test_a_refund_seen_before_the_success_goes_straight_to_refunded(whop, seller):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    await whop.refund_payment(payment_id)
    assert (await converge_payment(whop, payment_id, "webhook")).result == "refunded"
    assert (await converge_payment(whop, payment_id, "redirect")).result == "already_refunded"
    row = await status_of(unlock["id"])
    assert row["status"] == "REFUNDED" and row["provider_payment_id"] == payment_id


async def test_a_partial_refund_keeps_the_link_and_records_the_amount_once(whop, seller):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    await converge_payment(whop, payment_id, "redirect")
    await whop.refund_payment(payment_id, amount=100, currency="usd")
    assert (await converge_payment(whop, payment_id, "webhook")).result == "partially_refunded"
    assert (await converge_payment(whop, payment_id, "reconcile")).result == "already_completed"
    row = await status_of(unlock["id"])
    assert row["status"] == "COMPLETED" and row["refunded_cents"] == 100


async def test_a_payment_refunded_in_part_before_we_saw_it_completes_with_its_refund(whop, seller):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    await whop.refund_payment(payment_id, amount=150, currency="usd")
    assert (await converge_payment(whop, payment_id, "reconcile")).result == "completed"
    row = await status_of(unlock["id"])
    assert row["status"] == "COMPLETED" and row["refunded_cents"] == 150


async def test_a_payment_arriving_after_expiry_still_completes(whop, seller):
    unlock = await open_unlock(whop, seller)
    await Unlock.update({Unlock.status: "EXPIRED"}).where(Unlock.id == unlock["id"])
    payment_id = await buy(whop, unlock)
    assert (await converge_payment(whop, payment_id, "reconcile")).result == "completed"


# --- two tabs: a second payment for one unlock is refunded --------------------------------------


async def test_a_second_payment_for_a_paid_unlock_is_refunded_and_recorded(whop, seller):
    unlock = await open_unlock(whop, seller)
    first = await buy(whop, unlock)
    second = await buy(whop, unlock)  # the other tab
    assert (await converge_payment(whop, first, "redirect")).result == "completed"
    outcome = await converge_payment(whop, second, "redirect")
    assert outcome.result == "duplicate_refunded" and outcome.status == "COMPLETED"
    refunded = await whop.retrieve_payment(second)
    assert refunded.refunded_amount == refunded.total == 500
    [dup] = await DuplicatePayment.select()
    assert dup["payment_id"] == second and dup["unlock"] == unlock["id"]
    assert dup["refunded_at"] is not None and dup["amount_cents"] == 500
    # Its webhooks, replayed, refund nothing twice and leave the unlock alone.
    assert (await converge_payment(whop, second, "webhook")).result == "duplicate_refund_seen"
    row = await status_of(unlock["id"])
    assert row["status"] == "COMPLETED" and row["provider_payment_id"] == first
    assert (await whop.retrieve_payment(first)).refunded_amount == 0


async def test_paying_an_older_checkout_and_a_newer_one_for_one_link_refunds_the_second(
    whop, seller
):
    buyer = "b" * 64
    older = await open_unlock(whop, seller, token_hash=buyer)
    declined = await buy(whop, older, card=DECLINES)
    await converge_payment(whop, declined, "webhook")  # FAILED: the buyer tries again...
    newer = await open_unlock(whop, seller, token_hash=buyer)  # ...through a new checkout
    first = await buy(whop, older)  # but pays the old tab after all
    second = await buy(whop, newer)  # and the new one
    assert (await converge_payment(whop, first, "webhook")).result == "completed"
    assert (await converge_payment(whop, second, "redirect")).result == "duplicate_refunded"
    assert (await whop.retrieve_payment(second)).refunded_amount == 500
    assert (await status_of(older["id"]))["status"] == "COMPLETED"
    assert (await status_of(newer["id"]))["status"] == "PENDING"
    # Its refund, seen later, says what happened to that unlock; the link stays owned.
    assert (await converge_payment(whop, second, "webhook")).result == "refunded"
    assert (await status_of(newer["id"]))["status"] == "REFUNDED"
    assert (await status_of(older["id"]))["status"] == "COMPLETED"


async def test_a_second_charge_seen_by_a_webhook_is_refunded_after_its_transaction(
    whop, seller, monkeypatch
):
    unlock = await open_unlock(whop, seller)
    first, second = await buy(whop, unlock), await buy(whop, unlock)
    await converge_payment(whop, first, "redirect")
    await WebhookEvent.raw(
        "INSERT INTO webhook_event (id, type, payload) VALUES ('msg_second', "
        "'payment.succeeded', {}::jsonb)",
        json.dumps({"type": "payment.succeeded", "data": {"id": second}}),
    )
    in_transaction: list[bool] = []
    refund = whop.refund_payment

    async def watched_refund(*args, **kwargs):
        in_transaction.append(engine_finder().transaction_exists())
        return await refund(*args, **kwargs)

    monkeypatch.setattr(whop, "refund_payment", watched_refund)
    assert await process_event(whop, "msg_second") == "processed"
    assert in_transaction == [False]  # Whop was called once the inbox row was committed
    assert (await whop.retrieve_payment(second)).refunded_amount == 500
    [dup] = await DuplicatePayment.select()
    assert dup["payment_id"] == second and dup["refunded_at"] is not None
    [event] = await WebhookEvent.select().where(WebhookEvent.id == "msg_second")
    assert event["processed_at"] is not None


async def test_a_duplicate_whose_refund_fails_is_kept_for_a_retry(whop, seller):
    from datetime import timedelta

    from app.payments.reconcile import SweepOptions, reconcile

    unlock = await open_unlock(whop, seller)
    first, second = await buy(whop, unlock), await buy(whop, unlock)
    await converge_payment(whop, first, "webhook")
    await faults.add_fault(
        "api", method="POST", path=f"/payments/{second}/refund", status=503, times=3
    )
    outcome = await converge_payment(whop, second, "webhook")
    assert outcome.result == "duplicate_refund_pending"
    [dup] = await DuplicatePayment.select()
    assert dup["refunded_at"] is None and "503" in dup["last_error"]
    report = await reconcile(whop, SweepOptions(every=timedelta(0), calls=100))
    assert report.duplicates_refunded == 1
    [dup] = await DuplicatePayment.select()
    assert dup["refunded_at"] is not None and dup["last_error"] is None


async def test_two_payments_converging_at_once_keep_one_and_refund_the_other(whop, seller, pooled):
    unlock = await open_unlock(whop, seller)
    first, second = await buy(whop, unlock), await buy(whop, unlock)
    outcomes = await asyncio.gather(
        converge_payment(whop, first, "webhook"), converge_payment(whop, second, "redirect")
    )
    assert sorted(o.result for o in outcomes) == ["completed", "duplicate_refunded"]
    row = await status_of(unlock["id"])
    [dup] = await DuplicatePayment.select()
    assert {row["provider_payment_id"], dup["payment_id"]} == {first, second}


# --- Whop unreachable ---------------------------------------------------------------------------


async def test_whop_errors_leave_the_unlock_untouched_for_a_later_try(whop, seller, sleeps):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    await faults.add_fault("api", method="GET", path=f"/payments/{payment_id}", status=500, times=3)
    with pytest.raises(WhopUnavailable):
        await converge_payment(whop, payment_id, "redirect")
    assert len(sleeps) == 2  # the client's own retries, then it gives up
    assert (await status_of(unlock["id"]))["status"] == "PENDING"
    assert (await converge_payment(whop, payment_id, "redirect")).result == "completed"


async def test_unique_payment_ids_hold_even_against_a_hand_made_row(whop, seller):
    unlock = await open_unlock(whop, seller)
    other = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    await converge_payment(whop, payment_id, "webhook")
    with pytest.raises(Exception, match="unlock_payment_unique"):
        await Unlock.raw(
            "UPDATE unlock SET status = 'COMPLETED', provider_payment_id = {}, "
            "completed_via = 'webhook', completed_at = now() WHERE id = {}",
            payment_id,
            other["id"],
        )
