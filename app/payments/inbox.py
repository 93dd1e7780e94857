"""The webhook inbox: every Whop event is stored first, answered, then processed until done.

`receive_webhook` is the whole of `/webhooks/whop`: verify the signature (every bad input is
a 4xx, never a 5xx) and store the event under its `webhook-id` (`ON CONFLICT DO NOTHING`: a
redelivery is recognised). Once the row is committed the delivery is answered 200 — Whop
asks for a fast 2xx and retries anything slower than its timeout — and the event is handed
to this process's `InboxWorkers`, which process it moments later. Processing asks Whop what
the event is about (with no transaction open), then claims the row — one conditional UPDATE
that marks it processed — in the same transaction as the change it makes, so:

- an event that was stored but not processed (the process stopped, Whop's API was down, the
  worker queue was full) is processed by its next delivery, by the next process to start
  (`drain_leftovers`), or by `drain_inbox` (the background drainer and `linkmint
  replay-webhooks`) — never lost behind its own dedup key;
- two deliveries of one event at once process it once: the second claim waits for the
  first transaction, then finds the event processed (or, if it rolled back, takes over);
- a failure rolls the change back and records `attempts` and `last_error`; the drainer
  retries a bounded number of times, after which the operator replays it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.db.engine import app_engine
from app.db.tables import SERIAL_MAX, WebhookEvent
from app.payments import events as _payment_events  # noqa: F401 (registers its handlers)
from app.payments import metrics
from app.whop import WebhookEvent as VerifiedEvent
from app.whop import WebhookVerificationError, WhopClient, verify_webhook
from app.whop.events import AfterCommit, Change, done, handler_for

log = logging.getLogger("app.payments.inbox")

MAX_BODY_BYTES = 256 * 1024  # Whop's events are a few kB; anything near this is not Whop
MAX_ATTEMPTS = 20  # the drainer's attempts per event; `linkmint replay-webhooks` ignores it
DRAIN_MIN_AGE = timedelta(seconds=30)  # leave fresh events to their own delivery and retries
LEFTOVERS_LOCK = 0x4C4D_494E_4258  # "LMINBX": one process at a time drains what others left

# Hand-written: each statement is one of the inbox's guarantees (a redelivery recognised by
# ON CONFLICT, a claim that only one transaction can win).
_STORE_SQL = """
INSERT INTO webhook_event (id, type, payload) VALUES ({}, {}, {}::jsonb)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""
_UNPROCESSED_SQL = """
SELECT type, payload FROM webhook_event WHERE id = {} AND processed_at IS NULL
"""
# Claims the row and marks it processed in one statement, inside the transaction that makes
# the change: a concurrent claim waits on the row lock, then (READ COMMITTED re-checks the
# WHERE) finds it processed and changes nothing — or, if this transaction rolled back,
# claims it itself.
_CLAIM_SQL = """
UPDATE webhook_event SET processed_at = now(), attempts = attempts + 1, last_error = NULL
 WHERE id = {} AND processed_at IS NULL
RETURNING id
"""
_FAILED_SQL = """
UPDATE webhook_event SET attempts = attempts + 1, last_error = {}
 WHERE id = {} AND processed_at IS NULL
"""
_DUE_SQL = """
SELECT id FROM webhook_event
 WHERE processed_at IS NULL AND received_at < now() - {}::interval
   AND received_at < COALESCE({}::timestamptz, 'infinity')
   AND attempts < {} AND NOT (id = ANY({}::text[]))
 ORDER BY received_at
 LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to one delivery: its HTTP status, a word on what happened, and the stored
    event to process now (None: the delivery was refused)."""

    status: int
    text: str
    event_id: str | None = None


class EventError(ValueError):
    """A genuine event we cannot act on (no payment id in it): processed, logged, dropped."""


