"""The inbox workers: what a delivery hands over after it is answered, what happens to it
when the queue is full or the process stops before processing it, and how the next process
to start finishes what a stopped one acknowledged."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest

from app.db.tables import WebhookEvent
from app.emulator import faults
from app.payments import inbox, metrics
from app.payments.inbox import (
    LEFTOVERS_LOCK,
    InboxWorkers,
    drain_inbox,
    drain_leftovers,
    process_events,
    store_event,
)
from app.whop import WebhookEvent as VerifiedEvent
from app.whop.events import done
from tests.support.inbox_support import all_processed, processed, stored
from tests.support.servers import start_server
from tests.support.unlock_support import signed_event
from tests.support.whop_testkit import emulator_control, eventually  # noqa: F401


def idle_app() -> SimpleNamespace:
    """What the workers need of the app: its state's Whop client (unused by these events)."""
    return SimpleNamespace(state=SimpleNamespace(whop=None))


async def test_without_running_workers_an_event_is_left_to_the_drainer():
    workers = InboxWorkers()
    assert workers.submit("msg_1") is False
    assert workers.busy == 0


def held(monkeypatch) -> asyncio.Event:
    """The workers' first batch never finishes (Whop does not answer): what is submitted
    after it stays queued. Set once a worker holds that batch."""
    holding = asyncio.Event()

    async def stuck(whop, event_ids, **options):
        holding.set()
        await asyncio.sleep(60)

    monkeypatch.setattr(inbox, "process_events", stuck)
    monkeypatch.setattr(inbox, "drain_leftovers", lambda whop: asyncio.sleep(0))
    return holding


async def test_a_full_queue_leaves_the_event_to_the_drainer_and_counts_it(monkeypatch):
    holding = held(monkeypatch)
    workers = InboxWorkers(concurrency=1, max_queued=1)
    before = metrics.REGISTRY.get_sample_value("linkmint_webhook_inbox_overflow_total") or 0
    async with workers.lifespan(grace=0.01)(idle_app()):
        assert workers.submit("msg_0") is True
        await holding.wait()  # the worker holds msg_0; the queue is empty again
        assert workers.submit("msg_1") is True
        assert workers.submit("msg_1") is True  # a redelivery while queued: queued once
        assert workers.busy == 2
        assert workers.submit("msg_2") is False
    after = metrics.REGISTRY.get_sample_value("linkmint_webhook_inbox_overflow_total")
    assert after == before + 1
    assert workers.busy == 0 and workers.submit("msg_3") is False  # stopped: takes no more


async def test_workers_process_what_they_are_given():
    workers = InboxWorkers(concurrency=2)
    async with workers.lifespan()(idle_app()):
        ids = [await stored(f"msg_work_{n}") for n in range(5)]
        assert all(workers.submit(i) for i in ids)
        await workers.settled()
    assert [await processed(i) for i in ids] == [True] * 5


async def test_events_still_queued_at_shutdown_stay_stored_for_the_drainer(monkeypatch):
    holding = held(monkeypatch)
    workers = InboxWorkers(concurrency=1, batch=1)
    async with workers.lifespan(grace=0.01)(idle_app()):
        first, queued = await stored("msg_held"), await stored("msg_left_behind")
        assert workers.submit(first)
        await holding.wait()
        assert workers.submit(queued)
    assert not await processed(first) and not await processed(queued)
    monkeypatch.undo()
    report = await drain_inbox(None, min_age=timedelta(0))  # type: ignore[arg-type]
    assert {first, queued} <= set(report.tried) and await all_processed([first, queued])


async def test_a_stopping_worker_finishes_the_batch_it_holds_and_leaves_the_queued_ones(
    monkeypatch,
):
    holding = asyncio.Event()

    async def slowly(whop, event_ids, **options):
        holding.set()
        await asyncio.sleep(0.3)
        return await process_events(whop, event_ids, **options)

    monkeypatch.setattr(inbox, "process_events", slowly)
    monkeypatch.setattr(inbox, "drain_leftovers", lambda whop: asyncio.sleep(0))
    workers = InboxWorkers(concurrency=1, batch=1)
    async with workers.lifespan()(idle_app()):
        ids = [await stored(f"msg_stopping_{n}") for n in range(3)]
        assert all(workers.submit(i) for i in ids)
        await holding.wait()
    assert [await processed(i) for i in ids] == [True, False, False]
    report = await drain_inbox(None, min_age=timedelta(0))  # type: ignore[arg-type]
    assert set(ids[1:]) <= set(report.tried) and await all_processed(ids)


