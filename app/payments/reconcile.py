"""Reconciliation: what neither the buyer's return nor a webhook settled, Whop's records do.

`reconcile` is one pass of the periodic task (and `linkmint reconcile`):
- the sweep (app/payments/sweep.py) reads each selling company's payments at Whop and
  converges what differs from our state: a paid unlock whose redirect and webhook were both
  lost, a second charge to refund, a refund made at Whop, a payment on an expired unlock;
- unlocks nobody paid for within an hour expire, without asking Whop (if one was paid after
  all, the sweep completes it, since a verified payment completes an EXPIRED unlock);
- second charges whose refund Whop did not take yet are refunded again;
- once a day, the previous day's payments are audited (app/payments/audit.py).

`run_maintenance` is one pass of the background task: drain the webhook inbox, then
reconcile. Several app processes may run it; a PostgreSQL advisory lock lets one at a time
do the pass (the work is idempotent anyway; the lock only saves Whop duplicate calls).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from litestar import Litestar

from app.config import Settings
from app.db.engine import app_engine
from app.db.tables import ReconcileClock, Unlock
from app.payments import metrics
from app.payments.audit import audit_yesterday_if_due
from app.payments.convergence import refund_duplicate
from app.payments.inbox import DRAIN_MIN_AGE, DrainReport, drain_inbox
from app.payments.sweep import SweepReport, sweep
from app.periodic import every, in_background
from app.whop import WhopClient, WhopError

log = logging.getLogger("app.payments.reconcile")

EXPIRE_AFTER = timedelta(hours=1)
PERIOD_SECONDS = 60.0
MAINTENANCE_LOCK = 0x4C4D_5041_5931  # "LMPAY1": one maintenance pass at a time
AUDIT_LOCK = 0x4C4D_4155_4431  # "LMAUD1": one daily audit at a time

# Hand-written: expiring is one conditional UPDATE over a batch that skips the rows a
# converging transaction holds (SKIP LOCKED), and the clock is the database's.
_EXPIRE_SQL = """
UPDATE unlock SET status = 'EXPIRED', updated_at = now()
 WHERE id IN (SELECT id FROM unlock
               WHERE status = 'PENDING' AND created_at < now() - {}::interval
               ORDER BY created_at LIMIT {} FOR UPDATE SKIP LOCKED)
   AND status = 'PENDING'