async def receive_webhook(secret: str, headers: Mapping[str, str], body: bytes) -> Receipt:
    try:
        event = verify_webhook(secret, headers, body)
    except WebhookVerificationError as exc:
        metrics.SIGNATURE_FAILURES.inc()
        log.warning("refused a webhook: %s", exc)
        return Receipt(400, "invalid webhook\n")
    odd = "\x00" in event.webhook_id + event.type  # (PostgreSQL text cannot hold NUL)
    if len(event.webhook_id) > 255 or len(event.type) > 100 or odd:
        metrics.SIGNATURE_FAILURES.inc()
        return Receipt(400, "invalid webhook\n")
    metrics.WEBHOOK_LATENCY.observe(max(0.0, time.time() - event.signed_at.timestamp()))

    if not await store_event(event, body):
        metrics.DUPLICATE_DELIVERIES.inc()
        # Already stored; if it is not processed yet (it failed, or its process stopped),
        # this delivery is the nudge to try again now.
        return Receipt(200, "duplicate\n", event.webhook_id)
    return Receipt(200, "stored\n", event.webhook_id)


def _storable(value: Any) -> Any:
    """The payload without NUL characters, which PostgreSQL's jsonb cannot hold."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


async def store_event(event: VerifiedEvent, body: bytes | None = None) -> bool:
    """Put the event in the inbox; False when its webhook-id is already there.

    `body`: the verified bytes as Whop sent them, stored as they are (PostgreSQL parses them
    into the jsonb) unless they hold something jsonb cannot: an escaped NUL, or text that is
    not UTF-8. Then the parsed payload is stored, cleaned.
    """
    payload = None
    if body is not None and b"\\u0000" not in body:
        try:
            payload = body.decode("utf-8")
        except UnicodeDecodeError:
            payload = None
    if payload is None:
        payload = json.dumps(_storable(event.payload), separators=(",", ":"))
    stored = await WebhookEvent.raw(_STORE_SQL, event.webhook_id, event.type, payload)
    return bool(stored)


async def process_event(whop: WhopClient, event_id: str) -> str:
    """Process one stored event if nobody has (or is): "processed", "skipped" or "failed".

    Whop is asked first, with no transaction open; then the row is claimed by setting its
    `processed_at`, and that and the change are committed together.
    """
    event = await _unprocessed(event_id)
    if event is None:
        return "skipped"  # already processed
    event_type = event.type
    after_commit: AfterCommit = []
    try:
        change = await prepare_event(whop, event_type, event.payload, after_commit)
        async with WebhookEvent._meta.db.transaction():
            if not await WebhookEvent.raw(_CLAIM_SQL, event_id):
                return "skipped"  # processed meanwhile
            result = await change()
    except Exception as exc:  # noqa: BLE001 (any failure leaves the event for a retry)
        await WebhookEvent.raw(_FAILED_SQL, f"{type(exc).__name__}: {exc}"[:2000], event_id)
        log.warning("webhook event %s not processed yet: %s", event_id, exc)
        metrics.WEBHOOK_EVENTS.labels(event_type, "failed").inc()
        return "failed"
    metrics.WEBHOOK_EVENTS.labels(event_type, result).inc()
    for action in after_commit:  # what must not hold the transaction open: calls to Whop
        try:
            await action()
        except Exception:  # noqa: BLE001 (recorded for the reconciler, which retries)
            log.exception("after processing webhook event %s", event_id)
    return "processed"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event in the inbox that nobody has processed yet."""

    type: str
    payload: dict[str, Any]  # Whop's whole envelope, as stored


async def _unprocessed(event_id: str) -> StoredEvent | None:
    rows = await WebhookEvent.raw(_UNPROCESSED_SQL, event_id)
    return StoredEvent(rows[0]["type"], _payload(rows[0]["payload"])) if rows else None


def _payload(raw: object) -> dict[str, Any]:
    if isinstance(raw, str):  # jsonb comes back as text from raw queries
        raw = json.loads(raw)
    return raw if isinstance(raw, dict) else {}


