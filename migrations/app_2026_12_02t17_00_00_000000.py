"""Money from Whop's side: one completed unlock per buyer and link, partial refunds, the
per-company sweep of Whop's payments, and the audits the operator reads.

- `unlock_one_completed_per_buyer`: two payments of one buyer for one link can race through
  convergence in two transactions; the index makes the second one fail (it is then refunded
  as a duplicate), where a NOT EXISTS check under READ COMMITTED cannot.
- `unlock.refunded_cents`: what Whop has refunded of the payment behind a COMPLETED unlock
  (a partial refund keeps the access; a full one moves the unlock to REFUNDED).
- `whop_sweep`: per connected company, how far its payments at Whop have been read (by
  `updated_at`), and where an unfinished pass stopped.
- `money_audit`: each audit's totals and differences; /metrics shows the latest.
- `reconcile_clock`: when the last sweep began, in whichever process: the next one's budget
  of calls to Whop follows from the time since, so several processes share one rate.
- `unlock.reconciled_at` goes: the reconciler no longer asks Whop about unlocks one by one.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-02T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = (
    "one completed unlock per buyer and link; refunded_cents; whop_sweep; money_audit; "
    "reconcile_clock"
)


class RawTable(Table, tablename="unlock"):
    pass


# An installation whose data already breaks the new rule must not migrate silently.
_CHECK = """
DO $$
DECLARE
  clash text;
BEGIN
  SELECT string_agg(ids, '; ') INTO clash FROM (
    SELECT string_agg(id, ', ') AS ids FROM unlock
     WHERE status = 'COMPLETED' GROUP BY link, buyer_token_hash HAVING count(*) > 1
  ) AS twice;
  IF clash IS NOT NULL THEN
    RAISE EXCEPTION 'one buyer owns one link through several completed unlocks (%); refund '
      'all but one of each at Whop (linkmint reconcile then marks them REFUNDED) and migrate '
      'again', clash;
  END IF;
END
$$
"""

FORWARDS = [
    _CHECK,
    "CREATE UNIQUE INDEX unlock_one_completed_per_buyer ON unlock (link, buyer_token_hash) "
    "WHERE status = 'COMPLETED'",
    "ALTER TABLE unlock ADD COLUMN refunded_cents integer NOT NULL DEFAULT 0",
    "ALTER TABLE unlock ADD CONSTRAINT unlock_refund_valid "
    "CHECK (refunded_cents >= 0 AND refunded_cents <= price_cents "
    "AND (refunded_cents = 0 OR status IN ('COMPLETED', 'REFUNDED')))",
    "ALTER TABLE unlock DROP COLUMN reconciled_at",
    # The sweep picks companies with a checkout inside Whop's refund window.
    "CREATE INDEX unlock_checkouts_by_creator ON unlock (creator, created_at) "
    "WHERE checkout_id IS NOT NULL",
    "CREATE INDEX unlock_completed_at_idx ON unlock (completed_at) "
    "WHERE completed_at IS NOT NULL",
    """
    CREATE TABLE whop_sweep (
        company_id varchar(64) PRIMARY KEY,
        swept_to timestamptz,
        window_from timestamptz,
        window_to timestamptz,
        cursor text,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((window_to IS NULL) = (window_from IS NULL)),
        CHECK (cursor IS NULL OR window_to IS NOT NULL)
    )
    """,
    """
    CREATE TABLE money_audit (
        id serial PRIMARY KEY,
        ran_at timestamptz NOT NULL DEFAULT now(),
        period_from timestamptz NOT NULL,
        period_to timestamptz NOT NULL,
        scheduled boolean NOT NULL DEFAULT false,
        whop_calls integer NOT NULL,
        totals jsonb NOT NULL,
        differences jsonb NOT NULL,
        CHECK (period_from < period_to)
    )
    """,
    "CREATE INDEX money_audit_ran_at_idx ON money_audit (ran_at DESC)",
    """
    CREATE TABLE reconcile_clock (
        id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        swept_at timestamptz
    )
    """,
    "INSERT INTO reconcile_clock (id) VALUES (1)",
]

BACKWARDS = [
    "DROP TABLE reconcile_clock",
    "DROP TABLE money_audit",
    "DROP TABLE whop_sweep",
    "DROP INDEX unlock_completed_at_idx",
    "DROP INDEX unlock_checkouts_by_creator",
    "ALTER TABLE unlock ADD COLUMN reconciled_at timestamptz",
    "ALTER TABLE unlock DROP CONSTRAINT unlock_refund_valid",
    "ALTER TABLE unlock DROP COLUMN refunded_cents",
    "DROP INDEX unlock_one_completed_per_buyer",
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
