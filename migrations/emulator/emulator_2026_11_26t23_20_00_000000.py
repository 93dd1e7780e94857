"""The emulator's platform API: companies, KYC, checkout, payments, ledger, webhooks, faults.

Raw SQL, like every emulator migration. Money is `numeric` in major units, as Whop's API
speaks it; the invariants that matter (one payment per checkout attempt, refunds never above
the total, one ledger entry per movement) are constraints, not application checks.
(`jsonb_build_object()` stands for `'{}'`, which Piccolo's raw() reads as a placeholder.)
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-26T23:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "whop emulator platform API"

FORWARDS = [
    """
    CREATE TABLE whop_emulator.company (
        id text PRIMARY KEY,
        parent_id text REFERENCES whop_emulator.company (id),
        title text NOT NULL,
        email text,
        metadata jsonb NOT NULL DEFAULT jsonb_build_object(),
        kyc_status text NOT NULL DEFAULT 'not_started' CHECK (kyc_status IN
            ('not_started', 'pending_verification', 'connected', 'verification_failed',
             'action_required', 'disabled')),
        payout_account_id text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX company_parent_idx ON whop_emulator.company (parent_id, created_at, id)",
    """
    CREATE TABLE whop_emulator.api_key (
        key_hash text PRIMARY KEY,
        company_id text NOT NULL REFERENCES whop_emulator.company (id),
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE whop_emulator.access_token (
        token_hash text PRIMARY KEY,
        company_id text NOT NULL REFERENCES whop_emulator.company (id),
        scoped_actions jsonb NOT NULL DEFAULT '[]'::jsonb,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE whop_emulator.account_link (
        token text PRIMARY KEY,
        company_id text NOT NULL REFERENCES whop_emulator.company (id),
        use_case text NOT NULL CHECK (use_case IN ('account_onboarding', 'payouts_portal')),
        return_url text NOT NULL,
        refresh_url text NOT NULL,
        expires_at timestamptz NOT NULL,
        outcome text CHECK (outcome IN ('completed', 'abandoned', 'failed')),
        finished_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE whop_emulator.payout_method (
        id text PRIMARY KEY,
        company_id text NOT NULL REFERENCES whop_emulator.company (id),
        currency text NOT NULL,
        is_default boolean NOT NULL DEFAULT false,
        nickname text,
        institution_name text,
        account_reference text,
        destination jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """CREATE UNIQUE INDEX payout_method_one_default
       ON whop_emulator.payout_method (company_id) WHERE is_default""",
    """
    CREATE TABLE whop_emulator.plan (
        id text PRIMARY KEY,
        company_id text NOT NULL REFERENCES whop_emulator.company (id),
        currency text NOT NULL,
        plan_type text NOT NULL CHECK (plan_type IN ('one_time', 'renewal')),
        release_method text NOT NULL DEFAULT 'buy_now',
        visibility text NOT NULL DEFAULT 'visible',
        title text,
        initial_price numeric NOT NULL CHECK (initial_price > 0),
        renewal_price numeric NOT NULL DEFAULT 0,
        application_fee_amount numeric
            CHECK (application_fee_amount > 0 AND application_fee_amount < initial_price),
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE whop_emulator.checkout_configuration (
        id text PRIMARY KEY,
        company_id text NOT NULL REFERENCES whop_emulator.company (id),
        plan_id text NOT NULL REFERENCES whop_emulator.plan (id),
        mode text NOT NULL DEFAULT 'payment',
        metadata jsonb NOT NULL DEFAULT jsonb_build_object(),
        redirect_url text,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE whop_emulator.payment (
        id text PRIMARY KEY,
        company_id text NOT NULL REFERENCES whop_emulator.company (id),
        plan_id text NOT NULL REFERENCES whop_emulator.plan (id),
        checkout_configuration_id text REFERENCES whop_emulator.checkout_configuration (id),
        attempt_token text UNIQUE,
        status text NOT NULL,
        substatus text NOT NULL,
        currency text NOT NULL,
        total numeric NOT NULL CHECK (total > 0),
        application_fee numeric CHECK (application_fee > 0 AND application_fee < total),
        refunded_amount numeric NOT NULL DEFAULT 0
            CHECK (refunded_amount >= 0 AND refunded_amount <= total),
        metadata jsonb NOT NULL DEFAULT jsonb_build_object(),
        user_id text NOT NULL,
        user_email text NOT NULL,
        card_brand text,
        card_last4 text,
        failure_message text,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        paid_at timestamptz,
        refunded_at timestamptz
    )
    """,
    """CREATE INDEX payment_company_created_idx
       ON whop_emulator.payment (company_id, created_at DESC, id DESC)""",
    """
    CREATE TABLE whop_emulator.refund (
        id text PRIMARY KEY,
        payment_id text NOT NULL REFERENCES whop_emulator.payment (id),
        amount numeric NOT NULL CHECK (amount > 0),
        currency text NOT NULL,
        status text NOT NULL CHECK (status IN
            ('pending', 'requires_action', 'succeeded', 'failed', 'canceled')),
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    "CREATE INDEX refund_payment_idx ON whop_emulator.refund (payment_id, created_at)",
    """
    CREATE TABLE whop_emulator.withdrawal (
        id text PRIMARY KEY,
        company_id text NOT NULL REFERENCES whop_emulator.company (id),
        payout_method_id text NOT NULL REFERENCES whop_emulator.payout_method (id),
        amount numeric NOT NULL CHECK (amount > 0),
        currency text NOT NULL,
        status text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    """
    CREATE TABLE whop_emulator.ledger_entry (
        id bigserial PRIMARY KEY,
        company_id text NOT NULL REFERENCES whop_emulator.company (id),
        currency text NOT NULL,
        amount numeric NOT NULL,
        kind text NOT NULL CHECK (kind IN
            ('payment', 'application_fee', 'refund', 'withdrawal')),
        reference_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        UNIQUE (company_id, kind, reference_id)
    )
    """,
    """
    CREATE TABLE whop_emulator.webhook (
        id text PRIMARY KEY,
        resource_id text NOT NULL REFERENCES whop_emulator.company (id),
        url text NOT NULL,
        secret text NOT NULL,
        events jsonb NOT NULL DEFAULT '[]'::jsonb,
        enabled boolean NOT NULL DEFAULT true,
        api_version text NOT NULL DEFAULT 'v1',
        child_resource_events boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE whop_emulator.event (
        id text PRIMARY KEY,
        type text NOT NULL,
        company_id text,
        body text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    """
    CREATE TABLE whop_emulator.delivery (
        id bigserial PRIMARY KEY,
        event_id text NOT NULL REFERENCES whop_emulator.event (id),
        webhook_id text REFERENCES whop_emulator.webhook (id) ON DELETE SET NULL,
        url text NOT NULL,
        secret text NOT NULL,
        status text NOT NULL CHECK (status IN
            ('held', 'pending', 'delivering', 'succeeded', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        drop_attempts integer NOT NULL DEFAULT 0 CHECK (drop_attempts >= 0),
        hold_fault_id bigint,
        next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        locked_until timestamptz,
        last_status integer,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    """CREATE INDEX delivery_due_idx ON whop_emulator.delivery (next_attempt_at)
       WHERE status IN ('pending', 'delivering')""",
    "CREATE INDEX delivery_event_idx ON whop_emulator.delivery (event_id)",
    """
    CREATE TABLE whop_emulator.delivery_attempt (
        id bigserial PRIMARY KEY,
        delivery_id bigint NOT NULL REFERENCES whop_emulator.delivery (id) ON DELETE CASCADE,
        attempt integer NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('delivered', 'rejected', 'error', 'dropped')),
        status_code integer,
        error text,
        webhook_timestamp bigint NOT NULL,
        duration_ms integer NOT NULL DEFAULT 0,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        UNIQUE (delivery_id, attempt)
    )
    """,
    """
    CREATE TABLE whop_emulator.idempotency_key (
        owner text NOT NULL,
        key text NOT NULL,
        method text NOT NULL,
        path text NOT NULL,
        fingerprint text NOT NULL,
        status integer,
        body text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (owner, key)
    )
    """,
    """
    CREATE TABLE whop_emulator.fault (
        id bigserial PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN
            ('api', 'duplicate', 'delay', 'drop', 'reorder', 'drop_redirect')),
        params jsonb NOT NULL DEFAULT jsonb_build_object(),
        remaining integer NOT NULL CHECK (remaining >= 0),
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    """
    CREATE TABLE whop_emulator.control_setting (
        name text PRIMARY KEY,
        value jsonb NOT NULL
    )
    """,
]

TABLES = (
    "control_setting", "fault", "idempotency_key", "delivery_attempt", "delivery", "event",
    "webhook", "ledger_entry", "withdrawal", "refund", "payment", "checkout_configuration",
    "plan", "payout_method", "account_link", "access_token", "api_key", "company",
)


class RawTable(Table, tablename="migration"):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="emulator", description=DESCRIPTION)

    async def run():
        for statement in FORWARDS:
            await RawTable.raw(statement)

    async def run_backwards():
        for table in TABLES:
            await RawTable.raw(f"DROP TABLE whop_emulator.{table}")

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
