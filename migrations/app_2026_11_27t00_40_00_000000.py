"""Page-cache invalidation: every write to `creator` or `link` announces the creator's id.

Each app process keeps the rendered public pages in memory and LISTENs on `linkmint_page`
(app/profiles/cache.py). A trigger, not a call in each service, so that no writer can be
forgotten: the studio, payouts, the webhook path, a migration, psql by hand. The payload is
the creator's id; a TRUNCATE (tests, a restore) sends `*`, meaning "drop everything".
NOTIFY is transactional: it is delivered at commit, and not at all on rollback.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-27T00:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notify linkmint_page on every change to creator and link"


class RawTable(Table, tablename="creator"):
    pass


FORWARDS = [
    """
    CREATE FUNCTION linkmint_page_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('linkmint_page', '*');
      ELSIF TG_TABLE_NAME = 'creator' THEN
        IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('linkmint_page', OLD.id::text); END IF;
        IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('linkmint_page', NEW.id::text); END IF;
      ELSE
        IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('linkmint_page', OLD.creator::text); END IF;
        IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('linkmint_page', NEW.creator::text); END IF;
      END IF;
      RETURN NULL;
    END
    $$
    """,
    "CREATE TRIGGER creator_page_changed AFTER INSERT OR UPDATE OR DELETE ON creator "
    "FOR EACH ROW EXECUTE FUNCTION linkmint_page_changed()",
    "CREATE TRIGGER creator_page_truncated AFTER TRUNCATE ON creator "
    "FOR EACH STATEMENT EXECUTE FUNCTION linkmint_page_changed()",
    "CREATE TRIGGER link_page_changed AFTER INSERT OR UPDATE OR DELETE ON link "
    "FOR EACH ROW EXECUTE FUNCTION linkmint_page_changed()",
    "CREATE TRIGGER link_page_truncated AFTER TRUNCATE ON link "
    "FOR EACH STATEMENT EXECUTE FUNCTION linkmint_page_changed()",
]

BACKWARDS = [
    "DROP TRIGGER link_page_truncated ON link",
    "DROP TRIGGER link_page_changed ON link",
    "DROP TRIGGER creator_page_truncated ON creator",
    "DROP TRIGGER creator_page_changed ON creator",
    "DROP FUNCTION linkmint_page_changed()",
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
