"""Listing a company's payments by `updated_at`, as Linkmint's reconciler does (a refund
changes an old payment's `updated_at`, not its `created_at`)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-02T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "whop emulator: payments by company and updated_at"


class RawTable(Table, tablename="migration"):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="emulator", description=DESCRIPTION)

    async def run():
        await RawTable.raw(
            "CREATE INDEX payment_company_updated_idx "
            "ON whop_emulator.payment (company_id, updated_at)"
        )

    async def run_backwards():
        await RawTable.raw("DROP INDEX whop_emulator.payment_company_updated_idx")

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
