"""One open checkout per buyer and link, the failed-unlock index, duplicate_payment checks."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-27T00:23:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "pending unlock per buyer unique, failed index, duplicate_payment checks"


class RawTable(Table, tablename="unlock"):
    pass


# Regex counts are written {{n}}: Piccolo's raw() reads single braces as placeholders.
FORWARDS = [
    # Two clicks (or two tabs) of one buyer on one link share one pending checkout.
    "CREATE UNIQUE INDEX unlock_one_pending_per_buyer ON unlock (link, buyer_token_hash) "
    "WHERE status = 'PENDING'",
    # The reconciler re-checks recently failed unlocks (a declined card, then a good one).
    "CREATE INDEX unlock_failed_idx ON unlock (created_at) WHERE status = 'FAILED'",
    "ALTER TABLE duplicate_payment ADD CONSTRAINT duplicate_payment_amount_valid "
    "CHECK (amount_cents > 0 AND currency ~ '^[a-z]{{3}}$')",
    "ALTER TABLE duplicate_payment ADD CONSTRAINT duplicate_payment_path_known "
    "CHECK (detected_via IN ('redirect', 'webhook', 'reconcile'))",
    "CREATE INDEX duplicate_payment_unrefunded_idx ON duplicate_payment (created_at) "
    "WHERE refunded_at IS NULL",
]

BACKWARDS = [
    "DROP INDEX duplicate_payment_unrefunded_idx",
    "ALTER TABLE duplicate_payment DROP CONSTRAINT duplicate_payment_path_known",
    "ALTER TABLE duplicate_payment DROP CONSTRAINT duplicate_payment_amount_valid",
    "DROP INDEX unlock_failed_idx",
    "DROP INDEX unlock_one_pending_per_buyer",
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
