"""Reads that may go to a streaming standby (DATABASE_REPLICA_URL), never older than what the
process has been told changed.

A standby replays the primary's WAL a little later than the primary commits it. The public
page is the read that goes there, and it is cached: a creator's edit NOTIFYs every process,
each drops the page, and the next view renders it again. Rendered from a standby that has
not replayed the edit yet, the old page would be cached again, now with no notification to
come and drop it. So `ReplicaReads` follows the same notifications as the page cache: at
each one (and whenever its listener connects, since notifications may have been missed) it
asks the primary where its WAL now ends, which is past the commit that notified; until the
standby's `pg_last_wal_replay_lsn()` has reached the highest such position, and while that
position is still being asked, reads go to the primary. The standby's position is asked
only when a read needs a newer one than last seen (replay only moves forward), so in the
steady state choosing costs nothing.

When the standby cannot be reached or refuses (an error, a query cancelled by a recovery
conflict) the read goes to the primary too; the standby's engine has its own
`Reachability`, so a standby down never makes the primary count as down.

DATABASE_REPLICA_URL must name one standby: its replay position and the page are read on
different connections.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any, TypeVar

import asyncpg
from piccolo.querystring import QueryString

from app.db.engine import BoundedPostgresEngine
from app.db.notify import Listener
from app.db.outage import DatabaseUnavailable, describe

log = logging.getLogger("app.db.replica")

T = TypeVar("T")

# Positions as byte offsets (pg_lsn minus 0/0). The insert position, not the write one:
# with synchronous_commit off a commit record may not be written out yet.
PRIMARY_POSITION_SQL = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8 AS lsn"
# NULL when the server is not in recovery: not a standby, so as current as a primary.
REPLAYED_SQL = (
    "SELECT CASE WHEN pg_is_in_recovery() "
    "THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8 END AS lsn"
)
RETRY_SECONDS = 0.5  # asking the primary again after it could not answer


class ReplicaReads:
    """Chooses the engine for a read that may lag (`read`); a listener `Subscriber`."""

    def __init__(
        self,
        primary: BoundedPostgresEngine,
        replica: BoundedPostgresEngine,
        channels: Iterable[str],
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.channels: Mapping[str, Callable[[str], None]] = {
            channel: self._changed for channel in channels
        }
        self.listener: Listener | None = None
        self.live = False
        self._noted = 0  # changes heard (notifications, and the listener connecting)
        self._covered = 0  # of which the primary's position after them is known
        self._required = 0  # the standby must have replayed this far
        self._replayed = -1  # how far it had, when last asked
        self._learning: asyncio.Task[None] | None = None

    # --- what the listener calls ----------------------------------------------------------

    def set_live(self, live: bool) -> None:
        self.live = live
        if live:  # notifications may have been missed: everything committed so far counts
            self._changed("")

    def _changed(self, _payload: str) -> None:
        self._noted += 1
        if self._learning is None or self._learning.done():
            self._learning = asyncio.get_running_loop().create_task(
                self._learn(), name="replica-position"
            )

    async def _learn(self) -> None:
        """Ask the primary where its WAL ends until every change noted is covered; a
        question asked before a change was heard does not cover it."""
        while self._covered < self._noted:
            noted = self._noted
            try:
                rows = await self.primary.run_querystring(QueryString(PRIMARY_POSITION_SQL))
            except Exception as exc:  # noqa: BLE001 — meanwhile reads go to the primary
                log.warning("primary's WAL position unknown (%s); asking again", describe(exc))
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self._required = max(self._required, rows[0]["lsn"])
            self._covered = noted

    async def close(self) -> None:
        if self._learning is not None:
            self._learning.cancel()
            with suppress(asyncio.CancelledError):
                await self._learning

    # --- choosing -------------------------------------------------------------------------

    async def engine(self) -> BoundedPostgresEngine:
        """The standby's engine when it is known to have replayed every change heard of,
        else the primary's (and always while the listener is down: changes go unheard)."""
        if not self.live or self._covered < self._noted:
            return self.primary
        if self._replayed >= self._required:
            return self.replica
        try:
            rows = await self.replica.run_querystring(QueryString(REPLAYED_SQL))
        except (DatabaseUnavailable, asyncpg.PostgresError):
            return self.primary
        lsn = rows[0]["lsn"]
        self._replayed = max(self._replayed, self._required if lsn is None else lsn)
        return self.replica if self._replayed >= self._required else self.primary

    async def read(self, query: Callable[[BoundedPostgresEngine], Awaitable[T]]) -> T:
        """`query(engine)` on the engine chosen; on the primary again if the standby fails."""
        engine = await self.engine()
        if engine is self.primary:
            return await query(engine)
        try:
            return await query(engine)
        except (DatabaseUnavailable, asyncpg.PostgresError) as exc:
            log.debug("standby read failed (%s); reading the primary", describe(exc))
            return await query(self.primary)

    def lifespan(self) -> Callable[[Any], AbstractAsyncContextManager[None]]:
        @asynccontextmanager
        async def replica_reads(app: object) -> AsyncIterator[None]:
            try:
                yield
            finally:
                await self.close()

        return replica_reads
