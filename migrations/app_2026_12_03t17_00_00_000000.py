"""insight_day: a creator's page views and clicks per UTC day, by dimension.

One row per (creator, day, metric, dimension), added to by every process's flush with
`ON CONFLICT … DO UPDATE SET hits = hits + excluded.hits`. Read by creator and day range,
which the unique key's index serves. Nothing personal is stored: no address, no cookie, no
user agent, only the counts of what app/insights/visitors.py reads from them.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "insight_day (daily page views and clicks per creator)"


class RawTable(Table, tablename="insight_day"):
    pass


FORWARDS = [
    "CREATE TABLE insight_day ("
    " id bigserial PRIMARY KEY,"
    " creator integer NOT NULL REFERENCES creator (id) ON DELETE CASCADE,"
    " day date NOT NULL,"
    " metric varchar(16) NOT NULL,"
    " dimension varchar(255) NOT NULL DEFAULT '',"
    " hits bigint NOT NULL DEFAULT 0,"
    " CONSTRAINT insight_day_key UNIQUE (creator, day, metric, dimension),"
    " CONSTRAINT insight_day_metric_known"
    " CHECK (metric IN ('view', 'click', 'referrer', 'browser', 'device', 'country')),"
    " CONSTRAINT insight_day_hits_positive CHECK (hits >= 0))",
]

BACKWARDS = [
    "DROP TABLE insight_day",
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
