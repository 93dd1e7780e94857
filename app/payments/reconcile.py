"""Reconciliation: what neither the buyer's return nor a webhook settled, Whop's API does.

`reconcile` asks Whop about unlocks still PENDING after a few minutes (and recently FAILED
ones: a declined card may have been followed by one that paid) and converges whatever it
finds, so an unlock whose redirect AND webhook were both lost still completes. An unlock
nobody paid for within an hour expires (a payment arriving later still completes it).
Second charges whose refund Whop did not take yet are retried.

`run_maintenance` is one pass of the background task: drain the webhook inbox, then
reconcile. Several app processes may run it; a PostgreSQL advisory lock lets one at a time
do the pass (the work is idempotent anyway; the lock only saves Whop duplicate calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from litestar import Litestar

from app.db.tables import Unlock
from app.payments import metrics
from app.payments.convergence import converge_unlock, refund_duplicate
from app.payments.inbox import DRAIN_MIN_AGE, DrainReport, drain_inbox
from app.whop import WhopClient, WhopError

log = logging.getLogger("app.payments.reconcile")

RECONCILE_AFTER = timedelta(minutes=3)  # the redirect and the webhook normally win by far
RECHECK_AFTER = timedelta(minutes=10)  # how often one unpaid unlock is asked about again
EXPIRE_AFTER = timedelta(hours=1)
PERIOD_SECONDS = 60.0
MAINTENANCE_LOCK = 0x4C4D_5041_5931  # "LMPAY1": one maintenance pass at a time

# Due: pending (or recently failed) for a while, and not asked about lately — an abandoned
# checkout is looked at every few minutes, not every minute for its whole hour — or due to
# expire. Never-asked first, so a backlog cannot starve new unlocks.
_DUE_SQL = """
SELECT id, (created_at < now() - {}::interval) AS stale FROM unlock
 WHERE created_at < now() - {}::interval
   AND (status = 'PENDING'
        OR (status = 'FAILED' AND checkout_id IS NOT NULL
            AND created_at > now() - {}::interval))
   AND (reconciled_at IS NULL OR reconciled_at < now() - {}::interval
        OR (status = 'PENDING' AND created_at < now() - {}::interval))
 ORDER BY reconciled_at NULLS FIRST, created_at
 LIMIT {}
"""
_ASKED_SQL = "UPDATE unlock SET reconciled_at = now() WHERE id = {}"
_EXPIRE_SQL = """
UPDATE unlock SET status = 'EXPIRED', updated_at = now()
 WHERE id = {} AND status = 'PENDING' AND created_at < now() - {}::interval
RETURNING id
"""
_UNREFUNDED_SQL = """
SELECT payment_id FROM duplicate_payment WHERE refunded_at IS NULL ORDER BY created_at LIMIT {}
"""


@dataclass
class ReconcileReport:
    checked: int = 0
    expired: int = 0
    errors: int = 0
    duplicates_refunded: int = 0
    results: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        found = ", ".join(f"{n} {r}" for r, n in sorted(self.results.items())) or "nothing"
        return (
            f"checked {self.checked} unlock(s): {found}; expired {self.expired}; "
            f"Whop errors {self.errors}; duplicate refunds taken {self.duplicates_refunded}"
        )


async def reconcile(
    whop: WhopClient,
    *,
    older_than: timedelta = RECONCILE_AFTER,
    expire_after: timedelta = EXPIRE_AFTER,
    recheck_after: timedelta = RECHECK_AFTER,
    limit: int = 200,
) -> ReconcileReport:
    report = ReconcileReport()
    due = await Unlock.raw(
        _DUE_SQL, expire_after, older_than, expire_after, recheck_after, expire_after, limit
    )
    for row in due:
        report.checked += 1
        try:
            outcome = await converge_unlock(whop, row["id"], "reconcile")
        except WhopError as exc:
            report.errors += 1
            log.warning("could not reconcile unlock %s: %s", row["id"], exc)
            continue
        await Unlock.raw(_ASKED_SQL, row["id"])
        report.results[outcome.result] += 1
        if outcome.status == "PENDING" and row["stale"]:
            if await Unlock.raw(_EXPIRE_SQL, row["id"], expire_after):
                report.expired += 1
                metrics.EXPIRED.inc()
                log.info("unlock %s expired: nothing was paid", row["id"])
    for dup in await Unlock.raw(_UNREFUNDED_SQL, limit):
        if await refund_duplicate(whop, dup["payment_id"]):
            report.duplicates_refunded += 1
    return report


async def run_maintenance(
    whop: WhopClient,
    *,
    older_than: timedelta = RECONCILE_AFTER,
    expire_after: timedelta = EXPIRE_AFTER,
    min_age: timedelta = DRAIN_MIN_AGE,
) -> tuple[DrainReport, ReconcileReport] | None:
    """One background pass, or None when another process holds the maintenance lock."""
    engine = Unlock._meta.db
    conn = await engine.get_new_connection()  # the lock lives as long as this session
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", MAINTENANCE_LOCK):
            return None
        try:
            drained = await drain_inbox(whop, min_age=min_age)
            reconciled = await reconcile(whop, older_than=older_than, expire_after=expire_after)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MAINTENANCE_LOCK)
    finally:
        await conn.close()
    if drained.tried or reconciled.checked:
        log.info(
            "maintenance: inbox %d processed, %d failed; %s",
            drained.processed,
            drained.failed,
            reconciled.summary(),
        )
    return drained, reconciled


async def _periodically(app: Litestar, period: float, options: dict[str, timedelta]) -> None:
    # A jittered start, so processes started together do not knock at once.
    await asyncio.sleep(random.uniform(0.2, 1.0) * period)  # noqa: S311 (jitter)
    while True:
        try:
            await run_maintenance(app.state.whop, **options)
        except Exception:
            log.exception("maintenance pass failed; trying again next period")
        await asyncio.sleep(period * random.uniform(0.8, 1.2))  # noqa: S311 (jitter)


def maintenance_lifespan(period: float = PERIOD_SECONDS, **options: timedelta):
    """Run `run_maintenance(**options)` about every `period` seconds while the app is up."""

    @asynccontextmanager
    async def run(app: Litestar) -> AsyncIterator[None]:
        task = asyncio.create_task(
            _periodically(app, period, options), name="linkmint-maintenance"
        )
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return run
