"""creator_social: the profiles a creator shows as a row of icons on their page.

One row per network and creator (`creator_social_network_unique`); `url` is the canonical
address the studio built from what the creator pasted (https, or mailto: for email), and
`label` the name shown beside the icon's network in its accessible name ("@name"). The
page cache hears every change through the same `linkmint_page` trigger function as `link`
(its payload is the row's `creator`).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T16:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "creator_social (the social icons row), with the page-cache trigger"


class RawTable(Table, tablename="creator_social"):
    pass


FORWARDS = [
    "CREATE TABLE creator_social ("
    " id serial PRIMARY KEY,"
    " creator integer NOT NULL REFERENCES creator (id) ON DELETE CASCADE,"
    " network varchar(20) NOT NULL,"
    " url varchar(2048) NOT NULL,"
    " label varchar(200) NOT NULL DEFAULT '',"
    " position integer NOT NULL DEFAULT 0,"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " updated_at timestamptz NOT NULL DEFAULT now(),"
    " CONSTRAINT creator_social_network_unique UNIQUE (creator, network))",
    "CREATE TRIGGER creator_social_page_changed AFTER INSERT OR UPDATE OR DELETE "
    "ON creator_social FOR EACH ROW EXECUTE FUNCTION linkmint_page_changed()",
    "CREATE TRIGGER creator_social_page_truncated AFTER TRUNCATE ON creator_social "
    "FOR EACH STATEMENT EXECUTE FUNCTION linkmint_page_changed()",
]

BACKWARDS = [
    "DROP TRIGGER creator_social_page_truncated ON creator_social",
    "DROP TRIGGER creator_social_page_changed ON creator_social",
    "DROP TABLE creator_social",
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
