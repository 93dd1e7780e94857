"""insight_flush: the flushes of Insights' counts that committed, by a token each makes up.

A flush adds its counts to `insight_day` and records its token in the same statement. When
the database's answer is lost (the connection broke while the statement ran), the process
cannot tell whether the counts went in; the next flush settles it by inserting that token
itself: if the insert wins, the earlier statement never committed (and now never can: it
would conflict on the token), so the counts go out again; if the token is there already,
they were stored, and are not added twice. Tokens older than a day are pruned by the flushes.

`insight_day` also gets room on each page for its counts' updates (fillfactor 70): a flush
rewrites thousands of rows, and an update that fits on its row's page (a HOT update, no
index change: `hits` is not indexed) costs a fraction of one that moves.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T19:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "insight_flush (the flushes that committed), insight_day fillfactor"


class RawTable(Table, tablename="insight_flush"):
    pass


FORWARDS = [
    "CREATE TABLE insight_flush ("
    " token uuid PRIMARY KEY,"
    " flushed_at timestamptz NOT NULL DEFAULT now())",
    "ALTER TABLE insight_day SET (fillfactor = 70)",
]

BACKWARDS = [
    "ALTER TABLE insight_day RESET (fillfactor)",
    "DROP TABLE insight_flush",
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
