"""How long the emulator keeps what only grows: `prune(conn, now)` deletes what has aged out.

Whop forgets too. What goes, and when:
- idempotency keys a day after their first use (`protocol.IDEMPOTENCY_WINDOW`): after that a
  key may be used afresh anyway;
- webhook deliveries (with their attempts) that finished — succeeded or failed — more than
  `DELIVERY_WINDOW` ago; a delivery still held, pending or in flight stays whatever its age;
- events older than `EVENT_WINDOW` that no remaining delivery points at;
- OAuth codes and tokens and company access tokens `EXPIRED_GRACE` after they expired (a
  code or refresh token presented again after that is unknown rather than replayed: it
  had expired anyway);
- account links `ACCOUNT_LINK_WINDOW` after they expired;
- spent faults older than `FAULT_WINDOW` that no held delivery waits on.

`platform.running` calls `prune_now` every `PRUNE_EVERY` seconds in each process; an
advisory lock lets one process at a time do it, so processes sharing a database do not
delete the same rows side by side.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import asyncpg

from app.emulator import store
from app.emulator.protocol import IDEMPOTENCY_WINDOW

log = logging.getLogger("app.emulator.retention")

IDEMPOTENCY_KEY_WINDOW = IDEMPOTENCY_WINDOW
DELIVERY_WINDOW = timedelta(days=30)
EVENT_WINDOW = timedelta(days=30)
EXPIRED_GRACE = timedelta(days=1)
ACCOUNT_LINK_WINDOW = timedelta(days=30)
FAULT_WINDOW = timedelta(days=30)

PRUNE_EVERY = 300.0  # seconds between two passes of one process
PRUNE_LOCK = 0x5748_4F50_5254  # "WHOPRT": one pruning pass at a time

FINISHED = ("succeeded", "failed")


async def prune(conn: asyncpg.Connection, now: datetime) -> dict[str, int]:
    """Delete every row that has aged out at `now`; how many went, by table."""
    gone: dict[str, int] = {}
    gone["idempotency_key"] = await _count(
        conn,
        "DELETE FROM whop_emulator.idempotency_key WHERE created_at < $1",
        now - IDEMPOTENCY_KEY_WINDOW,
    )
    gone["delivery_attempt"] = await _count(
        conn,
        """
        DELETE FROM whop_emulator.delivery_attempt a USING whop_emulator.delivery d
         WHERE a.delivery_id = d.id AND d.status = ANY($2::text[]) AND d.updated_at < $1
        """,
        now - DELIVERY_WINDOW,
        list(FINISHED),
    )
    gone["delivery"] = await _count(
        conn,
        "DELETE FROM whop_emulator.delivery WHERE status = ANY($2::text[]) AND updated_at < $1",
        now - DELIVERY_WINDOW,
        list(FINISHED),
    )
    gone["event"] = await _count(
        conn,
        """
        DELETE FROM whop_emulator.event e WHERE e.created_at < $1
           AND NOT EXISTS (SELECT 1 FROM whop_emulator.delivery d WHERE d.event_id = e.id)
        """,
        now - EVENT_WINDOW,
    )
    for table in ("oauth_code", "oauth_token", "access_token"):
        gone[table] = await _count(
            conn,
            f"DELETE FROM whop_emulator.{table} WHERE expires_at < $1",  # noqa: S608
            now - EXPIRED_GRACE,
        )
    gone["account_link"] = await _count(
        conn,
        "DELETE FROM whop_emulator.account_link WHERE expires_at < $1",
        now - ACCOUNT_LINK_WINDOW,
    )
    gone["fault"] = await _count(
        conn,
        """
        DELETE FROM whop_emulator.fault f WHERE f.remaining = 0 AND f.created_at < $1
           AND NOT EXISTS (SELECT 1 FROM whop_emulator.delivery d
                            WHERE d.hold_fault_id = f.id AND d.status = 'held')
        """,
        now - FAULT_WINDOW,
    )
    return gone


async def _count(conn: asyncpg.Connection, sql: str, *args: object) -> int:
    status = await conn.execute(sql, *args)  # "DELETE <n>"
    return int(status.rpartition(" ")[2])


async def prune_now() -> dict[str, int] | None:
    """One pass in one transaction, or None when another process is pruning right now."""
    async with store.transaction() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", PRUNE_LOCK):
            return None
        gone = await prune(conn, await conn.fetchval("SELECT now()"))
    if any(gone.values()):
        log.info(
            "pruned the emulator's old rows: %s",
            ", ".join(f"{n} {table}" for table, n in gone.items() if n),
        )
    return gone