RETURNING id
"""
_CLOCK_SQL = "SELECT extract(epoch FROM now() - swept_at) AS elapsed FROM reconcile_clock"
_CLOCK_SET_SQL = """
INSERT INTO reconcile_clock (id, swept_at) VALUES (1, now() - {}::interval)
ON CONFLICT (id) DO UPDATE SET swept_at = EXCLUDED.swept_at
"""
_UNREFUNDED_SQL = """
SELECT payment_id FROM duplicate_payment WHERE refunded_at IS NULL ORDER BY created_at LIMIT {}
"""


@dataclass(frozen=True, slots=True)
class SweepOptions:
    """How hard the reconciler may lean on Whop: `calls_per_minute` list calls on average
    (shared by every process: a pass may spend what the time since the last sweep allows, at
    most `catch_up`'s worth), each selling company read at least `every`, payments looked
    for over `refund_window`. `calls` fixes one pass's budget instead (the operator's
    command, tests)."""

    calls_per_minute: int = 300
    every: timedelta = timedelta(minutes=5)
    refund_window: timedelta = timedelta(days=30)
    calls: int | None = None
    catch_up: timedelta = timedelta(minutes=2)

    @classmethod
    def from_settings(cls, settings: Settings) -> SweepOptions:
        return cls(
            calls_per_minute=settings.whop_list_calls_per_minute,
            every=timedelta(seconds=settings.reconcile_sweep_seconds),
            refund_window=timedelta(days=settings.whop_refund_window_days),
        )

    async def budget(self) -> int:
        """This pass's list calls: fixed, or earned since the last sweep by the clock in
        `reconcile_clock` (what a fraction of a call leaves over is kept for the next)."""
        if self.calls is not None:
            return self.calls
        rows = await ReconcileClock.raw(_CLOCK_SQL)
        elapsed = rows[0]["elapsed"] if rows else None
        limit = self.catch_up.total_seconds()
        seconds = limit if elapsed is None else max(0.0, min(float(elapsed), limit))
        calls = math.floor(self.calls_per_minute * seconds / 60)
        left_over = seconds - calls * 60 / self.calls_per_minute
        await ReconcileClock.raw(_CLOCK_SET_SQL, timedelta(seconds=left_over))
        return calls


@dataclass
class ReconcileReport:
    sweep: SweepReport = field(default_factory=SweepReport)
    expired: int = 0
    duplicates_refunded: int = 0

    @property
    def results(self) -> Counter[str]:
        return self.sweep.results

    def summary(self) -> str:
        return (
            f"{self.sweep.summary()}; expired {self.expired} unpaid unlock(s); "
            f"duplicate refunds taken {self.duplicates_refunded}"
        )


async def reconcile(
    whop: WhopClient,
    options: SweepOptions | None = None,
    *,
    expire_after: timedelta = EXPIRE_AFTER,
    limit: int = 1000,
) -> ReconcileReport:
    options = options or SweepOptions()
    report = ReconcileReport()
    report.sweep = await sweep(
        whop,
        calls=await options.budget(),
        every=options.every,
        refund_window=options.refund_window,
    )
    expired = await Unlock.raw(_EXPIRE_SQL, expire_after, limit)
    report.expired = len(expired)
    if expired:
        metrics.EXPIRED.inc(len(expired))
        log.info("%d unpaid unlock(s) expired", len(expired))
    for dup in await Unlock.raw(_UNREFUNDED_SQL, limit):
        if await refund_duplicate(whop, dup["payment_id"]):
            report.duplicates_refunded += 1
    return report


async def run_maintenance(
    whop: WhopClient,
    options: SweepOptions | None = None,
    *,
    expire_after: timedelta = EXPIRE_AFTER,
    min_age: timedelta = DRAIN_MIN_AGE,
) -> tuple[DrainReport, ReconcileReport] | None:
    """One background pass, or None when another process holds the maintenance lock."""
    conn = await app_engine().get_new_connection()  # the lock lives as long as this session
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", MAINTENANCE_LOCK):
            return None
        try:
            drained = await drain_inbox(whop, min_age=min_age)
            reconciled = await reconcile(whop, options, expire_after=expire_after)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MAINTENANCE_LOCK)
    finally:
        await conn.close()
    if drained.tried or reconciled.sweep.results or reconciled.expired:
        log.info(
            "maintenance: inbox %d processed, %d failed; %s",
            drained.processed,
            drained.failed,
            reconciled.summary(),
        )
    return drained, reconciled


async def run_daily_audit(whop: WhopClient, calls_per_minute: int) -> None:
    """The daily money audit, when due, in one process at a time. It has its own lock (it
    may take minutes at Whop's pace, and the maintenance pass must not wait for it) and
    half the reconciler's pace (the sweep goes on meanwhile, sharing Whop's limit)."""
    conn = await app_engine().get_new_connection()
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", AUDIT_LOCK):
            return
        try:
            await audit_yesterday_if_due(whop, calls_per_minute=max(1, calls_per_minute // 2))
        except WhopError as exc:
            log.warning("the daily money audit waits for Whop: %s", exc)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", AUDIT_LOCK)
    finally:
        await conn.close()


def maintenance_lifespan(
    period: float = PERIOD_SECONDS, sweep_options: SweepOptions | None = None, **options: timedelta
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """While the app is up: `run_maintenance(sweep_options, **options)` and the daily audit
    check, each about every `period` seconds."""
    sweep_options = sweep_options or SweepOptions()

    @asynccontextmanager
    async def run(app: Litestar) -> AsyncIterator[None]:
        maintenance = every(
            period,
            lambda: run_maintenance(app.state.whop, sweep_options, **options),
            "maintenance pass",
            log,
        )
        audit = every(
            period,
            lambda: run_daily_audit(app.state.whop, sweep_options.calls_per_minute),
            "daily money audit",
            log,
        )
        async with in_background(
            ("linkmint-maintenance", maintenance), ("linkmint-daily-audit", audit)
        ):
            yield

    return run
