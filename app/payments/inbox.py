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
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
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
# The same, for a process that leaves processing to `linkmint inbox` (INBOX_WORKERS=0): the
# stored event's id is announced on ANNOUNCE_CHANNEL, sent when the row commits; a
# redelivery of an event not processed yet is announced again, as the nudge it is.
ANNOUNCE_CHANNEL = "linkmint_inbox"  # (spelled out in the two statements below)
_STORE_ANNOUNCED_SQL = """
WITH stored AS (
  INSERT INTO webhook_event (id, type, payload) VALUES ({}, {}, {}::jsonb)
  ON CONFLICT (id) DO NOTHING
  RETURNING id
)
SELECT id, pg_notify('linkmint_inbox', id) FROM stored
"""
_ANNOUNCE_AGAIN_SQL = """
SELECT pg_notify('linkmint_inbox', id) FROM webhook_event
 WHERE id = {} AND processed_at IS NULL
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
# A batch's events that nobody processed yet, and their claim: the same rule as one event's,
# for many rows in one statement. The rows are locked in id order, so two batches that
# overlap (a redelivery taken by another process) wait for each other instead of deadlocking.
_UNPROCESSED_MANY_SQL = """
SELECT id, type, payload FROM webhook_event WHERE id = ANY({}::text[]) AND processed_at IS NULL
"""
_CLAIM_MANY_SQL = """
UPDATE webhook_event SET processed_at = now(), attempts = attempts + 1, last_error = NULL
 WHERE id IN (SELECT id FROM webhook_event
               WHERE id = ANY({}::text[]) AND processed_at IS NULL
               ORDER BY id FOR UPDATE)
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
 LIMIT {}
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


async def receive_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, *, announce: bool = False
) -> Receipt:
    """Verify and store one delivery. `announce`: this process processes no events, so the
    stored one is announced to the `linkmint inbox` process (`app.payments.inbox_process`)."""
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

    if not await store_event(event, body, announce=announce):
        metrics.DUPLICATE_DELIVERIES.inc()
        # Already stored; if it is not processed yet (it failed, or its process stopped),
        # this delivery is the nudge to try again now.
        if announce:
            await WebhookEvent.raw(_ANNOUNCE_AGAIN_SQL, event.webhook_id)
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


