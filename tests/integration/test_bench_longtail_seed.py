"""The long tail's streamed seed (bench/dataset.py `stream_dataset`): the rows of the built
data set, written in chunks with the secondary indexes built after, and pages that serve."""

from __future__ import annotations

import random

import asyncpg

from bench.dataset import build_dataset, handle_of, stream_dataset

PARENT = "biz_TestLongTail001"


def fee(cents: int) -> int:
    return max(50, cents // 10)


async def test_a_streamed_data_set_holds_the_built_rows_and_its_pages_serve(client, settings):
    built = build_dataset(
        random.Random(6),
        creators=45,
        links_per_creator=12,
        completed_unlocks=0,
        pending_unlocks=0,
        fee_for=fee,
    )
    conn = await asyncpg.connect(settings.database_url)
    try:
        timings = await stream_dataset(
            conn,
            random.Random(6),
            creators=45,
            links_per_creator=12,
            parent_company_id=PARENT,
            fee_for=fee,
            chunk=10,  # five chunks, the last one short
        )
        creators = await conn.fetch("SELECT id, handle, whop_company_id FROM creator ORDER BY id")
        links = await conn.fetch(
            "SELECT id, creator, kind, title, url, position, enabled, price_cents"
            " FROM link ORDER BY id"
        )
        plans = await conn.fetchval(
            "SELECT count(*) FROM whop_emulator.plan p JOIN whop_emulator.company c"
            " ON c.id = p.company_id WHERE c.parent_id = $1",
            PARENT,
        )
        indexes = {r[0] for r in await conn.fetch("SELECT indexname FROM pg_indexes")}
        next_link = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('link', 'id'))")
    finally:
        # The emulated Whop's rows are not among those the suite empties after a test.
        await conn.execute(
            "DELETE FROM whop_emulator.plan WHERE company_id IN"
            " (SELECT id FROM whop_emulator.company WHERE parent_id = $1)",
            PARENT,
        )
        await conn.execute(
            "DELETE FROM whop_emulator.company WHERE parent_id = $1 OR id = $1", PARENT
        )
        await conn.close()

    assert [tuple(r) for r in creators] == [
        (c.id, c.handle, c.whop_company_id) for c in built.creators
    ]
    assert [tuple(r) for r in links] == [
        (k.id, k.creator_id, k.kind, k.title, k.url, k.position, k.enabled, k.price_cents)
        for k in built.links
    ]
    assert plans == len(built.premium_links())
    assert "link_creator_position_idx" in timings.indexes_rebuilt
    rebuilt = {name.rpartition(".")[2] for name in timings.indexes_rebuilt}  # schema.name
    assert rebuilt <= indexes  # built again after the load
    assert next_link == len(built.links) + 1  # the app's own inserts do not collide

    # A creator's page, as the long-tail mix asks for it: by a handle made from its number.
    creator = built.creators[6]
    page = await client.get(f"/{handle_of(creator.id)}")
    assert page.status_code == 200
    shown = [k for k in built.links if k.creator_id == creator.id and k.visible]
    assert shown and all(k.title in page.text for k in shown if k.kind == "link")