async def test_an_event_still_held_after_the_grace_is_left_unprocessed(monkeypatch):
    holding = asyncio.Event()

    async def stuck(whop, event_ids, **options):
        holding.set()
        await asyncio.sleep(60)  # (Whop not answering)

    monkeypatch.setattr(inbox, "process_events", stuck)
    monkeypatch.setattr(inbox, "drain_leftovers", lambda whop: asyncio.sleep(0))
    workers = InboxWorkers(concurrency=1)
    async with workers.lifespan(grace=0.2)(idle_app()):
        event_id = await stored("msg_stuck")
        workers.submit(event_id)
        await holding.wait()
        told = time.monotonic()
    assert time.monotonic() - told < 2
    assert not await processed(event_id)


# --- what a stopped process acknowledged and never processed, the next one does at start ----


async def test_the_leftovers_drain_takes_what_was_stored_before_it_began_and_nothing_newer():
    left = [await stored(f"msg_left_{n}") for n in range(3)]
    await WebhookEvent.raw(  # received after this start (a clock ahead): the workers' to take
        "INSERT INTO webhook_event (id, type, payload, received_at) "
        "VALUES ({}, 'membership.activated', {}::jsonb, now() + interval '1 hour')",
        "msg_newer",
        "{}",
    )
    assert await drain_leftovers(None) == 3  # type: ignore[arg-type]
    assert [await processed(i) for i in left] == [True] * 3
    assert not await processed("msg_newer")


async def test_one_process_at_a_time_drains_the_leftovers():
    await stored("msg_left_alone")
    engine = WebhookEvent._meta.db
    other = await engine.get_new_connection()
    try:
        await other.execute("SELECT pg_advisory_lock($1)", LEFTOVERS_LOCK)
        assert await drain_leftovers(None) is None  # type: ignore[arg-type]
        assert not await processed("msg_left_alone")
    finally:
        await other.close()
    assert await drain_leftovers(None) == 1  # type: ignore[arg-type]


async def test_the_workers_lifespan_drains_the_leftovers_in_the_background():
    left = [await stored(f"msg_bg_{n}") for n in range(3)]
    async with InboxWorkers(concurrency=1).lifespan()(idle_app()):
        await eventually(lambda: all_processed(left), within=5)


@pytest.mark.usefixtures("emulator_control")
async def test_events_a_killed_process_acknowledged_are_processed_as_the_next_one_starts(
    settings,
):
    # Whop hangs: the first process's workers never finish an event before it is killed.
    await faults.add_fault("api", method="GET", path="/payments/*", hang=60, times=1000)
    with ExitStack() as stack:
        doomed = start_server(stack, "doomed")
        await asyncio.to_thread(doomed.wait_ready)
        async with httpx.AsyncClient(base_url=doomed.url, timeout=5) as whop:
            ids = []
            for n in range(40):
                data = {"id": f"pay_Leftover{n:04d}"}
                body, headers = signed_event(settings, "payment.succeeded", data)
                r = await whop.post("/webhooks/whop", content=body, headers=headers)
                assert r.status_code == 200 and r.text == "stored\n"
                ids.append(headers["webhook-id"])
        doomed.process.kill()
        doomed.process.wait()
    assert not any([await processed(i) for i in ids])

    await faults.clear_faults()
    with ExitStack() as stack:
        started = time.monotonic()
        successor = start_server(stack, "successor")
        await asyncio.to_thread(successor.wait_ready)
        ready = time.monotonic()
        await eventually(lambda: all_processed(ids), within=5)
        done = time.monotonic()
    print(f"start-up {ready - started:.2f}s, then all {len(ids)} processed {done - ready:.2f}s")


# --- batches: one query, Whop asked at once within the bound, one transaction -------------