async def store_event(
    event: VerifiedEvent, body: bytes | None = None, *, announce: bool = False
) -> bool:
    """Put the event in the inbox; False when its webhook-id is already there. `announce`:
    NOTIFY its id on ANNOUNCE_CHANNEL as it commits.

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
    sql = _STORE_ANNOUNCED_SQL if announce else _STORE_SQL
    stored = await WebhookEvent.raw(sql, event.webhook_id, event.type, payload)
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
        return await _failed(event_id, event_type, exc)
    await _finished(event_id, event_type, result, after_commit)
    return "processed"


async def process_events(
    whop: WhopClient, event_ids: Sequence[str], *, whop_reads: asyncio.Semaphore | None = None
) -> dict[str, str]:
    """Process a batch of stored events; each one's word as `process_event` would say it.

    The same two steps as one event's, each done once for the batch: one query finds which
    events nobody processed; their questions to Whop are asked together (at most
    `whop_reads` at a time, shared with the process's other batches), with no transaction
    open; then one transaction claims every event that got its answer (one UPDATE) and makes
    their changes. If that transaction fails — a change raised, a deadlock with another
    batch, the database went away — none of it is kept and each of its events is processed
    on its own by `process_event`, so one bad event costs its batch time, never another
    event's effect.
    """
    results = dict.fromkeys(event_ids, "skipped")
    rows = await WebhookEvent.raw(_UNPROCESSED_MANY_SQL, list(results))
    ready: dict[str, tuple[str, Change, AfterCommit]] = {}

    async def prepare(event_id: str, event: StoredEvent) -> None:
        after_commit: AfterCommit = []
        try:
            async with whop_reads or nullcontext():
                change = await prepare_event(whop, event.type, event.payload, after_commit)
        except Exception as exc:  # noqa: BLE001 (any failure leaves the event for a retry)
            results[event_id] = await _failed(event_id, event.type, exc)
            return
        ready[event_id] = (event.type, change, after_commit)

    await asyncio.gather(
        *(prepare(r["id"], StoredEvent(r["type"], _payload(r["payload"]))) for r in rows)
    )
    if not ready:
        return results
    made: list[tuple[str, str]] = []
    try:
        async with WebhookEvent._meta.db.transaction():
            claimed = {r["id"] for r in await WebhookEvent.raw(_CLAIM_MANY_SQL, list(ready))}
            for event_id, (_, change, _) in ready.items():
                if event_id in claimed:  # (not claimed: processed meanwhile, "skipped")
                    made.append((event_id, await change()))
    except Exception as exc:  # noqa: BLE001 (nothing of the batch was kept)
        log.warning(
            "a batch of %d webhook events failed, processing each alone: %s", len(ready), exc
        )
        for event_id in ready:
            results[event_id] = await process_event(whop, event_id)
        return results
    for event_id, result in made:
        event_type, _, after_commit = ready[event_id]
        await _finished(event_id, event_type, result, after_commit)
        results[event_id] = "processed"
    return results


async def _failed(event_id: str, event_type: str, exc: Exception) -> str:
    await WebhookEvent.raw(_FAILED_SQL, f"{type(exc).__name__}: {exc}"[:2000], event_id)
    log.warning("webhook event %s not processed yet: %s", event_id, exc)
    metrics.WEBHOOK_EVENTS.labels(event_type, "failed").inc()
    return "failed"


async def _finished(event_id: str, event_type: str, result: str, after_commit: AfterCommit) -> None:
    metrics.WEBHOOK_EVENTS.labels(event_type, result).inc()
    for action in after_commit:  # what must not hold the transaction open: calls to Whop
        try:
            await action()
        except Exception:  # noqa: BLE001 (recorded for the reconciler, which retries)
            log.exception("after processing webhook event %s", event_id)


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
    whop_reads: asyncio.Semaphore  # the lane's questions to Whop in flight, all batches together
    unfinished: int = 0  # queued or being processed
    busy: set[asyncio.Task[None]] = field(default_factory=set)  # the workers holding a batch
    stopping: bool = False


class InboxWorkers:
    """Process the events this process stored, right after their deliveries were answered.

    A bounded in-memory queue in front of a few workers, each taking what is queued, up to
    `batch` events at a time, to `process_events`. It is the fast path, never the only one:
    an event it cannot take (the queue is full, or the app is stopping) is already in the
    inbox, where a redelivery or the drainer finds it. An event queued twice (a redelivery
    while the first is waiting) is processed once.

    The queue belongs to the event loop that runs the app's lifespan; a request served on
    another loop (only the test client does that) leaves its event to the drainer.

    `concurrency` (INBOX_WORKERS) is how many batches are under way at once: while one
    waits for Whop, another commits. `batch` (INBOX_BATCH) bounds a batch: unloaded, each
    event is a batch of its own and is processed at once; in a burst, a batch takes what
    piled up, one query and one transaction for all of it. `whop_reads` (INBOX_WHOP_READS)
    bounds the questions to Whop in flight in this process: Whop answers in tens of
    milliseconds, so processing overlaps many of them, and a burst may not flood Whop (or
    this process's connections to it).

    With `concurrency` 0 the process processes nothing: `submit` takes nothing, and
    `announces` tells the webhook route to announce each stored event to the `linkmint
    inbox` process instead (`app.payments.inbox_process`), the drainer behind it.
    """

    def __init__(
        self,
        *,
        concurrency: int = 2,
        batch: int = 100,
        whop_reads: int = 4,
        max_queued: int = 50_000,
    ) -> None:
        self.concurrency = concurrency
        self.batch = batch
        self.whop_reads = whop_reads
        self.max_queued = max_queued
        self._lanes: dict[asyncio.AbstractEventLoop, _Lane] = {}
        self._waiting: set[str] = set()

    @property
    def announces(self) -> bool:
        """Whether stored events are left to another process (INBOX_WORKERS=0)."""
        return self.concurrency == 0

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
            batch = [await lane.queue.get()]
            while len(batch) < self.batch and not lane.queue.empty():
                batch.append(lane.queue.get_nowait())
            self._waiting.difference_update(batch)
            lane.busy.add(worker)
            try:
                await process_events(state.whop, batch, whop_reads=lane.whop_reads)
            except Exception:  # process_events records its failures; this is the database
                log.exception("could not process %d webhook event(s); the drainer will", len(batch))
            finally:
                lane.busy.discard(worker)
                lane.unfinished -= len(batch)
                for _ in batch:
                    lane.queue.task_done()

    async def _leftovers(self, state: Any) -> None:
        try:
            await drain_leftovers(state.whop)
        except Exception as exc:  # the database is down: the periodic drainer comes later
            log.warning("could not process the webhook events a stopped process left: %s", exc)

    def lifespan(
        self, *, grace: float = 5.0, drain_first: bool = True
    ) -> Callable[[Any], AbstractAsyncContextManager[None]]:
        """Run the workers while the app is up (with `app.state.whop`), starting with what
        stopped processes left unprocessed (in the background: start-up does not wait;
        `drain_first=False` leaves that to the caller). No workers (`concurrency` 0): nothing
        runs, and nothing is queued.

        At shutdown each worker finishes the batch it holds (for up to `grace` seconds) and
        stops; what is still queued stays in the inbox, stored and unprocessed, for the next
        process to start or another one's drainer. Working through the queue instead would
        keep a stopping process for as long as its backlog, with the events no safer. A
        batch cut off after `grace`, or the leftovers drain (stopped at once), leaves its
        events unprocessed too: a claim commits with its change or not at all."""

        @asynccontextmanager
        async def working(app: Any) -> AsyncIterator[None]:
            if not self.concurrency:  # events are announced to another process instead
                yield
                return
            loop = asyncio.get_running_loop()
            lane = _Lane(asyncio.Queue(self.max_queued), asyncio.Semaphore(self.whop_reads))
            self._lanes[loop] = lane
            workers = [
                asyncio.create_task(self._work(lane, app.state), name=f"inbox-worker-{n}")
                for n in range(self.concurrency)
            ]
            leftovers = []
            if drain_first:
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
                if lane.busy:  # each finishes the batch it holds, then stops
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
    batch: int = 100,
    whop_reads: int = 4,
) -> DrainReport:
    """Process stored events that nobody processed, oldest first, each at most once per run,
    in batches of `batch` (`process_events`, with at most `whop_reads` questions to Whop in
    flight).

    Safe to run in several processes at once, and beside the inbox workers: each row is
    claimed with a conditional UPDATE, so one of them makes the change. `max_attempts
    =None` (replay) also retries events that used up their attempts.
    """
    report = DrainReport()
    attempts_cap = max_attempts if max_attempts is not None else SERIAL_MAX
    reads = asyncio.Semaphore(whop_reads)
    while len(report.tried) < limit:
        size = min(batch, limit - len(report.tried))
        due = await WebhookEvent.raw(
            _DUE_SQL, min_age, received_before, attempts_cap, report.tried, size
        )
        if not due:
            break
        event_ids = [row["id"] for row in due]
        report.tried.extend(event_ids)
        results = await process_events(whop, event_ids, whop_reads=reads)
        for result in results.values():
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
