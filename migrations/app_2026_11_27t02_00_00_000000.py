"""Status-poll invalidation: every change that can alter a buyer's answer announces the link.

Each app process remembers which unlocks its buyers are polling and found pending
(app/payments/polls.py) and LISTENs on `linkmint_unlock`. A trigger, not a call in each
service, so that no writer can be forgotten (the redirect, webhooks, the reconciler, an
operator in psql). The payload is the unlock's link id: an unlock was made or deleted, or its
status, link or paying account changed (a buyer's best unlock of a link can only change
then); a TRUNCATE, or an unlock whose link is gone, sends `*` ("drop everything"). Updates
that change none of those (checkout ids, reconciliation times) stay silent.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-27T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notify linkmint_unlock when an unlock's status or owner changes"


class RawTable(Table, tablename="unlock"):
    pass


FORWARDS = [
    """
    CREATE FUNCTION linkmint_unlock_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('linkmint_unlock', '*');
      ELSE
        IF TG_OP <> 'INSERT' THEN
          PERFORM pg_notify('linkmint_unlock', COALESCE(OLD.link::text, '*'));
        END IF;
        IF TG_OP <> 'DELETE' THEN
          PERFORM pg_notify('linkmint_unlock', COALESCE(NEW.link::text, '*'));
        END IF;
      END IF;
      RETURN NULL;
    END
    $$
    """,
    "CREATE TRIGGER unlock_made_or_deleted AFTER INSERT OR DELETE ON unlock "
    "FOR EACH ROW EXECUTE FUNCTION linkmint_unlock_changed()",
    "CREATE TRIGGER unlock_status_changed AFTER UPDATE ON unlock FOR EACH ROW "
    "WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.link IS DISTINCT FROM NEW.link "
    "OR OLD.buyer_token_hash IS DISTINCT FROM NEW.buyer_token_hash "
    "OR OLD.buyer_whop_user_id IS DISTINCT FROM NEW.buyer_whop_user_id) "
    "EXECUTE FUNCTION linkmint_unlock_changed()",
    "CREATE TRIGGER unlock_truncated AFTER TRUNCATE ON unlock "
    "FOR EACH STATEMENT EXECUTE FUNCTION linkmint_unlock_changed()",
]

BACKWARDS = [
    "DROP TRIGGER unlock_truncated ON unlock",
    "DROP TRIGGER unlock_status_changed ON unlock",
    "DROP TRIGGER unlock_made_or_deleted ON unlock",
    "DROP FUNCTION linkmint_unlock_changed()",
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