async def prepare_event(
    whop: WhopClient,
    event_type: str,
    payload: dict[str, Any],
    after_commit: AfterCommit | None = None,
) -> Change:
    """Ask Whop what the event is about, through the handler its room registered for its
    type (`app.whop.events`); returns the change to make (a word for the metrics when
    called). Raises when Whop cannot answer, to be retried later. The change may add to
    `after_commit` what it needs done once its transaction is committed (refunding a
    second charge through Whop)."""
    handler = handler_for(event_type)
    if handler is None:
        return done("ignored")
    return await handler(whop, event_type, payload, after_commit)


@dataclass(eq=False, slots=True)
class _Lane:
    """The queue and workers of one running event loop (one per process in production)."""

    queue: asyncio.Queue[str]
    unfinished: int = 0  # queued or being processed
    busy: set[asyncio.Task[None]] = field(default_factory=set)  # the workers holding an event
    stopping: bool = False


class InboxWorkers:
    """Process the events this process stored, right after their deliveries were answered.

    A bounded in-memory queue in front of a few tasks calling `process_event`. It is the fast
    path, never the only one: an event it cannot take (the queue is full, or the app is
    stopping) is already in the inbox, where a redelivery or the drainer finds it. An event
    queued twice (a redelivery while the first is waiting) is processed once.

    The queue belongs to the event loop that runs the app's lifespan; a request served on
    another loop (only the test client does that) leaves its event to the drainer.

    `concurrency` (INBOX_WORKERS) is small on purpose: processing shares the process with
    the deliveries, and answering them fast matters more in a burst than finishing each
    event a few milliseconds sooner (measured in BENCHMARKS.md: 1 to 4 workers per process
    process about as many events per second, but more workers answer fewer deliveries).
    """

    def __init__(self, *, concurrency: int = 2, max_queued: int = 50_000) -> None:
        self.concurrency = concurrency
        self.max_queued = max_queued
        self._lanes: dict[asyncio.AbstractEventLoop, _Lane] = {}
        self._waiting: set[str] = set()

    @property
    def busy(self) -> int:
        """Events queued or being processed right now."""
        return sum(lane.unfinished for lane in list(self._lanes.values()))

    def submit(self, event_id: str) -> bool:
        """Queue a stored event; False when it is left to the drainer instead."""
        lane = self._lanes.get(asyncio.get_running_loop())
        if lane is None:
            return False
        if event_id in self._waiting:
            return True
        try:
            lane.queue.put_nowait(event_id)
        except asyncio.QueueFull:
            metrics.INBOX_OVERFLOW.inc()
            log.warning("inbox queue full; event %s is left to the drainer", event_id)
            return False
        self._waiting.add(event_id)
        lane.unfinished += 1
        return True

    async def settled(self, poll: float = 0.005) -> None:
        """Wait until nothing is queued or being processed (tests; from any loop)."""
        while self.busy:  # noqa: ASYNC110 (an Event would belong to one loop; callers vary)
            await asyncio.sleep(poll)

    async def _work(self, lane: _Lane, state: Any) -> None:
        worker = asyncio.current_task()
        if worker is None:  # (never: each worker is a task)
            raise RuntimeError("an inbox worker must run as a task")
        while not lane.stopping:
            event_id = await lane.queue.get()
            self._waiting.discard(event_id)
            lane.busy.add(worker)
            try:
                await process_event(state.whop, event_id)
            except Exception:  # process_event records its failures; this is the database
                log.exception("could not process webhook event %s; the drainer will", event_id)
            finally:
                lane.busy.discard(worker)
                lane.unfinished -= 1
                lane.queue.task_done()

    async def _leftovers(self, state: Any) -> None:
        try:
            await drain_leftovers(state.whop)
        except Exception as exc:  # the database is down: the periodic drainer comes later
            log.warning("could not process the webhook events a stopped process left: %s", exc)

    def lifespan(self, *, grace: float = 5.0) -> Callable[[Any], AbstractAsyncContextManager[None]]:
        """Run the workers while the app is up (with `app.state.whop`), starting with what
        stopped processes left unprocessed (in the background: start-up does not wait).

        At shutdown each worker finishes the event it holds (for up to `grace` seconds) and
        stops; what is still queued stays in the inbox, stored and unprocessed, for the next
        process to start or another one's drainer. Working through the queue instead would
        keep a stopping process for as long as its backlog, with the events no safer. An
        event cut off after `grace`, or in the leftovers drain (stopped at once), stays
        unprocessed too: its claim commits with its change or not at all."""

        @asynccontextmanager
        async def working(app: Any) -> AsyncIterator[None]:
            loop = asyncio.get_running_loop()
            lane = _Lane(asyncio.Queue(self.max_queued))
            self._lanes[loop] = lane
            workers = [
                asyncio.create_task(self._work(lane, app.state), name=f"inbox-worker-{n}")
                for n in range(self.concurrency)
            ]
            leftovers = []  # (0 workers: everything is left to the drainer)
            if self.concurrency:
                leftovers.append(
                    asyncio.create_task(self._leftovers(app.state), name="inbox-leftovers")
                )
            try:
                yield
            finally:
                if self._lanes.get(loop) is lane:
                    del self._lanes[loop]  # take no more
                lane.stopping = True
                for task in [*leftovers, *workers]:
                    if task not in lane.busy:  # the drain, or a worker waiting for an event
                        task.cancel()
                if lane.busy:  # each finishes the event it holds, then stops
                    _, late = await asyncio.wait(set(lane.busy), timeout=grace)
                    for task in late:
                        task.cancel()
                await asyncio.gather(*leftovers, *workers, return_exceptions=True)
                lane.unfinished = 0

        return working


