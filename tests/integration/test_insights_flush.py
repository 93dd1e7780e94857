"""Flushing tallies into the daily rollup: exact counts across processes, never doubled,
nothing lost when the database refuses, nothing stored for what is not a person's view."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime

import asyncpg
import pytest

from app.auth.sessions import start_session
from app.db.outage import DatabaseUnavailable
from app.db.tables import InsightDay, Link
from app.insights import flush as flushing
from app.insights.flush import flush
from app.insights.tally import Tally

DAY = date(2026, 12, 3)
PERSON = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HOST = "linkmint.example"


async def counts(creator_id: int) -> dict[tuple[str, str], int]:
    rows = await InsightDay.select(InsightDay.metric, InsightDay.dimension, InsightDay.hits).where(
        InsightDay.creator == creator_id
    )
    return {(row["metric"], row["dimension"]): row["hits"] for row in rows}


async def a_link(creator_id: int) -> int:
    rows = await Link.raw(
        "INSERT INTO link (creator, kind, title, url) VALUES ({}, 'link', 'Shop', "
        "'https://shop.example') RETURNING id",
        creator_id,
    )
    return rows[0]["id"]


async def test_two_processes_flushing_together_add_up_exactly(make_creator):
    creator = (await make_creator())["id"]
    link = await a_link(creator)
    processes = [Tally(), Tally()]
    for _ in range(5):
        for n, tally in enumerate(processes):
            for _ in range(10 + n):
                tally.note(creator, user_agent=PERSON, referrer="https://instagram.com/", today=DAY)
            for _ in range(3):
                tally.note(creator, link_id=link, user_agent=PERSON, today=DAY)
        await asyncio.gather(*(flush(tally, own_host=HOST) for tally in processes))
    found = await counts(creator)
    assert found[("view", "")] == 5 * (10 + 11)
    assert found[("click", str(link))] == 5 * 2 * 3
    assert found[("referrer", "instagram.com")] == 5 * 21
    assert found[("device", "phone")] == found[("browser", "Safari")] == 5 * 21
    assert await InsightDay.count().where(InsightDay.metric == "view") == 1  # one row per day


async def test_bots_own_views_foreign_links_and_unknown_creators_are_not_stored(make_creator):
    creator = (await make_creator())["id"]
    other = (await make_creator(handle="bob"))["id"]
    others_link = await a_link(other)
    own_session = await start_session(creator)
    tally = Tally()
    tally.note(creator, user_agent=BOT, today=DAY)
    tally.note(creator, user_agent=PERSON, session=own_session, today=DAY)
    tally.note(creator, link_id=others_link, user_agent=PERSON, today=DAY)
    tally.note(creator, link_id=2_000_000_000, user_agent=PERSON, today=DAY)
    tally.note(999_999, user_agent=PERSON, today=DAY)
    tally.note(creator, user_agent=PERSON, session="not-a-session", today=DAY)
    assert await flush(tally, own_host=HOST) == 6
    assert await counts(creator) == {
        ("view", ""): 1,
        ("referrer", "direct"): 1,
        ("browser", "Safari"): 1,
        ("device", "phone"): 1,
    }
    assert await counts(other) == {}
    assert await InsightDay.count() == 4


async def test_a_creator_viewing_another_creators_page_is_a_visitor(make_creator):
    creator = (await make_creator())["id"]
    visitor = (await make_creator(handle="bob"))["id"]
    tally = Tally()
    tally.note(creator, user_agent=PERSON, session=await start_session(visitor), today=DAY)
    await flush(tally, own_host=HOST)
    assert (await counts(creator))[("view", "")] == 1


async def test_a_failed_flush_keeps_its_counts_for_the_next(make_creator, monkeypatch):
    creator = (await make_creator())["id"]
    tally = Tally()
    for _ in range(4):
        tally.note(creator, user_agent=PERSON, today=DAY)

    async def refused(rollup, token):
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(flushing, "store", refused)
    with pytest.raises(ConnectionResetError):
        await flush(tally, own_host=HOST)
    tally.note(creator, user_agent=PERSON, today=DAY)
    monkeypatch.undo()
    assert await flush(tally, own_host=HOST) == 5
    assert (await counts(creator))[("view", "")] == 5
    assert await flush(tally, own_host=HOST) == 0  # taken once: nothing counted twice
    assert (await counts(creator))[("view", "")] == 5


async def test_a_flush_whose_answer_was_lost_after_it_committed_is_not_added_again(
    make_creator, monkeypatch
):
    creator = (await make_creator())["id"]
    tally = Tally()
    for _ in range(4):
        tally.note(creator, user_agent=PERSON, today=DAY)
    real_store = flushing.store

    async def committed_then_cut_off(rollup, token):
        await real_store(rollup, token)
        raise ConnectionResetError("the connection broke before the answer came")

    monkeypatch.setattr(flushing, "store", committed_then_cut_off)
    with pytest.raises(ConnectionResetError):
        await flush(tally, own_host=HOST)
    assert (await counts(creator))[("view", "")] == 4
    assert len(tally.unsettled) == 1  # not known to be stored: held with its token
    monkeypatch.undo()
    tally.note(creator, user_agent=PERSON, today=DAY)
    assert await flush(tally, own_host=HOST) == 1  # the held four were stored: dropped
    assert (await counts(creator))[("view", "")] == 5
    assert tally.unsettled == []


async def test_a_flush_whose_answer_was_lost_before_it_committed_goes_out_again(
    make_creator, monkeypatch
):
    creator = (await make_creator())["id"]
    tally = Tally()
    for _ in range(3):
        tally.note(creator, user_agent=PERSON, today=DAY)
    tokens = []

    async def cut_off(rollup, token):
        tokens.append(token)
        raise ConnectionResetError("the connection broke while the statement ran")

    monkeypatch.setattr(flushing, "store", cut_off)
    with pytest.raises(ConnectionResetError):
        await flush(tally, own_host=HOST)
    monkeypatch.undo()
    assert await flush(tally, own_host=HOST) == 3
    assert (await counts(creator))[("view", "")] == 3
    # The first statement, arriving late, can no longer add anything: its token is taken.
    late = Counter({(creator, DAY, "view", ""): 3})
    with pytest.raises(asyncpg.UniqueViolationError):
        await flushing.store(late, tokens[0])
    assert (await counts(creator))[("view", "")] == 3


@pytest.mark.parametrize(
    "refusal",
    [
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        DatabaseUnavailable("database unreachable for 2.0s (checking again shortly)"),
    ],
    ids=["postgresql-answered-with-an-error", "refused-before-sending"],
)
async def test_a_flush_certainly_refused_gives_its_counts_back_at_once(
    make_creator, monkeypatch, refusal
):
    creator = (await make_creator())["id"]
    tally = Tally()
    tally.note(creator, user_agent=PERSON, today=DAY)

    async def refused(rollup, token):
        raise refusal

    monkeypatch.setattr(flushing, "store", refused)
    with pytest.raises(type(refusal)):
        await flush(tally, own_host=HOST)
    assert tally.unsettled == [] and len(tally) == 1
    monkeypatch.undo()
    assert await flush(tally, own_host=HOST) == 1
    assert (await counts(creator))[("view", "")] == 1


async def test_days_are_kept_apart(make_creator):
    creator = (await make_creator())["id"]
    tally = Tally()
    tally.note(creator, user_agent=PERSON, today=date(2026, 12, 1))
    tally.note(creator, user_agent=PERSON, today=date(2026, 12, 2))
    tally.note(creator, user_agent=PERSON)  # today, in UTC
    await flush(tally, own_host=HOST)
    rows = await InsightDay.select(InsightDay.day).where(InsightDay.metric == "view")
    today = datetime.now(UTC).date()
    assert sorted(row["day"] for row in rows) == sorted(
        {date(2026, 12, 1), date(2026, 12, 2), today}
    )
