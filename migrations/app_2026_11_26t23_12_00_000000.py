"""Money rules as constraints, the pending-unlock index, and the one platform_config row."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-26T23:12:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "unlock and platform_config checks, pending index, default platform_config"


class RawTable(Table, tablename="unlock"):
    pass


# Regex counts are written {{n}}: Piccolo's raw() reads single braces as placeholders.
FORWARDS = [
    "ALTER TABLE unlock ADD CONSTRAINT unlock_status_known "
    "CHECK (status IN ('PENDING', 'COMPLETED', 'REFUNDED', 'FAILED', 'EXPIRED'))",
    "ALTER TABLE unlock ADD CONSTRAINT unlock_path_known "
    "CHECK (completed_via IS NULL OR completed_via IN ('redirect', 'webhook', 'reconcile'))",
    "ALTER TABLE unlock ADD CONSTRAINT unlock_amounts_valid "
    "CHECK (price_cents > 0 AND fee_cents >= 0 AND fee_cents < price_cents)",
    "ALTER TABLE unlock ADD CONSTRAINT unlock_currency_format CHECK (currency ~ '^[a-z]{{3}}$')",
    # A paid unlock always knows the payment that paid it.
    "ALTER TABLE unlock ADD CONSTRAINT unlock_paid_has_payment "
    "CHECK (status NOT IN ('COMPLETED', 'REFUNDED') OR "
    "(provider_payment_id IS NOT NULL AND completed_via IS NOT NULL AND completed_at IS NOT NULL))",
    "CREATE INDEX unlock_pending_idx ON unlock (created_at) WHERE status = 'PENDING'",
    "CREATE INDEX webhook_event_unprocessed_idx ON webhook_event (received_at) "
    "WHERE processed_at IS NULL",
    "ALTER TABLE platform_config ADD CONSTRAINT platform_config_single_row CHECK (id = 1)",
    "ALTER TABLE platform_config ADD CONSTRAINT platform_config_valid CHECK ("
    "fee_bps BETWEEN 0 AND 9999 AND fee_min_cents >= 0 AND min_price_cents > 0 "
    "AND max_price_cents >= min_price_cents AND default_currency = ANY(allowed_currencies))",
    "INSERT INTO platform_config (id, fee_bps, fee_min_cents, default_currency, "
    "allowed_currencies, min_price_cents, max_price_cents) "
    "VALUES (1, 1000, 50, 'usd', ARRAY['usd', 'eur', 'gbp'], 100, 100000) "
    "ON CONFLICT (id) DO NOTHING",
]

BACKWARDS = [
    "DELETE FROM platform_config",
    "ALTER TABLE platform_config DROP CONSTRAINT platform_config_valid",
    "ALTER TABLE platform_config DROP CONSTRAINT platform_config_single_row",
    "DROP INDEX webhook_event_unprocessed_idx",
    "DROP INDEX unlock_pending_idx",
    "ALTER TABLE unlock DROP CONSTRAINT unlock_paid_has_payment",
    "ALTER TABLE unlock DROP CONSTRAINT unlock_currency_format",
    "ALTER TABLE unlock DROP CONSTRAINT unlock_amounts_valid",
    "ALTER TABLE unlock DROP CONSTRAINT unlock_path_known",
    "ALTER TABLE unlock DROP CONSTRAINT unlock_status_known",
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
