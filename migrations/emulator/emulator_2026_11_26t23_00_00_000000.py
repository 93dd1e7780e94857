"""The emulator's own schema: it stands for Whop's system, apart from Linkmint's tables.

Emulator migrations are raw SQL (one file per part), so that its parts can grow
independently without Piccolo's auto-migrations folding one part's tables into another's.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-26T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "whop_emulator schema"


class RawTable(Table, tablename="migration"):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="emulator", description=DESCRIPTION)

    async def run():
        await RawTable.raw("CREATE SCHEMA IF NOT EXISTS whop_emulator")

    async def run_backwards():
        await RawTable.raw("DROP SCHEMA whop_emulator CASCADE")

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
