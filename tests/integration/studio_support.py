"""Shared by the studio and public-page tests: htmx headers, direct inserts, DB snapshots."""

from __future__ import annotations

from typing import Any

from app.db.tables import Creator, Link

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


async def snapshot() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every creator and link row, to prove that a refused request changed nothing."""
    creators = await Creator.select().order_by(Creator.id)
    links = await Link.select().order_by(Link.id)
    return creators, links


async def link_rows(creator: dict[str, Any]) -> list[dict[str, Any]]:
    return await Link.select().where(Link.creator == creator["id"]).order_by(Link.position, Link.id)


async def creator_row(creator: dict[str, Any]) -> dict[str, Any]:
    return (await Creator.select().where(Creator.id == creator["id"]))[0]
