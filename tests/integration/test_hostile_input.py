"""Every registered route, walked with hostile values in each path, query and form parameter:
no answer is a 5xx, and a refused request (4xx) changes no stored data.

The routes come from the app itself, so a route added later is walked too. Query parameters
are the handler's own; form fields are every `name="…"` the templates post, since handlers
read their forms whole. Each route is tried anonymously and as a signed-in creator, with the
CSRF token a browser would send, so the hostile values reach the handlers' own checks (the
emulator's routes, which know no creator, anonymously only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import quote

import asyncpg
import pytest
from litestar.routes import HTTPRoute
from piccolo.engine import engine_finder

from app.resources import TEMPLATES

pytestmark = pytest.mark.costly

HOSTILE = (
    "99999999999",
    "9223372036854775808",
    "-1",
    "0",
    "1.5",
    "",
    "\x00",
    "%00",
    "a" * 5000,
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1--",
    "\u202eexe.gpj",
    "[]",
)
HOSTILE_INTS = ("99999999999", "9223372036854775808", "-1", "0", "2147483648")
PROVIDED = {"request", "settings", "creator", "viewer", "whop", "scope", "state", "socket"}
# Written as a side effect of being asked at all (who asked, when): not the data a refused
# request must leave alone.
# Written by the app for itself, or in the background (insights: a flush every few seconds
# stores the views and clicks of earlier, accepted requests), so not a refusal's doing.
BOOKKEEPING = re.compile(r"rate|limit|auth_session|pending|delivery|idempotency|metric|insight")
SKIP_METHODS = {"OPTIONS", "HEAD"}
# Walked anonymously only: as the creator they would end the session the rest of the walk
# needs, leaving the studio's handlers unreached.
ENDS_THE_SESSION = {"/auth/logout", "/auth/logout-everywhere"}


def form_fields() -> list[str]:
    names: set[str] = set()
    for page in TEMPLATES.rglob("*.html"):
        names.update(re.findall(r'\bname="([a-z_]+)"', page.read_text()))
    return sorted(names)


def walk(app) -> Iterator[tuple[str, str, dict[str, type], list[str]]]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        params = (
            {p.name: p.type for p in route.path_parameters.values()}
            if isinstance(route.path_parameters, dict)
            else {p.name: p.type for p in route.path_parameters}
        )
        for handler in route.route_handlers:
            query = [
                _query_name(handler, name)
                for name in handler.parsed_fn_signature.parameters
                if name not in PROVIDED and name not in params
            ]
            for method in sorted(handler.http_methods - SKIP_METHODS):
                yield method, route.path_format, params, query


def _query_name(handler, name: str) -> str:
    definition = handler.parsed_fn_signature.parameters[name].kwarg_definition
    return getattr(definition, "query", None) or name


def fill(path_format: str, params: dict[str, type], value: str) -> str:
    for name, kind in params.items():
        filled = value if kind is not int or value in HOSTILE_INTS else "99999999999"
        path_format = path_format.replace("{" + name + "}", quote(filled, safe=""))
    return path_format


async def digest_statement(conn: asyncpg.Connection) -> str:
    """One md5 per table of every row the app and the emulator keep, but the bookkeeping:
    a row of (table, md5) pairs, so a failure names the tables that changed."""
    rows = await conn.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('public', 'whop_emulator') AND table_type = 'BASE TABLE' "
        "AND table_name NOT LIKE 'migration%' ORDER BY 1, 2"
    )
    parts = [
        f"'{schema}.{table}', (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), "
        f'\'\')) FROM "{schema}"."{table}" t)'
        for schema, table in rows
        if not BOOKKEEPING.search(table)
    ]
    return f"SELECT json_build_object({', '.join(parts)})::text"


@pytest.fixture
async def signed_in(other_client, make_creator, sign_in):
    creator = await make_creator(handle="walker", payout_enabled=True)
    await sign_in(other_client, creator)
    return other_client


async def test_no_hostile_value_reaches_a_5xx_or_changes_data_when_refused(app, client, signed_in):
    fields = form_fields()
    failures: list[str] = []
    routes = list(walk(app))
    assert len(routes) > 60, routes  # the walk found the app's routes
    # One connection of its own for the ~4,000 digests (a new one each time costs more than
    # the walk itself).
    conn = await asyncpg.connect(engine_finder().config["dsn"])
    try:
        digest = await digest_statement(conn)
        await _walk(routes, fields, client, signed_in, conn, digest, failures)
    finally:
        await conn.close()
    assert not failures, "\n".join(failures[:40]) + f"\n({len(failures)} in all)"
    # The creator's hostile values reached the studio's own checks, not the sign-in page.
    assert (await signed_in.get("/dashboard", follow_redirects=False)).status_code == 200


async def _walk(routes, fields, client, signed_in, conn, digest, failures: list[str]) -> None:
    data_now = _Data(conn, digest)
    before = await data_now()
    for who, browser in (("anonymous", client), ("creator", signed_in)):
        for method, path_format, params, query in routes:
            if who == "creator" and path_format.startswith("/_whop"):
                continue  # the emulator (another company's system) knows no creator
            if who == "creator" and path_format in ENDS_THE_SESSION:
                continue
            for value in HOSTILE:
                path = fill(path_format, params, value)
                args = {name: value for name in query}
                data = {name: value for name in fields} if method != "GET" else None
                r = await browser.request(method, path, params=args, data=data)
                where = f"{who} {method} {path[:80]} = {value[:20]!r}"
                if r.status_code >= 500:
                    failures.append(f"{where}: {r.status_code}")
                after = await data_now()
                if r.status_code >= 400 and after != before:
                    changed = _changed(before, after)
                    failures.append(f"{where}: refused ({r.status_code}) but changed {changed}")
                before = after


class _Data:
    """The digest of the stored data, recomputed only when some transaction has ended since
    the last one (the snapshot's xmax moved): most refused requests write nothing at all,
    and a digest costs tens of milliseconds."""

    def __init__(self, conn: asyncpg.Connection, digest: str) -> None:
        self.conn, self.digest = conn, digest
        self.seen: tuple[int, str] | None = None

    async def __call__(self) -> str:
        xmax = await self.conn.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
        if self.seen is None or self.seen[0] != int(xmax):
            self.seen = (int(xmax), await self.conn.fetchval(self.digest))
        return self.seen[1]


def _changed(before: str, after: str) -> str:
    old, new = json.loads(before), json.loads(after)
    return ", ".join(sorted(name for name in new if old.get(name) != new[name]))
