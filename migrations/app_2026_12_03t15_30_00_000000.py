"""Every link row has a title: the studio's rule, now the database's too.

A title made only of spaces was refused by the studio's forms alone, so a row written any
other way (a script, an import, a future code path) could reach the public page as an empty,
nameless button. Rows that already have a blank title are named "Untitled" first, so the
check holds for every row before it is added.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T15:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "link titles are never blank"


class RawTable(Table, tablename="link"):
    pass


FORWARDS = [
    "UPDATE link SET title = 'Untitled' WHERE title !~ '[^[:space:]]'",
    "ALTER TABLE link ADD CONSTRAINT link_title_present CHECK (title ~ '[^[:space:]]')",
]

BACKWARDS = [
    "ALTER TABLE link DROP CONSTRAINT link_title_present",
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