async def stored_as(webhook_id: str) -> str:
    """An event naming itself in its data, so a test can tell its events apart."""
    event = VerifiedEvent(
        webhook_id=webhook_id,
        type="membership.activated",
        company_id=None,
        data={"id": webhook_id},
        payload={"type": "membership.activated", "data": {"id": webhook_id}},
        signed_at=datetime.now(UTC),
    )
    assert await store_event(event)
    return webhook_id


async def test_a_batch_asks_whop_about_its_events_together_within_the_bound(monkeypatch):
    asking = 0
    most = 0

    async def slow_whop(whop, event_type, payload, after_commit=None):
        nonlocal asking, most
        asking += 1
        most = max(most, asking)
        await asyncio.sleep(0.05)  # Whop's answer takes a while
        asking -= 1
        return done("ignored")

    monkeypatch.setattr(inbox, "prepare_event", slow_whop)
    ids = [await stored_as(f"msg_overlap_{n}") for n in range(12)]
    results = await process_events(None, ids, whop_reads=asyncio.Semaphore(4))  # type: ignore[arg-type]
    assert results == dict.fromkeys(ids, "processed")
    assert most == 4  # the bound, reached: the questions overlapped, never more than 4
    assert await all_processed(ids)


async def test_a_change_failing_in_a_batch_costs_no_other_event_its_effect(monkeypatch):
    ids = [await stored_as(f"msg_batch_{n}") for n in range(4)]
    bad = ids[2]
    made: list[str] = []

    async def preparing(whop, event_type, payload, after_commit=None):
        event_id = payload["data"]["id"]

        async def change() -> str:
            if event_id == bad:
                raise RuntimeError("this change cannot be made")
            await WebhookEvent.raw("SELECT 1")  # (a change works inside the transaction)
            made.append(event_id)
            return "ignored"

        return change

    monkeypatch.setattr(inbox, "prepare_event", preparing)
    results = await process_events(None, ids)  # type: ignore[arg-type]
    assert results == {**dict.fromkeys(ids, "processed"), bad: "failed"}
    rows = {r["id"]: r for r in await WebhookEvent.select().where(WebhookEvent.id.is_in(ids))}
    assert rows[bad]["processed_at"] is None and "cannot be made" in rows[bad]["last_error"]
    for event_id in set(ids) - {bad}:  # the failed batch left no trace: claimed once, alone
        assert rows[event_id]["processed_at"] is not None and rows[event_id]["attempts"] == 1
    assert rows[bad]["attempts"] == 1
    report = await drain_inbox(None, min_age=timedelta(0))  # type: ignore[arg-type]
    assert report.tried == [bad] and report.failed == 1  # left for the drainer's retries


async def test_a_batch_skips_what_was_processed_meanwhile():
    ids = [await stored_as(f"msg_taken_{n}") for n in range(3)]
    await WebhookEvent.raw("UPDATE webhook_event SET processed_at = now() WHERE id = {}", ids[0])
    results = await process_events(None, ids)  # type: ignore[arg-type]
    assert results == {ids[0]: "skipped", ids[1]: "processed", ids[2]: "processed"}
    [row] = await WebhookEvent.select(WebhookEvent.attempts).where(WebhookEvent.id == ids[0])
    assert row["attempts"] == 0  # not claimed again


async def test_workers_take_what_piled_up_as_one_batch(monkeypatch):
    batches: list[list[str]] = []
    real = inbox.process_events

    async def counted(whop, event_ids, **options):
        batches.append(list(event_ids))
        return await real(whop, event_ids, **options)

    monkeypatch.setattr(inbox, "process_events", counted)
    monkeypatch.setattr(inbox, "drain_leftovers", lambda whop: asyncio.sleep(0))
    workers = InboxWorkers(concurrency=1, batch=5)
    async with workers.lifespan()(idle_app()):
        ids = [await stored_as(f"msg_pile_{n}") for n in range(12)]
        assert all(workers.submit(i) for i in ids)  # queued before the worker wakes
        await workers.settled()
    assert [len(b) for b in batches] == [5, 5, 2]
    assert await all_processed(ids)
