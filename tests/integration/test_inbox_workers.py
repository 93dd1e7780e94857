"""The inbox workers: what a delivery hands over after it is answered, and what happens to
it when the queue is full or the process stops before processing it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from app.db.tables import WebhookEvent
from app.payments import metrics
from app.payments.inbox import InboxWorkers, drain_inbox, store_event
from app.whop import WebhookEvent as VerifiedEvent


def idle_app() -> SimpleNamespace:
    """What the workers need of the app: its state's Whop client (unused by these events)."""
    return SimpleNamespace(state=SimpleNamespace(whop=None))


async def stored(webhook_id: str) -> str:
    """An event whose processing asks Whop nothing (so no Whop client is needed)."""
    event = VerifiedEvent(
        webhook_id=webhook_id,
        type="membership.activated",
        company_id=None,
        data={"id": "mem_1"},
        payload={"type": "membership.activated", "data": {"id": "mem_1"}},
        signed_at=datetime.now(UTC),
    )
    assert await store_event(event)
    return webhook_id


async def processed(webhook_id: str) -> bool:
    [row] = await WebhookEvent.select(WebhookEvent.processed_at).where(
        WebhookEvent.id == webhook_id
    )
    return row["processed_at"] is not None


async def test_without_running_workers_an_event_is_left_to_the_drainer():
    workers = InboxWorkers()
    assert workers.submit("msg_1") is False
    assert workers.busy == 0


async def test_a_full_queue_leaves_the_event_to_the_drainer_and_counts_it():
    workers = InboxWorkers(concurrency=0, max_queued=1)  # nobody takes from the queue
    before = metrics.REGISTRY.get_sample_value("linkmint_webhook_inbox_overflow_total") or 0
    async with workers.lifespan(grace=0.01)(idle_app()):
        assert workers.submit("msg_1") is True
        assert workers.submit("msg_1") is True  # a redelivery while queued: queued once
        assert workers.busy == 1
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


async def test_events_still_queued_at_shutdown_stay_stored_for_the_drainer():
    workers = InboxWorkers(concurrency=0)
    async with workers.lifespan(grace=0.01)(idle_app()):
        event_id = await stored("msg_left_behind")
        assert workers.submit(event_id)
    assert not await processed(event_id)
    report = await drain_inbox(None, min_age=timedelta(0))  # type: ignore[arg-type]
    assert event_id in report.tried and await processed(event_id)
