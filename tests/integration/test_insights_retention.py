"""Retention of the daily Insights counts: days older than the page shows are folded into
monthly rows, once, whoever folds and however many at once; the monthly history's CSV."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import os
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from piccolo.engine import engine_finder

from app.config import SettingsError, settings_from
from app.db.tables import InsightDay, InsightMonth, Link
from app.insights.retention import _FOLD_SQL, fold, retention_lifespan
from app.main import create_app

TODAY = date(2026, 12, 3)  # the folds below are told the day; the CSV's days are real ones
METRICS = ("view", "click", "referrer", "browser", "device", "country")
# Days before TODAY: 0-90 are kept (the page's 90 days and one more), the rest are folded.
KEPT = (0, 1, 45, 89, 90)
FOLDED = (91, 92, 100, 130, 200, 370, 400)

Key = tuple[int, date, str, str]


async def counted(creator_id: int, day: date, metric: str, dimension: str, hits: int) -> None:
    await InsightDay.insert(
        InsightDay(creator=creator_id, day=day, metric=metric, dimension=dimension, hits=hits)
    )


async def seed(creator_ids: list[int], ago: tuple[int, ...] = KEPT + FOLDED) -> None:
    """A few rows a day for each creator, different hits everywhere."""
    rows = [
        InsightDay(
            creator=creator,
            day=TODAY - timedelta(days=days),
            metric=metric,
            dimension="" if metric == "view" else f"{metric}-{days % 3}",
            hits=creator * 1_000 + days * 7 + n,
        )
        for creator in creator_ids
        for days in ago
        for n, metric in enumerate(METRICS)
    ]
    await InsightDay.insert(*rows)


def month_of(day: date) -> date:
    return day.replace(day=1)


async def daily() -> Counter[Key]:
    rows = await InsightDay.select(
        InsightDay.creator, InsightDay.day, InsightDay.metric, InsightDay.dimension, InsightDay.hits
    )
    return Counter({(r["creator"], r["day"], r["metric"], r["dimension"]): r["hits"] for r in rows})


async def monthly() -> Counter[Key]:
    rows = await InsightMonth.select(
        InsightMonth.creator,
        InsightMonth.month,
        InsightMonth.metric,
        InsightMonth.dimension,
        InsightMonth.hits,
    )
    return Counter(
        {(r["creator"], r["month"], r["metric"], r["dimension"]): r["hits"] for r in rows}
    )


def by_month(days: Counter[Key]) -> Counter[Key]:
    months: Counter[Key] = Counter()
    for (creator, day, metric, dimension), hits in days.items():
        months[(creator, month_of(day), metric, dimension)] += hits
    return months


async def test_a_fold_moves_exactly_the_old_rows_and_keeps_every_total(make_creator):
    creators = [(await make_creator(handle=h))["id"] for h in ("maya", "zed")]
    await seed(creators)
    before = await daily()
    first_kept = TODAY - timedelta(days=90)
    old = Counter({k: v for k, v in before.items() if k[1] < first_kept})
    assert len(old) == 2 * len(FOLDED) * len(METRICS)

    moved = await fold(today=TODAY, batch=7)  # many batches, one ending exactly on a row

    assert moved == len(old)
    assert await daily() == before - old  # the 90 days and today, untouched
    assert await monthly() == by_month(old)  # per creator, month, metric and dimension
    everything = by_month(await daily()) + await monthly()
    assert everything == by_month(before)


async def test_a_second_fold_changes_nothing_and_a_late_old_row_is_added_to_its_month(
    make_creator,
):
    me = (await make_creator())["id"]
    await seed([me])
    await fold(today=TODAY)
    days, months = await daily(), await monthly()

    assert await fold(today=TODAY) == 0
    assert (await daily(), await monthly()) == (days, months)

    # A flush held back for long (its counts given back meanwhile) may still add an old day.
    late = TODAY - timedelta(days=400)
    await counted(me, late, "view", "", 5)
    assert await fold(today=TODAY) == 1
    assert (await monthly())[(me, month_of(late), "view", "")] == months[
        (me, month_of(late), "view", "")
    ] + 5


async def test_a_longer_retention_keeps_more_days(make_creator):
    me = (await make_creator())["id"]
    await seed([me])
    before = await daily()
    await fold(keep_days=200, today=TODAY)
    kept = {k[1] for k in await daily()}
    assert kept == {TODAY - timedelta(days=d) for d in KEPT + FOLDED if d <= 200}
    assert by_month(await daily()) + await monthly() == by_month(before)


async def test_folds_running_at_once_never_count_a_row_twice(make_creator):
    creators = [(await make_creator(handle=h))["id"] for h in ("maya", "zed", "ana")]
    await seed(creators)
    before = await daily()

    moved = await asyncio.gather(*(fold(today=TODAY, batch=5) for _ in range(4)))

    old = sum(1 for k in before if k[1] < TODAY - timedelta(days=90))
    assert sum(moved) == old
    assert by_month(await daily()) + await monthly() == by_month(before)


async def test_a_fold_that_overlaps_another_uncommitted_one_moves_only_other_rows(make_creator):
    """Two transactions hold their batches at the same moment: the second takes the rows
    the first has not, then waits for it only where both add to the same month."""
    me = (await make_creator())["id"]
    await seed([me], ago=FOLDED)
    before = await daily()
    dsn = engine_finder().config["dsn"]
    first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        statement = _FOLD_SQL.format("$1", "$2")
        before_day = TODAY - timedelta(days=90)
        async with first.transaction():
            held = await first.fetchval(statement, before_day, 20)
            other = asyncio.create_task(second.fetchval(statement, before_day, 1_000))
            await asyncio.sleep(0.3)  # the second has taken its rows and waits on a month
        assert held == 20
        assert await other == len(before) - 20
    finally:
        await first.close()
        await second.close()
    assert await daily() == Counter()
    assert await monthly() == by_month(before)


def test_fewer_than_90_days_are_refused_at_start(settings):
    with pytest.raises(SettingsError, match="INSIGHTS_DAILY_RETENTION_DAYS: must be at least 90"):
        settings_from({**os.environ, "INSIGHTS_DAILY_RETENTION_DAYS": "89"})
    kept = settings_from({**os.environ, "INSIGHTS_DAILY_RETENTION_DAYS": "365"})
    assert kept.insights_daily_retention_days == 365
    too_few = dataclasses.replace(settings, insights_daily_retention_days=30)
    with pytest.raises(ValueError, match="at least 90 days"):
        create_app(too_few)  # the app schedules the fold with its setting


async def test_the_app_folds_in_the_background(make_creator):
    me = (await make_creator())["id"]
    old = datetime.now(UTC).date() - timedelta(days=120)
    await counted(me, old, "view", "", 3)
    async with retention_lifespan(0.05, 90)(None):  # type: ignore[arg-type]
        for _ in range(100):
            if await InsightMonth.count() == 1:
                break
            await asyncio.sleep(0.05)
    assert await monthly() == Counter({(me, month_of(old), "view", ""): 3})
    assert await InsightDay.count() == 0


# --- the monthly history, through the app ------------------------------------------------


@pytest.fixture
async def creator(client, make_creator, sign_in) -> dict[str, Any]:
    row = await make_creator(handle="maya")
    await sign_in(client, row)
    return row


async def link(creator_id: int, title: str, position: int) -> int:
    rows = await Link.insert(
        Link(
            creator=creator_id, kind="link", title=title, url="https://a.example", position=position
        )
    ).returning(Link.id)
    return rows[0]["id"]


async def monthly_csv(client) -> list[list[str]]:
    answer = await client.get("/dashboard/insights-monthly.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    today = datetime.now(UTC).date()
    name = f"linkmint-maya-insights-monthly-{today}.csv"
    assert answer.headers["content-disposition"] == f'attachment; filename="{name}"'
    return list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))


async def test_the_monthly_history_sums_folded_months_and_the_days_not_yet_folded(
    client, creator, make_creator
):
    me = creator["id"]
    shop, guide = await link(me, "Shop", 1), await link(me, "=HYPERLINK(0)", 0)
    may, sep_folded, sep_kept = date(2026, 5, 10), date(2026, 9, 3), date(2026, 9, 4)
    for day in (may, sep_folded):
        await counted(me, day, "view", "", 10)
        await counted(me, day, "click", str(shop), 3)
        await counted(me, day, "click", str(guide), 1)
        await counted(me, day, "referrer", "instagram.com", 10)
    await counted(me, may, "click", "999999", 2)  # a link deleted since
    await counted(me, may, "country", "DE", 4)
    await counted(me, sep_kept, "view", "", 7)
    await counted(me, sep_kept, "click", str(shop), 2)
    await counted(me, TODAY, "view", "", 5)
    other = (await make_creator(handle="zed"))["id"]
    await counted(other, may, "view", "", 777)
    await counted(other, sep_kept, "referrer", "secret.example", 777)
    await fold(today=TODAY)
    assert {r["day"] for r in await InsightDay.select(InsightDay.day)} == {sep_kept, TODAY}

    assert await monthly_csv(client) == [
        ["month", "metric", "dimension", "value"],
        ["2026-05", "views", "", "10"],
        ["2026-05", "clicks", "", "6"],
        ["2026-05", "link clicks", "'=HYPERLINK(0)", "1"],  # the page's order; no formula
        ["2026-05", "link clicks", "Shop", "3"],
        ["2026-05", "link clicks", "(deleted links)", "2"],
        ["2026-05", "referrer", "instagram.com", "10"],
        ["2026-05", "country", "DE", "4"],
        ["2026-09", "views", "", "17"],  # 10 folded into the month, 7 still a day
        ["2026-09", "clicks", "", "6"],
        ["2026-09", "link clicks", "'=HYPERLINK(0)", "1"],
        ["2026-09", "link clicks", "Shop", "5"],
        ["2026-09", "referrer", "instagram.com", "10"],
        ["2026-12", "views", "", "5"],
        ["2026-12", "clicks", "", "0"],
    ]


async def test_the_monthly_history_is_offered_beside_the_csv_and_needs_a_sign_in(client, creator):
    html = (await client.get("/dashboard/insights")).text
    assert 'id="insights-monthly-csv" href="/dashboard/insights-monthly.csv"' in html
    client.cookies.clear()
    answer = await client.get("/dashboard/insights-monthly.csv", follow_redirects=False)
    assert answer.status_code in (302, 303)
    assert answer.headers["location"].startswith("/auth/login")
