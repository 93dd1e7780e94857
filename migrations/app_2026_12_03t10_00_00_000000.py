"""Abuse limits that hold across processes, and the buyer's return asking Whop once at a time.

- `rate_limit_hit`: one counter per route (`bucket`) and client (`key`, a keyed hash of the
  client's address or of who is signed in: never the address itself) for the window that
  ends at `expires_at` (app/web/limits.py). Rows whose window ended are deleted as hits go.
- `unlock.confirm_asked_at`: when a buyer's return from checkout last asked Whop about the
  unlock; the next return within a few seconds, in any process, does not ask again
  (app/payments/convergence.py).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "rate_limit_hit: abuse limits kept in PostgreSQL; unlock.confirm_asked_at"


class RawTable(Table, tablename="unlock"):
    pass


FORWARDS = [
    """
    CREATE TABLE rate_limit_hit (
        bucket varchar(40) NOT NULL,
        key varchar(64) NOT NULL,
        hits integer NOT NULL CHECK (hits > 0),
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (bucket, key)
    )
    """,
    "CREATE INDEX rate_limit_hit_expires_at_idx ON rate_limit_hit (expires_at)",
    "ALTER TABLE unlock ADD COLUMN confirm_asked_at timestamptz",
]

BACKWARDS = [
    "ALTER TABLE unlock DROP COLUMN confirm_asked_at",
    "DROP TABLE rate_limit_hit",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="app", description=DESCRIPTION)

    async def run():
        for statement in FORWARDS:
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in BACKWARDS:
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
