"""The database fixtures of the integration and browser suites (their conftests import
them): migrations once, the tables emptied after each test, the app and its clients, a
creator, a signed-in session and a real server on loopback.

Tests are isolated by emptying the tables, not by rolled-back transactions: the app under
test and the servers it starts use their own connections and must see each other's writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.engine import engine_finder

from app.auth.sessions import cookie_name, start_session
from app.config import Settings
from app.db.tables import Creator
from app.main import create_app
from tests.support.servers import linkmint_serve

APP_TABLES = (
    "creator",
    "link",
    "auth_session",
    "unlock",
    "webhook_event",
    "whop_sweep",
    "money_audit",
    "rate_limit_hit",
    "pending_sign_in",
)
# Webhooks the emulator still owes: a retry due 10-40 s after a test ended would land in a
# later one. Their ids are not restarted, so a delivery still in a worker's hands cannot
# name a later test's row.
EMULATOR_OUTBOX = ("whop_emulator.delivery_attempt", "whop_emulator.delivery")


@pytest.fixture(scope="session", autouse=True)
async def _migrated() -> None:
    result = await run_forwards(app_name="all")
    assert result.success, result.message
    await _truncate()  # what an interrupted earlier run may have left


@pytest.fixture(autouse=True)
async def _clean(_migrated: None) -> AsyncIterator[None]:
    yield
    await _truncate()


async def _truncate() -> None:
    """Empty the app's tables between tests, as `TRUNCATE … RESTART IDENTITY CASCADE` would.

    TRUNCATE costs ~90 ms here (new files for every table and index) and runs after each of
    1,500 tests; deleting the few rows a test made costs a few ms. The row triggers are off
    meanwhile (`session_replication_role = replica`, a superuser's setting, as in CI) and the
    notifications a TRUNCATE's triggers send (`'*'`: forget everything) are sent instead, so
    the caches hear exactly what they heard before. Without the privilege, TRUNCATE it is."""
    for attempt in range(5):
        try:
            await _cleaner.clean()
            return
        except asyncpg.exceptions.DeadlockDetectedError:
            # A live server's background work (webhook drainer, reconciler) may hold row
            # locks on these tables in another order; PostgreSQL then picks the cleaning as
            # the deadlock victim. The work is idempotent, so trying again is the whole fix.
            if attempt == 4:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))


class _Cleaner:
    """One connection of its own (a script of statements needs the simple protocol)."""

    def __init__(self) -> None:
        self.conn: asyncpg.Connection | None = None
        self.script: str | None = None
        self.superuser = True

    async def clean(self) -> None:
        if not self.superuser:
            await engine_finder().run_ddl(
                f"TRUNCATE TABLE {', '.join(APP_TABLES)} RESTART IDENTITY CASCADE"
            )
            await engine_finder().run_ddl(f"TRUNCATE TABLE {', '.join(EMULATOR_OUTBOX)}")
            return
        for fresh in (False, True):  # a server restarted under a test: reconnect once
            if fresh or self.conn is None or self.conn.is_closed():
                self.conn = await asyncpg.connect(engine_finder().config["dsn"])
            try:
                await self.conn.execute(self.script or await self._script())
                return
            except asyncpg.exceptions.InsufficientPrivilegeError:
                self.superuser = False
                return await self.clean()
            except (OSError, asyncpg.exceptions.ConnectionDoesNotExistError):
                if fresh:
                    raise

    async def _script(self) -> str:
        """Delete every row of APP_TABLES and of the tables referencing them (what CASCADE
        reaches), children first, and the emulator's outbox; restart the app tables'
        sequences; notify as TRUNCATE does."""
        assert self.conn is not None
        rows = await self.conn.fetch(
            """
            WITH RECURSIVE reached(rel) AS (
                SELECT unnest($1::text[])::regclass
                UNION
                SELECT c.conrelid::regclass FROM pg_constraint c
                  JOIN reached r ON c.confrelid = r.rel
                 WHERE c.contype = 'f'
            )
            SELECT rel::text AS name,
                   (SELECT array_agg(s.oid::regclass::text) FROM pg_depend d
                      JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                     WHERE d.refobjid = rel AND d.deptype IN ('a', 'i')) AS sequences,
                   (SELECT array_agg(DISTINCT c.conrelid::regclass::text) FROM pg_constraint c
                     WHERE c.contype = 'f' AND c.confrelid = rel AND c.conrelid <> rel)
                     AS children
              FROM reached
            """,
            list(APP_TABLES),
        )
        children = {row["name"]: set(row["children"] or ()) for row in rows}
        ordered: list[str] = []
        while len(ordered) < len(children):
            ordered += [n for n in children if n not in ordered and children[n] <= set(ordered)]
        sequences = [seq for row in rows for seq in row["sequences"] or ()]
        self.script = "".join(
            [
                "BEGIN; SET LOCAL session_replication_role = replica; ",
                *(f"DELETE FROM {name}; " for name in (*ordered, *EMULATOR_OUTBOX)),
                *(f"SELECT setval('{seq}', 1, false); " for seq in sequences),
                "SELECT pg_notify('linkmint_page', '*'), pg_notify('linkmint_unlock', '*'); ",
                "COMMIT;",
            ]
        )
        return self.script


_cleaner = _Cleaner()


@pytest.fixture(scope="session")
def app(settings: Settings):
    return create_app(settings)


async def _client(app, settings: Settings) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app, base_url=settings.app_url) as client:
        await client.get("/healthz")  # sets the CSRF cookie
        client.headers["x-csrftoken"] = client.cookies["lm_csrf"]
        yield client


@pytest.fixture
async def client(app, settings: Settings) -> AsyncIterator[AsyncTestClient]:
    """An anonymous browser with a CSRF token (what htmx would send)."""
    async for c in _client(app, settings):
        yield c


@pytest.fixture
async def other_client(app, settings: Settings) -> AsyncIterator[AsyncTestClient]:
    """A second, independent browser."""
    async for c in _client(app, settings):
        yield c


@pytest.fixture
def make_creator():
    """Insert a creator directly; returns its row."""
    counter = iter(range(1, 10_000))

    async def make(handle: str | None = "alice", **fields: Any) -> dict[str, Any]:
        n = next(counter)
        values = {"whop_user_id": f"user_Test{n:09d}", "handle": handle, **fields}
        rows = await Creator.insert(Creator(**values)).returning(*Creator.all_columns())
        return rows[0]

    return make


@pytest.fixture
def sign_in(settings: Settings):
    """Give `client` a signed-in session for `creator` (as /auth/callback would)."""

    async def do(client: AsyncTestClient, creator: dict[str, Any]) -> str:
        token = await start_session(creator["id"])
        client.cookies.set(cookie_name(settings.secure_cookies), token)
        return token

    return do


# --- a real server on loopback, for the OAuth round trip and the browser ----------------


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """`linkmint serve` in a subprocess on 127.0.0.1, sharing the test database."""
    # Insights flushed four times a second, so a test sees a view counted almost at once.
    with linkmint_serve("live", pool=4, env={"INSIGHTS_FLUSH_SECONDS": "0.25"}) as server:
        yield server.url
