"""The creator's time zone: scheduled links are entered and shown in it.

`creator.time_zone` is an IANA name (`Europe/Berlin`); link times stay stored in UTC. The
studio sets it from the browser, or the creator picks it; existing creators start on UTC.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T16:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "creator.time_zone (IANA name) for entering and showing link schedules"


class RawTable(Table, tablename="creator"):
    pass


FORWARDS = [
    "ALTER TABLE creator ADD COLUMN time_zone varchar(64) NOT NULL DEFAULT 'UTC'",
]

BACKWARDS = [
    "ALTER TABLE creator DROP COLUMN time_zone",
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
