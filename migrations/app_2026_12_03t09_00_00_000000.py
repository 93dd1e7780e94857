"""The plan of each unlock's checkout, so that a payment is bound to the checkout *and* the
plan Linkmint created for that unlock (`unlock.plan_id`, set with `checkout_id`).

Unlocks whose checkout was made before this column existed keep NULL: convergence reads
their checkout configuration from Whop the first time one of their payments arrives, and
stores its plan then.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "unlock.plan_id: the plan of the unlock's checkout"


class RawTable(Table, tablename="unlock"):
    pass


FORWARDS = ["ALTER TABLE unlock ADD COLUMN plan_id varchar(64)"]

BACKWARDS = ["ALTER TABLE unlock DROP COLUMN plan_id"]


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
