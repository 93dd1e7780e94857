"""`linkmint inbox`: a process that does nothing but process webhook events.

By default each app process processes the events it stores, on the same event loop that
serves its requests. Under a flood of page views that loop is saturated and the events wait
behind the requests: a flash sale's payments are confirmed minutes late although the
machine answers every delivery. Started with INBOX_WORKERS=0, the app processes process no
events: each one they store is announced (a NOTIFY on `ANNOUNCE_CHANNEL`, sent when its row
commits) and this process, with an event loop and a share of the CPU of its own, takes it
into the same `InboxWorkers` a web process would have used.

Nothing is lost when it is not running or not listening, because the inbox is the record:
whenever its LISTEN connection comes up (at start, and after each reconnection) it first
processes what was stored before that moment and is still unprocessed, and the app
processes' once-a-minute drainer stays behind both.

One process at a time processes (`Turn`: a session advisory lock), since two would each hear
every announcement and ask Whop the same questions. A second `linkmint inbox` stands by and
takes over when the first one's session ends; `linkmint doctor` says whether one holds the
turn.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AsyncExitStack, suppress
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from app.config import Settings
from app.db.engine import app_engine, pool_lifespan
from app.db.notify import Listener, listener_lifespan
from app.db.outage import describe
from app.db.tables import WebhookEvent
from app.logs import log_to_stderr
from app.payments.inbox import ANNOUNCE_CHANNEL, InboxWorkers, drain_inbox
from app.periodic import in_background
from app.whop import WhopClient

log = logging.getLogger("app.payments.inbox_process")

INBOX_PROCESS_LOCK = 0x4C4D_494E_4250  # "LMINBP": held by the linkmint inbox that processes


class Announcements:
    """Hands each announced event to the workers (a `Subscriber` of the cache listener's
    kind); each time the listener comes up, processes what was stored before that moment
    and is still unprocessed, since announcements made while nobody listened are gone."""

    def __init__(self, workers: InboxWorkers, whop: WhopClient, *, catch_up_batch: int = 500):
        self.channels: Mapping[str, Callable[[str], None]] = {ANNOUNCE_CHANNEL: self._announced}
        self.listener: Listener | None = None
        self.workers = workers
        self.whop = whop
        self.catch_up_batch = catch_up_batch
        self.live = False
        self.catching_up: asyncio.Task[int] | None = None
        self._catch_ups: set[asyncio.Task[int]] = set()

    def set_live(self, live: bool) -> None:
        if live and not self.live:
            task = asyncio.create_task(self.catch_up(), name="inbox-catch-up")
            self._catch_ups.add(task)
            task.add_done_callback(self._catch_ups.discard)
            self.catching_up = task
        self.live = live

    def _announced(self, event_id: str) -> None:
        self.workers.submit(event_id)  # refused (queue full, stopping): the drainers have it

    async def catch_up(self) -> int:
        """Process every event stored before now and not processed yet, in batches, for as
        long as batches make progress (events Whop cannot answer for now are left to the
        drainer's retries); the number processed."""
        processed = 0
        try:
            [row] = await WebhookEvent.raw("SELECT now() AS started")
            while True:
                report = await drain_inbox(
                    self.whop,
                    min_age=timedelta(0),
                    received_before=row["started"],
                    limit=self.catch_up_batch,
                    batch=self.workers.batch,
                    whop_reads=self.workers.whop_reads,
                )
                processed += report.processed
                if not report.processed or len(report.tried) < self.catch_up_batch:
                    break
        except Exception as exc:  # noqa: BLE001 (the database is down: the next connection retries)
            log.warning("could not process the webhook events stored while not listening: %s", exc)
        if processed:
            log.info("processed %d webhook event(s) stored while not listening", processed)
        return processed

    async def stop(self) -> None:
        for task in list(self._catch_ups):
            task.cancel()
        await asyncio.gather(*self._catch_ups, return_exceptions=True)


class Turn:
    """This process's turn to process: a session advisory lock (`INBOX_PROCESS_LOCK`) on a
    connection of its own to PostgreSQL itself. One `linkmint inbox` holds it and processes;
    any other stands by, trying for it every second, and takes over within a second or two
    of the first one's session ending (stopped, killed, its machine gone). `lost` is set
    when the holding connection stops answering: the lock may then be someone else's."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: self.lost.set())

    @classmethod
    async def take(cls, stop: asyncio.Event, *, every: float = 1.0) -> Turn | None:
        """Wait for the lock (None: `stop` was set first)."""
        standing_by = False
        while not stop.is_set():
            conn = None
            try:
                conn = await app_engine().get_new_connection()
                while not stop.is_set():
                    if await conn.fetchval("SELECT pg_try_advisory_lock($1)", INBOX_PROCESS_LOCK):
                        turn, conn = cls(conn), None
                        return turn
                    if not standing_by:
                        log.info("another linkmint inbox is processing; standing by to take over")
                        standing_by = True
                    await _until(stop, every)
            except Exception as exc:  # noqa: BLE001 (the database is down: try again)
                log.warning("could not take the inbox's turn: %s; trying again", describe(exc))
            finally:
                if conn is not None:
                    conn.terminate()
            await _until(stop, every)
        return None

    async def watch(self, every: float = 5.0) -> None:
        """Ping the holding connection until it fails (then `lost` is set): a silent
        half-open connection would never say it is gone."""
        while not self.lost.is_set():
            await asyncio.sleep(every)
            try:
                await asyncio.wait_for(self.conn.fetchval("SELECT 1"), every)
            except Exception:  # noqa: BLE001 (whatever the failure, the lock is not ours)
                self.lost.set()

    def give_up(self) -> None:
        self.conn.terminate()  # the session ends, and its lock with it


async def _until(event: asyncio.Event, seconds: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


async def run(
    settings: Settings,
    stop: asyncio.Event,
    *,
    workers: int,
    ready: Callable[[Announcements], None] | None = None,
) -> None:
    """Take the turn (`Turn`), then process announced events until `stop` is set, and let
    each worker finish the batch it holds (`InboxWorkers.lifespan`). A turn lost meanwhile
    stops the processing until it is taken again. `ready` is told each time processing
    begins (tests). The caller has imported the rooms' webhook handlers
    (`app.main.register_webhook_handlers`): an event whose handler is not registered would
    be marked processed as "ignored"."""
    app = SimpleNamespace(state=SimpleNamespace())
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(pool_lifespan(settings)(app))
        whop = WhopClient.connect(settings)
        stack.push_async_callback(whop.aclose)
        app.state.whop = whop
        while (turn := await Turn.take(stop)) is not None:
            try:
                await _process(settings, app, workers, turn, stop, ready)
            finally:
                turn.give_up()
            if not stop.is_set():
                log.warning("lost the inbox's turn (its database connection); taking it again")


async def _process(
    settings: Settings,
    app: Any,
    workers: int,
    turn: Turn,
    stop: asyncio.Event,
    ready: Callable[[Announcements], None] | None,
) -> None:
    inbox = InboxWorkers(
        concurrency=workers, batch=settings.inbox_batch, whop_reads=settings.inbox_whop_reads
    )
    async with AsyncExitStack() as stack:
        # Entered in this order, left in the reverse: no announcement is taken once stopping
        # begins, then each worker finishes its batch.
        await stack.enter_async_context(inbox.lifespan(drain_first=False)(app))
        announcements = Announcements(inbox, app.state.whop)
        stack.push_async_callback(announcements.stop)
        # LISTEN lives on a session: never through a pooler (DATABASE_DIRECT_URL).
        listening = listener_lifespan([announcements], lambda: app_engine().direct_dsn)
        await stack.enter_async_context(listening(app))
        await stack.enter_async_context(in_background(("inbox-turn-watch", turn.watch())))
        log.info(
            "processing the webhook events announced on %s (batches under way at once: %d; "
            "events per batch: up to %d; Whop reads in flight: up to %d)",
            ANNOUNCE_CHANNEL,
            inbox.concurrency,
            inbox.batch,
            inbox.whop_reads,
        )
        if ready is not None:
            ready(announcements)
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(turn.lost.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        log.info("stopping: each worker finishes the batch it holds")


def main(settings: Settings, workers: int) -> None:
    """`linkmint inbox`: runs until SIGTERM or SIGINT, then stops as described in `run`."""
    repeats = log_to_stderr(settings.log_format, settings.log_level, settings.log_repeat_window)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with repeats.lifespan()(None):
            await run(settings, stop, workers=workers)

    with suppress(KeyboardInterrupt):
        _event_loop_runner()(serve())


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop's, as `linkmint serve` runs on (uvicorn's choice where it is installed, which
    uvicorn[standard] does on Linux); asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:  # (a platform uvloop does not build on)
        return asyncio.run
    return uvloop.run
