"""Retention of the daily counts: days older than the Insights page shows are folded into
monthly ones, and the monthly history is read back from both.

`insight_day` gains every day's rows (about 1 TB a year at 10 M creators); what the page
reads is the last 90 days. Each maintenance period, every process folds the rows of older
days into `insight_month` (one row per creator, UTC month, metric and dimension), in
batches of one statement each: the statement deletes up to `BATCH` daily rows, sums what it
deleted per month and adds the sums with `ON CONFLICT DO UPDATE SET hits = hits + excluded.hits`.
A row is moved by the statement that deleted it, and only one can: rows another fold (or a
flush) holds are skipped, not waited for (`SKIP LOCKED`), and left to it. So folds running
at once in several processes never count a row twice, lock only their batch, and no count is
lost or doubled if one fails: its statement changed nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from litestar import Litestar

from app.db.tables import InsightMonth
from app.insights.report import PERIODS
from app.periodic import periodic_lifespan

log = logging.getLogger("app.insights")

KEEP_DAYS = max(PERIODS)  # the fewest days of daily rows kept: the page's longest period
BATCH = 10_000  # daily rows per statement: its locks and its run stay short

# Hand-written: one batch, all or nothing. The month sums go in in key order, so two folds
# adding to the same months lock them in the same order.
_FOLD_SQL = """
WITH old AS (
    SELECT id FROM insight_day WHERE day < {} LIMIT {} FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM insight_day d USING old WHERE d.id = old.id
    RETURNING d.creator, d.day, d.metric, d.dimension, d.hits
), folded AS (
    INSERT INTO insight_month (creator, month, metric, dimension, hits)
    SELECT creator, date_trunc('month', day::timestamp)::date, metric, dimension, sum(hits)
      FROM gone
     GROUP BY 1, 2, 3, 4
     ORDER BY 1, 2, 3, 4
    ON CONFLICT (creator, month, metric, dimension)
    DO UPDATE SET hits = insight_month.hits + excluded.hits
)
SELECT count(*) AS moved FROM gone
"""

# A creator's counts per month: the folded months and the days not yet folded, read in one
# statement (one snapshot), so a fold running meanwhile is seen wholly or not at all. A
# click's link title comes along while the link is on the page (NULL once deleted).
# Parameters: creator, creator, creator.
_MONTHLY_SQL = """
WITH counts AS (
    SELECT month, metric, dimension, hits FROM insight_month WHERE creator = {}
    UNION ALL
    SELECT date_trunc('month', day::timestamp)::date, metric, dimension, hits
      FROM insight_day WHERE creator = {}
), months AS (
    SELECT month, metric, dimension, sum(hits)::bigint AS hits
      FROM counts GROUP BY month, metric, dimension
)
SELECT m.month, m.metric, m.dimension, m.hits, l.title AS link_title
  FROM months m
  LEFT JOIN link l ON m.metric = 'click' AND l.creator = {} AND l.id::text = m.dimension
 ORDER BY m.month, m.metric, l.position NULLS LAST, m.dimension
"""


def _refuse_too_few(keep_days: int) -> None:
    if keep_days < KEEP_DAYS:
        raise ValueError(f"daily counts are kept at least {KEEP_DAYS} days, not {keep_days}")


def fold_before(keep_days: int, today: date) -> date:
    """The first day kept: today and the `keep_days` days before it stay daily (one more
    than the page's longest period shows, so a process whose clock is a little behind
    still finds its first day)."""
    _refuse_too_few(keep_days)
    return today - timedelta(days=keep_days)


async def fold(keep_days: int = KEEP_DAYS, *, today: date | None = None, batch: int = BATCH) -> int:
    """Move every daily row before `fold_before(keep_days, today)` into the monthly
    counts, `batch` rows per statement; returns how many rows this call moved."""
    before = fold_before(keep_days, today or datetime.now(UTC).date())
    moved = 0
    while True:
        rows = await InsightMonth.raw(_FOLD_SQL, before, batch)
        in_batch: int = rows[0]["moved"]
        moved += in_batch
        if in_batch < batch:
            return moved


async def fold_once(keep_days: int) -> int:
    moved = await fold(keep_days)
    if moved:
        log.info("folded %d daily insights row(s) older than %d days into months", moved, keep_days)
    return moved


def retention_lifespan(
    period: float, keep_days: int
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """While the app is up: `fold_once(keep_days)` about every `period` seconds."""
    _refuse_too_few(keep_days)  # before the app starts, not at its first pass
    return periodic_lifespan(
        "linkmint-insights-retention",
        period,
        lambda: fold_once(keep_days),
        "folding insights",
        log,
    )


@dataclass(frozen=True, slots=True)
class MonthCount:
    month: date  # its first day
    metric: str
    dimension: str
    hits: int
    link_title: str | None  # a click's link, while it is on the page


async def monthly_counts(creator_id: int) -> list[MonthCount]:
    """Every count the creator has, per UTC month, oldest month first; a month's clicks in
    the page's order of their links."""
    rows = await InsightMonth.raw(_MONTHLY_SQL, creator_id, creator_id, creator_id)
    return [MonthCount(**row) for row in rows]
