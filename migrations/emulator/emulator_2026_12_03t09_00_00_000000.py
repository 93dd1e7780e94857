"""Tax at the emulated Whop, the merchant of record: a payment charges the buyer's country's
rate (a control setting) on top of the plan's price, and a refund returns its share of it.

`total` stays what the buyer was charged; `tax_amount` is the part of it that is tax (the
subtotal is the difference), `tax_refunded_amount` the part of `refunded_amount` that was.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "whop emulator: tax on payments and refunds"


class RawTable(Table, tablename="migration"):
    pass


FORWARDS = [
    "ALTER TABLE whop_emulator.payment ADD COLUMN tax_amount numeric NOT NULL DEFAULT 0",
    "ALTER TABLE whop_emulator.payment "
    "ADD COLUMN tax_refunded_amount numeric NOT NULL DEFAULT 0",
    "ALTER TABLE whop_emulator.payment ADD CONSTRAINT payment_tax_valid "
    "CHECK (tax_amount >= 0 AND tax_amount < total AND tax_refunded_amount >= 0 "
    "AND tax_refunded_amount <= tax_amount AND tax_refunded_amount <= refunded_amount)",
]

BACKWARDS = [
    "ALTER TABLE whop_emulator.payment DROP CONSTRAINT payment_tax_valid",
    "ALTER TABLE whop_emulator.payment DROP COLUMN tax_refunded_amount",
    "ALTER TABLE whop_emulator.payment DROP COLUMN tax_amount",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="emulator", description=DESCRIPTION)

    async def run():
        for statement in FORWARDS:
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in BACKWARDS:
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
