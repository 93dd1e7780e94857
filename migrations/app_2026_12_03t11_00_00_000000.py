"""Sign-ins a server can refuse twice, and sessions that end when left unused.

`pending_sign_in` holds the SHA-256 of each pending sign-in's state (the rest stays sealed
in the browser's cookie); the callback deletes the row before it calls Whop, so one cookie
drives at most one code exchange. `auth_session.last_used_at` is when the session was last
seen (written at most every few minutes), for the idle timeout next to the absolute one;
existing sessions start counting from now.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "pending_sign_in (single use), auth_session.last_used_at (idle timeout)"


class RawTable(Table, tablename="auth_session"):
    pass


FORWARDS = [
    "CREATE TABLE pending_sign_in ("
    " state_hash varchar(64) PRIMARY KEY,"
    " expires_at timestamptz NOT NULL)",
    "CREATE INDEX pending_sign_in_expires_at ON pending_sign_in (expires_at)",
    "ALTER TABLE auth_session ADD COLUMN last_used_at timestamptz NOT NULL DEFAULT now()",
    "CREATE INDEX auth_session_last_used_at ON auth_session (last_used_at)",
    "CREATE INDEX auth_session_expires_at ON auth_session (expires_at)",
]

BACKWARDS = [
    "DROP INDEX auth_session_expires_at",
    "DROP INDEX auth_session_last_used_at",
    "ALTER TABLE auth_session DROP COLUMN last_used_at",
    "DROP TABLE pending_sign_in",
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
