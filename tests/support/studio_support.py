"""Shared by the studio, public-page and refusal tests: htmx headers, direct inserts, DB
snapshots."""

from __future__ import annotations

from typing import Any

from piccolo.table import Table

from app.db.tables import Creator, CreatorSocial, Link

HX = {"HX-Request": "true"}


async def add_links(creator: dict[str, Any], *rows: dict[str, Any]) -> list[dict[str, Any]]:
    """Insert rows for `creator` in the given order (positions 0, 1, 2…); returns them."""
    made = []
    for position, fields in enumerate(rows):
        values = {"kind": "link", "url": "", "position": position, **fields}
        if values["kind"] == "link" and not values["url"]:
            values["url"] = f"https://example.com/{position}"
        inserted = await Link.insert(Link(creator=creator["id"], **values)).returning(
            *Link.all_columns()
        )
        made.append(inserted[0])
    return made


async def snapshot(*tables: type[Table]) -> tuple[list[dict[str, Any]], ...]:
    """Every row of `tables` (by default creators, links and social icons), to prove that a
    refused request changed nothing."""
    tables = tables or (Creator, Link, CreatorSocial)
    return tuple([await t.select().order_by(t._meta.primary_key) for t in tables])


async def link_rows(creator: dict[str, Any]) -> list[dict[str, Any]]:
    return await Link.select().where(Link.creator == creator["id"]).order_by(Link.position, Link.id)


async def creator_row(creator: dict[str, Any]) -> dict[str, Any]:
    return (await Creator.select().where(Creator.id == creator["id"]))[0]
