"""Sensitive (18+) content: a creator marks the whole page, or a single link.

`creator.sensitive` puts the public page behind an interstitial and keeps its metadata
neutral; `link.sensitive` sends that one link through a warning page instead of showing its
URL. Both are public-page columns: the existing `linkmint_page` triggers on `creator` and
`link` (migration 2026-11-27T00:40) already invalidate the page cache when they change.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T16:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "creator.sensitive and link.sensitive (18+ page or link)"


class RawTable(Table, tablename="creator"):
    pass


FORWARDS = [
    "ALTER TABLE creator ADD COLUMN sensitive boolean NOT NULL DEFAULT false",
    "ALTER TABLE link ADD COLUMN sensitive boolean NOT NULL DEFAULT false",
]

BACKWARDS = [
    "ALTER TABLE link DROP COLUMN sensitive",
    "ALTER TABLE creator DROP COLUMN sensitive",
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