@dataclass
class DrainReport:
    processed: int = 0
    failed: int = 0
    skipped: int = 0
    tried: list[str] = field(default_factory=list)


async def drain_inbox(
    whop: WhopClient,
    *,
    min_age: timedelta = DRAIN_MIN_AGE,
    received_before: datetime | None = None,
    max_attempts: int | None = MAX_ATTEMPTS,
    limit: int = 200,
) -> DrainReport:
    """Process stored events that nobody processed, oldest first, each at most once per run.

    Safe to run in several processes at once, and beside the inbox workers: `process_event`
    claims each row with a conditional UPDATE, so one of them makes the change. `max_attempts
    =None` (replay) also retries events that used up their attempts.
    """
    report = DrainReport()
    attempts_cap = max_attempts if max_attempts is not None else SERIAL_MAX
    while len(report.tried) < limit:
        due = await WebhookEvent.raw(_DUE_SQL, min_age, received_before, attempts_cap, report.tried)
        if not due:
            break
        event_id = due[0]["id"]
        report.tried.append(event_id)
        result = await process_event(whop, event_id)
        if result == "processed":
            report.processed += 1
        elif result == "failed":
            report.failed += 1
        else:
            report.skipped += 1
    return report


async def drain_leftovers(whop: WhopClient, *, batch: int = 500) -> int | None:
    """Process what was stored and answered before this process started but never processed
    (its process stopped or was killed first): at start-up, so it waits seconds, not a
    drainer's minute. One process at a time (an advisory lock; processes started together
    would only ask Whop the same questions); None when another one is at it. Goes on while
    batches make progress, so a long backlog is finished and a Whop outage is not hammered."""
    conn = await app_engine().get_new_connection()  # the lock lives as long as this session
    try:
        row = await conn.fetchrow(
            "SELECT pg_try_advisory_lock($1) AS mine, now() AS started", LEFTOVERS_LOCK
        )
        if not row["mine"]:
            return None
        processed = 0
        try:
            while True:
                report = await drain_inbox(
                    whop, min_age=timedelta(0), received_before=row["started"], limit=batch
                )
                processed += report.processed
                if not report.processed or len(report.tried) < batch:
                    break
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", LEFTOVERS_LOCK)
    finally:
        await conn.close()
    if processed:
        log.info("processed %d webhook event(s) left unprocessed by a stopped process", processed)
    return processed
