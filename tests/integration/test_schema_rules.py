"""Rules the database keeps by itself, whatever code path writes the row."""

from __future__ import annotations

import asyncpg
import pytest

from app.db.tables import Link


@pytest.mark.parametrize("title", ["", " ", "\t\n", "   \u3000"])
async def test_a_link_without_a_title_is_refused_by_the_database(make_creator, title):
    creator = await make_creator()
    with pytest.raises(asyncpg.CheckViolationError, match="link_title_present"):
        await Link.raw(
            "INSERT INTO link (creator, kind, title, url) VALUES ({}, 'link', {}, 'https://a.example')",
            creator["id"],
            title,
        )
    assert await Link.count().where(Link.creator == creator["id"]) == 0


async def test_a_title_with_one_visible_character_is_kept(make_creator):
    creator = await make_creator()
    await Link.raw(
        "INSERT INTO link (creator, kind, title, url) VALUES ({}, 'header', {}, '')",
        creator["id"],
        " · ",
    )
    assert await Link.select(Link.title).where(Link.creator == creator["id"]) == [{"title": " · "}]


async def test_a_blank_title_cannot_be_written_by_an_update_either(make_creator):
    creator = await make_creator()
    await Link.raw(
        "INSERT INTO link (creator, kind, title, url) VALUES ({}, 'header', 'Shop', '')",
        creator["id"],
    )
    with pytest.raises(asyncpg.CheckViolationError):
        await Link.update({Link.title: "  "}).where(Link.creator == creator["id"])
    assert await Link.select(Link.title).where(Link.creator == creator["id"]) == [{"title": "Shop"}]
