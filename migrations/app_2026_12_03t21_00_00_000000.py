"""insight_month: a creator's counts per UTC month, for the days `insight_day` no longer keeps.

Daily rows older than the longest period the Insights page shows (90 days) are folded into
one row per (creator, month, metric, dimension) by app/insights/retention.py: the same key
as a day's, a month's first day in place of the day. Without it `insight_day` grows by a
day's rows forever (about 1 TB a year at 10 M creators).

A month's row is added to once per day folded, so it gets room for its updates on its page,
as `insight_day` has (fillfactor 70): folding 15 days of 200,000 keys cost 20 µs a row and
left 340 B a month row, against 29 µs and 1,140 B with full pages.

The fold finds its rows by day: `insight_day_day` serves that, where the unique key (which
starts with the creator) cannot. It costs about 7 B a daily row (equal days are stored once)
and not the flushes' HOT updates: they change `hits` only, which no index holds.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "insight_month (monthly counts folded from insight_day), insight_day by day"


class RawTable(Table, tablename="insight_month"):
    pass


FORWARDS = [
    "CREATE TABLE insight_month ("
    " id bigserial PRIMARY KEY,"
    " creator integer NOT NULL REFERENCES creator (id) ON DELETE CASCADE,"
    " month date NOT NULL,"
    " metric varchar(16) NOT NULL,"
    " dimension varchar(255) NOT NULL DEFAULT '',"
    " hits bigint NOT NULL DEFAULT 0,"
    " CONSTRAINT insight_month_key UNIQUE (creator, month, metric, dimension),"
    " CONSTRAINT insight_month_first_day CHECK (extract(day FROM month) = 1),"
    " CONSTRAINT insight_month_metric_known"
    " CHECK (metric IN ('view', 'click', 'referrer', 'browser', 'device', 'country')),"
    " CONSTRAINT insight_month_hits_positive CHECK (hits >= 0))"
    " WITH (fillfactor = 70)",
    "CREATE INDEX insight_day_day ON insight_day (day)",
]

BACKWARDS = [
    "DROP INDEX insight_day_day",
    "DROP TABLE insight_month",
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
